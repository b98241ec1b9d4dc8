"""CSV and TSV: read with pyarrow's multithreaded streaming reader, written with polars."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from storeadvise.bench.formats.source import (
    CSV_BLOCK_BYTES,
    INTEGER_PATTERN,
    SchemaConflict,
    Source,
    arrow_message,
    compressed_hint,
    fail,
    integer_text,
    integer_type,
    offset_note,
    rounding_note,
    translated,
    untypable,
)
from storeadvise.errors import DataError
from storeadvise.formatting import fmt_example

_CSV_CONVERSION = re.compile(r"In CSV column #(\d+): CSV conversion error to ([^:]+): [^']*'(.*)'", re.S)
_CSV_ROW = re.compile(r"Row #(\d+)")


def _delimiter(name: str) -> str:
    return "\t" if name == "tsv" else ","


NULL_SPELLINGS = ("#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "1.#IND", "1.#QNAN", "N/A", "NA", "NULL",
                  "n/a", "null")
"""Texts read as a missing value in a number, date or boolean column (pyarrow's list without the NaN
spellings, which a float column reads as NaN, the value they write). In a text column they are kept
as the text they are ("NA" is also Namibia); an empty field is missing in every column."""


class CsvSource(Source):
    """pyarrow's multithreaded streaming CSV reader: empty fields are nulls, and in columns that are
    not text "NA", "NULL" and the like (``NULL_SPELLINGS``) too.

    The types pyarrow infers from the first block are checked against that block's text, so that no
    value is changed before the benchmark starts (``_INFERENCE_CHECKS``): numbers written with leading
    zeros or a '+' sign stay text, integers too large for int64 get an exact type, and what is kept but
    changed in form (digits beyond float64's precision, zone offsets turned into UTC, null spellings kept
    as text) becomes a note printed with the table (docs/decisions.md, 'CSV inference checked against the
    text of the first block').
    """

    def __init__(self, path: Path, name: str) -> None:
        super().__init__(path, name)
        self.column_types: dict[str, pa.DataType] = {}
        self.user_types: dict[str, pa.DataType] = {}
        reader = self._open()
        self.schema = reader.schema
        try:
            self.schema.names  # noqa: B018 - pyarrow decodes the header's names only when asked
        except UnicodeDecodeError:
            raise fail(path, f"its header is not UTF-8 text{compressed_hint(path)}",
                       "give a plain UTF-8 file (re-encode it, or decompress it first)") from None
        binary = [f.name for f in self.schema if pa.types.is_binary(f.type)]
        if binary:
            raise self._not_utf8(binary[0])
        self._check_inference()

    def _check_inference(self) -> None:
        """Run ``_INFERENCE_CHECKS`` on the first block's text: retype the columns a check says, and
        keep its notes."""
        text = self._first_block_as_text()
        if text is None:
            return  # no rows, or an error the stream reports in its own words
        for field, values in zip(self.schema, text.columns, strict=True):
            for check in _INFERENCE_CHECKS:
                retype, note = check(field, values)
                if note:
                    self.column_notes[field.name] = note
                if retype is not None:
                    self.column_types[field.name] = retype
                    break
        if self.column_types:
            self.schema = self._open().schema

    def _first_block_as_text(self) -> pa.RecordBatch | None:
        """The first block with every column as the text it is written in (None if it cannot be read)."""
        import pyarrow.csv as pacsv

        from storeadvise.backends.csv import open_csv_growing

        options = self._options()
        options["convert_options"] = pacsv.ConvertOptions(
            column_types=dict.fromkeys(self.schema.names, pa.string()), strings_can_be_null=False)
        try:
            return open_csv_growing(self.path, **options).read_next_batch()
        except (StopIteration, pa.ArrowInvalid, OSError):
            return None

    def take_types(self, types: dict[str, pa.DataType]) -> dict[str, pa.DataType]:
        """pyarrow parses the text of a CSV into any flat type: every given type is read directly."""
        flat = {name: t for name, t in types.items() if not pa.types.is_nested(t)}
        self.user_types.update(flat)
        self.column_types.update(flat)
        self.schema = self._open().schema
        return {name: t for name, t in types.items() if name not in flat}

    def _options(self, threads: bool = True) -> dict[str, Any]:
        import pyarrow.csv as pacsv

        return {
            "read_options": pacsv.ReadOptions(use_threads=threads, block_size=CSV_BLOCK_BYTES),
            "parse_options": pacsv.ParseOptions(delimiter=_delimiter(self.format)),
            "convert_options": pacsv.ConvertOptions(null_values=["", *NULL_SPELLINGS], strings_can_be_null=False,
                                                    column_types=self.column_types),
        }

    def _open(self, threads: bool = True) -> Any:
        from storeadvise.backends.csv import open_csv_growing

        try:
            return open_csv_growing(self.path, **self._options(threads))
        except (pa.ArrowInvalid, OSError) as exc:
            raise self._translate(exc) from None

    def _not_utf8(self, column: str) -> DataError:
        return fail(self.path, f"column {column!r} is not valid UTF-8 text",
                    "re-encode the file as UTF-8 (for example: iconv -f latin1 -t utf-8)")

    def _translate(self, exc: BaseException) -> DataError:
        message = arrow_message(exc)
        conversion = _CSV_CONVERSION.search(str(exc))
        if conversion and hasattr(self, "schema"):
            column = self.schema.names[int(conversion.group(1))]
            if column in self.user_types:
                return untypable(self.path, column, self.user_types[column], conversion.group(3))
            if conversion.group(2) in ("string", "large_string"):
                return self._not_utf8(column)
            return SchemaConflict(self.path, column, f"{conversion.group(3)!r} is not {conversion.group(2)}")
        if compressed_hint(self.path):  # a binary file read as text fails in arbitrary ways: say what it is
            return fail(self.path, f"is not {self.format.upper()} text{compressed_hint(self.path)}",
                        "decompress it first, or give the right --input-format")
        if "Expected" in message and "columns" in message:
            return fail(self.path, f"rows have different numbers of fields ({self._ragged_where(message)})",
                        "fix that row or quote fields that contain the delimiter")
        return fail(self.path, f"cannot be read as {self.format.upper()} ({message})",
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
        from storeadvise.backends.csv import csv_batches

        for batch in translated(csv_batches(self.path, **self._options()), self._translate):
            yield _empty_text_as_null(batch)

    def repair(self, conflict: SchemaConflict) -> None:
        """Widen the column: null -> the late value's type, an integer column -> the integer type that
        holds the late integer too (uint64, decimal128(38, 0)), int -> float, anything else -> string."""
        import pyarrow.csv as pacsv

        old = self.schema.field(conflict.column).type
        value = conflict.detail.split("'")[1] if "'" in conflict.detail else ""
        try:
            seen = pacsv.read_csv(pa.py_buffer(f"v\n{value}\n".encode())).schema.field("v").type
        except pa.ArrowInvalid:
            seen = pa.string()
        wider = integer_type([value], at_least=old) if integer_text(value) else None
        if pa.types.is_null(old):
            new = integer_type([value]) if integer_text(value) else seen
        elif wider is not None and (pa.types.is_integer(old) or pa.types.is_decimal(old)):
            new = wider
        elif {str(old), str(seen)} <= {"int64", "double"}:
            new = pa.float64()
        else:
            new = pa.string()
        if new == old:
            raise conflict
        self.column_types[conflict.column] = new
        self.schema = self._open().schema

    def no_rows(self) -> DataError:
        return fail(self.path, "has a header but no data rows", "give a file with at least one data row")


def _empty_text_as_null(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Text columns with their empty fields as nulls (pyarrow's option would also null "NA"). Only the
    validity bitmap is rebuilt: the text itself is not copied."""
    columns = list(batch.columns)
    for i, column in enumerate(columns):
        if not pa.types.is_string(column.type):
            continue
        empty = pc.fill_null(pc.equal(pc.binary_length(column), 0), False)
        if not pc.any(empty).as_py():
            continue
        keep = pc.and_not(pc.is_valid(column), empty)
        if column.offset == 0:
            columns[i] = pa.Array.from_buffers(column.type, len(column), [keep.buffers()[1], *column.buffers()[1:]])
        else:
            columns[i] = pc.if_else(keep, column, pa.scalar(None, column.type))
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)


