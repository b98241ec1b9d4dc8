"""Round-trip verification: did what came back equal what went in? Always outside the timer.

Both sides are streamed batch by batch (bounded memory) and reduced to order-independent checksums
with DuckDB's ``hash()``: per column ``sum(hash(col))`` and per row ``sum(hash(col1, col2, ...))``
over the columns the backend promises to keep. Sums of hashes do not depend on row order, so a
Kafka topic with several partitions or a server that returns rows in another order still verifies.

Each returned column is first cast back to its original Arrow type (the conversion a user would do),
so a CSV that hands back timestamps as timestamps, or SQLite that stores booleans as 0/1, counts as
"converted" when the values survive and as "lost" when they do not. A column the backend's type
mapping documents as changed (``type_loss``) is compared with the written values changed as
documented, so a change it does not declare, or a value changed otherwise, flags the backend: its
numbers are not trustworthy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from storeadvise.backends.base import quote_identifier
from storeadvise.bench.results import ColumnFidelity, Verification
from storeadvise.formatting import fmt_example

if TYPE_CHECKING:
    import pyarrow as pa

    from storeadvise.backends.base import Backend


EXAMPLE_ROWS = 10_000
"""A changed column's example value is looked for in the first this many rows of each side."""


@dataclass
class _Checksums:
    rows: int = 0
    row_sums: list[int] = field(default_factory=list)
    """One sum of row hashes per set of row columns."""
    column_sums: dict[str, int] = field(default_factory=dict)
    documented_sums: dict[str, int] = field(default_factory=dict)
    """For a value-level loss column: the sum over the written values changed as documented."""
    head: list[pa.RecordBatch] = field(default_factory=list)
    """The first ``EXAMPLE_ROWS`` rows, where an example of a changed value is looked for."""


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
        kept = sum(b.num_rows for b in self.result.head)
        if kept < EXAMPLE_ROWS:
            self.result.head.append(batch.slice(0, EXAMPLE_ROWS - kept))
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


class ContentHash:
    """The verifier's row checksum of a whole batch stream, as a dataset's content fingerprint: the
    sum of DuckDB's ``hash()`` of every row over all columns. Order-independent and blind to how the
    rows are cut into batches, so the same data read from another file format or generated again
    gives the same value."""

    def __init__(self, columns: list[str]) -> None:
        self._sums = _Accumulator(columns, [columns])

    def add(self, batch: pa.RecordBatch) -> None:
        self._sums.add(batch)

    @staticmethod
    def method() -> str:
        """What the value depends on besides the data: a DuckDB version may hash differently."""
        import duckdb

        return f"sum of duckdb {duckdb.__version__} hash() per row"

    def hexdigest(self) -> str:
        sums = self._sums.result.row_sums
        return f"{(sums[0] if sums else 0) & (2**128 - 1):032x}"


