"""JSON Lines and JSON arrays of objects: read with polars (and pyarrow for nested JSON Lines),
written with polars.

Whatever the extension or ``--input-format`` said, the content decides: a file starting with ``[`` is
a JSON array of records, one starting with ``{`` is JSON Lines (``open_json_records``).

JSON has no time type: top-level string columns whose values all look like ISO-8601 dates or
timestamps become ``date32``, ``timestamp[us]`` or ``timestamp[us, tz=UTC]`` (decided on the first
``TEMPORAL_SAMPLE_ROWS`` rows, and given up with a repair if a later value does not parse). Temporal
strings inside structs and lists stay strings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from storeadvise.bench.formats.source import (
    BATCH_ROWS,
    CSV_BLOCK_BYTES,
    SchemaConflict,
    Source,
    arrow_message,
    fail,
    first_char,
    first_uncastable,
    integer_type,
    offset_note,
    rounding_note,
    untypable,
)
from storeadvise.errors import DataError

TEMPORAL_SAMPLE_ROWS = 10_000
DIAGNOSE_MAX_BYTES = 256 << 20
"""Whole-document JSON diagnostics (only on errors) are skipped above this size."""

_DATE_RE = r"^\d{4}-\d{2}-\d{2}$"
_TIME_PART = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?"
_TEMPORAL_PATTERNS: tuple[tuple[str, pa.DataType], ...] = (
    (_DATE_RE, pa.date32()),
    ("^" + _TIME_PART + r"(Z|[+-]\d{2}(:?\d{2})?)$", pa.timestamp("us", tz="UTC")),
    ("^" + _TIME_PART + "$", pa.timestamp("us")),
)


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
    return fail(path, "is a single JSON object, not a list of records", _records_hint(document))


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
                return fail(path, f"line {number} is not valid JSON ({reason})",
                             "fix that line; JSON Lines needs one complete object per line")
            if not isinstance(value, dict):
                return fail(path, f"line {number} is a JSON {_json_type_name(value)}, not an object",
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
        return fail(path, f"is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
                     "fix the file or export it again")
    except UnicodeDecodeError:
        return fail(path, "is not UTF-8 text", "re-encode it as UTF-8")
    if isinstance(document, dict):
        return _single_object(path, document)
    if not isinstance(document, list):
        return fail(path, f"is a JSON {_json_type_name(document)}, not records",
                     "give an array of objects or one object per line (JSON Lines)")
    for index, value in enumerate(document):
        if not isinstance(value, dict):
            return fail(path, f"element {index} of its array is a JSON {_json_type_name(value)}, not an object",
                         "every element must be one record, a JSON object")
    return None


class _PolarsJsonSource(Source):
    """Shared by both JSON forms: arrow conversion of polars frames, and of the string columns that
    hold dates, timestamps or integers too wide for polars' Arrow export."""

    def __init__(self, path: Path, name: str) -> None:
        super().__init__(path, name)
        self.from_text: dict[str, pa.DataType] = {}
        """String columns converted to another type: temporal text, wide integers."""
        self.wide_integers: set[str] = set()
        """Columns polars read as 128-bit integers (values beyond int64), which it cannot export to
        Arrow: read as their digits, then given the narrowest exact type."""
        self._raw_schema: pa.Schema = pa.schema([])
        self.user_types: dict[str, pa.DataType] = {}
        """Text columns the user gave a type (``take_types``): a value that does not parse is an error."""

    def _plan(self, head: pa.Table) -> None:
        """Decide the final schema from the first rows: plain layouts, temporal strings and wide integers
        converted."""
        self._raw_schema = plain_schema(head.schema)
        head = head.cast(self._raw_schema)
        if not head.num_rows:
            raise self.no_rows()
        if not head.num_columns:
            raise fail(self.path, "has records without any fields", "give records with at least one field")
        for field in head.schema:
            if field.name in self.wide_integers:
                target = integer_type(head.column(field.name).drop_null().to_pylist())
                if target is not None and not pa.types.is_string(target):
                    self.from_text[field.name] = target
            elif pa.types.is_string(field.type):
                target = temporal_type(head.column(field.name))
                if target is not None:
                    self.from_text[field.name] = target
                    note = offset_note(pa.field(field.name, target), head.column(field.name).drop_null())
                    if note:
                        self.column_notes[field.name] = note
        self._set_schema()

    def take_types(self, types: dict[str, pa.DataType]) -> dict[str, pa.DataType]:
        """A text column is parsed from its text into the given type (a timestamp keeps the text's
        precision); the others are cast after reading."""
        text = {name: t for name, t in types.items() if pa.types.is_string(self._raw_schema.field(name).type)}
        self.from_text.update(text)
        self.user_types.update(text)
        self._set_schema()
        return {name: t for name, t in types.items() if name not in text}

    def _wide_integers_as_text(self, schema: Any) -> Any:
        """The polars schema with 128-bit integer columns read as text (see ``wide_integers``)."""
        import polars as pl

        wide = {name for name, dtype in schema.items() if dtype in (pl.Int128, getattr(pl, "UInt128", pl.Int128))}
        self.wide_integers |= wide
        return pl.Schema({name: pl.String if name in wide else dtype for name, dtype in schema.items()})

    def _set_schema(self) -> None:
        self.schema = pa.schema([f.with_type(self.from_text.get(f.name, f.type)) for f in self._raw_schema])

    def _convert(self, table: pa.Table) -> Iterator[pa.RecordBatch]:
        table = table.cast(self._raw_schema)
        for name, target in self.from_text.items():
            index = table.schema.get_field_index(name)
            try:
                table = table.set_column(index, name, pc.cast(table.column(index), target))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                if name in self.user_types:
                    raise untypable(self.path, name, target, first_uncastable(table.column(index), target)) from None
                raise SchemaConflict(self.path, name, f"a value is not a {target}: {arrow_message(exc)}") from None
        yield from table.to_batches(BATCH_ROWS)

    def repair(self, conflict: SchemaConflict) -> None:
        if self.from_text.pop(conflict.column, None) is None:
            raise conflict
        self.column_notes.pop(conflict.column, None)
        self._set_schema()