# -- what the first block's text says about the inferred types ------------------------------------------
# Each check takes an inferred field and its texts in the first block, and returns the type to read the
# column as instead (None: keep it) and a note for the user (None: nothing to say).

Check = Callable[[pa.Field, pa.Array], tuple[pa.DataType | None, str | None]]


def _present(values: pa.Array) -> pa.Array:
    """The texts that are values: not empty, not a spelling of a missing value."""
    return values.filter(pc.invert(pc.is_in(values, pa.array(["", *NULL_SPELLINGS]))))


def _example(values: pa.Array, matches: pa.Array) -> str:
    return fmt_example(values.filter(matches)[0].as_py())


def _is_number(field: pa.Field) -> bool:
    return pa.types.is_integer(field.type) or pa.types.is_floating(field.type) or pa.types.is_decimal(field.type)


_IDENTIFIER_TEXT = (
    # ZIP codes, account numbers: "01234" read as 1234 loses its zero ("0" and "0.5" are numbers)
    (r"^\s*[+-]?0\d", "have leading zeros a number would drop"),
    # phone numbers: "+4412345" is read as the float 4412345.0, its '+' and its integer type gone
    (r"^\s*\+\d+\s*$", "are integers written with a '+' sign"),
)
"""Numbers written this way are identifiers: a column holding one is kept as text."""


