"""JSON Lines: one JSON object per line, written with polars and read with pyarrow's JSON reader.

Semantics:

- Durability: an ordinary file write, closed at the end of ``write``/``append``; not fsynced.
- Append: lines are added to the end of the same file. With ``jsonl_gzip`` the file is
  gzip-compressed and each append adds one gzip member.
- Type mapping: JSON has numbers, strings, booleans, null, arrays and objects. Ints, floats, bools,
  strings, nulls and nested struct/list values are native and come back identical. Timestamps, dates
  and decimals are written as strings (ISO-8601; a decimal as its exact text) and converted back to
  their Arrow type with the schema saved beside the file (``_schema.arrow``), so they come back
  identical too. Binary values are stored as base64 text and come back as strings (documented loss).
  Floats that are NaN or infinite have no JSON form and come back null.
- Reads: no pushdown in a text format: the reader parses every line, then projects and filters.
  A lookup scans the whole file.

Measured (100k-500k mixed rows, medians, see the report of helper-2): pyarrow's reader with temporal and
decimal columns read as strings and then cast was about 1.6x faster than ``polars.read_ndjson`` with the
same trick, and polars parsing timestamps itself was 5x slower again; polars is the only fast writer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

from storeadvise.backends._arrowfile import (
    TextFileBackend,
    check_columns,
    conform,
    rebatch,
    select,
    text_safe_schema,
)
from storeadvise.backends.base import Predicate

if TYPE_CHECKING:
    from pathlib import Path

    import pyarrow as pa


class JsonlBackend(TextFileBackend):
    """Newline-delimited JSON objects."""

    name: ClassVar[str] = "jsonl"
    suffix: ClassVar[str] = ".jsonl"
    gzip_option: ClassVar[str] = "jsonl_gzip"
    keeps_nested: ClassVar[bool] = True
    type_mapping: ClassVar[dict[str, str]] = {
        "timestamp": "ISO-8601 string, cast back to the same unit (exact)",
        "timestamp with timezone": "ISO-8601 string with its offset, cast back to the same zone (exact)",
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

    def write_frame(self, frame: Any, out: BinaryIO, first: bool) -> None:
        frame.write_ndjson(out)

    # -- reading ---------------------------------------------------------------------------------------
    def _parse_options(self) -> Any:
        """Parse with the written schema, except that JSON has no timestamps, dates or decimals:
        those are read as strings and cast afterwards (pyarrow's cast parses ISO-8601 fast)."""
        import pyarrow as pa
        import pyarrow.json as pj

        fields = [
            pa.field(f.name, pa.string()) if _as_text(f.type) else f
            for f in text_safe_schema(self.schema, keep_nested=True)
        ]
        return pj.ParseOptions(explicit_schema=pa.schema(fields), unexpected_field_behavior="ignore")

    def read(self, columns: Sequence[str] | None = None, where: Predicate | None = None) -> pa.Table:
        import pyarrow.json as pj

        check_columns(self.schema, columns, where)
        target = text_safe_schema(self.schema, keep_nested=True)
        part = self.parts()[0]
        if _is_empty(part):  # pyarrow refuses an empty JSON file
            return select(target.empty_table(), columns, where)
        table = conform(pj.read_json(part, parse_options=self._parse_options()), target)
        return select(table, columns, where)

    def scan(self, columns: Sequence[str] | None = None, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        import pyarrow.json as pj

        check_columns(self.schema, columns)
        target = text_safe_schema(self.schema, keep_nested=True)
        part = self.parts()[0]
        if _is_empty(part):
            return
        reader = pj.open_json(part, parse_options=self._parse_options())
        batches = (conform(b, target) for b in reader if b.num_rows)
        if columns is not None:
            batches = (b.select(list(columns)) for b in batches)
        yield from rebatch(batches, batch_rows)


def _as_text(data_type: pa.DataType) -> bool:
    """Types JSON has no literal for, which the writer emits as strings."""
    import pyarrow.types as pt

    return pt.is_temporal(data_type) or pt.is_decimal(data_type)


def _is_empty(path: Path) -> bool:
    """No rows in the file (also for a gzip file holding nothing)."""
    if path.stat().st_size == 0:
        return True
    if path.name.endswith(".gz"):
        import gzip

        with gzip.open(path, "rb") as fh:
            return not fh.read(1)
    return False