class JsonLinesSource(_PolarsJsonSource):
    """One JSON object per line, streamed in chunks.

    polars infers the schema over the whole file first (one extra parse: with a shorter inference
    window it silently dropped keys that first appear late in the file, and DuckDB silently rounded
    1.5 to 2 and nulled strings in a column it had sampled as null). Flat files are then streamed by
    polars, files with nested columns by pyarrow's JSON reader given that schema: each is the faster
    reader on its shape (docs/decisions.md, 'JSON Lines inputs: flat files by polars, nested ones by
    pyarrow'). If pyarrow meets a column mixing numbers and strings (which
    polars reads as strings), the repair switches that file to polars.
    """

    def __init__(self, path: Path, name: str, single_object_is_error: bool = False) -> None:
        import polars as pl

        super().__init__(path, name)
        self._single_object_is_error = single_object_is_error
        try:
            inferred = pl.scan_ndjson(path, infer_schema_length=None).collect_schema()
            self._pl_schema = self._wide_integers_as_text(inferred)
            head = pl.scan_ndjson(path, schema=self._pl_schema).head(TEMPORAL_SAMPLE_ROWS).collect()
        except Exception as exc:  # polars raises ComputeError and friends with terse messages
            raise self._diagnose(exc) from None
        self._plan(head.to_arrow())
        self._use_pyarrow = any(pa.types.is_nested(f.type) for f in self._raw_schema)
        if not self._use_pyarrow:
            self._note_rounded_floats()

    def _as_text(self, names: list[str]) -> pa.Table:
        """The first ``TEMPORAL_SAMPLE_ROWS`` rows of these columns as polars reads them as text: a
        number's text as written in the file."""
        import polars as pl

        schema = pl.Schema({n: pl.String if n in names else t for n, t in self._pl_schema.items()})
        return pl.scan_ndjson(self.path, schema=schema).select(names).head(TEMPORAL_SAMPLE_ROWS).collect().to_arrow()

    def _note_rounded_floats(self) -> None:
        """A float column whose text float64 cannot hold exactly (an integer beyond 2^53 beside
        fractions, more than 17 digits) gets a note (``rounding_note``)."""
        floats = [f.name for f in self._raw_schema if pa.types.is_floating(f.type)]
        if not floats:
            return
        text = self._as_text(floats)
        for name in floats:
            note = rounding_note(name, text.column(name).drop_null().cast(pa.string()))
            if note:
                self.column_notes[name] = note

    def take_types(self, types: dict[str, pa.DataType]) -> dict[str, pa.DataType]:
        """Read as polars streams them, any flat column is parsed from its text into the given type (a
        number's digits as written, not a float64's); with nested columns (pyarrow reads), text columns only."""
        import polars as pl

        if self._use_pyarrow:
            return super().take_types(types)
        for name, target in types.items():
            if not pa.types.is_nested(target) and not pa.types.is_nested(self._raw_schema.field(name).type):
                self._pl_schema = pl.Schema({n: pl.String if n == name else t for n, t in self._pl_schema.items()})
                index = self._raw_schema.get_field_index(name)
                self._raw_schema = self._raw_schema.set(index, pa.field(name, pa.string()))
        return super().take_types(types)

    def _diagnose(self, exc: BaseException) -> DataError:
        return _diagnose_json_lines(self.path) or fail(
            self.path, f"cannot be read as JSON Lines ({arrow_message(exc)})", "check the file")

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

    def __init__(self, path: Path, name: str) -> None:
        import polars as pl

        super().__init__(path, name)
        try:
            frame = pl.read_json(path, infer_schema_length=None)
            frame = frame.cast(self._wide_integers_as_text(frame.schema))
            table = frame.to_arrow()
        except Exception as exc:
            raise (_diagnose_json_document(path) or fail(
                path, f"cannot be read as a JSON array of records ({arrow_message(exc)})", "check the file")) from None
        self._plan(table)
        self._table = table

    def stream(self) -> Iterator[pa.RecordBatch]:
        yield from self._convert(self._table)


