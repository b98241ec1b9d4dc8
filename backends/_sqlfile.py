"""What the embedded SQL database backends (sqlite, duckdb) share, written once.

Each keeps one table (``data``) in one database file in its scratch folder, and the written Arrow
schema in a metadata table (``_storeadvise_schema``, one BLOB row holding the IPC-serialised schema),
so that a reopened database returns exactly the written types. Here: the connection opened on first
use and closed by ``clear``, the schema read back from the metadata table, the frame of ``write`` (one
transaction: schema row, load, key index built after the load, commit), the column checks of
``append`` and ``update``, the ``SELECT`` behind every read, the keyed lookup, and ``take``: rows by
position are rows by the engine's row id (``rowid``, numbered in insertion order: this table is only ever
loaded and appended to, never deleted from; an update rewrites a row in place), one
``WHERE rowid IN (...)`` per call, put back in the order asked.

What differs stays in each backend: the driver and its pragmas, the column types, how rows are loaded
and appended, how a filter value is stored and how rows come back into Arrow.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from storeadvise.backends._selection import check_columns, subschema
from storeadvise.backends.base import Backend, Predicate, quote_identifier
from storeadvise.errors import DataError

if TYPE_CHECKING:
    import pyarrow as pa

TABLE = "data"
SCHEMA_TABLE = "_storeadvise_schema"
SQL_OPERATIONS = frozenset({"write", "read", "scan", "project", "filter", "lookup", "append", "write_one", "take",
                            "update"})
POSITION = "_storeadvise_position"
"""The name the row id goes by in a take's result, before it is put in order and dropped."""
TAKE_CHUNK = 900
"""Row ids per statement: under the smallest limit of bound parameters of the SQLite builds around (999)."""


