"""SQLite databases: one table of the user's database is the dataset; samples can be written as one.

sqlite-utils lists the database's tables and their declared column types, and writes samples (it
creates the table from the rows and turns dates and nested values into text, as a person using it
would). Rows are read in chunks through the standard library's cursor. The database is opened
read-only (``mode=ro``), so reading it never changes it.

SQLite types values per row, not per column: a value that does not fit its column's declared type (a
word in an INTEGER column) widens that column to text through the loader's repair step.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from storeadvise.backends.base import quote_identifier
from storeadvise.bench.formats.source import BATCH_ROWS, SchemaConflict, Source, arrow_message, fail
from storeadvise.errors import UsageError

SAMPLE_TABLE = "data"
"""The table a sample is written to."""
ARROW_TYPES: dict[type, pa.DataType] = {int: pa.int64(), float: pa.float64(), str: pa.string(), bytes: pa.binary()}
"""Arrow type of each Python type sqlite-utils reports for a declared column type."""


def _database(path: Path) -> Any:
    import sqlite_utils

    return sqlite_utils.Database(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True))


def _choose_table(path: Path, tables: list[str], table: str | None) -> str:
    if table is not None:
        if table not in tables:
            raise UsageError(f"{path}: has no table {table!r}; its tables are {', '.join(tables) or 'none'}")
        return table
    if len(tables) == 1:
        return tables[0]
    if not tables:
        raise fail(path, "is a SQLite database without tables", "give a database that holds data")
    raise UsageError(f"{path}: holds {len(tables)} tables ({', '.join(tables)}); pass --table NAME to choose one")


class SqliteSource(Source):
    """One table of a SQLite database file."""

    def __init__(self, path: Path, name: str, table: str | None = None) -> None:
        super().__init__(path, name)
        db = _database(path)
        try:
            tables = [t for t in db.table_names() if not t.startswith("sqlite_")]
            self.table = _choose_table(path, tables, table)
            columns = db[self.table].columns_dict
        except sqlite3.DatabaseError as exc:
            raise fail(path, f"is not a readable SQLite database ({exc})",
                       "check the file, or give the right --input-format") from None
        finally:
            db.conn.close()
        self.schema = pa.schema([(column, ARROW_TYPES.get(kind, pa.string())) for column, kind in columns.items()])

    def stream(self) -> Iterator[pa.RecordBatch]:
        db = _database(self.path)
        try:
            cursor = db.conn.execute(f"SELECT * FROM {quote_identifier(self.table)}")
            while rows := cursor.fetchmany(BATCH_ROWS):
                columns = zip(*rows, strict=True)
                arrays = [self._array(field, values) for field, values in zip(self.schema, columns, strict=True)]
                yield pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        except sqlite3.DatabaseError as exc:
            raise fail(self.path, f"could not be read ({exc})", "check that it was copied completely") from None
        finally:
            db.conn.close()

    def _array(self, field: pa.Field, values: tuple[Any, ...]) -> pa.Array:
        if field.type == pa.string():
            values = tuple(v if v is None or isinstance(v, str) else _as_text(v) for v in values)
        try:
            return pa.array(values, field.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            raise SchemaConflict(self.path, field.name, arrow_message(exc)) from None

    def repair(self, conflict: SchemaConflict) -> None:
        index = self.schema.get_field_index(conflict.column)
        if self.schema.field(index).type == pa.string():
            raise conflict
        self.schema = self.schema.set(index, pa.field(conflict.column, pa.string()))


def _as_text(value: Any) -> str:
    return value.hex() if isinstance(value, bytes) else str(value)


def _python_type(data_type: pa.DataType) -> type:
    """The Python type sqlite-utils declares a column with for an Arrow type."""
    if pa.types.is_integer(data_type) or pa.types.is_boolean(data_type):
        return int
    if pa.types.is_floating(data_type):
        return float
    if pa.types.is_binary(data_type) or pa.types.is_large_binary(data_type):
        return bytes
    return str


def write_sqlite(schema: pa.Schema, batches: Iterable[pa.RecordBatch], target: Path, name: str) -> None:
    import sqlite_utils

    db = sqlite_utils.Database(target)
    try:
        rows = (row for batch in batches for row in batch.to_pylist())
        db[SAMPLE_TABLE].insert_all(
            rows, columns={f.name: _python_type(f.type) for f in schema}, column_order=schema.names,
            batch_size=10_000,
        )
    finally:
        db.close()
