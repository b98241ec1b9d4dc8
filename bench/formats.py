"""Reading and writing the input file formats as streams of Arrow record batches.

One ``Source`` per format; each re-opens its file on every ``stream()`` so a dataset never holds the
whole file in memory (except a JSON array, which is one document and is read whole). Readers were
chosen by measurement: pyarrow for CSV/TSV, Parquet and Arrow IPC; for JSON Lines, polars infers the
types over the whole file and streams flat files, pyarrow streams nested ones (``JsonLinesSource``).

Type inference happens before all rows are seen (pyarrow's streaming CSV reader looks at its first
block). When a later value does not fit, the stream raises ``SchemaConflict``; the loader calls
``repair()``, which widens that one column (null -> the value's type, int -> float, else string),
and profiles again from the start. So a file never fails or loses values because of where its odd
value sits.

JSON has no time type: top-level string columns whose values all look like ISO-8601 dates or
timestamps become ``date32``, ``timestamp[us]`` or ``timestamp[us, tz=UTC]`` (decided on the first
``TEMPORAL_SAMPLE_ROWS`` rows, and given up with a repair if a later value does not parse). Temporal
strings inside structs and lists stay strings.

Every user-facing failure is a ``DataError`` or ``UsageError`` naming the file, the problem and what
to do; no reader writes anything, and writers write to a temporary file in the target folder and
rename it, so a failure leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from storeadvise.errors import DataError, UsageError

TEMPORAL_SAMPLE_ROWS = 10_000
CSV_BLOCK_BYTES = 4 << 20
"""pyarrow's CSV block (it infers types from the first one): 4 MiB read as fast as the 1 MiB default
(0.45 s vs 0.47 s for 500k tabular rows) and sees four times more rows before deciding."""
DIAGNOSE_MAX_BYTES = 256 << 20
"""Whole-document JSON diagnostics (only on errors) are skipped above this size."""
BATCH_ROWS = 65_536

_DATE_RE = r"^\d{4}-\d{2}-\d{2}$"
_TIME_PART = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?"
_TEMPORAL_PATTERNS: tuple[tuple[str, pa.DataType], ...] = (
    (_DATE_RE, pa.date32()),
    ("^" + _TIME_PART + r"(Z|[+-]\d{2}(:?\d{2})?)$", pa.timestamp("us", tz="UTC")),
    ("^" + _TIME_PART + "$", pa.timestamp("us")),
)
_CSV_CONVERSION = re.compile(r"In CSV column #(\d+): CSV conversion error to ([^:]+): invalid value '(.*)'", re.S)
_CSV_ROW = re.compile(r"Row #(\d+)")


class SchemaConflict(DataError):
    """A value later in the file does not fit the type inferred from its beginning (repairable)."""

    def __init__(self, path: Path, column: str, detail: str) -> None:
        super().__init__(f"{path}: column {column!r} changed type while it was being read ({detail}); "
                         "the file may have changed: load it again")
        self.column = column
        self.detail = detail


def _fail(path: Path, problem: str, advice: str) -> DataError:
    return DataError(f"{path}: {problem}; {advice}")


def _arrow_message(exc: BaseException) -> str:
    """The useful first line of a pyarrow / polars message."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.rstrip(".")


def plain_type(t: pa.DataType) -> pa.DataType:
    """``t`` with large and view layouts replaced by the classic ones (string, binary, list).

    polars hands out large_string / string_view; every dataset uses one representation so that
    backends and round-trip checks see the same types whatever the reader was.
    """
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_large_list(t) or pa.types.is_list_view(t) or pa.types.is_large_list_view(t) or pa.types.is_list(t):
        return pa.list_(t.value_field.with_type(plain_type(t.value_type)))
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(plain_type(f.type)) for f in t])
    return t


def plain_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f.with_type(plain_type(f.type)) for f in schema], metadata=schema.metadata)