class SqlFileBackend(Backend):
    """One table in one embedded database file; subclasses supply the driver and how rows move."""

    kind: ClassVar[str] = "database"
    own_cache: ClassVar[bool] = True
    supports: ClassVar[frozenset[str]] = SQL_OPERATIONS
    db_file: ClassVar[str] = ""
    """The database file's name in the scratch folder, e.g. ``data.sqlite``."""
    row_order: ClassVar[str] = ""
    """SQL appended to every ``SELECT`` to return rows in insertion order (empty when the engine
    keeps that order by itself)."""
    first_rowid: ClassVar[int] = 0
    """The row id of the first row written (SQLite counts from 1, DuckDB from 0)."""
    load_in_transaction: ClassVar[bool] = True
    """Wrap the whole write (schema row, rows, key index) in one transaction. SQLite needs it: without
    it every inserted row commits. A failed write is cleared before the next one either way."""

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self._con: Any = None
        self._schema: pa.Schema | None = None
        self._cache: dict[Any, Any] = {}
        """What is derived from the schema once and reused per call (row converters, the lookup
        statement); emptied with the schema by ``clear`` (every ``write`` starts with one)."""

    # -- connection ------------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self.location / self.db_file

    def _connect(self) -> Any:
        """The open connection, opened on first use; ``DataError`` if nothing was written."""
        if self._con is None:
            if not self.path.is_file():
                raise self.nothing_written()
            self._con = self._open_connection()
        return self._con

    @abc.abstractmethod
    def _open_connection(self) -> Any:
        """A new connection to ``self.path`` (created if missing), configured for this engine."""

    def release_cache(self) -> None:
        """Close the connection, and with it the engine's page cache (SQLite's) or buffer pool (DuckDB's);
        the next call opens the file again."""
        if self._con is not None:
            self._con.close()
            self._con = None

    def clear(self) -> None:
        self.release_cache()
        self._schema = None
        self._cache.clear()
        super().clear()

    @property
    def schema(self) -> pa.Schema:
        """The written Arrow schema, from memory or the metadata table."""
        import pyarrow as pa

        if self._schema is None:
            # Every row fetched: DuckDB refuses the next statement on a connection whose result is unfinished
            # (a reopened database's first lookup failed with ResourceInUseException after fetchone).
            row = self._connect().execute(f"SELECT schema FROM {SCHEMA_TABLE}").fetchall()[0]
            self._schema = pa.ipc.read_schema(pa.py_buffer(row[0]))
        return self._schema

    # -- writing ---------------------------------------------------------------------------------------
    def write(self, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> None:
        self.clear()
        self.location.mkdir(parents=True, exist_ok=True)
        con = self._con = self._open_connection()
        self._schema = schema
        if self.load_in_transaction:
            con.execute("BEGIN TRANSACTION")
        con.execute(f"CREATE TABLE {SCHEMA_TABLE} (schema BLOB)")
        con.execute(f"INSERT INTO {SCHEMA_TABLE} VALUES (?)", [schema.serialize().to_pybytes()])
        self._load(con, schema, batches)
        key = self.settings.key_column
        if key and schema.get_field_index(key) >= 0:
            con.execute(f"CREATE INDEX {quote_identifier(TABLE + '_key')} ON {TABLE} ({quote_identifier(key)})")
        if self.load_in_transaction:
            con.execute("COMMIT")

    @abc.abstractmethod
    def _load(self, con: Any, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> None:
        """Create ``TABLE`` and fill it from the stream, inside the write's transaction."""

    def append(self, batch: pa.RecordBatch) -> None:
        con = self._connect()
        if batch.schema.names != self.schema.names:
            raise DataError(
                f"{self.name}: appended rows have columns {', '.join(batch.schema.names)}, "
                f"but the stored table has {', '.join(self.schema.names)}"
            )
        self._append_rows(con, batch)

    @abc.abstractmethod
    def _append_rows(self, con: Any, batch: pa.RecordBatch) -> None:
        """Insert the (checked) batch into ``TABLE`` as one committed transaction."""

    def update(self, rows: pa.Table) -> None:
        """Every column but the key of the stored rows with ``rows``' keys set to ``rows``' values, in one
        committed transaction (one statement), found through the key index; other keys are not inserted."""
        con = self._connect()
        key = self.update_key_for(rows, self.schema)
        if rows.num_rows:
            self._update_rows(con, rows, key)

    @abc.abstractmethod
    def _update_rows(self, con: Any, rows: pa.Table, key: str) -> None:
        """Set the non-key columns of the rows whose ``key`` matches one of ``rows``, as one transaction."""

    # -- reading ---------------------------------------------------------------------------------------
    def _select(self, columns: Sequence[str] | None, where: Predicate | None) -> tuple[str, list[Any], pa.Schema]:
        """The parameterised ``SELECT`` answering ``columns`` / ``where``, its parameters and the schema
        of what it returns."""
        schema = self.schema
        check_columns(schema, columns, where)
        target = subschema(schema, columns) if columns is not None else schema
        condition, params = self._condition(where) if where is not None else ("", [])
        return self._select_sql(target, condition), params, target

    def _select_sql(self, target: pa.Schema, condition: str) -> str:
        """``SELECT`` of ``target``'s columns, rows matching ``condition`` (if any), in row order.

        Every column is ``*`` (the table's columns are the schema's, in order): DuckDB answers a lookup
        faster than with the columns named (docs/decisions.md, 'SQL backends: SELECT * when every column
        is asked for')."""
        names = "*" if target.names == self.schema.names else ", ".join(quote_identifier(n) for n in target.names)
        sql = f"SELECT {names} FROM {TABLE}"
        if condition:
            sql += f" WHERE {condition}"
        return sql + self.row_order

    def _condition(self, where: Predicate) -> tuple[str, list[Any]]:
        """The ``WHERE`` condition and its parameters (override to store the value as the column is)."""
        condition, values = where.to_sql()
        return condition, list(values)

    def lookup(self, key: Any) -> pa.Table:
        """The rows whose key column equals ``key``: one parameterised ``SELECT`` built once per written
        schema (the engine's index answers it), so a lookup pays for the query and the one-row Arrow
        table, not for re-planning the read."""
        sql, target = self._lookup_statement()
        return self._fetch_key(sql, self._key_value(key), target)

    def _lookup_statement(self) -> tuple[str, pa.Schema]:
        """The ``SELECT`` of every column for one key and the schema it returns (cached)."""
        statement = self._cache.get("lookup")
        if statement is None:
            where = Predicate(self.lookup_key_column(), "==", None)
            check_columns(self.schema, None, where)
            condition, _ = self._condition(where)
            statement = self._cache["lookup"] = (self._select_sql(self.schema, condition), self.schema)
        return statement

    def _key_value(self, key: Any) -> Any:
        """``key`` as the key column stores it (override when the engine stores it differently)."""
        return key

    def take(self, positions: Sequence[int]) -> pa.Table:
        names = ", ".join(quote_identifier(n) for n in self.schema.names)
        wanted = [p + self.first_rowid for p in positions]
        unique = sorted(set(wanted))
        statements = []
        for start in range(0, len(unique), TAKE_CHUNK):
            ids = unique[start:start + TAKE_CHUNK]
            sql = f"SELECT rowid AS {POSITION}, {names} FROM {TABLE} WHERE rowid IN ({', '.join('?' * len(ids))})"
            statements.append((sql, ids))
        return self._fetch_rowids(statements, wanted)

    @abc.abstractmethod
    def _fetch_rowids(self, statements: list[tuple[str, list[int]]], wanted: list[int]) -> pa.Table:
        """Run the ``statements`` (each returns the row id, then every column); the rows of the ``wanted``
        row ids in that order, as a table of the written schema; ``IndexError`` for a row id not found."""

    @abc.abstractmethod
    def _fetch_key(self, sql: str, value: Any, schema: pa.Schema) -> pa.Table:
        """Run the lookup statement for one stored key value; the rows as a table of ``schema``."""
