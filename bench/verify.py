"""Round-trip verification: did what came back equal what went in? Always outside the timer.

Both sides are streamed batch by batch (bounded memory) and reduced to order-independent checksums
with DuckDB's ``hash()``: per column ``sum(hash(col))`` and per row ``sum(hash(col1, col2, ...))``
over the columns the backend promises to keep. Sums of hashes do not depend on row order, so a
Kafka topic with several partitions or a server that returns rows in another order still verifies.

Each returned column is first cast back to its original Arrow type (the conversion a user would do),
so a CSV that hands back timestamps as timestamps, or SQLite that stores booleans as 0/1, counts as
"converted" when the values survive and as "lost" when they do not. A loss that the backend's
``documented_loss()`` does not declare flags the backend: its numbers are not trustworthy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from storeadvise.backends.base import quote_identifier
from storeadvise.bench.results import ColumnFidelity, Verification

if TYPE_CHECKING:
    import pyarrow as pa

    from storeadvise.backends.base import Backend


@dataclass
class _Checksums:
    rows: int = 0
    row_sums: list[int] = field(default_factory=list)
    """One sum of row hashes per set of row columns."""
    column_sums: dict[str, int] = field(default_factory=dict)


class _Accumulator:
    """Adds up per-column and per-row hash sums over a stream of batches with identical columns."""

    def __init__(self, columns: list[str], row_sets: list[list[str]]) -> None:
        import duckdb

        self.con = duckdb.connect()
        self.columns = columns
        self.row_sets = [row for row in row_sets if row]
        parts = ["count(*)"]
        parts += [f"coalesce(sum(hash({quote_identifier(c)})::HUGEINT), 0)" for c in columns]
        parts += [f"coalesce(sum(hash({', '.join(map(quote_identifier, row))})::HUGEINT), 0)" for row in self.row_sets]
        self.sql = f"SELECT {', '.join(parts)} FROM batch"
        self.result = _Checksums(column_sums=dict.fromkeys(columns, 0), row_sums=[0] * len(self.row_sets))

    def add(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        batch = _hashable(batch)
        self.con.register("batch", batch)
        try:
            values = self.con.execute(self.sql).fetchall()[0]
        finally:
            self.con.unregister("batch")
        self.result.rows += values[0]
        for name, value in zip(self.columns, values[1 : 1 + len(self.columns)], strict=True):
            self.result.column_sums[name] += int(value)
        for i, value in enumerate(values[1 + len(self.columns):]):
            self.result.row_sums[i] += int(value)


def _hashable(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` in types DuckDB can hash: float16 (which it does not read) as float32."""
    from storeadvise.backends import _typemap

    wider = _typemap.without_float16(batch.schema)
    return batch if wider is None else _typemap.to_storage(batch, wider)


