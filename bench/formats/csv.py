"""CSV and TSV: read with pyarrow's multithreaded streaming reader, written with polars."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from storeadvise.bench.formats.source import (
    CSV_BLOCK_BYTES,
    SchemaConflict,
    Source,
    arrow_message,
    compressed_hint,
    fail,
    integer_text,
    integer_type,
    translated,
)
from storeadvise.errors import DataError

_CSV_CONVERSION = re.compile(r"In CSV column #(\d+): CSV conversion error to ([^:]+): invalid value '(.*)'", re.S)
_CSV_ROW = re.compile(r"Row #(\d+)")


def _delimiter(name: str) -> str:
    return "\t" if name == "tsv" else ","


class CsvSource(Source):
    """pyarrow's multithreaded streaming CSV reader; empty fields (and "NULL", "NA", ...) are nulls."""

    def __init__(self, path: Path, name: str) -> None:
        super().__init__(path, name)
        self.column_types: dict[str, pa.DataType] = {}
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
        self._keep_big_integers(reader)

    def _keep_big_integers(self, reader: Any) -> None:
        """Integers that do not fit int64 (above 2^63: uint64 ids, some hashes) are inferred as
        float64 by pyarrow, which rounds them. A float column of the first block holding only whole
        numbers beyond 2^53 is read again as text: if all of it is integers, it gets an exact type."""
        import pyarrow.compute as pc

        try:
            first = reader.read_next_batch()
        except (StopIteration, pa.ArrowInvalid, OSError):
            return  # no rows, or an error the stream reports in its own words
        suspects = []
        for field, column in zip(self.schema, first.columns, strict=True):
            values = column.drop_null() if pa.types.is_floating(field.type) else None
            if values is not None and len(values) and pc.all(pc.is_finite(values)).as_py() \
                    and pc.max(pc.abs(values)).as_py() >= 2**53 and pc.all(pc.equal(values, pc.floor(values))).as_py():
                suspects.append(field.name)
        if not suspects:
            return
        self.column_types.update(dict.fromkeys(suspects, pa.string()))
        try:
            text = self._open().read_next_batch()
        except (StopIteration, pa.ArrowInvalid, OSError):
            text = None
        for name in suspects:
            values = [] if text is None else text.column(name).drop_null().to_pylist()
            exact = integer_type(values)
            if exact is None:
                del self.column_types[name]
            else:
                self.column_types[name] = exact
        self.schema = self._open().schema

    def _options(self, threads: bool = True) -> dict[str, Any]:
        import pyarrow.csv as pacsv

        return {
            "read_options": pacsv.ReadOptions(use_threads=threads, block_size=CSV_BLOCK_BYTES),
            "parse_options": pacsv.ParseOptions(delimiter=_delimiter(self.format)),
            "convert_options": pacsv.ConvertOptions(strings_can_be_null=True, column_types=self.column_types),
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

        yield from translated(csv_batches(self.path, **self._options()), self._translate)

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


def write_csv(schema: pa.Schema, batches: Iterable[pa.RecordBatch], target: Path, name: str) -> None:
    """Write the stream as CSV (or TSV, by ``name``) with polars, the header once."""
    import polars as pl

    with open(target, "wb") as handle:
        for i, batch in enumerate(batches):
            pl.from_arrow(batch).write_csv(handle, include_header=(i == 0), separator=_delimiter(name))
