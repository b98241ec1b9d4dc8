"""Rewriting an Arrow schema into the types a server can hold, and back (mongo and kafka share this).

A server backend declares a ``leaf`` rule (e.g. "date32 -> timestamp[ms]" for BSON, "timestamp ->
int64 epoch" for JSON). ``storage_schema`` applies it through structs and lists, the data is cast to
that schema before encoding, and decoded values are built with it and cast back to the original
schema: Arrow's casts do the work in C, both ways, for nested columns too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

Leaf = Callable[["pa.DataType"], "pa.DataType"]


def map_type(dtype: pa.DataType, leaf: Leaf) -> pa.DataType:
    """``dtype`` with ``leaf`` applied to every non-nested type inside it (dictionaries decoded)."""
    import pyarrow as pa

    if pa.types.is_dictionary(dtype):
        return map_type(dtype.value_type, leaf)
    if pa.types.is_struct(dtype):
        return pa.struct([f.with_type(map_type(f.type, leaf)) for f in dtype])
    if pa.types.is_large_list(dtype):
        return pa.large_list(dtype.value_field.with_type(map_type(dtype.value_type, leaf)))
    if pa.types.is_list(dtype) or pa.types.is_list_view(dtype) or pa.types.is_fixed_size_list(dtype):
        return pa.list_(dtype.value_field.with_type(map_type(dtype.value_type, leaf)))
    return leaf(dtype)


def in_utc(dtype: pa.DataType) -> pa.DataType:
    """A leaf rule: a timestamp with a time zone as the same instant in UTC (a change of metadata
    only). Text writers use it so that every instant of years 1 to 9999 has an ISO-8601 form (in
    +05:30, 9999-12-31 23:59 UTC is in year 10000) and polars, which knows only named zones, never
    sees a fixed offset."""
    import pyarrow as pa

    if pa.types.is_timestamp(dtype) and dtype.tz is not None:
        return pa.timestamp(dtype.unit, tz="UTC")
    return dtype


def json_leaf(dtype: pa.DataType) -> pa.DataType:
    """A leaf rule: the Arrow type whose Python values JSON holds exactly for ``dtype`` (Kafka messages,
    nested Redis fields). Binary is left as it is: JSON has no bytes, and each backend says what it does."""
    import pyarrow as pa

    t = pa.types
    if t.is_timestamp(dtype) or t.is_date64(dtype) or t.is_time64(dtype) or t.is_duration(dtype):
        return pa.int64()
    if t.is_date32(dtype) or t.is_time32(dtype):
        return pa.int32()
    if t.is_decimal(dtype):
        return pa.string()
    if t.is_float16(dtype):
        return pa.float32()
    if t.is_large_string(dtype) or t.is_string_view(dtype):
        return pa.string()
    if t.is_large_binary(dtype) or t.is_binary_view(dtype) or t.is_fixed_size_binary(dtype):
        return pa.binary()
    return dtype


def is_binary(dtype: pa.DataType) -> bool:
    """Whether ``dtype`` holds bytes (binary of any width or layout)."""
    import pyarrow as pa

    return (
        pa.types.is_binary(dtype)
        or pa.types.is_large_binary(dtype)
        or pa.types.is_binary_view(dtype)
        or (pa.types.is_fixed_size_binary(dtype))
    )


def float16_as_float32(dtype: pa.DataType) -> pa.DataType:
    """A leaf rule for stores that do not take half floats (DuckDB): float32, which holds each exactly."""
    import pyarrow as pa

    return pa.float32() if pa.types.is_float16(dtype) else dtype


def without_float16(schema: pa.Schema) -> pa.Schema | None:
    """``schema`` with half floats as float32 (``float16_as_float32``), or None when it has none."""
    import pyarrow as pa

    if not any(any_type(f.type, pa.types.is_float16) for f in schema):
        return None
    return storage_schema(schema, float16_as_float32)


def storage_schema(schema: pa.Schema, leaf: Leaf) -> pa.Schema:
    """The schema with ``leaf`` applied to every column."""
    import pyarrow as pa

    return pa.schema([f.with_type(map_type(f.type, leaf)) for f in schema])


def any_type(dtype: pa.DataType, test: Callable[[pa.DataType], bool]) -> bool:
    """Whether ``dtype`` or any type nested inside it passes ``test``."""
    found = [False]

    def leaf(t: pa.DataType) -> pa.DataType:
        found[0] = found[0] or test(t)
        return t

    map_type(dtype, leaf)
    return found[0]


def round_trip(values: pa.Array, leaf: Leaf) -> pa.Array:
    """``values`` as they come back from a server that holds them as ``leaf`` says: cast to the storage
    type (unsafe, as ``to_storage`` does) and back."""
    return values.cast(map_type(values.type, leaf), safe=False).cast(values.type)


def to_storage(batch: pa.RecordBatch, storage: pa.Schema) -> pa.RecordBatch:
    """``batch`` cast to ``storage`` (unsafe casts allowed: the documented truncations happen here)."""
    if batch.schema.equals(storage):
        return batch
    return batch.cast(storage, safe=False)


def cast_plan(storage: pa.Schema, target: pa.Schema) -> list[tuple[int, pa.Field]]:
    """The columns of ``storage`` whose type differs from the same-named field of ``target``: their
    positions and the fields to cast them to (a backend builds this once per written schema)."""
    plan = []
    for i, stored in enumerate(storage):
        field = target.field(stored.name)
        if not stored.type.equals(field.type):
            plan.append((i, field))
    return plan


def apply_casts(table: pa.Table, plan: list[tuple[int, pa.Field]]) -> pa.Table:
    """``table`` with the planned columns cast back. Only those columns are touched, several times
    cheaper on a one-row lookup result than ``Table.cast`` of every column (docs/decisions.md, 'Casting
    back only the columns stored in another type')."""
    for i, field in plan:
        table = table.set_column(i, field, table.column(i).cast(field.type))
    return table


def from_storage(table: pa.Table, target: pa.Schema) -> pa.Table:
    """Decoded ``table`` (in storage types) cast back to the columns of ``target`` it holds."""
    return apply_casts(table, cast_plan(table.schema, target))


def nulled(values: pa.Array, which: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """``values`` with those that ``which`` marks replaced by null (how a store without NaN gives
    them back)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.if_else(pc.fill_null(which(values), False), pa.scalar(None, values.type), values)


def not_finite(values: pa.Array) -> pa.Array:
    """True for NaN and +-infinity."""
    import pyarrow.compute as pc

    return pc.invert(pc.is_finite(values))
