"""Named operations, the purpose profiles that pick them, and the inputs each operation needs.

An operation is what a user would do with stored data (write it, read it all, scan it in batches,
project columns, filter rows, look one key up, append, write one row, push one record through a
stream). A purpose (exploration, sharing, training, batch, online) is a profile: the operations
that matter for it, listed in its definition in ``storeadvise.purposes``. ``plan_workload`` derives
the concrete inputs (lookup keys, the predicate, the projected columns, rows to append) from the
dataset, deterministically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from storeadvise.backends.base import OPERATIONS, Predicate
from storeadvise.errors import UsageError
from storeadvise.purposes import PURPOSES

if TYPE_CHECKING:
    import pyarrow as pa

    from storeadvise.bench.datasets import Dataset


@dataclass(frozen=True)
class OpSpec:
    """One operation: its name, whether it is measured per call (latency) and what it means."""

    name: str
    latency: bool
    mutates: bool
    description: str


OPS: dict[str, OpSpec] = {
    spec.name: spec
    for spec in (
        OpSpec("write", False, True, "store the whole dataset (replacing what was there)"),
        OpSpec("read", False, False, "read everything into one in-memory Arrow table"),
        OpSpec("scan", False, False, "iterate over all rows in batches, one batch in memory at a time"),
        OpSpec("project", False, False, "read a subset of the columns"),
        OpSpec("filter", False, False, "read the rows matching a predicate on one column"),
        OpSpec("lookup", True, False, "fetch one row by key (files: an honest scan and filter)"),
        OpSpec("append", False, True, "add a batch of new rows to what is stored"),
        OpSpec("write_one", True, True, "write a single new row"),
        OpSpec("stream_latency", True, False, "send one record and wait until it is received back"),
    )
}
assert tuple(OPS) == OPERATIONS, "bench.workloads.OPS and backends.base.OPERATIONS must list the same ops"


def select_ops(purpose: str | None = None, ops: str | Sequence[str] | None = None) -> list[str]:
    """The operations to run: ``ops`` if given, else the purpose's, else all of them; in run order."""
    if ops:
        names = [o.strip().lower() for o in (ops.split(",") if isinstance(ops, str) else ops) if o.strip()]
        unknown = [n for n in names if n not in OPS]
        if unknown:
            raise UsageError(f"unknown operation {', '.join(map(repr, unknown))}; choose from {', '.join(OPS)}")
        chosen = set(names)
    elif purpose:
        key = purpose.strip().lower()
        if key not in PURPOSES:
            raise UsageError(f"unknown purpose {purpose!r}; choose from {', '.join(PURPOSES)}")
        chosen = set(PURPOSES[key].ops)
    else:
        chosen = set(OPS)
    # Reads before mutations, so that every read sees exactly the written dataset.
    return [name for name in OPS if name in chosen]


@dataclass
class WorkloadPlan:
    """The concrete inputs of every operation, derived once from the dataset."""

    key_column: str | None
    lookup_keys: list[Any] = field(default_factory=list)
    projection: list[str] = field(default_factory=list)
    predicate: Predicate | None = None
    append_rows: int = 0
    template: pa.Table | None = None  # rows that new rows for append / write_one are made from
    key_offset: int = 0  # added to integer keys (or suffix counter for string keys) of new rows
    notes: dict[str, str] = field(default_factory=dict)

    def new_rows(self, n: int, round_index: int) -> pa.RecordBatch:
        """``n`` rows shaped like the data, with keys that do not exist yet (distinct per round)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        assert self.template is not None
        rows = self.template.slice(0, min(n, self.template.num_rows))
        while rows.num_rows < n:
            rows = pa.concat_tables([rows, self.template.slice(0, n - rows.num_rows)])
        if self.key_column:
            key = rows.column(self.key_column)
            base = self.key_offset + round_index * n
            if pa.types.is_integer(key.type):
                new_key = pa.array(range(base, base + n), type=key.type)
            else:
                new_key = pc.binary_join_element_wise(
                    pc.cast(key, pa.string()), pa.array([f"~new{base + i}" for i in range(n)]), ""
                ).cast(key.type)
            rows = rows.set_column(rows.schema.get_field_index(self.key_column), self.key_column, new_key)
        return rows.combine_chunks().to_batches()[0]


def _numeric(t: pa.DataType) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(t) or pa.types.is_floating(t)


def plan_workload(dataset: Dataset, ops: Sequence[str], lookups: int = 200, seed: int = 0) -> WorkloadPlan:
    """Pick lookup keys, the projection, the filter predicate and the append size from the data."""
    import pyarrow as pa
    import pyarrow.compute as pc

    profile = dataset.profile
    schema = dataset.schema
    key = profile.key_column
    sample = dataset.sample_rows(max(lookups, 1_000), seed=seed)
    plan = WorkloadPlan(key_column=key, template=sample)

    if key is not None:
        keys = sample.column(key).slice(0, lookups).to_pylist()
        plan.lookup_keys = [k for k in keys if k is not None]
        key_type = schema.field(key).type
        if pa.types.is_integer(key_type):
            top = pc.max(sample.column(key)).as_py() or 0
            plan.key_offset = max(top, profile.rows) * 10 + 1_000_000
    else:
        plan.notes["lookup"] = "no key column (pass --key COLUMN to name one)"

    flat = [f.name for f in schema if not pa.types.is_nested(f.type) and f.name != key]
    # A third of the columns, at least one: what a training job selecting its features reads.
    width = max(1, len(schema) // 3)
    plan.projection = (flat or [f.name for f in schema])[:width]

    plan.predicate = _choose_predicate(sample, key)
    if plan.predicate is None:
        plan.notes["filter"] = "no column to filter on (numeric, timestamp or low-cardinality string)"
    # One percent of the rows, the size of a typical incremental load.
    plan.append_rows = max(1, min(100_000, profile.rows // 100))
    return plan


def _choose_predicate(sample: pa.Table, key: str | None) -> Predicate | None:
    """A predicate selecting about a tenth of the rows, on the first suitable column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for f in sample.schema:
        if f.name == key:
            continue
        col = sample.column(f.name).drop_null()
        if len(col) == 0:
            continue
        if _numeric(f.type):
            if pa.types.is_floating(f.type):
                col = col.filter(pc.is_finite(col))
            q = pc.quantile(col.cast(pa.float64()), q=0.9)[0].as_py()
            value: Any = int(q) if pa.types.is_integer(f.type) else float(q)
            return Predicate(f.name, ">", value)
        if pa.types.is_timestamp(f.type) or pa.types.is_date(f.type):
            physical = pa.int32() if pa.types.is_date32(f.type) else pa.int64()
            q = pc.quantile(col.cast(physical), q=0.9)[0].as_py()
            return Predicate(f.name, ">", pa.array([int(q)], physical).cast(f.type)[0].as_py())
    for f in sample.schema:
        if f.name != key and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type)):
            counts = pc.value_counts(sample.column(f.name).drop_null())
            if 0 < len(counts) <= max(2, sample.num_rows // 20):
                top = max(counts.to_pylist(), key=lambda c: c["counts"])
                return Predicate(f.name, "==", top["values"])
    return None
