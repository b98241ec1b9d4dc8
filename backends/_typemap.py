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


def polars_text_leaf(dtype: pa.DataType) -> pa.DataType:
    """A leaf rule for the polars text writers (CSV, JSON Lines): ``in_utc``, and what polars cannot
    write as text in types that hold the same values, which the readers cast back: a 256-bit decimal
    as its exact text (polars has no 256-bit integers), a duration as the count of its unit (polars
    writes no duration to CSV)."""
    import pyarrow as pa

    if pa.types.is_decimal256(dtype):
        return pa.string()
    if pa.types.is_duration(dtype):
        return pa.int64()
    return in_utc(dtype)


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


DECIMAL128_DIGITS = 38
"""The digits a 128-bit decimal holds: the widest decimal of DuckDB, Delta Lake and Iceberg."""


def decimal128_when_it_fits(dtype: pa.DataType) -> pa.DataType:
    """A leaf rule: a 256-bit decimal of at most ``DECIMAL128_DIGITS`` digits as the 128-bit decimal of
    the same precision and scale (the same values; stores that hold 38 digits know no 256-bit type)."""
    import pyarrow as pa

    if pa.types.is_decimal256(dtype) and dtype.precision <= DECIMAL128_DIGITS:
        return pa.decimal128(dtype.precision, dtype.scale)
    return dtype


def decimal_too_wide(schema: pa.Schema, digits: int) -> str | None:
    """"column x is decimal256(40, 2)": the first column holding a decimal of more than ``digits``
    digits, for a store whose decimals hold at most that many (``Backend.refuses``); None otherwise."""
    import pyarrow as pa

    for f in schema:
        if any_type(f.type, lambda t: pa.types.is_decimal(t) and t.precision > digits):
            return f"column {f.name} is {f.type}"
    return None


def duckdb_leaf(dtype: pa.DataType) -> pa.DataType:
    """A leaf rule for what DuckDB does not take, as types that hold the same values exactly: half
    floats as float32; 256-bit decimals as 128-bit ones when their precision fits, else as their exact
    text (the round-trip check hashes them; the duckdb backend refuses them); durations as the integer
    count of their unit (DuckDB turns a duration into an INTERVAL, which Arrow cannot cast back)."""
    import pyarrow as pa

    t = pa.types
    if t.is_float16(dtype):
        return pa.float32()
    if t.is_decimal(dtype) and dtype.precision > DECIMAL128_DIGITS:
        return pa.string()
    if t.is_duration(dtype):
        return pa.int64()
    return decimal128_when_it_fits(dtype)


def for_duckdb(schema: pa.Schema) -> pa.Schema | None:
    """``schema`` in the types DuckDB takes (``duckdb_leaf``), or None when it needs no change: DuckDB
    stores it (the duckdb backend) and hashes it (the round-trip check)."""
    storage = storage_schema(schema, duckdb_leaf)
    return None if storage.equals(schema) else storage


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


def unnamed_struct_field(schema: pa.Schema) -> str | None:
    """"column x has a struct field with an empty name": the first column holding a struct whose field
    names are empty or repeated, which DuckDB cannot represent (it reads such a field as null); None
    otherwise."""
    import pyarrow as pa

    def odd(t: pa.DataType) -> bool:
        names = [f.name for f in t] if pa.types.is_struct(t) else []
        return "" in names or len(set(names)) < len(names)

    for f in schema:
        if _any_nested_type(f.type, odd):
            return f"column {f.name} has a struct field with an empty or repeated name"
    return None


def _any_nested_type(dtype: pa.DataType, test: Callable[[pa.DataType], bool]) -> bool:
    """Whether ``dtype`` or any type inside it, nested ones included, passes ``test``."""
    import pyarrow as pa

    if test(dtype):
        return True
    if pa.types.is_dictionary(dtype):
        return _any_nested_type(dtype.value_type, test)
    return any(_any_nested_type(dtype.field(i).type, test) for i in range(dtype.num_fields))
