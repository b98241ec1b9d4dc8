"""CSV and TSV: read with pyarrow's multithreaded streaming reader, written with polars."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from storeadvise.bench.formats.source import CSV_BLOCK_BYTES, SchemaConflict, Source, arrow_message, fail
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
        self.schema = self._open().schema
        binary = [f.name for f in self.schema if pa.types.is_binary(f.type)]
        if binary:
            raise self._not_utf8(binary[0])

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

        batches = csv_batches(self.path, **self._options())
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (pa.ArrowInvalid, OSError) as exc:
                raise self._translate(exc) from None
            yield batch

    def repair(self, conflict: SchemaConflict) -> None:
        """Widen the column: null -> the late value's type, int -> float, anything else -> string."""
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
        return fail(self.path, "has a header but no data rows", "give a file with at least one data row")


def write_csv(schema: pa.Schema, batches: Iterable[pa.RecordBatch], target: Path, name: str) -> None:
    """Write the stream as CSV (or TSV, by ``name``) with polars, the header once."""
    import polars as pl

    with open(target, "wb") as handle:
        for i, batch in enumerate(batches):
            pl.from_arrow(batch).write_csv(handle, include_header=(i == 0), separator=_delimiter(name))
