"""Parquet: columnar, compressed files written and read through polars (on every core), keeping the
exact Arrow schema in the footer; pyarrow for the types polars would change.

Semantics:

- Durability: an ordinary file write, complete once ``write`` returns (the footer is written last, so
  a crash mid-write leaves an unreadable file, never a silently short one); not fsynced.
- Append: Parquet files cannot grow in place; each ``append`` writes one more file
  (``part-00001.parquet``, ...) in the dataset folder, and reads see all of them in order.
  ``write_one`` is not declared: a file per single row is not how anyone uses Parquet.
- Type mapping: the Arrow schema is stored in the file's metadata (``ARROW:schema``, the key pyarrow
  writes and reads), so every Arrow type used here (timestamps with their unit and zone, dates,
  decimals, binary, nested struct/list) comes back identical.
- Writing: a stream whose column types polars stores exactly (see ``polars_keeps``) goes through
  polars' streaming ``sink_parquet``, which encodes row groups in parallel while the batches keep
  arriving (memory stays bounded by a few row groups); polars' own schema note (``large_string``
  where the data had ``string``, ...) is replaced by the written Arrow schema (``timestamp[s]`` columns
  are handed over in milliseconds, ``seconds_column``). Other types (time of day, fixed-size lists,
  seconds inside nested columns, ...) are written by pyarrow's ``ParquetWriter``, one row group at a
  time, on one core, and so are appends of fewer than ``SMALL_WRITE_ROWS`` rows. polars is the
  faster writer because it encodes on every core (docs/decisions.md, 'Parquet: polars writes through
  its streaming sink').
- Options: ``parquet_compression`` (default ``snappy``; ``zstd``, ``gzip``, ``lz4``, ``brotli``,
  ``none``), ``parquet_compression_level`` (the codec's level, e.g. zstd 1-22) and
  ``parquet_row_group_rows`` (default 131,072: row groups of that size let a filter or lookup skip
  every row group whose min/max statistics exclude it, and let the writer encode several at once;
  pyarrow's default of 1,048,576 makes a 500k-row file one row group, which no filter can skip).
- Reads (read, projection, filter, lookup) go through polars' lazy scan when every stored column is of
  a type polars hands back exactly (``polars_keeps``) and the filter is one polars evaluates exactly
  like pyarrow (``polars_predicate``): only the asked columns are decoded, row groups whose min/max
  statistics exclude the filter are skipped, the filter column is decoded first and the others only
  for the matching rows; the result is cast back to the written schema. Anything else goes through
  ``pyarrow.dataset``. polars plus the cast back is the faster path for reads, filters and lookups
  (docs/decisions.md, 'Parquet: reads through polars, cast back to the written schema'). Batch scans
  stay on ``pyarrow.dataset``, which streams.
- ``take`` (rows by position, a training loader's shuffled batch): an index of every part's row
  groups (their first row, from the footers, built once per written state) says which row groups hold
  the asked rows; only those are read (pyarrow ``ParquetFile.read_row_groups``), then the rows are
  taken in the order asked. The cost of a take is a whole row group per distinct group touched, which
  is why a media table gets small row groups (``MEDIA_ROW_GROUP_ROWS``).
- A media table (``storeadvise.media``: one row per item, its bytes in a binary column) is written in
  row groups of ``MEDIA_ROW_GROUP_ROWS`` items unless ``parquet_row_group_rows`` says otherwise: at
  100 kB an item, the tabular default would make row groups of 13 GB, and a shuffled batch would read
  one whole per item (docs/decisions.md, 'Parquet: row groups of 16 items for media').
- On object storage (``--location s3://...``, ``backends._objectstore``): the same writers stream each
  part to an upload; a read that polars takes downloads each part in one GET and hands polars the
  buffer (faster on the emulator than ranged GETs for only the needed column chunks, though it moves
  every byte); the others and scans go through ``pyarrow.dataset`` on the S3 filesystem (ranged GETs).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from storeadvise.backends._partfiles import (
    FILE_OPERATIONS,
    FileBackend,
    chunk_starts,
    dataset_read,
    dataset_scan,
    take_from_chunks,
)
from storeadvise.backends._selection import check_columns, conform, subschema
from storeadvise.backends.base import Predicate
from storeadvise.backends.batching import chunked
from storeadvise.errors import UsageError
from storeadvise.media import media_modality

if TYPE_CHECKING:
    from pathlib import Path

    import polars as pl
    import pyarrow as pa

COMPRESSIONS = ("snappy", "zstd", "gzip", "lz4", "brotli", "none")
DEFAULT_ROW_GROUP_ROWS = 131_072
MEDIA_ROW_GROUP_ROWS = 16
"""Items per row group of a media table (see the module docstring; measured in docs/decisions.md)."""
ARROW_SCHEMA_KEY = "ARROW:schema"
SMALL_WRITE_ROWS = 4_096
"""Below this many rows, known up front (an ``append`` of one batch), pyarrow writes: setting up polars'
streaming sink costs more than writing such a small file (docs/decisions.md, 'Parquet: small appends
through pyarrow')."""


# -- which data polars handles exactly --------------------------------------------------------------
def polars_writes(data_type: pa.DataType) -> bool:
    """True for the types that polars stores so that pyarrow, told the original Arrow schema, reads
    them back identical (checked type by type in tests/test_parquet.py); False sends the write to
    pyarrow. Not included: ``timestamp[s]`` (stored as ms), ``date64``, ``time32``/``time64`` (stored
    as ns), fixed-size binary and lists, dictionaries, maps, unions, decimal256, extension types, and
    nested fields declared non-nullable (polars stores every field as nullable)."""
    import pyarrow.types as pt

    if pt.is_struct(data_type):
        fields = [data_type.field(i) for i in range(data_type.num_fields)]
        return all(f.nullable and polars_writes(f.type) for f in fields)
    if pt.is_list(data_type) or pt.is_large_list(data_type):
        return data_type.value_field.nullable and polars_writes(data_type.value_type)
    if pt.is_timestamp(data_type):
        return data_type.unit in ("ms", "us", "ns") and polars_knows_zone(data_type.tz)
    return (
        pt.is_integer(data_type)
        or (pt.is_floating(data_type) and not pt.is_float16(data_type))
        or pt.is_boolean(data_type)
        or pt.is_string(data_type) or pt.is_large_string(data_type)
        or pt.is_binary(data_type) or pt.is_large_binary(data_type)
        or pt.is_date32(data_type)
        or pt.is_decimal128(data_type)
        or pt.is_null(data_type)
    )


def polars_knows_zone(tz: str | None) -> bool:
    """Whether polars accepts a timestamp's zone: a name from the time-zone database, or none. A fixed
    offset (``+05:30``, which Arrow allows) made polars panic inside its Parquet read."""
    return tz is None or tz in _zone_names()


@functools.lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    import zoneinfo

    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def polars_keeps(schema: pa.Schema) -> bool:
    """Whether polars writes and reads a dataset of this schema exactly: every column's type is one of
    ``polars_writes`` or a ``seconds_column``, and no column is declared non-nullable (polars writes them
    all as nullable, and the Parquet reader takes a column's nullability from the file, not from the
    Arrow schema)."""
    return all(f.nullable and (polars_writes(f.type) or seconds_column(f.type)) for f in schema)


def seconds_column(data_type: pa.DataType) -> bool:
    """A top-level ``timestamp[s]`` column: Parquet has no unit of seconds, so every writer stores it in
    milliseconds and pyarrow reads it back as ``timestamp[ms]``. polars can write and read it like any
    millisecond column, handed over already in milliseconds by ``in_milliseconds`` (polars' own
    conversion wraps values beyond its range silently; pyarrow's refuses them, as its writer does),
    and the read is cast back to seconds. Text timestamps in CSV files are inferred as this type."""
    import pyarrow.types as pt

    return pt.is_timestamp(data_type) and data_type.unit == "s" and polars_knows_zone(data_type.tz)


def in_milliseconds(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` with its ``seconds_column`` columns cast to milliseconds (an error for a value beyond
    the range of milliseconds, never a wrapped one)."""
    import pyarrow as pa

    if not any(seconds_column(f.type) for f in batch.schema):
        return batch
    columns = [column.cast(pa.timestamp("ms", field.type.tz)) if seconds_column(field.type) else column
               for column, field in zip(batch.columns, batch.schema, strict=True)]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


@functools.lru_cache(maxsize=1)
def polars_can_sink() -> bool:
    """Whether the installed polars has what the streaming write needs (an IO source feeding
    ``sink_parquet``, which takes key-value metadata); older versions make pyarrow write everything."""
    import inspect

    import polars as pl

    try:
        from polars.io.plugins import register_io_source  # noqa: F401
    except ImportError:
        return False
    return "metadata" in inspect.signature(pl.LazyFrame.sink_parquet).parameters


def polars_predicate(data_type: pa.DataType, where: Predicate) -> pl.Expr | None:
    """``where`` as a polars expression that selects exactly the rows pyarrow's filter selects, or None
    when that is not certain (other column types, NaN, values of another kind): then pyarrow filters.

    Polars orders NaN above every number (so ``NaN > 1`` is true there, false in pyarrow): ``>`` and
    ``>=`` on a float column also require ``is_not_nan``. Narrow ints and float32 are left to pyarrow
    because polars would cast the value to the column's type instead of widening the column, and so
    is a float value on an int column (pyarrow compares in float32 there, or refuses large values)."""
    import datetime as dt
    import math
    import operator

    import polars as pl
    import pyarrow.types as pt

    value = where.value
    integer = isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
    if pt.is_int64(data_type):
        ok = integer
    elif pt.is_float64(data_type):
        ok = integer or isinstance(value, float)
    elif pt.is_string(data_type) or pt.is_large_string(data_type):
        ok = isinstance(value, str)
    elif pt.is_boolean(data_type):
        ok = isinstance(value, bool)
    elif pt.is_date32(data_type):
        ok = type(value) is dt.date
    else:
        ok = False
    if not ok or (isinstance(value, float) and math.isnan(value)):
        return None
    compare = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
               ">=": operator.ge}[where.op]
    column = pl.col(where.column)
    expr = compare(column, pl.lit(value))
    if pt.is_float64(data_type) and where.op in (">", ">="):
        expr = expr & column.is_not_nan()
    return expr


def frame_to_arrow(frame: pl.DataFrame) -> pa.Table:
    """A polars frame as Arrow without copying: strings and binaries stay views, which the cast back to
    the written schema then copies once. The Arrow C stream (``pa.table(frame)``) is the cheapest
    export of a frame in one chunk, but copies a frame of several chunks into one, where ``to_arrow`` at
    polars' newest Arrow level hands the chunks over; polars' default ``to_arrow`` would copy strings
    into large_string (docs/decisions.md, 'Parquet: a polars frame exported to Arrow by its chunk
    count')."""
    import polars as pl
    import pyarrow as pa

    if frame.width and max(frame.n_chunks("all")) == 1:
        return pa.table(frame)
    return frame.to_arrow(compat_level=pl.CompatLevel.newest())


def arrow_schema_note(schema: pa.Schema) -> str:
    """The ``ARROW:schema`` value pyarrow writes into a Parquet footer (base64 of the IPC schema)."""
    import base64

    return base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


def polars_sink(path: Path | Any, schema: pa.Schema, batches: Iterable[pa.RecordBatch], compression: str,
                level: int | None, rows: int) -> None:
    """Stream the batches through polars' ``sink_parquet``: the batches are handed over one by one
    (polars pulls them as it encodes, so memory stays bounded), row groups of exactly ``rows`` rows,
    and the footer carries the written Arrow schema instead of polars' own."""
    import polars as pl
    from polars.io.plugins import register_io_source

    stream: Iterator[pa.RecordBatch] | None = iter(batches)

    def source(with_columns: list[str] | None, predicate: Any, n_rows: int | None,
               batch_size: int | None) -> Iterator[pl.DataFrame]:
        nonlocal stream
        if stream is None:  # a second pull would silently write nothing
            raise RuntimeError("parquet: polars asked for the batch stream twice")
        batches_left, stream = stream, None
        for batch in batches_left:
            if batch.num_rows:
                yield pl.from_arrow(in_milliseconds(batch), rechunk=False)  # type: ignore[misc]

    frame = register_io_source(source, schema=pl.from_arrow(schema.empty_table()).schema)  # type: ignore[union-attr]
    frame.sink_parquet(
        path, compression="uncompressed" if compression == "none" else compression,  # type: ignore[arg-type]
        compression_level=level, row_group_size=rows, metadata={ARROW_SCHEMA_KEY: arrow_schema_note(schema)},
    )


class ParquetBackend(FileBackend):
    """A folder of Parquet files (a dataset): the first from ``write``, one more per ``append``."""

    name: ClassVar[str] = "parquet"
    suffix: ClassVar[str] = ".parquet"
    supports: ClassVar[frozenset[str]] = FILE_OPERATIONS | {"take"}
    sweep_variants: ClassVar[dict[str, dict[str, Any]]] = {
        "none": {"parquet_compression": "none"},
        "snappy": {"parquet_compression": "snappy"},
        "lz4": {"parquet_compression": "lz4"},
        "zstd-1": {"parquet_compression": "zstd", "parquet_compression_level": 1},
        "zstd-3": {"parquet_compression": "zstd", "parquet_compression_level": 3},
        "zstd-9": {"parquet_compression": "zstd", "parquet_compression_level": 9},
        "rg=64k": {"parquet_row_group_rows": 65_536},
        "rg=1M": {"parquet_row_group_rows": 1_048_576},
    }
    type_mapping: ClassVar[dict[str, str]] = {
        "timestamp": "INT64 timestamp with its unit (exact)",
        "timestamp with timezone": "INT64 UTC timestamp, zone kept in the Arrow schema (exact)",
        "date": "INT32 date (exact)",
        "null": "definition levels (exact)",
        "bool": "BOOLEAN (exact)",
        "int64": "INT64 (exact)",
        "float": "DOUBLE / FLOAT (exact)",
        "decimal": "DECIMAL (exact)",
        "binary": "BYTE_ARRAY (exact)",
        "string": "BYTE_ARRAY UTF8 (exact)",
        "nested struct/list": "nested groups / repeated fields (exact)",
    }

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self._polars_reads: tuple[pa.Schema, bool] | None = None
        self._row_groups: RowGroupIndex | None = None

    def _writer_options(self, schema: pa.Schema | None = None) -> tuple[str, int, int | None]:
        options = self.settings.options
        compression = str(options.get("parquet_compression") or "snappy").lower()
        if compression not in COMPRESSIONS:
            raise UsageError(
                f"unknown parquet_compression {compression!r}; choose from {', '.join(COMPRESSIONS)}"
            )
        default = MEDIA_ROW_GROUP_ROWS if schema is not None and media_modality(schema) else DEFAULT_ROW_GROUP_ROWS
        rows = int(options.get("parquet_row_group_rows") or default)
        if rows < 1:
            raise UsageError(f"parquet_row_group_rows must be at least 1, not {rows}")
        level = options.get("parquet_compression_level")
        return compression, rows, None if level is None else int(level)

    def write_part(self, path: Path, schema: pa.Schema, batches: Iterable[pa.RecordBatch], *, new: bool) -> None:
        compression, rows, level = self._writer_options(schema)
        small = isinstance(batches, Sequence) and sum(b.num_rows for b in batches) < SMALL_WRITE_ROWS
        with self.output(path) as target:
            if not small and polars_can_sink() and polars_keeps(schema):
                polars_sink(target, schema, batches, compression, level, rows)
                return
            import pyarrow.parquet as pq

            with pq.ParquetWriter(target, schema, compression=compression, compression_level=level) as writer:
                for table in chunked(batches, schema, rows):
                    writer.write_table(table, row_group_size=rows)

    def load_schema(self) -> pa.Schema:
        import pyarrow.parquet as pq

        return pq.read_schema(self.parts()[0], filesystem=self.filesystem)

    def polars_reads(self) -> bool:
        """Whether reads go through polars: ``polars_keeps`` the stored schema (polars parses the whole
        schema of a file, also for a projection). Remembered per schema: a lookup asks once per key."""
        schema = self.schema
        if self._polars_reads is None or self._polars_reads[0] is not schema:
            self._polars_reads = (schema, polars_keeps(schema))
        return self._polars_reads[1]

    def read(self, columns: Sequence[str] | None = None, where: Predicate | None = None) -> pa.Table:
        check_columns(self.schema, columns, where)
        if self.polars_reads():
            expr = None if where is None else polars_predicate(self.schema.field(where.column).type, where)
            if where is None or expr is not None:
                return self._polars_read(columns, expr)
        return dataset_read(self.parts(), "parquet", self.schema, columns, where, self.filesystem)

    def _polars_read(self, columns: Sequence[str] | None, where: pl.Expr | None) -> pa.Table:
        """polars' lazy scan of every part, in order: only the asked columns are decoded, a filter is
        evaluated on its column first and the other columns are decoded only for the matching rows;
        the result is cast back to the written schema, with its metadata."""
        import polars as pl
        import pyarrow as pa

        # on object storage each part is downloaded in one GET (docs/decisions.md, 'Object storage: whole
        # objects for reads, large ranges for scans')
        sources = [str(p) if self.remote is None else self.input_file(p, whole=True) for p in self.parts()]
        frame = pl.scan_parquet(sources)
        if where is not None:
            frame = frame.filter(where)
        if columns is not None:
            frame = frame.select(list(columns))
        target = subschema(self.schema, columns) if columns is not None else self.schema
        table = conform(frame_to_arrow(frame.collect()), target)
        if not table.schema.equals(target, check_metadata=True):  # same types: polars dropped the metadata
            table = pa.Table.from_arrays(table.columns, schema=target)
        return table

    def scan(self, columns: Sequence[str] | None = None, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        check_columns(self.schema, columns)
        yield from dataset_scan(self.parts(), "parquet", self.schema, columns, batch_rows, self.filesystem)

    def take(self, positions: Sequence[int]) -> pa.Table:
        parts = self.parts()
        if self._row_groups is None or self._row_groups.parts != parts:
            self._row_groups = RowGroupIndex(parts, self.input_file)
        return conform(self._row_groups.take(positions), self.schema)


class RowGroupIndex:
    """The row groups of a list of Parquet parts: each part's footer (parsed once) and where each group starts.

    A take opens the parts it needs anew, handing over the parsed footer (no parsing per call): a
    ``ParquetFile`` is not safe to read from several threads at once, and a shuffled epoch's loader
    threads call ``take`` together."""

    def __init__(self, parts: list[Any], open_file: Any) -> None:
        import pyarrow.parquet as pq

        self.parts, self.open_file = parts, open_file
        footers, schemas = [], []
        for path in parts:
            with pq.ParquetFile(open_file(path)) as parquet_file:
                footers.append(parquet_file.metadata)
                schemas.append(parquet_file.schema_arrow)
        self.footers = footers
        self.schema = schemas[0]
        self.groups = [(part, g) for part, footer in enumerate(footers) for g in range(footer.num_row_groups)]
        self.starts = chunk_starts(footers[part].row_group(g).num_rows for part, g in self.groups)

    def take(self, positions: Sequence[int]) -> pa.Table:
        """The rows at ``positions`` in the order asked, reading only the row groups that hold them."""
        import pyarrow.parquet as pq

        opened: dict[int, Any] = {}

        def row_group(k: int) -> pa.Table:
            part, group = self.groups[k]
            if part not in opened:
                opened[part] = pq.ParquetFile(self.open_file(self.parts[part]), metadata=self.footers[part])
            return opened[part].read_row_group(group)

        try:
            return take_from_chunks(self.starts, row_group, self.schema, positions)
        finally:
            for parquet_file in opened.values():
                parquet_file.close()
