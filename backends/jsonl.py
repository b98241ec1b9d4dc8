"""JSON Lines: one JSON object per line, written with polars and read with DuckDB's JSON reader.

Semantics:

- Durability: an ordinary file write, closed at the end of ``write``/``append``; not fsynced.
- Append: lines are added to the end of the same file. With ``jsonl_gzip`` the file is
  gzip-compressed and each append adds one gzip member.
- Type mapping: JSON has numbers, strings, booleans, null, arrays and objects. Ints, floats, bools,
  strings, nulls and nested struct/list values are native and come back identical. Timestamps, dates
  and decimals are written as strings (ISO-8601; a decimal as its exact text) and converted back to
  their Arrow type with the schema saved beside the file (``_schema.arrow``), so they come back
  identical too. Binary values are stored as base64 text and come back as strings (documented loss).
  Floats that are NaN or infinite have no JSON form and come back null (documented, value by value).
- Reads: DuckDB's ``read_json`` is told every column's type (no sniffing), parses only the asked
  columns, and applies a filter on a natively typed column in its own scan; rows keep file order
  (DuckDB preserves insertion order). A lookup is such a filtered read: it still scans the whole file.

On object storage (``--location s3://...``): the file is one object, uploaded as polars writes it; DuckDB
reads it through pyarrow's S3 filesystem wrapped for fsspec; ``append`` and ``write_one`` are unsupported.

DuckDB reads because, told every column's type, it parses faster than pyarrow's JSON reader and does
projection and filter inside its scan; polars is the fast writer (docs/decisions.md, 'JSON Lines: polars
writes, DuckDB reads with every column type given'). Dates and timestamps in s/ms/us are parsed by
DuckDB itself (faster than reading them as strings and casting); nanosecond timestamps, times,
durations and decimals are read as strings and cast by pyarrow, which keeps their full precision.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

from storeadvise.backends import _typemap
from storeadvise.backends._selection import check_columns, conform, needed_columns, select, subschema
from storeadvise.backends._text_columns import text_safe_schema
from storeadvise.backends._textfile import TextFileBackend
from storeadvise.backends.base import Predicate, TypeLoss, quote_identifier, quote_literal
from storeadvise.backends.batching import rebatch
from storeadvise.errors import BackendUnavailable

if TYPE_CHECKING:
    import pyarrow as pa


class JsonlBackend(TextFileBackend):
    """Newline-delimited JSON objects."""

    name: ClassVar[str] = "jsonl"
    suffix: ClassVar[str] = ".jsonl"
    gzip_option: ClassVar[str] = "jsonl_gzip"
    aliases: ClassVar[tuple[str, ...]] = ("json", "ndjson")
    sweep_variants: ClassVar[dict[str, dict[str, Any]]] = {"plain": {}, "gzip": {gzip_option: True}}
    keeps_nested: ClassVar[bool] = True
    type_mapping: ClassVar[dict[str, str]] = {
        "timestamp": "ISO-8601 string, cast back to the same unit (exact)",
        "timestamp with timezone": "ISO-8601 string of the UTC instant, cast back to the same zone (exact)",
        "date": "ISO-8601 date string (exact)",
        "null": "null (exact)",
        "bool": "true / false (exact)",
        "int64": "JSON number (exact)",
        "float": "JSON number, shortest round-trip form (exact; NaN and infinity become null)",
        "decimal": "string of the exact decimal, cast back (exact)",
        "binary": "base64 string, read back as string (loss)",
        "string": "JSON string (exact)",
        "nested struct/list": "JSON object / array (exact)",
    }

    def refuses(self, schema: pa.Schema) -> str | None:
        odd = _typemap.unnamed_struct_field(schema)
        return f"is read by DuckDB, which cannot hold it: {odd}" if odd else None

    def type_loss(self, field: pa.Field) -> TypeLoss | None:
        import pyarrow.types as pt

        if pt.is_floating(field.type):
            return TypeLoss("NaN and infinity have no JSON form: they come back null",
                            lambda values: _typemap.nulled(values, _typemap.not_finite))
        return super().type_loss(field)

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self._con: Any = None
        self._reader: tuple[pa.Schema, str, frozenset[str]] | None = None

    def write_frame(self, frame: Any, out: BinaryIO, first: bool) -> None:
        frame.write_ndjson(out)

    def clear(self) -> None:
        super().clear()
        self._reader = None

    def cleanup(self) -> None:
        super().cleanup()
        if self._con is not None:
            self._con.close()
            self._con = None

    # -- reading ---------------------------------------------------------------------------------------
    def _connection(self) -> Any:
        """One in-memory DuckDB connection per backend object, made on first read."""
        if self._con is None:
            import duckdb

            self._con = duckdb.connect()
            # timestamps with a zone come out in the session's zone: UTC, the common case, needs no cast
            self._con.execute("SET TimeZone = 'UTC'")
            if self.remote is not None:
                self._con.register_filesystem(_fsspec(self.remote.fs))
        return self._con

    def _path(self, part: Any) -> str:
        """A part as DuckDB names it: a local path, or an ``s3://`` URL read through pyarrow's filesystem
        (DuckDB's own S3 reader is an extension downloaded at run time: not used)."""
        return str(part) if self.remote is None else f"s3://{part}"

    def _source(self) -> tuple[pa.Schema, str, frozenset[str]]:
        """The schema reads return (the written one, binary as text), the ``read_json`` call that parses
        the file with every column's type given, and the columns DuckDB parses natively (a filter on
        those runs in DuckDB; the others are read as strings and cast by pyarrow)."""
        if self._reader is None:
            import pyarrow as pa

            target = text_safe_schema(self.schema, keep_nested=True)
            as_read = pa.schema([
                pa.field(f.name, pa.string()) if _as_text(f.type) else f.with_type(
                    _typemap.map_type(f.type, _typemap.polars_text_leaf)) for f in target])
            types = self._connection().from_arrow(as_read.empty_table()).types
            spec = ", ".join(
                f"{quote_literal(f.name)}: {quote_literal(str(t))}" for f, t in zip(target, types, strict=True)
            )
            compression = "gzip" if self.part_suffix().endswith(".gz") else "none"
            call = f"read_json(?, format='newline_delimited', compression='{compression}', columns={{{spec}}})"
            native = frozenset(f.name for f, read in zip(target, as_read, strict=True)
                               if read.type.equals(f.type) and not _is_nested(f.type))
            self._reader = (target, call, native)
        return self._reader

    def _query(self, columns: Sequence[str] | None, where: Predicate | None) -> tuple[str, list[Any], pa.Schema, bool]:
        """The SQL result of reading ``columns`` (and the filter, when DuckDB can apply it), the schema
        to cast it to, and whether the filter was applied."""
        target, call, native = self._source()
        pushed = where is not None and where.column in native
        names = list(columns) if columns is not None else target.names
        if where is not None and not pushed:
            names = needed_columns(names, where) or names
        # every column as ``*`` (the reader's columns are the schema's, in order), as the SQL backends do:
        # DuckDB binds a named list per query, which a lookup of a wide file pays for every key
        # (docs/decisions.md, 'SQL backends: SELECT * when every column is asked for', 'JSON Lines: SELECT *')
        selected = "*" if names == target.names else ", ".join(quote_identifier(n) for n in names)
        sql = f"SELECT {selected} FROM {call}"
        params: list[Any] = [self._path(self.parts()[0])]
        if pushed:
            condition, values = where.to_sql()
            sql, params = f"{sql} WHERE {condition}", [*params, *values]
        return sql, params, subschema(target, names), pushed

    def read(self, columns: Sequence[str] | None = None, where: Predicate | None = None) -> pa.Table:
        check_columns(self.schema, columns, where)
        sql, params, schema, pushed = self._query(columns, where)
        table = conform(self._connection().sql(sql, params=params).to_arrow_table(), schema)
        return select(table, columns, None if pushed else where)

    def scan(self, columns: Sequence[str] | None = None, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        check_columns(self.schema, columns)
        sql, params, schema, _ = self._query(columns, None)
        # a cursor of its own: a query on the shared connection would end this stream
        cursor = self._connection().cursor()
        try:
            reader = cursor.sql(sql, params=params).to_arrow_reader(batch_rows)
            yield from rebatch((conform(b, schema) for b in reader if b.num_rows), batch_rows)
        finally:
            cursor.close()


def _fsspec(filesystem: Any) -> Any:
    """pyarrow's S3 filesystem as the fsspec filesystem DuckDB reads ``s3://`` paths through."""
    try:
        from fsspec.implementations.arrow import ArrowFSWrapper
    except ImportError:
        raise BackendUnavailable("jsonl on object storage reads through fsspec: "
                                 "pip install 'storeadvise[s3]'") from None
    return ArrowFSWrapper(filesystem)


def _as_text(data_type: pa.DataType) -> bool:
    """Types JSON has no literal for (the writer emits strings) that DuckDB cannot parse into exactly the
    Arrow type: read as strings, cast by pyarrow. Dates and timestamps down to microseconds it parses."""
    import pyarrow.types as pt

    if pt.is_date32(data_type) or (pt.is_timestamp(data_type) and data_type.unit != "ns") or pt.is_duration(data_type):
        return False  # a duration is written as the count of its unit (``_typemap.polars_text_leaf``)
    return pt.is_temporal(data_type) or pt.is_decimal(data_type)


def _is_nested(data_type: pa.DataType) -> bool:
    import pyarrow.types as pt

    return pt.is_nested(data_type)
