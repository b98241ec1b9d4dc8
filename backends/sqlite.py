"""SQLite: one table in a database file, through the standard library's ``sqlite3``.

Semantics:

- Durability (``durability``): ``PRAGMA journal_mode=WAL`` with ``synchronous=NORMAL``: a committed
  transaction survives a crash of the application; the WAL is synced only at checkpoints, so after a
  power loss or OS crash the last transactions before it may be lost, but the database is never
  corrupted (SQLite's documented WAL/NORMAL guarantee). With ``--fsync``, ``synchronous=FULL``: the WAL
  is synced at every commit, and a committed transaction survives a power loss too. ``write`` is one
  transaction; each ``append`` and each ``update`` is one more.
- Append: ``INSERT`` of the batch's rows in one transaction; rows are read back in insertion (rowid)
  order. Update: a prepared ``UPDATE ... WHERE key = ?`` per row (``executemany``) in one transaction;
  rows keep their place, and a key no stored row has is not inserted.
- Keyed access: a (non-unique) index on the key column, built after the bulk load (faster than
  loading into an indexed table); lookups and filtered reads are parameterised ``SELECT ... WHERE``.
- Type mapping: SQLite has INTEGER, REAL, TEXT and BLOB. Bools are 0/1 integers, timestamps are
  integers in the column's own unit since the Unix epoch (UTC for zoned ones), dates are integer days
  since the epoch, uint64 values are stored minus 2^63 (so that all of them fit SQLite's signed
  INTEGER, in order), decimals are their exact text, binary is a BLOB and nested struct/list values are
  JSON text. The Arrow schema is saved in a metadata table (``_storeadvise_schema``) and each column
  is converted back to its Arrow type on read, so all but nested values come back identical. Floats
  that are NaN come back NULL (SQLite has no NaN; infinities are kept): documented, value by value.
- Filters on a decimal column support ``==`` and ``!=`` only: stored as text, they would otherwise
  compare as text.

Reading back into Arrow: ``fetchmany`` in chunks, each chunk's rows converted by pyarrow as one
struct array (``RowConverter``), then the columns stored in another type cast back. DuckDB's SQLite
scanner would need an extension download and connectorx is not installed, so the stdlib path is the
one that works offline. Lookups reuse one statement (sqlite3 caches it prepared) and one converter.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from storeadvise.backends import _typemap
from storeadvise.backends._selection import cast_values
from storeadvise.backends._sqlfile import TABLE, SqlFileBackend
from storeadvise.backends._text_columns import is_binary, is_nested, to_text_column
from storeadvise.backends.base import Durability, Predicate, TypeLoss, quote_identifier
from storeadvise.backends.batching import check_batch_rows
from storeadvise.errors import DataError, UnsupportedOperation

if TYPE_CHECKING:
    import sqlite3
    from pathlib import Path

    import pyarrow as pa

DB_FILE = "data.sqlite"
INSERT_BATCH_ROWS = 50_000
PLAIN_VALUES = {"int64": int, "double": float, "string": str}
"""Arrow types whose Python values SQLite stores unchanged, with that Python type."""
READ_CHUNK_ROWS = 65_536
"""Rows fetched and converted to Arrow at a time by a read: the Python tuples of one chunk are freed
before the next is fetched, at no cost in speed against one ``fetchall`` (docs/decisions.md, 'SQLite:
rows to Arrow as one struct array per chunk')."""


def storage_type(data_type: pa.DataType) -> pa.DataType:
    """The Arrow type whose Python values sqlite3 stores for a column of ``data_type``."""
    import pyarrow as pa
    import pyarrow.types as pt

    if pt.is_dictionary(data_type):
        return storage_type(data_type.value_type)
    if pt.is_boolean(data_type) or pt.is_timestamp(data_type) or pt.is_duration(data_type) or pt.is_uint64(data_type):
        return pa.int64()
    if pt.is_date32(data_type) or pt.is_time32(data_type):
        return pa.int32()
    if pt.is_date64(data_type) or pt.is_time64(data_type):
        return pa.int64()
    if pt.is_float16(data_type):
        return pa.float32()
    if pt.is_decimal(data_type) or is_nested(data_type) or pt.is_large_string(data_type):
        return pa.string()
    if pt.is_large_binary(data_type) or pt.is_fixed_size_binary(data_type):
        return pa.binary()
    return data_type


def sql_type(data_type: pa.DataType) -> str:
    """The declared SQLite column type for an Arrow type."""
    import pyarrow.types as pt

    stored = storage_type(data_type)
    if pt.is_integer(stored):
        return "INTEGER"
    if pt.is_floating(stored):
        return "REAL"
    if is_binary(stored):
        return "BLOB"
    return "TEXT"


def to_storage(array: pa.Array) -> pa.Array:
    """A column in its stored form (see ``storage_type``)."""
    import pyarrow.types as pt

    if pt.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    if is_nested(array.type):
        return to_text_column(array)
    target = storage_type(array.type)
    if array.type == target:
        return array
    if pt.is_temporal(array.type) and pt.is_integer(target):
        return array.view(target)
    if pt.is_uint64(array.type):
        return _flip_top_bit(array).view(target)
    return array.cast(target)


def _flip_top_bit(array: pa.Array) -> pa.Array:
    """uint64 values v as v XOR 2^63, which, read as int64, is v - 2^63: every uint64 fits SQLite's
    signed INTEGER and the order is kept, so filters and the key index still work. Its own inverse."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.bit_wise_xor(array.view(pa.uint64()), pa.scalar(1 << 63, pa.uint64()))


def from_storage(array: pa.Array, target: pa.DataType) -> pa.Array:
    """A column read back from its stored form (see ``to_storage``) into ``target``."""
    import pyarrow.types as pt

    if pt.is_uint64(target):
        return _flip_top_bit(array)
    return cast_values(array, target)


def read_type(data_type: pa.DataType) -> pa.DataType:
    """The Arrow type that rows fetched from SQLite are converted into directly: temporal columns
    straight from their stored integers (pyarrow reads an int as a value in the type's unit, exactly
    what ``to_storage`` stored), everything else in its stored type."""
    import pyarrow.types as pt

    if pt.is_temporal(data_type):
        return data_type
    return storage_type(data_type)


class RowConverter:
    """Fetched rows (tuples) into Arrow for one column list, built once and reused per call.

    The rows go to pyarrow as one struct array (``pa.array(rows, type=struct)``): the conversion runs in
    C++ without transposing the rows in Python first, which makes reads faster than one ``pa.array``
    per column or polars ``read_database`` (docs/decisions.md, 'SQLite: rows to Arrow as one struct
    array per chunk'). Columns whose stored type differs from the written one (bool as 0/1,
    decimal as text, ...) are cast afterwards; nested columns stay JSON text.
    """

    def __init__(self, schema: pa.Schema) -> None:
        import pyarrow as pa

        self.schema = _returned_schema(schema)
        self.struct = pa.struct([f.with_type(read_type(f.type)) for f in self.schema])
        self.casts = [(i, f) for i, f in enumerate(self.schema) if read_type(f.type) != f.type]

    def batch(self, rows: list[tuple]) -> pa.RecordBatch:
        """One record batch of ``rows`` in the returned schema (per call: one conversion, then one cast
        per column stored in another type; everything else is built once)."""
        import pyarrow as pa

        batch = pa.RecordBatch.from_struct_array(pa.array(rows, type=self.struct))
        for i, field in self.casts:
            batch = batch.set_column(i, field, from_storage(batch.column(i), field.type))
        return batch

    def table(self, chunks: Iterable[list[tuple]]) -> pa.Table:
        """One table of every chunk of rows, in order (an empty table for no rows)."""
        import pyarrow as pa

        return pa.Table.from_batches([self.batch(rows) for rows in chunks], schema=self.schema)


class SqliteBackend(SqlFileBackend):
    """A SQLite database file with one table, indexed on the key column."""

    name: ClassVar[str] = "sqlite"
    db_file: ClassVar[str] = DB_FILE
    row_order: ClassVar[str] = " ORDER BY rowid"
    first_rowid: ClassVar[int] = 1
    write_guarantees: ClassVar[tuple[Durability, Durability]] = (
        Durability(False, "WAL, synchronous=NORMAL: a committed write survives an application crash; the WAL is "
                   "synced only at checkpoints, so a power loss can roll back the last commits (the database "
                   "stays consistent)"),
        Durability(True, "WAL, synchronous=FULL (--fsync): the WAL is synced at every commit, so a committed write "
                   "survives a power loss"),
    )
    type_mapping: ClassVar[dict[str, str]] = {
        "timestamp": "INTEGER in the column's unit since the Unix epoch, converted back (exact)",
        "timestamp with timezone": "INTEGER of the UTC instant; zone kept in the saved schema (exact)",
        "date": "INTEGER days since the Unix epoch, converted back (exact)",
        "null": "NULL (exact)",
        "bool": "INTEGER 0/1, converted back (exact)",
        "int64": "INTEGER (exact)",
        "uint64": "INTEGER holding the value minus 2^63, so that all of them fit in order; converted back (exact)",
        "float": "REAL (exact; NaN becomes NULL)",
        "decimal": "TEXT of the exact decimal, converted back (exact; range filters unsupported)",
        "binary": "BLOB (exact)",
        "string": "TEXT (exact)",
        "nested struct/list": "JSON TEXT, read back as string (loss)",
    }

    def _open_connection(self) -> sqlite3.Connection:
        import sqlite3

        con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute(f"PRAGMA synchronous={'FULL' if self.settings.fsync else 'NORMAL'}")
        return con

    def size_source(self) -> str:
        return "files: the database file after a WAL checkpoint (the -wal file not counted)"

    def stored_files(self) -> list[Path]:
        """The database and its write-ahead log; not the ``-shm`` WAL index, which every open connection
        keeps mapped as shared memory (so it can never leave the page cache) and which holds no data."""
        files = [f for root in super().stored_files() for f in (root.iterdir() if root.is_dir() else [root])]
        return [f for f in files if not f.name.endswith("-shm")]

    def size_bytes(self) -> int:
        """The database file after a checkpoint: the ``-wal`` file holds pages on their way into it, and
        counting both would count them twice (it grows to several MB before SQLite checkpoints)."""
        self._connect().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return super().size_bytes()

    # -- writing ---------------------------------------------------------------------------------------
    def _load(self, con: sqlite3.Connection, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> None:
        columns = ", ".join(f"{quote_identifier(f.name)} {sql_type(f.type)}" for f in schema)
        con.execute(f"CREATE TABLE {TABLE} ({columns})")
        self._insert(con, schema, batches)

    def _append_rows(self, con: sqlite3.Connection, batch: pa.RecordBatch) -> None:
        con.execute("BEGIN")
        try:
            self._insert(con, self.schema, [batch])
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def _insert(self, con: sqlite3.Connection, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> None:
        sql = f"INSERT INTO {TABLE} VALUES ({', '.join('?' * len(schema))})"
        for batch in batches:
            for start in range(0, batch.num_rows, INSERT_BATCH_ROWS):
                part = batch.slice(start, INSERT_BATCH_ROWS)
                columns = [to_storage(col).to_pylist() for col in part.columns]
                try:
                    con.executemany(sql, zip(*columns, strict=True))
                except OverflowError as exc:
                    raise DataError(f"{self.name}: a value does not fit SQLite's 64-bit integer ({exc})") from None

    def _update_rows(self, con: sqlite3.Connection, rows: pa.Table, key: str) -> None:
        """One prepared ``UPDATE ... WHERE key = ?`` run for every row (``executemany``) in one transaction:
        each row found through the key index (docs/decisions.md, 'Updates in place: one statement per store')."""
        names = [n for n in rows.schema.names if n != key]
        if not names:
            return
        assignments = ", ".join(f"{quote_identifier(n)} = ?" for n in names)
        sql = f"UPDATE {TABLE} SET {assignments} WHERE {quote_identifier(key)} = ?"
        columns = [to_storage(rows.column(n).combine_chunks()).to_pylist() for n in [*names, key]]
        con.execute("BEGIN")
        try:
            con.executemany(sql, zip(*columns, strict=True))
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    # -- reading ---------------------------------------------------------------------------------------
    def _condition(self, where: Predicate) -> tuple[str, list[Any]]:
        import pyarrow.types as pt

        data_type = self.schema.field(where.column).type
        if is_nested(data_type) or (pt.is_decimal(data_type) and where.op not in ("==", "!=")):
            raise UnsupportedOperation(
                f"{self.name} stores {data_type} as text, so it cannot filter {where.column} with {where.op}"
            )
        condition, _ = where.to_sql()
        return condition, [self._stored_value(data_type, where.value)]

    @staticmethod
    def _stored_value(data_type: pa.DataType, value: Any) -> Any:
        """``value`` as a column of ``data_type`` stores it (e.g. a timestamp as its integer)."""
        import pyarrow as pa

        if type(value) is PLAIN_VALUES.get(str(data_type)):
            return value  # already what SQLite stores: skip the round trip through Arrow
        return to_storage(pa.array([value], type=data_type)).to_pylist()[0]

    def _key_value(self, key: Any) -> Any:
        return self._stored_value(self.schema.field(self.settings.key_column).type, key)

    def _fetch_key(self, sql: str, value: Any, schema: pa.Schema) -> pa.Table:
        import pyarrow as pa

        rows = self._connect().execute(sql, (value,)).fetchall()
        return pa.Table.from_batches([self._converter(schema).batch(rows)])

    def _fetch_rowids(self, statements: list[tuple[str, list[int]]], wanted: list[int]) -> pa.Table:
        import pyarrow as pa

        con = self._connect()
        found = {row[0]: row[1:] for sql, ids in statements for row in con.execute(sql, ids)}
        try:
            rows = [found[rowid] for rowid in wanted]  # in Python, before the rows become Arrow: no copy of values
        except KeyError:
            raise IndexError(f"{self.name}: positions outside the stored rows") from None
        return pa.Table.from_batches([self._converter(self.schema).batch(rows)])

    def _converter(self, schema: pa.Schema) -> RowConverter:
        """The row converter of a column list, cached until the next write (lookups reuse it)."""
        key = ("rows", *schema.names)
        converter = self._cache.get(key)
        if converter is None:
            converter = self._cache[key] = RowConverter(schema)
        return converter

    def _chunks(self, sql: str, params: Sequence[Any], rows: int) -> Iterator[list[tuple]]:
        """The query's rows, ``rows`` at a time: a full read never holds every row as Python tuples."""
        cursor = self._connect().cursor()
        try:
            cursor.execute(sql, params)
            while chunk := cursor.fetchmany(rows):
                yield chunk
        finally:
            cursor.close()

    def read(self, columns: Sequence[str] | None = None, where: Predicate | None = None) -> pa.Table:
        sql, params, target = self._select(columns, where)
        return self._converter(target).table(self._chunks(sql, params, READ_CHUNK_ROWS))

    def scan(self, columns: Sequence[str] | None = None, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        check_batch_rows(batch_rows)
        sql, params, target = self._select(columns, None)
        converter = self._converter(target)
        for rows in self._chunks(sql, params, batch_rows):
            yield converter.batch(rows)

    def type_loss(self, field: pa.Field) -> TypeLoss | None:
        import pyarrow.compute as pc
        import pyarrow.types as pt

        if is_nested(field.type):
            return TypeLoss("stored as JSON text", to_text_column)
        if pt.is_floating(field.type):
            return TypeLoss("NaN is stored as NULL (SQLite has no NaN; infinities are kept)",
                            lambda values: _typemap.nulled(values, pc.is_nan))
        return None


def _returned_schema(schema: pa.Schema) -> pa.Schema:
    """The schema of what a read returns: the written one, with nested columns as JSON strings."""
    import pyarrow as pa

    return pa.schema([pa.field(f.name, pa.string()) if is_nested(f.type) else f for f in schema])