def _cast_back(column: pa.Array, target: pa.DataType) -> pa.Array:
    """The returned column in the original type, or ``ValueError`` if it cannot be converted."""
    import pyarrow as pa

    from storeadvise.backends._selection import cast_values

    if column.type.equals(target):
        return column
    try:
        return cast_values(column, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise ValueError(str(exc).splitlines()[0]) from None


def _value_losses(schema: pa.Schema, backend: Backend) -> dict[str, Any]:
    """The columns whose documented loss changes some values but keeps the type (NaN stored as NULL,
    sub-millisecond digits dropped), with the transform that gives the values as documented. The
    verifier checks those columns against the transformed source: a value changed in any other
    way is still a surprise."""
    import pyarrow as pa

    found = {}
    for f in schema:
        loss = backend.type_loss(f)
        if loss is not None and loss.transform(pa.array([], type=f.type)).type.equals(f.type):
            found[f.name] = loss.transform
    return found


def verify_round_trip(
    schema: pa.Schema,
    source_batches: Iterable[pa.RecordBatch],
    returned_batches: Iterable[pa.RecordBatch],
    backend: Backend,
) -> Verification:
    """Compare the source stream with what the backend returned, column by column and row by row."""
    import pyarrow as pa

    names = schema.names
    documented = {f.name: backend.documented_loss(f) for f in schema}
    value_losses = _value_losses(schema, backend)
    # the extra source column holding a column's values as the backend documents them
    prefix = "_documented_" + "_" * max((len(n) for n in names), default=0)  # longer than any name: unique
    as_documented = {n: f"{prefix}{i}" for i, n in enumerate(value_losses)}
    row_columns = [n for n in names if documented[n] is None or n in value_losses]

    # the source, plus each value-level loss column as documented; rows are compared on those
    # rows are compared as written and as documented (a store may keep what it says it loses)
    documented_rows = [as_documented[n] if n in value_losses else n for n in row_columns]
    source = _Accumulator([*names, *as_documented.values()],
                          [row_columns, documented_rows] if value_losses else [row_columns])
    for batch in source_batches:
        extra = [value_losses[n](batch.column(batch.schema.get_field_index(n))) for n in value_losses]
        source.add(pa.RecordBatch.from_arrays([*batch.columns, *extra],
                                              names=[*names, *as_documented.values()]))

    returned_types: dict[str, str | None] = dict.fromkeys(names)
    cast_failures: dict[str, str] = {}
    missing: set[str] = set()
    returned = _Accumulator(names, [row_columns])
    for batch in returned_batches:
        arrays = []
        for f in schema:
            idx = batch.schema.get_field_index(f.name)
            if idx < 0:
                missing.add(f.name)
                arrays.append(pa.nulls(batch.num_rows, f.type))
                continue
            col = batch.column(idx)
            returned_types[f.name] = str(col.type)
            if f.name in cast_failures:
                arrays.append(pa.nulls(batch.num_rows, f.type))
                continue
            try:
                arrays.append(_cast_back(col, f.type))
            except ValueError as exc:
                cast_failures[f.name] = str(exc)
                arrays.append(pa.nulls(batch.num_rows, f.type))
        returned.add(pa.RecordBatch.from_arrays(arrays, schema=schema))

    expected, got = source.result, returned.result
    fidelity: list[ColumnFidelity] = []
    for f in schema:
        name, reason = f.name, documented[f.name]
        rtype = returned_types[name]
        if name in missing:
            status, detail = "lost", "column missing from what came back"
        elif name in cast_failures:
            status, detail = "lost", f"came back as {rtype}, not convertible to {f.type}"
        elif expected.column_sums[name] != got.column_sums[name]:
            status, detail = "lost", "values changed"
            if name in value_losses and expected.column_sums[as_documented[name]] != got.column_sums[name]:
                reason = None  # changed, but not (only) as documented
                detail = f"values changed beyond the documented mapping ({documented[name]})"
        elif rtype is not None and rtype != str(f.type):
            status, detail = "converted", f"to {rtype}, values restored by casting back"
        else:
            status, detail = "kept", ""
        if status == "lost" and reason:
            detail = f"{reason}" if name not in cast_failures else f"{reason}; came back as {rtype}"
        fidelity.append(
            ColumnFidelity(
                column=name,
                original_type=str(f.type),
                returned_type=rtype,
                status=status,
                detail=detail,
                documented=status != "lost" or reason is not None,
            )
        )

    problems = []
    if got.rows != expected.rows:
        diff = expected.rows - got.rows
        problems.append(f"{diff} rows lost" if diff > 0 else f"{-diff} extra rows")
    undocumented = [c.column for c in fidelity if not c.documented]
    if undocumented:
        problems.append("values changed in " + ", ".join(undocumented))
    same_rows = not got.row_sums or got.row_sums[0] in expected.row_sums
    checksum_match = got.rows == expected.rows and same_rows
    if not checksum_match and not problems:
        problems.append("row checksum differs (values moved between rows)")
    return Verification(
        rows_written=expected.rows,
        rows_read=got.rows,
        checksum_match=checksum_match,
        columns=fidelity,
        flagged=bool(problems),
        message="; ".join(problems),
    )
