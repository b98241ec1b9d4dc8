"""The purpose profiles that pick operations, and the inputs each operation needs.

An operation is what a user would do with stored data (write it, read it all, scan it in batches,
project columns, filter rows, look one key up, append, write one row, push one record through a
stream); ``backends.operations.OPERATIONS`` defines each. A purpose (exploration, sharing,
training, batch, online) is a profile: the operations that matter for it, listed in its definition
in ``storeadvise.purposes``. ``plan_workload`` derives the concrete inputs (lookup keys, the
predicate, the projected columns, rows to append) from the dataset, deterministically.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from storeadvise.backends.base import Predicate
from storeadvise.backends.operations import OPERATIONS, Data, WorkloadPlan
from storeadvise.errors import UsageError
from storeadvise.purposes import PURPOSES

if TYPE_CHECKING:
    import pyarrow as pa

    from storeadvise.bench.datasets import Dataset




def select_ops(purpose: str | None = None, ops: str | Sequence[str] | None = None) -> list[str]:
    """The operations to run: ``ops`` if given, else the purpose's, else all of them; in run order."""
    if ops:
        names = [o.strip().lower() for o in (ops.split(",") if isinstance(ops, str) else ops) if o.strip()]
        unknown = [n for n in names if n not in OPERATIONS]
        if unknown:
            raise UsageError(
                f"unknown operation {', '.join(map(repr, unknown))}; choose from {', '.join(OPERATIONS)}"
            )
        chosen = set(names)
    elif purpose:
        key = purpose.strip().lower()
        if key not in PURPOSES:
            raise UsageError(f"unknown purpose {purpose!r}; choose from {', '.join(PURPOSES)}")
        chosen = set(PURPOSES[key].ops)
    else:
        chosen = set(OPERATIONS)
    # Reads before mutations, so that every read sees exactly the written dataset.
    return [name for name in OPERATIONS if name in chosen]


def _numeric(t: pa.DataType) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(t) or pa.types.is_floating(t)


def plan_workload(
    dataset: Dataset, ops: Sequence[str], lookups: int = 200, seed: int = 0, data: Data | None = None
) -> WorkloadPlan:
    """Pick lookup keys, the projection, the filter predicate and the append size from the data;
    ``data`` is the dataset as a write takes it (in memory or streamed, the caller's choice)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    profile = dataset.profile
    schema = dataset.schema
    key = profile.key_column
    sample = dataset.sample_rows(max(lookups, 1_000), seed=seed)
    plan = WorkloadPlan(key_column=key, template=sample, data=data)

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