def _identifiers(field: pa.Field, values: pa.Array) -> tuple[pa.DataType | None, str | None]:
    """A number column with a value written as in ``_IDENTIFIER_TEXT`` is read as text."""
    if not _is_number(field):
        return None, None
    values = _present(values)
    for pattern, why in _IDENTIFIER_TEXT:
        matches = pc.match_substring_regex(values, pattern)
        if pc.any(matches).as_py():
            return pa.string(), f"kept as text: values such as {_example(values, matches)} {why}"
    return None, None


def _big_integers(field: pa.Field, values: pa.Array) -> tuple[pa.DataType | None, str | None]:
    """Integers beyond int64 (uint64 ids, hashes) are inferred as float64, which rounds them: a float
    column of integer text gets the narrowest exact type (``integer_type``)."""
    if not pa.types.is_floating(field.type):
        return None, None
    values = _present(values)
    # below 2^53 (16 digits) pyarrow infers int64 for integer text: the column holds a longer value
    if not len(values) or not pc.any(pc.greater_equal(pc.utf8_length(values), 16)).as_py() \
            or not pc.all(pc.match_substring_regex(values, INTEGER_PATTERN)).as_py():
        return None, None
    return integer_type(values.to_pylist()), None


def _many_digits(field: pa.Field, values: pa.Array) -> tuple[pa.DataType | None, str | None]:
    """Text a float64 cannot hold exactly is read as the nearest float64: say so (``rounding_note``)."""
    if not pa.types.is_floating(field.type):
        return None, None
    return None, rounding_note(field.name, _present(values))


def _null_spellings(field: pa.Field, values: pa.Array) -> tuple[pa.DataType | None, str | None]:
    """A text column's "NA" is kept as text; say so, since some writers mean a missing value by it."""
    if not pa.types.is_string(field.type):
        return None, None
    matches = pc.is_in(values, pa.array(NULL_SPELLINGS))
    if not pc.any(matches).as_py():
        return None, None
    return None, (f"values such as {_example(values, matches)} are kept as text, not read as missing "
                  "(in a text column only an empty field is missing)")


def _zone_offsets(field: pa.Field, values: pa.Array) -> tuple[pa.DataType | None, str | None]:
    return None, offset_note(field, _present(values))


_INFERENCE_CHECKS: tuple[Check, ...] = (_identifiers, _big_integers, _many_digits, _null_spellings,
                                        _zone_offsets)


def write_csv(schema: pa.Schema, batches: Iterable[pa.RecordBatch], target: Path, name: str) -> None:
    """Write the stream as CSV (or TSV, by ``name``) with polars, the header once."""
    import polars as pl

    with open(target, "wb") as handle:
        for i, batch in enumerate(batches):
            pl.from_arrow(batch).write_csv(handle, include_header=(i == 0), separator=_delimiter(name))
