"""CSV: one text file, header row first, written with polars and read with pyarrow's CSV reader.

Semantics:

- Durability: an ordinary file write, flushed and closed at the end of ``write``/``append``; not fsynced,
  so a power loss right after may lose it (the OS decides when it reaches the disk).
- Append: rows are added to the end of the same file, without repeating the header. With
  ``csv_gzip`` the file is gzip-compressed and each append adds one gzip member (a valid
  multi-member gzip file, read back as one stream).
- Type mapping: a CSV file has no types, so the Arrow schema is saved beside it (``_schema.arrow``)
  and the reader is told every column's type; ints, floats (shortest round-trip text), bools
  (``true``/``false``), dates, timestamps (ISO-8601; with a timezone, the UTC instant with an offset)
  and decimals come back identical. A null is an empty field and an empty string is ``""``, so the
  two stay distinct. Nested struct/list values are stored as JSON text and binary values as base64
  text: both come back as strings (documented loss).
- Reads: a CSV file has no predicate pushdown; the reader converts only the needed columns, then
  filters. A lookup scans the whole file (there is no index). Quoted values holding a line break are
  read correctly; the writer notes in the schema sidecar whether any value it wrote (or appended)
  holds one, and only then is the reader told to look for them (that option slows every read, since
  the file can no longer be cut into blocks at line ends; docs/decisions.md, 'CSV: pyarrow looks for
  line breaks only in files that hold one').

On object storage (``--location s3://...``): the file is one object, uploaded as polars writes it and
streamed to pyarrow's reader; ``append`` and ``write_one`` are unsupported (an object cannot grow).

polars writes and pyarrow reads, each the faster library in its direction (docs/decisions.md, 'CSV:
polars writes, pyarrow reads'). Two exceptions, both for uncompressed files, where polars parses only
the columns it needs while pyarrow parses every column: a projection of numeric and boolean columns
from a file that holds line breaks (pyarrow must then parse the whole file serially; docs/decisions.md,
'CSV: projections through polars only when the file holds line breaks'), and a projection or filter
of numeric, boolean and string columns from a file of ``POLARS_WIDE_COLUMNS`` columns or more
(docs/decisions.md, 'CSV: projections and filters of wide files through polars').
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

from storeadvise.backends import _typemap
from storeadvise.backends._selection import check_columns, conform, needed_columns, select, subschema, value_type
from storeadvise.backends._text_columns import text_safe_schema
from storeadvise.backends._textfile import TextFileBackend
from storeadvise.backends.base import Predicate
from storeadvise.backends.batching import rebatch

if TYPE_CHECKING:
    from pathlib import Path

    import polars as pl
    import pyarrow as pa


class CsvBackend(TextFileBackend):
    """Comma-separated text with a header row."""

    name: ClassVar[str] = "csv"
    suffix: ClassVar[str] = ".csv"
    gzip_option: ClassVar[str] = "csv_gzip"
    sweep_variants: ClassVar[dict[str, dict[str, Any]]] = {"plain": {}, "gzip": {gzip_option: True}}
    type_mapping: ClassVar[dict[str, str]] = {
        "timestamp": "ISO-8601 text, read back to the same unit (exact)",
        "timestamp with timezone": "ISO-8601 text of the UTC instant with +0000, read back with the same zone",
        "date": "ISO-8601 date text (exact)",
        "null": "empty field (an empty string is written as \"\" and stays distinct)",
        "bool": "true / false (exact)",
        "int64": "decimal text (exact)",
        "float": "shortest round-trip decimal text (exact)",
        "decimal": "decimal text, read back with the same precision and scale (exact)",
        "binary": "base64 text, read back as string (loss)",
        "string": "UTF-8 text, quoted when needed (exact)",
        "nested struct/list": "JSON text, read back as string (loss)",
    }

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self._line_breaks: bool | None = None

    def write_frame(self, frame: Any, out: BinaryIO, first: bool) -> None:
        frame.write_csv(out, include_header=first)

    def write_part(self, path: Path, schema: pa.Schema, batches: Iterable[pa.RecordBatch], *, new: bool) -> None:
        """Write as every text format does, noting whether a value holds a line break (see the module
        docstring): a new file starts without the note, an append adds it when its rows need it."""
        if new:
            self._line_breaks = False
        found = [any("\n" in n or "\r" in n for n in schema.names)]

        def watched(stream: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            for batch in stream:
                if not found[0]:
                    found[0] = any(_has_line_break(column) for column in batch.columns)
                yield batch

        super().write_part(path, schema, watched(batches), new=new)
        if found[0] and not self.line_breaks:
            self._line_breaks = True
            self.save_schema({LINE_BREAKS: "true"})

    @property
    def line_breaks(self) -> bool:
        """Whether some stored value holds a line break (from memory, or the schema sidecar's note)."""
        if self._line_breaks is None:
            self._line_breaks = self.load_notes().get(LINE_BREAKS) == "true"
        return self._line_breaks

    def clear(self) -> None:
        super().clear()
        self._line_breaks = None

    # -- reading ---------------------------------------------------------------------------------------
    def _options(self, columns: Sequence[str] | None) -> dict[str, Any]:
        import pyarrow.csv as pcsv

        target = text_safe_schema(self.schema)
        return {
            # a null in a one-column file is an empty line, which must count as a row
            "parse_options": pcsv.ParseOptions(newlines_in_values=self.line_breaks, ignore_empty_lines=False),
            "convert_options": pcsv.ConvertOptions(
                column_types={f.name: _read_type(f.type) for f in target},
                include_columns=list(columns) if columns is not None else None,
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        }

    def read(self, columns: Sequence[str] | None = None, where: Predicate | None = None) -> pa.Table:
        check_columns(self.schema, columns, where)
        load = needed_columns(columns, where)
        part = self.parts()[0]
        target = text_safe_schema(self.schema)
        if self.remote is None and not part.name.endswith(".gz") and self._polars_reads(load, where):
            from storeadvise.backends.parquet import polars_predicate

            expr = None if where is None else polars_predicate(target.field(where.column).type, where)
            names = load if expr is None else (columns if columns is not None else target.names)
            table = _polars_read(part, target, names if names is not None else target.names, expr)
            if expr is not None:
                where = None  # polars applied it
        else:
            table = read_csv_growing(self.source(part, whole=True), **self._options(load))
        table = conform(table, subschema(target, table.schema.names))
        return select(table, columns, where)

    def _polars_reads(self, load: Sequence[str] | None, where: Predicate | None) -> bool:
        """Whether polars, which parses only the columns it needs, reads a projection or filter faster
        than pyarrow, which parses every column: a projection of numbers and booleans from a file that
        holds line breaks (pyarrow then parses serially); a projection or filter of numbers, booleans
        and strings from a file of at least ``POLARS_WIDE_COLUMNS`` columns. A whole read stays with
        pyarrow (docs/decisions.md, 'CSV: projections through polars only when the file holds line
        breaks', 'CSV: projections and filters of wide files through polars')."""
        if self.line_breaks:
            return load is not None and all(_polars_parses_fast(self.schema, load))
        if load is None and where is None:
            return False
        names = load if load is not None else self.schema.names
        return len(self.schema) >= POLARS_WIDE_COLUMNS and all(_polars_parses_fast(self.schema, names, strings=True))

    def scan(self, columns: Sequence[str] | None = None, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        check_columns(self.schema, columns)
        target = subschema(text_safe_schema(self.schema), list(columns) if columns is not None else self.schema.names)
        batches = csv_batches(self.source(self.parts()[0]), **self._options(columns))
        yield from rebatch((conform(b, target) for b in batches if b.num_rows), batch_rows)


def _read_type(data_type: pa.DataType) -> pa.DataType:
    """The type the CSV reader is told for a column, when ``conform`` casts it to ``data_type`` after:
    a category of other values than strings is read as its values (the reader makes categories of
    strings only), and a timestamp in seconds in milliseconds (polars, which has no seconds unit,
    writes ``.000``, which the reader refuses for seconds)."""
    import pyarrow as pa
    import pyarrow.types as pt

    if pt.is_dictionary(data_type) and pt.is_string(data_type.value_type):
        return data_type
    data_type = value_type(data_type)
    if pt.is_timestamp(data_type) and data_type.unit == "s":
        return pa.timestamp("ms", tz=data_type.tz)
    if pt.is_time(data_type):  # polars writes nine fraction digits, which the reader refuses for us or ms
        return pa.string()
    return _typemap.polars_text_leaf(data_type) if not pt.is_timestamp(data_type) else data_type


MAX_BLOCK_BYTES = 1 << 30
"""The largest block pyarrow's CSV reader is given: a single value may be up to about this long."""


def _grown(exc: BaseException, options: Any) -> Any:
    """Read options with a block four times larger, when ``exc`` says a value did not fit in one
    block (pyarrow's "straddling object straddles two block boundaries": a valid file with a value
    longer than the block, e.g. a 10 MB cell); else None."""
    import pyarrow.csv as pcsv

    block = options.block_size if options is not None else pcsv.ReadOptions().block_size
    if "straddl" not in str(exc) or block >= MAX_BLOCK_BYTES:
        return None
    use_threads = options.use_threads if options is not None else True
    return pcsv.ReadOptions(use_threads=use_threads, block_size=min(block * 4, MAX_BLOCK_BYTES))


def _growing(call: Any, source: Any, read_options: Any, options: dict[str, Any]) -> Any:
    """``call(source, read_options=..., **options)``, retried with a larger block while a value does
    not fit in one. A callable ``source`` (an object store's stream, which cannot be read twice) is
    called for each try."""
    import pyarrow as pa

    while True:
        try:
            return call(source() if callable(source) else source, read_options=read_options, **options)
        except pa.ArrowInvalid as exc:
            read_options = _grown(exc, read_options)
            if read_options is None:
                raise


def open_csv_growing(source: Any, read_options: Any = None, **options: Any) -> Any:
    """``pyarrow.csv.open_csv``, retried with a larger block while a value does not fit in one."""
    import pyarrow.csv as pcsv

    return _growing(pcsv.open_csv, source, read_options, options)


def read_csv_growing(source: Any, read_options: Any = None, **options: Any) -> pa.Table:
    """``pyarrow.csv.read_csv``, retried with a larger block while a value does not fit in one."""
    import pyarrow.csv as pcsv

    return _growing(pcsv.read_csv, source, read_options, options)


def csv_batches(source: Any, read_options: Any = None, **options: Any) -> Iterator[pa.RecordBatch]:
    """The batches of ``pyarrow.csv.open_csv``; when a value further into the file does not fit in a
    block, the file is opened again with a larger one and the rows already given are skipped."""
    import pyarrow as pa

    given = 0
    while True:
        skip = given
        try:
            for batch in open_csv_growing(source, read_options, **options):
                if skip >= batch.num_rows:
                    skip -= batch.num_rows
                    continue
                batch, skip = batch.slice(skip), 0
                given += batch.num_rows
                yield batch
            return
        except pa.ArrowInvalid as exc:
            read_options = _grown(exc, read_options)
            if read_options is None:
                raise


LINE_BREAKS = "csv_line_breaks"
"""The schema sidecar's note: "true" when some value written holds a line break."""


def _has_line_break(array: pa.Array) -> bool:
    """Whether a string value of ``array`` holds a line break (other types never do once written:
    nested values become JSON text, which escapes them, and binary becomes base64). Searches the
    array's bytes at once, far faster than pyarrow's substring kernels (docs/decisions.md, 'CSV: pyarrow
    looks for line breaks only in files that hold one')."""
    import pyarrow as pa
    import pyarrow.types as pt

    if pt.is_dictionary(array.type):
        return _has_line_break(array.dictionary)
    if pt.is_string_view(array.type):
        array = array.cast(pa.large_string())
    if not (pt.is_string(array.type) or pt.is_large_string(array.type)) or len(array) == 0:
        return False
    _, offsets, data = array.buffers()
    if data is None:
        return False
    width, code = (8, "q") if pt.is_large_string(array.type) else (4, "i")
    ends = memoryview(offsets)[array.offset * width:(array.offset + len(array) + 1) * width].cast(code)
    text = memoryview(data)[ends[0]:ends[-1]].tobytes()
    return b"\n" in text or b"\r" in text


POLARS_WIDE_COLUMNS = 64
"""Columns from which a projection or filter of a CSV file goes through polars even without line breaks:
pyarrow's reader parses every column of the file, polars only those it needs (and a filter's other
columns only for the matching rows), and the gap grows with the columns skipped (docs/decisions.md,
'CSV: projections and filters of wide files through polars')."""


def _polars_parses_fast(schema: pa.Schema, names: Sequence[str], *, strings: bool = False) -> Iterator[bool]:
    """For each of ``names``: a number or boolean, which polars parses and hands to Arrow without copies
    (with ``strings``, also a string, which the cast back to the written schema copies once)."""
    import pyarrow.types as pt

    for name in names:
        t = schema.field(name).type
        yield pt.is_integer(t) or pt.is_floating(t) or pt.is_boolean(t) or (strings and pt.is_string(t))


def _polars_read(path: Path, schema: pa.Schema, names: Sequence[str], where: pl.Expr | None = None) -> pa.Table:
    """Only ``names`` of the file, parsed by polars (the other columns are declared text and skipped),
    of the rows matching ``where`` (its column among the parsed ones)."""
    import polars as pl

    from storeadvise.backends.parquet import frame_to_arrow

    parsed = set(names) | set(where.meta.root_names() if where is not None else [])
    types = pl.from_arrow(subschema(schema, list(parsed)).empty_table()).schema
    declared = {f.name: types[f.name] if f.name in parsed else pl.String for f in schema}
    frame = pl.scan_csv(path, schema=declared)
    if where is not None:
        frame = frame.filter(where)
    return frame_to_arrow(frame.select(list(names)).collect())
