"""DuckDB: one table in a DuckDB database file, loaded from the Arrow stream in one statement.

Semantics:

- Durability: DuckDB writes committed transactions to its write-ahead log and syncs it on commit, then
  checkpoints them into the database file; a committed ``write`` or ``append`` survives a crash.
  ``write`` is one transaction: ``CREATE TABLE ... AS SELECT`` from the first million rows of the
  Arrow stream, ``INSERT ... SELECT`` for each further million (the stream is consumed once and at
  most one chunk is held); each ``append`` is one ``INSERT ... SELECT`` from the batch.
- Row order: DuckDB preserves insertion order (``preserve_insertion_order``, on by default), so rows
  come back in write order, then appended rows.
- Keyed access: an ART index on the key column, built after the load; lookups are a parameterised
  ``SELECT ... WHERE key = ?``, which the index answers.
- Type mapping: DuckDB has native types for everything used here (TIMESTAMP with its unit,
  TIMESTAMPTZ, DATE, DECIMAL, BLOB, STRUCT, LIST), so values come back identical. Zoned timestamps
  come back in the session's zone and are cast back to the written zone (the instant is unchanged);
  the written Arrow schema is kept in the table ``_storeadvise_schema``.
- Reads return Arrow directly (``to_arrow_table`` / ``to_arrow_reader``), with projection and the
  filter done in SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from storeadvise.backends._arrowfile import check_columns, chunked, conform, rebatch, subschema
from storeadvise.backends.base import Backend, Predicate
from storeadvise.errors import DataError, UsageError

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

TABLE = "data"
SCHEMA_TABLE = "_storeadvise_schema"
DB_FILE = "data.duckdb"
SOURCE = "_storeadvise_source"
LOAD_CHUNK_ROWS = 1_000_000
"""Rows loaded per statement. DuckDB scans an in-memory Arrow table in parallel but a stream
(``RecordBatchReader``) on one thread, and a contiguous table faster than many small chunks: measured on
500k rows, loading from the stream took 0.40 s, from a table of 64k-row batches 0.45 s and from one
contiguous chunk 0.32-0.35 s. Each chunk is therefore made contiguous (one copy); memory stays bounded by
one chunk."""


def quote(name: str) -> str:
    """An SQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


class DuckdbBackend(Backend):
    """A DuckDB database file with one table, indexed on the key column."""

    name: ClassVar[str] = "duckdb"
    kind: ClassVar[str] = "database"
    supports: ClassVar[frozenset[str]] = frozenset(
        {"write", "read", "scan", "project", "filter", "lookup", "append", "write_one"}
    )
    type_mapping: ClassVar[dict[str, str]] = {
        "timestamp": "TIMESTAMP (TIMESTAMP_S/_MS/_NS for other units) (exact)",
        "timestamp with timezone": "TIMESTAMPTZ, cast back to the written zone (exact)",
        "date": "DATE (exact)",
        "null": "NULL (exact)",
        "bool": "BOOLEAN (exact)",
        "int64": "BIGINT (exact)",
        "float": "DOUBLE / FLOAT (exact)",
        "decimal": "DECIMAL up to 38 digits (exact)",
        "binary": "BLOB (exact)",
        "string": "VARCHAR (exact)",
        "nested struct/list": "STRUCT / LIST (exact)",
    }

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._schema: pa.Schema | None = None

    @classmethod
    def available(cls, settings: Any = None) -> tuple[bool, str]:
        import importlib.util

        if importlib.util.find_spec("duckdb") is None:
            return False, "the duckdb package is not installed (pip install duckdb)"
        return True, "ok"

    # -- connection ------------------------------------------------------------------------------------
    @property
    def path(self) -> Any:
        return self.location / DB_FILE

    def _connect(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            if not self.path.is_file():
                raise DataError(f"{self.name}: nothing has been written yet; write the dataset first")
            self._con = self._open_connection()
        return self._con

    def _open_connection(self) -> duckdb.DuckDBPyConnection:
        import duckdb

        return duckdb.connect(str(self.path))

    def clear(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        self._schema = None
        super().clear()

    @property
    def schema(self) -> pa.Schema:
        """The written Arrow schema, from memory or the metadata table."""
        import pyarrow as pa

        if self._schema is None:
            row = self._connect().execute(f"SELECT schema FROM {SCHEMA_TABLE}").fetchone()
            self._schema = pa.ipc.read_schema(pa.py_buffer(row[0]))
        return self._schema

    # -- writing ---------------------------------------------------------------------------------------
    def write(self, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> None:
        self.clear()
        self.location.mkdir(parents=True, exist_ok=True)
        con = self._con = self._open_connection()
        self._schema = schema
        con.execute("BEGIN TRANSACTION")
        con.execute(f"CREATE TABLE {SCHEMA_TABLE} (schema BLOB)")
        con.execute(f"INSERT INTO {SCHEMA_TABLE} VALUES (?)", [schema.serialize().to_pybytes()])
        for i, chunk in enumerate(chunked(batches, schema, LOAD_CHUNK_ROWS)):
            con.register(SOURCE, chunk.combine_chunks())
            try:
                if i == 0:
                    con.execute(f"CREATE TABLE {TABLE} AS SELECT * FROM {SOURCE}")
                else:
                    con.execute(f"INSERT INTO {TABLE} SELECT * FROM {SOURCE}")
            finally:
                con.unregister(SOURCE)
        key = self.settings.key_column
        if key and schema.get_field_index(key) >= 0:
            con.execute(f"CREATE INDEX {quote(TABLE + '_key')} ON {TABLE} ({quote(key)})")
        con.execute("COMMIT")

    def append(self, batch: pa.RecordBatch) -> None:
        con = self._connect()
        if batch.schema.names != self.schema.names:
            raise DataError(
                f"{self.name}: appended rows have columns {', '.join(batch.schema.names)}, "
                f"but the stored table has {', '.join(self.schema.names)}"
            )
        con.register(SOURCE, batch)
        try:
            con.execute(f"INSERT INTO {TABLE} SELECT * FROM {SOURCE}")
        finally:
            con.unregister(SOURCE)

    # -- reading ---------------------------------------------------------------------------------------
    def _query(self, columns: Sequence[str] | None, where: Predicate | None) -> tuple[Any, pa.Schema]:
        schema = self.schema
        check_columns(schema, columns, where)
        target = subschema(schema, columns) if columns is not None else schema
        sql = f"SELECT {', '.join(quote(n) for n in target.names)} FROM {TABLE}"
        params: list[Any] = []
        if where is not None:
            condition, values = where.to_sql()
            sql += f" WHERE {condition}"
            params = list(values)
        return self._connect().sql(sql, params=params or None), target

    def read(self, columns: Sequence[str] | None = None, where: Predicate | None = None) -> pa.Table:
        relation, target = self._query(columns, where)
        return conform(relation.to_arrow_table(), target)

    def scan(self, columns: Sequence[str] | None = None, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        if batch_rows < 1:
            raise UsageError(f"batch size must be at least 1 row, not {batch_rows}")
        relation, target = self._query(columns, None)
        reader = relation.to_arrow_reader(batch_rows)
        yield from rebatch((conform(b, target) for b in reader if b.num_rows), batch_rows)

    def lookup(self, key: Any) -> pa.Table:
        key_column = self.settings.key_column
        if not key_column:
            raise UsageError(f"{self.name}: a lookup needs a key column; name one (for example --key id)")
        return self.read(where=Predicate(key_column, "==", key))