def open_json_records(path: Path, name: str) -> Source:
    """Open ``path`` as JSON Lines or a JSON array, as its first character says (``name`` only decides
    whether a lone object is an error: it is when the user said ``json``)."""
    first = first_char(path)
    if first == "[":
        return JsonArraySource(path, "json")
    if first == "{":
        return JsonLinesSource(path, "jsonl", single_object_is_error=(name == "json"))
    problem = "does not start with '{' or '['"
    raise fail(path, f"is not JSON records ({problem})",
               "give one JSON object per line (JSON Lines) or an array of objects")


def write_jsonl(schema: pa.Schema, batches: Iterable[pa.RecordBatch], target: Path, name: str) -> None:
    """One JSON object per line, written by polars batch by batch."""
    import polars as pl

    with open(target, "wb") as handle:
        for batch in batches:
            pl.from_arrow(batch).write_ndjson(handle)


def write_json_array(schema: pa.Schema, batches: Iterable[pa.RecordBatch], target: Path, name: str) -> None:
    """A JSON array written batch by batch: polars' JSON Lines, joined with commas."""
    import polars as pl

    with open(target, "wb") as handle:
        handle.write(b"[\n")
        first = True
        for batch in batches:
            lines = pl.from_arrow(batch).write_ndjson().rstrip("\n")
            if not lines:
                continue
            handle.write((("" if first else ",\n") + lines.replace("\n", ",\n")).encode())
            first = False
        handle.write(b"\n]\n")
