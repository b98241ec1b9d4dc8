"""Columns a text format cannot hold (nested struct/list values, raw bytes) turned into text.

CSV and JSON Lines files and SQLite's TEXT columns share these conversions: nested values become JSON
text, binary values base64 text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa


def is_nested(data_type: pa.DataType) -> bool:
    """Struct, list, map and union columns: JSON text in CSV and SQLite."""
    import pyarrow.types as pt

    return pt.is_nested(data_type)


def is_binary(data_type: pa.DataType) -> bool:
    """Raw bytes: no text format can hold them, so they become base64 text."""
    import pyarrow.types as pt

    return pt.is_binary(data_type) or pt.is_large_binary(data_type) or pt.is_fixed_size_binary(data_type)


def text_safe_type(data_type: pa.DataType, *, keep_nested: bool = False) -> pa.DataType:
    """The type a column has once written to a text format: string for binary (and nested unless kept),
    float32 for float16."""
    import pyarrow as pa

    if is_binary(data_type) or (is_nested(data_type) and not keep_nested):
        return pa.string()
    if pa.types.is_float16(data_type):  # no text writer or reader takes half floats; float32 holds them
        return pa.float32()
    return data_type


def text_safe_schema(schema: pa.Schema, *, keep_nested: bool = False) -> pa.Schema:
    """``schema`` with every column a text format cannot hold turned into string."""
    import pyarrow as pa

    return pa.schema(
        [pa.field(f.name, text_safe_type(f.type, keep_nested=keep_nested), f.nullable) for f in schema]
    )


def to_text_column(array: pa.Array) -> pa.Array:
    """Nested values as JSON text, binary as base64 text (nulls stay null); other columns unchanged.

    Runs in Python per value, but only for the columns that need it.
    """
    import base64
    import json

    import pyarrow as pa

    if is_binary(array.type):
        return pa.array(
            [None if v is None else base64.b64encode(v).decode("ascii") for v in array.to_pylist()],
            type=pa.string(),
        )
    if is_nested(array.type):
        return pa.array(
            [
                None if v is None else json.dumps(v, ensure_ascii=False, default=str, separators=(",", ":"))
                for v in array.to_pylist()
            ],
            type=pa.string(),
        )
    return array


def to_text_safe(batch: pa.RecordBatch, schema: pa.Schema, *, keep_nested: bool = False) -> pa.RecordBatch:
    """``batch`` with the columns a text format cannot hold converted by ``to_text_column``."""
    import pyarrow as pa

    target = text_safe_schema(schema, keep_nested=keep_nested)
    if target == schema:
        return batch
    columns = [
        col if field.type == col.type
        else to_text_column(col) if pa.types.is_string(field.type) else col.cast(field.type)
        for col, field in zip(batch.columns, target, strict=True)
    ]
    return pa.RecordBatch.from_arrays(columns, schema=target)


TIME_TEXT = r"^\d{2}:\d{2}:\d{2}(\.\d{1,9})?$"
"""A time of day as text writers give it: ``HH:MM:SS`` with up to nine fraction digits."""


def times_from_text(strings: pa.Array, target: pa.DataType) -> pa.Array:
    """Times of day written as text (``TIME_TEXT``) in the time type ``target``: Arrow casts no text to a
    time, and polars writes nine fraction digits whatever the unit. ``ArrowInvalid`` for text that is no
    such time, or holds a finer fraction than ``target`` keeps."""
    import pyarrow as pa
    import pyarrow.compute as pc

    valid = pc.match_substring_regex(strings, TIME_TEXT)
    if not pc.all(pc.or_kleene(valid, pc.is_null(strings))).as_py():
        bad = strings.filter(pc.invert(pc.fill_null(valid, True)))[0]
        raise pa.ArrowInvalid(f"not a time of day (HH:MM:SS[.fraction]): {bad}")

    def number(start: int, stop: int) -> pa.Array:
        return pc.cast(pc.utf8_slice_codeunits(strings, start, stop), pa.int64())

    seconds = pc.add(pc.multiply(pc.add(pc.multiply(number(0, 2), 60), number(3, 5)), 60), number(6, 8))
    fraction = pc.utf8_rpad(pc.utf8_slice_codeunits(strings, 9, 18), 9, "0")
    nanoseconds = pc.add(pc.multiply(seconds, 1_000_000_000), pc.cast(fraction, pa.int64()))
    return nanoseconds.cast(pa.time64("ns")).cast(target)