def _hashable(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` in types DuckDB can hash, holding the same values (``_typemap.duckdb_leaf``)."""
    from storeadvise.backends import _typemap

    wider = _typemap.for_duckdb(batch.schema)
    return batch if wider is None else _typemap.to_storage(batch, wider)


def _uncastable_example(column: pa.Array, target: pa.DataType) -> str:
    """"e.g. 'abc'": the first returned value that does not cast back (within ``EXAMPLE_ROWS``)."""
    from storeadvise.bench.formats.source import first_uncastable

    value = first_uncastable(column.slice(0, EXAMPLE_ROWS), target, _cast_back)
    return f"e.g. {fmt_example(value)}" if value is not None else ""


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


@dataclass
class _Comparison:
    """How each column is compared: in its written type, or as the backend's type mapping documents it."""

    schema: pa.Schema
    """The type each returned column is compared in: the written one, or the documented one when the
    backend documents a change of type (binary as base64 text)."""
    reasons: dict[str, str | None]
    """The documented loss of each column, in a sentence, or None."""
    type_losses: dict[str, Callable[[pa.Array], pa.Array]]
    """Columns compared only as documented: their type changes, so the written form cannot come back."""
    value_losses: dict[str, Callable[[pa.Array], pa.Array]]
    """Columns whose documented loss changes some values but keeps the type (NaN stored as NULL): rows
    are compared as written and as documented, since a store may keep what it says it loses."""


def _comparison(schema: pa.Schema, backend: Backend) -> _Comparison:
    import pyarrow as pa

    fields, reasons, type_losses, value_losses = [], {}, {}, {}
    for f in schema:
        loss = backend.type_loss(f)
        reasons[f.name] = loss.reason if loss else None
        documented_type = loss.transform(pa.array([], type=f.type)).type if loss else f.type
        if loss is not None:
            (value_losses if documented_type.equals(f.type) else type_losses)[f.name] = loss.transform
        fields.append(pa.field(f.name, documented_type))
    return _Comparison(pa.schema(fields), reasons, type_losses, value_losses)


def _source_checksums(schema: pa.Schema, batches: Iterable[pa.RecordBatch], plan: _Comparison) -> _Checksums:
    """The written stream's checksums, each type-changing column as documented, and each value-level
    loss column also as documented (in an extra column) for the second row checksum."""
    import pyarrow as pa

    names = schema.names
    prefix = "_documented_" + "_" * max((len(n) for n in names), default=0)  # longer than any name: unique
    as_documented = {n: f"{prefix}{i}" for i, n in enumerate(plan.value_losses)}
    row_sets = [names]
    if plan.value_losses:
        row_sets.append([as_documented.get(n, n) for n in names])
    source = _Accumulator([*names, *as_documented.values()], row_sets)
    for batch in batches:
        columns = [plan.type_losses[f.name](c) if f.name in plan.type_losses else c
                   for f, c in zip(schema, batch.columns, strict=True)]
        extra = [plan.value_losses[n](batch.column(batch.schema.get_field_index(n))) for n in plan.value_losses]
        source.add(pa.RecordBatch.from_arrays([*columns, *extra], names=[*names, *as_documented.values()]))
    result = source.result
    result.documented_sums = {n: result.column_sums[as_documented[n]] for n in plan.value_losses}
    return result


@dataclass
class _Returned:
    checksums: _Checksums
    types: dict[str, str | None]
    cast_failures: dict[str, str]
    """Columns that could not be cast back, each with an example of a value that could not ("" if none)."""
    missing: set[str]


def _returned_checksums(plan: _Comparison, batches: Iterable[pa.RecordBatch]) -> _Returned:
    """What came back, each column cast to the type it is compared in (what a user would convert it to)."""
    import pyarrow as pa

    schema = plan.schema
    seen = _Returned(_Checksums(), dict.fromkeys(schema.names), {}, set())
    returned = _Accumulator(schema.names, [schema.names])
    for batch in batches:
        arrays = []
        for f in schema:
            idx = batch.schema.get_field_index(f.name)
            if idx < 0:
                seen.missing.add(f.name)
            else:
                seen.types[f.name] = str(batch.column(idx).type)
            if idx < 0 or f.name in seen.cast_failures:
                arrays.append(pa.nulls(batch.num_rows, f.type))
                continue
            try:
                arrays.append(_cast_back(batch.column(idx), f.type))
            except ValueError:
                seen.cast_failures[f.name] = _uncastable_example(batch.column(idx), f.type)
                arrays.append(pa.nulls(batch.num_rows, f.type))
        returned.add(pa.RecordBatch.from_arrays(arrays, schema=schema))
    seen.checksums = returned.result
    return seen


def _fidelity(f: pa.Field, plan: _Comparison, expected: _Checksums, got: _Returned, example: str) -> ColumnFidelity:
    name, reason = f.name, plan.reasons[f.name]
    rtype = got.types[name]
    returned_sum = got.checksums.column_sums[name]
    if name in got.missing:
        status, detail = "lost", "column missing from what came back"
    elif name in got.cast_failures:
        status, detail = "lost", f"came back as {rtype}, not convertible to {plan.schema.field(name).type}"
        if got.cast_failures[name]:
            detail += f" ({got.cast_failures[name]})"
        reason = None if name in plan.type_losses else reason
    elif expected.column_sums[name] != returned_sum:
        status, detail = "lost", "values changed"
        if reason and not (name in plan.value_losses and expected.documented_sums[name] == returned_sum):
            detail, reason = f"values changed beyond the documented mapping ({reason})", None
    elif name in plan.type_losses:
        status, detail = "lost", ""  # changed exactly as documented
    elif rtype is not None and rtype != str(f.type):
        status, detail = "converted", f"to {rtype}, values restored by casting back"
    else:
        status, detail = "kept", ""
    if status == "lost" and reason:
        detail = reason
    if example:
        detail = f"{detail}; {example}" if detail else example
    return ColumnFidelity(column=name, original_type=str(f.type), returned_type=rtype, status=status,
                          detail=detail, documented=status != "lost" or reason is not None)


def verify_round_trip(
    schema: pa.Schema,
    source_batches: Iterable[pa.RecordBatch],
    returned_batches: Iterable[pa.RecordBatch],
    backend: Backend,
) -> Verification:
    """Compare the source stream with what the backend returned, column by column and row by row; a
    column the backend documents as changed is compared with the written values changed as documented."""
    plan = _comparison(schema, backend)
    expected = _source_checksums(schema, source_batches, plan)
    got = _returned_checksums(plan, returned_batches)
    examples = _examples(schema.names, expected, got)
    fidelity = [_fidelity(f, plan, expected, got, examples.get(f.name, "")) for f in schema]
    returned = got.checksums

    problems = []
    if returned.rows != expected.rows:
        diff = expected.rows - returned.rows
        problems.append(f"{diff} rows lost" if diff > 0 else f"{-diff} extra rows")
    undocumented = [c.column + (f" ({examples[c.column]})" if examples.get(c.column) else "")
                    for c in fidelity if not c.documented]
    if undocumented:
        problems.append("values changed in " + ", ".join(undocumented))
    same_rows = not returned.row_sums or returned.row_sums[0] in expected.row_sums
    checksum_match = returned.rows == expected.rows and same_rows
    if not checksum_match and not problems:
        problems.append("row checksum differs (values moved between rows)")
    return Verification(
        rows_written=expected.rows,
        rows_read=returned.rows,
        checksum_match=checksum_match,
        columns=fidelity,
        flagged=bool(problems),
        message="; ".join(problems),
    )


# -- media items, one by one ----------------------------------------------------------------------------

def holds_row(backend: Backend, got: pa.Table, want: pa.Table) -> bool:
    """Whether ``got`` has rows and every one holds the values of ``want``'s one row: each column compared
    after a cast to the written type, or, where the backend's type mapping documents a change
    (``Backend.type_loss``), with ``want``'s value changed as documented."""
    if not got.num_rows or got.column_names != want.column_names:
        return False
    for written in want.schema:
        expected = want.column(written.name).combine_chunks()
        loss = backend.type_loss(written)
        if loss:
            expected = loss.transform(expected)
        column = got.column(written.name)
        if column.type != expected.type:
            column = column.cast(expected.type)
        if column.to_pylist() != expected.to_pylist() * got.num_rows:
            return False
    return True


def item_digests(batches: Iterable[pa.RecordBatch | pa.Table]) -> Counter[tuple[str, bytes]]:
    """Each item of a media table as (id, SHA-256 of its bytes), counted: the same multiset whatever
    order the items came in, and an item read twice counts twice."""
    import hashlib

    from storeadvise.media import BYTES_COLUMN, ID_COLUMN

    found: Counter[tuple[str, bytes]] = Counter()
    for batch in batches:
        ids = batch.column(ID_COLUMN).to_pylist()
        for item, data in zip(ids, batch.column(BYTES_COLUMN).to_pylist(), strict=True):
            found[(item, hashlib.sha256(data).digest())] += 1
    return found


def item_differences(expected: Counter[tuple[str, bytes]], got: Counter[tuple[str, bytes]]) -> str | None:
    """How the items read differ from the items written (None when every item came back once, byte for
    byte): items missing, read more than once, or changed (a layout that re-encodes them)."""
    written = {item for item, _ in expected}
    read = Counter(item for item, _ in got.elements())
    changed = sorted({item for item, _ in got - expected if item in written})
    missing = sorted(written - set(read))
    repeated = sorted(item for item, n in read.items() if n > 1)
    unknown = sorted(set(read) - written)
    problems = [f"{len(found)} {what} (e.g. {found[0]!r})" for found, what in (
        (changed, "items changed: not byte-identical, re-encoded?"), (missing, "items missing"),
        (repeated, "items read more than once"), (unknown, "items never written"),
    ) if found]
    return "; ".join(problems) or None


# -- an example of a changed value ---------------------------------------------------------------------
def _examples(names: list[str], expected: _Checksums, got: _Returned) -> dict[str, str]:
    """For each column whose values changed, one written value and what came back for it: "e.g. '01234'
    → 1234" (empty when the first ``EXAMPLE_ROWS`` rows of both sides hold no such pair)."""
    returned = got.checksums
    changed = [n for n in names if n not in got.missing and n not in got.cast_failures
               and expected.column_sums[n] != returned.column_sums[n]]
    if not changed or not expected.head or not returned.head:
        return {}
    import duckdb
    import pyarrow as pa

    position = "_position_" + "_" * max(len(n) for n in names)  # longer than any name: unique
    con = duckdb.connect()
    for view, head in (("written", expected.head), ("returned", returned.head)):
        table = pa.Table.from_batches(head).select(names)
        con.register(view, table.append_column(position, pa.array(range(table.num_rows), pa.int64())))
    # rows are paired by the columns that came back unchanged (the k-th row with the same values on
    # each side), so a store that returns rows in another order still pairs a row with itself
    pairing = [n for n in names if n not in changed and n not in got.missing and n not in got.cast_failures]
    examples = {}
    for name in changed:
        found = con.execute(_example_sql(name, pairing, quote_identifier(position))).fetchall()
        if found:
            examples[name] = f"e.g. {fmt_example(found[0][0])} → {fmt_example(found[0][1])}"
    return examples


def _example_sql(column: str, pairing: list[str], position: str) -> str:
    key = f"hash({', '.join(map(quote_identifier, pairing))})" if pairing else "0"
    sides = {view: (f"SELECT {quote_identifier(column)} AS v, {position} AS p, {key} AS h, "
                    f"row_number() OVER (PARTITION BY {key} ORDER BY {position}) AS k FROM {view}")
             for view in ("written", "returned")}
    return (f"WITH w AS ({sides['written']}), r AS ({sides['returned']}) "
            "SELECT w.v, r.v FROM w JOIN r ON w.h = r.h AND w.k = r.k "
            "WHERE w.v IS DISTINCT FROM r.v ORDER BY w.p LIMIT 1")

