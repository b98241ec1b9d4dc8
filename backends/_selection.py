"""What a read returns: the columns and rows asked for, in the schema that was written.

Checking the asked columns, the columns a filtered read must load, selecting and filtering a table,
casting what a reader returns back to the written types, and the keyed lookup as a filtered read;
the file and SQL backends share them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from storeadvise.backends.base import Predicate
from storeadvise.errors import UsageError

if TYPE_CHECKING:
    import pyarrow as pa

    from storeadvise.backends.base import Backend


def check_columns(schema: pa.Schema, columns: Sequence[str] | None, where: Predicate | None = None) -> None:
    """``UsageError`` naming a column the data does not have."""
    wanted = list(columns or []) + ([where.column] if where is not None else [])
    missing = [c for c in wanted if schema.get_field_index(c) < 0]
    if missing:
        raise UsageError(
            f"no column {', '.join(map(repr, missing))} in the data; columns are {', '.join(schema.names)}"
        )


def needed_columns(columns: Sequence[str] | None, where: Predicate | None) -> list[str] | None:
    """The columns a read must load to answer ``columns`` filtered by ``where`` (None: all)."""
    if columns is None:
        return None
    extra = [where.column] if where is not None and where.column not in columns else []
    return [*columns, *extra]


COMPUTE_FUNCTIONS = {"==": "equal", "!=": "not_equal", "<": "less", "<=": "less_equal", ">": "greater",
                     ">=": "greater_equal"}


def select(table: pa.Table, columns: Sequence[str] | None, where: Predicate | None) -> pa.Table:
    """Rows of ``table`` matching ``where`` (nulls never match), with only ``columns`` (in the asked order).

    The filter is a boolean mask computed on the one column and applied to the kept columns only,
    faster than ``Table.filter(expression)``, which goes through Acero's expression binding and filters
    every column (docs/decisions.md, 'Filters as a mask on the one filter column'). A value the
    comparison kernel cannot take as it is (it would need the expression's implicit casts) falls back
    to the expression."""
    if where is None:
        return table if columns is None else table.select(list(columns))
    import pyarrow as pa
    import pyarrow.compute as pc

    column = table.column(where.column)
    try:
        mask = pc.call_function(COMPUTE_FUNCTIONS[where.op], [column, where.typed_value(column.type)])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, TypeError, OverflowError):
        table = table.filter(where.to_arrow(column.type))
        return table if columns is None else table.select(list(columns))
    return (table if columns is None else table.select(list(columns))).filter(mask)


def value_type(data_type: pa.DataType) -> pa.DataType:
    """The type of a column's values: a dictionary-encoded (categorical) column's value type, else itself."""
    import pyarrow as pa

    return data_type.value_type if pa.types.is_dictionary(data_type) else data_type


def cast_values(column: Any, target: pa.DataType, safe: bool = True) -> Any:
    """``column`` cast to ``target``, also to a dictionary-encoded (categorical) type from its plain
    values, which Arrow casts only from strings (the values are cast, then encoded), and to a time of
    day from text, which Arrow does not cast (``times_from_text``)."""
    import pyarrow as pa

    if pa.types.is_dictionary(target) and not pa.types.is_dictionary(column.type):
        column = column.cast(target.value_type, safe=safe).dictionary_encode()
    if pa.types.is_time(target) and pa.types.is_string(column.type):
        from storeadvise.backends._text_columns import times_from_text

        return times_from_text(column, target)
    return column.cast(target, safe=safe)


def conform(data: Any, schema: pa.Schema) -> Any:
    """A table or record batch cast to ``schema`` (the written one), casting only the columns whose
    type differs (readers give e.g. string for JSON timestamps, or another zone for a timestamp)."""
    import pyarrow as pa

    if data.schema == schema:
        return data
    columns = [
        col if col.type == field.type else cast_values(col, field.type)
        for col, field in zip(data.columns, schema, strict=True)
    ]
    kind = pa.Table if isinstance(data, pa.Table) else pa.RecordBatch
    return kind.from_arrays(columns, schema=schema)


def subschema(schema: pa.Schema, names: Sequence[str]) -> pa.Schema:
    """The fields of ``schema`` named ``names``, in that order."""
    import pyarrow as pa

    return pa.schema([schema.field(n) for n in names])


def lookup_by_key(backend: Backend, key: Any) -> pa.Table:
    """The rows whose key column equals ``key``, as a filtered ``read`` (file and SQL backends alike)."""
    return backend.read(where=Predicate(backend.lookup_key_column(), "==", key))
