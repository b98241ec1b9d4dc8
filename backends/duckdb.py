"""DuckDB: one table in a DuckDB database file, loaded from the Arrow stream in one statement.

Semantics:

- Durability: DuckDB writes committed transactions to its write-ahead log and syncs it on commit, then
  checkpoints them into the database file; a committed ``write`` or ``append`` survives a crash.
  ``write`` is one transaction: ``CREATE TABLE ... AS SELECT`` from the first million rows of the
  Arrow stream, ``INSERT ... SELECT`` for each further million (the stream is consumed once and at
  most one chunk is held); each ``append`` is one ``INSERT ... SELECT`` from the batch; each ``update``
  of one row a parameterised ``UPDATE ... WHERE key = ?``, of more one ``UPDATE ... FROM`` the rows
  (registered as an Arrow table) joined on the key; a key no stored row has is not inserted (DuckDB
  rewrites a row with nested columns as a delete and an insert, so it then comes back later in a read).
- Row order: DuckDB preserves insertion order (``preserve_insertion_order``, on by default), so rows
  come back in write order, then appended rows.
- Keyed access: an ART index on the key column, built after the load; lookups are a parameterised
  ``SELECT ... WHERE key = ?``, which the index answers.
- Type mapping: DuckDB has native types for everything used here (TIMESTAMP with its unit,
  TIMESTAMPTZ, DATE, DECIMAL, BLOB, STRUCT, LIST), so values come back identical. Zoned timestamps
  come back in the session's zone (set to UTC) and are cast back to the written zone when it differs
  (the instant is unchanged);
  the written Arrow schema is kept in the table ``_storeadvise_schema``.
- Reads return Arrow directly (``to_arrow_table`` / ``to_arrow_reader``), with projection and the
  filter done in SQL.
- ``take`` (rows by position): ``rowid IN (...)``, except for a media table, whose rows are found by
  their ids (listed in row order once per written state): DuckDB reads every value of every column in the
  row groups a ``rowid`` filter touches, so a batch of 32 random items read all the items' bytes, while a
  filter on a stored column reads the bytes of the matching rows only (docs/decisions.md, 'DuckDB: media
  taken by id, not by rowid').
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from storeadvise.backends import _typemap
from storeadvise.backends._selection import conform
from storeadvise.backends._sqlfile import TABLE, SqlFileBackend
from storeadvise.backends.base import Durability, Predicate, quote_identifier
from storeadvise.backends.batching import check_batch_rows, chunked, rebatch
from storeadvise.media import ID_COLUMN, media_modality

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

DB_FILE = "data.duckdb"
SOURCE = "_storeadvise_source"
TAKE_IDS = "take_ids"
"""The cache entry holding a media table's ids in row order, for ``take``."""
LOAD_CHUNK_ROWS = 1_000_000
"""Rows loaded per statement. DuckDB scans an in-memory Arrow table in parallel but a stream
(``RecordBatchReader``) on one thread, and a contiguous table faster than many small chunks, so each
chunk is made contiguous (one copy); memory stays bounded by one chunk (docs/decisions.md, 'DuckDB:
loaded from contiguous chunks of a million rows')."""