def temporal_type(values: pa.Array | pa.ChunkedArray) -> pa.DataType | None:
    """The date/timestamp type every non-null string in ``values`` parses as, or None."""
    values = values.drop_null()
    if len(values) == 0:
        return None
    for pattern, target in _TEMPORAL_PATTERNS:
        if pc.all(pc.match_substring_regex(values, pattern)).as_py():
            try:
                pc.cast(values, target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return None
            return target
    return None


class Source:
    """A file opened for streaming: its resolved format, schema and a restartable batch stream."""

    format: str
    schema: pa.Schema

    def __init__(self, path: Path) -> None:
        self.path = path

    def stream(self) -> Iterator[pa.RecordBatch]:
        raise NotImplementedError

    def repair(self, conflict: SchemaConflict) -> None:
        """Widen the conflicting column so that the next stream reads it; DataError if impossible."""
        raise conflict

    def no_rows(self) -> DataError:
        return _fail(self.path, "contains no records", "give a file with at least one row")

    def check_rows(self, rows: int) -> None:
        """Format-specific checks once the row count is known."""


# -- CSV / TSV --------------------------------------------------------------------------------------

class CsvSource(Source):
    """pyarrow's multithreaded streaming CSV reader; empty fields (and "NULL", "NA", ...) are nulls."""

    def __init__(self, path: Path, fmt: str) -> None:
        super().__init__(path)
        self.format = fmt
        self.column_types: dict[str, pa.DataType] = {}
        self.schema = self._open().schema
        binary = [f.name for f in self.schema if pa.types.is_binary(f.type)]
        if binary:
            raise self._not_utf8(binary[0])

    def _open(self, threads: bool = True) -> Any:
        import pyarrow.csv as pacsv

        try:
            return pacsv.open_csv(
                self.path,
                read_options=pacsv.ReadOptions(use_threads=threads, block_size=CSV_BLOCK_BYTES),
                parse_options=pacsv.ParseOptions(delimiter="\t" if self.format == "tsv" else ","),
                convert_options=pacsv.ConvertOptions(strings_can_be_null=True, column_types=self.column_types),
            )
        except (pa.ArrowInvalid, OSError) as exc:
            raise self._translate(exc) from None

    def _not_utf8(self, column: str) -> DataError:
        return _fail(self.path, f"column {column!r} is not valid UTF-8 text",
                     "re-encode the file as UTF-8 (for example: iconv -f latin1 -t utf-8)")

    def _translate(self, exc: BaseException) -> DataError:
        message = _arrow_message(exc)
        conversion = _CSV_CONVERSION.search(str(exc))
        if conversion and hasattr(self, "schema"):
            column = self.schema.names[int(conversion.group(1))]
            if conversion.group(2) in ("string", "large_string"):
                return self._not_utf8(column)
            return SchemaConflict(self.path, column, f"{conversion.group(3)!r} is not {conversion.group(2)}")
        if "Expected" in message and "columns" in message:
            return _fail(self.path, f"rows have different numbers of fields ({self._ragged_where(message)})",
                         "fix that row or quote fields that contain the delimiter")
        return _fail(self.path, f"cannot be read as {self.format.upper()} ({message})",
                     "check that the file is complete and really is " + self.format.upper())

    def _ragged_where(self, message: str) -> str:
        """pyarrow names the row only when reading serially, so ask again that way (error path only)."""
        found = _CSV_ROW.search(message)
        if not found:
            try:
                for _ in self._open(threads=False):
                    pass
            except (DataError, pa.ArrowInvalid) as exc:
                found = _CSV_ROW.search(str(exc))
        detail = message.split(": ", 1)[-1] if "Expected" in message else message
        return f"row {found.group(1)}, counting the header as row 1: {detail}" if found else detail

    def stream(self) -> Iterator[pa.RecordBatch]:
        reader = self._open()
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except (pa.ArrowInvalid, OSError) as exc:
                raise self._translate(exc) from None
            yield batch

    def repair(self, conflict: SchemaConflict) -> None:
        import pyarrow.csv as pacsv

        old = self.schema.field(conflict.column).type
        value = conflict.detail.split("'")[1] if "'" in conflict.detail else ""
        try:
            seen = pacsv.read_csv(pa.py_buffer(f"v\n{value}\n".encode())).schema.field("v").type
        except pa.ArrowInvalid:
            seen = pa.string()
        if pa.types.is_null(old):
            new = seen
        elif {str(old), str(seen)} <= {"int64", "double"}:
            new = pa.float64()
        else:
            new = pa.string()
        if new == old:
            raise conflict
        self.column_types[conflict.column] = new
        self.schema = self._open().schema

    def no_rows(self) -> DataError:
        return _fail(self.path, "has a header but no data rows", "give a file with at least one data row")


# -- Parquet and Arrow IPC --------------------------------------------------------------------------

class ParquetSource(Source):
    format = "parquet"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.schema = self._open().schema_arrow

    def _open(self) -> Any:
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(self.path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise _fail(self.path, f"is not a readable Parquet file ({_arrow_message(exc)})",
                        "check that it was copied completely, or give the right --input-format") from None

    def stream(self) -> Iterator[pa.RecordBatch]:
        batches = self._open().iter_batches(batch_size=BATCH_ROWS)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (pa.ArrowInvalid, OSError) as exc:
                raise _fail(self.path, f"is a damaged Parquet file ({_arrow_message(exc)})",
                            "write or copy it again") from None
            yield batch


class ArrowSource(Source):
    """Arrow IPC file format (= Feather v2), IPC stream format, or a legacy Feather v1 file."""

    format = "arrow"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._table: pa.Table | None = None
        self._kind = ""
        for kind, opener in (("file", pa.ipc.open_file), ("stream", pa.ipc.open_stream)):
            try:
                self.schema = opener(pa.memory_map(str(path))).schema
                self._kind = kind
                return
            except (pa.ArrowInvalid, OSError):
                continue
        try:
            import pyarrow.feather as feather

            self._table = feather.read_table(str(path))
            self.schema = self._table.schema
        except (pa.ArrowInvalid, OSError) as exc:
            raise _fail(path, f"is not an Arrow IPC or Feather file ({_arrow_message(exc)})",
                        "check the file, or give the right --input-format") from None

    def stream(self) -> Iterator[pa.RecordBatch]:
        if self._table is not None:
            yield from self._table.to_batches(BATCH_ROWS)
            return
        source = pa.memory_map(str(self.path))
        try:
            if self._kind == "file":
                reader = pa.ipc.open_file(source)
                for i in range(reader.num_record_batches):
                    yield reader.get_batch(i)
            else:
                yield from pa.ipc.open_stream(source)
        except (pa.ArrowInvalid, OSError) as exc:
            raise _fail(self.path, f"is a damaged Arrow file ({_arrow_message(exc)})",
                        "write or copy it again") from None


# -- JSON Lines and JSON arrays -----------------------------------------------------------------------

def _json_type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")


def _records_hint(document: dict) -> str:
    for key, value in document.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            return (f"its key {key!r} holds a list of objects: extract them as JSON Lines "
                    f"(for example: jq -c '.{key}[]' FILE > records.jsonl)")
    return "put one object per line (JSON Lines) or the records in a top-level array"


def _single_object(path: Path, document: dict) -> DataError:
    return _fail(path, "is a single JSON object, not a list of records", _records_hint(document))


def _diagnose_json_lines(path: Path) -> DataError | None:
    """Find the first line that is not a JSON object (error path only; streams line by line)."""
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                if number == 1 and path.stat().st_size <= DIAGNOSE_MAX_BYTES:
                    whole = _diagnose_json_document(path)
                    if whole is not None and "single JSON object" in str(whole):
                        return whole
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8 text"
                return _fail(path, f"line {number} is not valid JSON ({reason})",
                             "fix that line; JSON Lines needs one complete object per line")
            if not isinstance(value, dict):
                return _fail(path, f"line {number} is a JSON {_json_type_name(value)}, not an object",
                             "every line must be one record, a JSON object")
    return None


def _diagnose_json_document(path: Path) -> DataError | None:
    """Why a whole JSON document is not an array of records (error path only)."""
    if path.stat().st_size > DIAGNOSE_MAX_BYTES:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except json.JSONDecodeError as exc:
        return _fail(path, f"is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
                     "fix the file or export it again")
    except UnicodeDecodeError:
        return _fail(path, "is not UTF-8 text", "re-encode it as UTF-8")
    if isinstance(document, dict):
        return _single_object(path, document)
    if not isinstance(document, list):
        return _fail(path, f"is a JSON {_json_type_name(document)}, not records",
                     "give an array of objects or one object per line (JSON Lines)")
    for index, value in enumerate(document):
        if not isinstance(value, dict):
            return _fail(path, f"element {index} of its array is a JSON {_json_type_name(value)}, not an object",
                         "every element must be one record, a JSON object")
    return None


class _PolarsJsonSource(Source):
    """Shared by both JSON forms: arrow conversion of polars frames and temporal string columns."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.temporal: dict[str, pa.DataType] = {}
        self._raw_schema: pa.Schema = pa.schema([])

    def _plan(self, head: pa.Table) -> None:
        """Decide the final schema from the first rows: plain layouts, temporal strings converted."""
        self._raw_schema = plain_schema(head.schema)
        head = head.cast(self._raw_schema)
        if not head.num_rows:
            raise self.no_rows()
        if not head.num_columns:
            raise _fail(self.path, "has records without any fields", "give records with at least one field")
        for field in head.schema:
            if pa.types.is_string(field.type):
                target = temporal_type(head.column(field.name))
                if target is not None:
                    self.temporal[field.name] = target
        self._set_schema()

    def _set_schema(self) -> None:
        self.schema = pa.schema([f.with_type(self.temporal.get(f.name, f.type)) for f in self._raw_schema])

    def _convert(self, table: pa.Table) -> Iterator[pa.RecordBatch]:
        table = table.cast(self._raw_schema)
        for name, target in self.temporal.items():
            index = table.schema.get_field_index(name)
            try:
                table = table.set_column(index, name, pc.cast(table.column(index), target))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise SchemaConflict(self.path, name, f"a value is not a {target}: {_arrow_message(exc)}") from None
        yield from table.to_batches(BATCH_ROWS)

    def repair(self, conflict: SchemaConflict) -> None:
        if self.temporal.pop(conflict.column, None) is None:
            raise conflict
        self._set_schema()


class JsonLinesSource(_PolarsJsonSource):
    """One JSON object per line, streamed in chunks.

    polars infers the schema over the whole file first (one extra parse: with a shorter inference
    window it silently dropped keys that first appear late in the file, and DuckDB silently rounded
    1.5 to 2 and nulled strings in a column it had sampled as null). Flat files are then streamed by
    polars, files with nested columns by pyarrow's JSON reader given that schema: each was about 2.5x
    faster than the other on those shapes. If pyarrow meets a column mixing numbers and strings (which
    polars reads as strings), the repair switches that file to polars.
    """

    format = "jsonl"

    def __init__(self, path: Path, single_object_is_error: bool = False) -> None:
        import polars as pl

        super().__init__(path)
        self._single_object_is_error = single_object_is_error
        try:
            self._pl_schema = pl.scan_ndjson(path, infer_schema_length=None).collect_schema()
            head = pl.scan_ndjson(path, schema=self._pl_schema).head(TEMPORAL_SAMPLE_ROWS).collect()
        except Exception as exc:  # polars raises ComputeError and friends with terse messages
            raise self._diagnose(exc) from None
        self._plan(head.to_arrow())
        self._use_pyarrow = any(pa.types.is_nested(f.type) for f in self._raw_schema)

    def _diagnose(self, exc: BaseException) -> DataError:
        return _diagnose_json_lines(self.path) or _fail(
            self.path, f"cannot be read as JSON Lines ({_arrow_message(exc)})", "check the file")

    def _frames(self) -> Iterator[Any]:
        if self._use_pyarrow:
            import pyarrow.json as pajson

            options = pajson.ParseOptions(explicit_schema=self._raw_schema, unexpected_field_behavior="error")
            reader = pajson.open_json(self.path, parse_options=options,
                                      read_options=pajson.ReadOptions(block_size=CSV_BLOCK_BYTES))
            for batch in reader:
                yield pa.Table.from_batches([batch])
        else:
            import polars as pl

            for frame in pl.scan_ndjson(self.path, schema=self._pl_schema).collect_batches(chunk_size=BATCH_ROWS):
                yield frame.to_arrow()

    def stream(self) -> Iterator[pa.RecordBatch]:
        frames = self._frames()
        while True:
            try:
                table = next(frames)
            except StopIteration:
                return
            except pa.ArrowInvalid as exc:
                if self._use_pyarrow and "changed from" in str(exc):
                    raise SchemaConflict(self.path, "", "mixed JSON value types") from None
                raise self._diagnose(exc) from None
            except Exception as exc:
                raise self._diagnose(exc) from None
            yield from self._convert(table)

    def repair(self, conflict: SchemaConflict) -> None:
        if conflict.column == "" and self._use_pyarrow:
            self._use_pyarrow = False
        else:
            super().repair(conflict)

    def check_rows(self, rows: int) -> None:
        if rows == 1 and self._single_object_is_error:
            with open(self.path, encoding="utf-8") as handle:
                raise _single_object(self.path, json.load(handle))


class JsonArraySource(_PolarsJsonSource):
    """A JSON document holding an array of objects: one document, so it is read whole (polars)."""

    format = "json"

    def __init__(self, path: Path) -> None:
        import polars as pl

        super().__init__(path)
        try:
            table = pl.read_json(path, infer_schema_length=None).to_arrow()
        except Exception as exc:
            raise (_diagnose_json_document(path) or _fail(
                path, f"cannot be read as a JSON array of records ({_arrow_message(exc)})", "check the file")) from None
        self._plan(table)
        self._table = table

    def stream(self) -> Iterator[pa.RecordBatch]:
        yield from self._convert(self._table)


# -- opening ------------------------------------------------------------------------------------------

def _first_char(path: Path) -> str:
    """The first non-whitespace character ('' if there is none), skipping a UTF-8 byte-order mark."""
    with open(path, "rb") as handle:
        start = True
        while chunk := handle.read(1 << 16):
            if start:
                chunk = chunk.removeprefix(b"\xef\xbb\xbf")
                start = False
            stripped = chunk.lstrip()
            if stripped:
                return chr(stripped[0])
    return ""


def check_file(path: Path) -> None:
    """A UsageError unless ``path`` names an existing file (checked before its extension is)."""
    if not path.exists():
        raise UsageError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise UsageError(f"{path}: is a folder, not a file; give the path of one data file")


def open_source(path: Path, fmt: str) -> Source:
    """Check that ``path`` is a readable, non-empty file and open it in format ``fmt``."""
    check_file(path)
    try:
        size = path.stat().st_size
        first = _first_char(path) if size else ""
    except OSError as exc:
        raise _fail(path, f"cannot be read ({exc.strerror})", "check its permissions") from None
    if size == 0:
        raise _fail(path, "is empty (0 bytes)", "give a file that contains data")
    if not first:
        raise _fail(path, "contains only whitespace", "give a file that contains data")
    if fmt in ("csv", "tsv"):
        return CsvSource(path, fmt)
    if fmt == "parquet":
        return ParquetSource(path)
    if fmt == "arrow":
        return ArrowSource(path)
    # json / jsonl: the content decides, whatever the extension said.
    if first == "[":
        return JsonArraySource(path)
    if first == "{":
        return JsonLinesSource(path, single_object_is_error=(fmt == "json"))
    problem = "does not start with '{' or '['"
    raise _fail(path, f"is not JSON records ({problem})",
                "give one JSON object per line (JSON Lines) or an array of objects")


# -- writing ------------------------------------------------------------------------------------------

def _write_csv(batches: Iterable[pa.RecordBatch], handle: Any, separator: str) -> None:
    import polars as pl

    for i, batch in enumerate(batches):
        pl.from_arrow(batch).write_csv(handle, include_header=(i == 0), separator=separator)


def _write_jsonl(batches: Iterable[pa.RecordBatch], handle: Any) -> None:
    import polars as pl

    for batch in batches:
        pl.from_arrow(batch).write_ndjson(handle)


def _write_json_array(batches: Iterable[pa.RecordBatch], handle: Any) -> None:
    """A JSON array written batch by batch: polars' JSON Lines, joined with commas."""
    import polars as pl

    handle.write(b"[\n")
    first = True
    for batch in batches:
        lines = pl.from_arrow(batch).write_ndjson().rstrip("\n")
        if not lines:
            continue
        handle.write((("" if first else ",\n") + lines.replace("\n", ",\n")).encode())
        first = False
    handle.write(b"\n]\n")


def write_file(schema: pa.Schema, batches: Iterable[pa.RecordBatch], path: Path, fmt: str) -> Path:
    """Write the stream to ``path`` in format ``fmt`` via a temporary file renamed into place."""
    if path.is_dir():
        raise UsageError(f"{path}: is a folder; give a file name such as {path / ('sample.' + fmt)}")
    if not path.parent.is_dir():
        raise UsageError(f"{path}: folder {path.parent} does not exist; create it first")
    nested = [f.name for f in schema if pa.types.is_nested(f.type)]
    if fmt in ("csv", "tsv") and nested:
        raise UsageError(f"{path}: {fmt.upper()} cannot hold nested columns ({', '.join(nested)}); "
                         "write .jsonl, .json, .parquet or .arrow instead")
    writers: dict[str, Callable[[Any], None]] = {
        "csv": lambda handle: _write_csv(batches, handle, ","),
        "tsv": lambda handle: _write_csv(batches, handle, "\t"),
        "jsonl": lambda handle: _write_jsonl(batches, handle),
        "json": lambda handle: _write_json_array(batches, handle),
    }
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if fmt in writers:
            with os.fdopen(descriptor, "wb") as handle:
                writers[fmt](handle)
        else:
            os.close(descriptor)
            _write_arrow_format(schema, batches, temporary, fmt)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return path


def _write_arrow_format(schema: pa.Schema, batches: Iterable[pa.RecordBatch], target: str, fmt: str) -> None:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with pq.ParquetWriter(target, schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
    else:
        with pa.ipc.new_file(target, schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