class DuckdbBackend(SqlFileBackend):
    """A DuckDB database file with one table, indexed on the key column."""

    name: ClassVar[str] = "duckdb"
    db_file: ClassVar[str] = DB_FILE
    processes_at_once: ClassVar[int | None] = 1  # DuckDB's concurrency model: one writing process per file
    write_guarantees: ClassVar[tuple[Durability, Durability]] = (
        Durability(True, "DuckDB syncs its write-ahead log at every commit: a committed write survives a power loss "
                   "(the same with --fsync)"),
    ) * 2
    load_in_transaction: ClassVar[bool] = False
    """Each DuckDB statement is atomic already; an explicit transaction around CREATE TABLE AS and the
    index build only slowed the load (docs/decisions.md, 'DuckDB: no explicit transaction around the
    load')."""
    type_mapping: ClassVar[dict[str, str]] = {
        "timestamp": "TIMESTAMP (TIMESTAMP_S/_MS/_NS for other units) (exact)",
        "timestamp with timezone": "TIMESTAMPTZ, cast back to the written zone (exact)",
        "date": "DATE (exact)",
        "null": "NULL (exact)",
        "bool": "BOOLEAN (exact)",
        "int64": "BIGINT (exact)",
        "float": "DOUBLE / FLOAT (exact; half floats as FLOAT, cast back)",
        "decimal": "DECIMAL up to 38 digits (exact; a 256-bit decimal that fits as DECIMAL; wider ones refused)",
        "duration": "BIGINT count of its unit (exact, cast back: DuckDB's INTERVAL does not cast back)",
        "binary": "BLOB (exact)",
        "string": "VARCHAR (exact)",
        "nested struct/list": "STRUCT / LIST (exact)",
    }

    def refuses(self, schema: pa.Schema) -> str | None:
        wide = _typemap.decimal_too_wide(schema, _typemap.DECIMAL128_DIGITS)
        if wide:
            return f"holds decimals of up to {_typemap.DECIMAL128_DIGITS} digits: {wide}"
        return _typemap.unnamed_struct_field(schema)

    @classmethod
    def available(cls, settings: Any = None) -> tuple[bool, str]:
        import importlib.util

        if importlib.util.find_spec("duckdb") is None:
            return False, "the duckdb package is not installed (pip install duckdb)"
        return True, "ok"

    def _open_connection(self) -> duckdb.DuckDBPyConnection:
        import duckdb

        con = duckdb.connect(str(self.path))
        # Zoned timestamps come back in the session's zone: UTC, the zone most written schemas carry,
        # so that reads need no cast back (docs/decisions.md, 'DuckDB: sessions in UTC').
        con.execute("SET TimeZone = 'UTC'")
        return con

    # -- writing ---------------------------------------------------------------------------------------
    def _load(self, con: duckdb.DuckDBPyConnection, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> None:
        wider = _typemap.for_duckdb(schema)
        for i, chunk in enumerate(chunked(batches, schema, LOAD_CHUNK_ROWS)):
            con.register(SOURCE, chunk.combine_chunks() if wider is None else chunk.cast(wider))
            try:
                if i == 0:
                    con.execute(f"CREATE TABLE {TABLE} AS SELECT * FROM {SOURCE}")
                else:
                    con.execute(f"INSERT INTO {TABLE} SELECT * FROM {SOURCE}")
            finally:
                con.unregister(SOURCE)

    def _append_rows(self, con: duckdb.DuckDBPyConnection, batch: pa.RecordBatch) -> None:
        self._cache.pop(TAKE_IDS, None)  # new rows, new positions
        wider = _typemap.for_duckdb(batch.schema)
        con.register(SOURCE, batch if wider is None else _typemap.to_storage(batch, wider))
        try:
            con.execute(f"INSERT INTO {TABLE} SELECT * FROM {SOURCE}")
        finally:
            con.unregister(SOURCE)

    def _update_rows(self, con: duckdb.DuckDBPyConnection, rows: pa.Table, key: str) -> None:
        """One statement, so one transaction: for one row a parameterised ``UPDATE ... WHERE key = ?``, for
        more an ``UPDATE ... FROM`` the rows registered as an Arrow table, joined on the key (registering
        costs more than the update of one row; docs/decisions.md, 'Updates in place: one statement per store')."""
        names = [n for n in rows.schema.names if n != key]
        if not names:
            return
        self._cache.pop(TAKE_IDS, None)  # a row DuckDB rewrites as a delete and an insert moves to the end
        q = quote_identifier
        if rows.num_rows == 1 and _python_exact(rows.schema):
            row = rows.to_pylist()[0]
            con.execute(f"UPDATE {TABLE} SET {', '.join(f'{q(n)} = ?' for n in names)} WHERE {q(key)} = ?",
                        [row[n] for n in [*names, key]])
            return
        wider = _typemap.for_duckdb(rows.schema)
        con.register(SOURCE, rows if wider is None else rows.cast(wider, safe=False))
        assignments = ", ".join(f"{q(n)} = s.{q(n)}" for n in names)
        try:
            con.execute(f"UPDATE {TABLE} SET {assignments} FROM {SOURCE} AS s WHERE {TABLE}.{q(key)} = s.{q(key)}")
        finally:
            con.unregister(SOURCE)

    # -- reading ---------------------------------------------------------------------------------------
    def _fetch_key(self, sql: str, value: Any, schema: pa.Schema) -> pa.Table:
        return conform(self._connect().sql(sql, params=[value]).to_arrow_table(), schema)

    def take(self, positions: Sequence[int]) -> pa.Table:
        """Rows by position: a media table's by their ids (``IN``, then put in the order asked), any other
        table's by ``rowid`` (see the module docstring)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        ids = self._ids_in_row_order()
        if ids is None:
            return super().take(positions)
        if any(p < 0 or p >= len(ids) for p in positions):
            raise IndexError(f"{self.name}: positions outside the stored rows")
        wanted = [ids[p] for p in positions]
        unique = list(set(wanted))
        sql = f"SELECT * FROM {TABLE} WHERE {quote_identifier(ID_COLUMN)} IN ({', '.join('?' * len(unique))})"
        con = self._connect().cursor()  # a cursor of its own: loader threads take at once
        try:
            found = con.sql(sql, params=unique).to_arrow_table() if unique else self.schema.empty_table()
        finally:
            con.close()
        order = pc.index_in(pa.array(wanted, found.schema.field(ID_COLUMN).type), value_set=found.column(ID_COLUMN))
        return conform(found.take(order), self.schema)

    def _ids_in_row_order(self) -> list[Any] | None:
        """A media table's ids in row order (listed once per written state); None for other tables."""
        if media_modality(self.schema) is None or ID_COLUMN not in self.schema.names:
            return None
        ids = self._cache.get(TAKE_IDS)
        if ids is None:
            con = self._connect().cursor()
            try:
                listed = con.sql(f"SELECT {quote_identifier(ID_COLUMN)} FROM {TABLE} ORDER BY rowid").to_arrow_table()
            finally:
                con.close()
            ids = self._cache[TAKE_IDS] = listed.column(0).to_pylist()
        return ids

    def _fetch_rowids(self, statements: list[tuple[str, list[int]]], wanted: list[int]) -> pa.Table:
        import pyarrow as pa
        import pyarrow.compute as pc

        # a cursor of its own: one DuckDB connection is not safe to query from several threads at once, and a
        # shuffled epoch's loader threads take together
        con = self._connect().cursor()
        try:
            found = [con.sql(sql, params=ids).to_arrow_table() for sql, ids in statements]
        finally:
            con.close()
        if not found:
            return self.schema.empty_table()
        table = pa.concat_tables(found)
        order = pc.index_in(pa.array(wanted, pa.int64()), value_set=table.column(0))
        if order.null_count:
            raise IndexError(f"{self.name}: positions outside the stored rows")
        return conform(table.take(order).drop_columns([table.column_names[0]]), self.schema)

    def _query(self, columns: Sequence[str] | None, where: Predicate | None) -> tuple[Any, pa.Schema]:
        sql, params, target = self._select(columns, where)
        return self._connect().sql(sql, params=params or None), target

    def read(self, columns: Sequence[str] | None = None, where: Predicate | None = None) -> pa.Table:
        relation, target = self._query(columns, where)
        return conform(relation.to_arrow_table(), target)

    def scan(self, columns: Sequence[str] | None = None, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        check_batch_rows(batch_rows)
        relation, target = self._query(columns, None)
        reader = relation.to_arrow_reader(batch_rows)
        yield from rebatch((conform(b, target) for b in reader if b.num_rows), batch_rows)


def _python_exact(schema: pa.Schema) -> bool:
    """Whether every column's values survive as Python parameters: not nanoseconds, which a Python
    datetime or timedelta cannot hold."""
    import pyarrow as pa

    def nanoseconds(t: pa.DataType) -> bool:
        return pa.types.is_temporal(t) and getattr(t, "unit", "") == "ns"

    return not any(_typemap.any_type(f.type, nanoseconds) for f in schema)
