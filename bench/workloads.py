"""The purpose profiles that pick operations, and the inputs each operation needs.

An operation is what a user would do with stored data (write it, read it all, scan it in batches,
project columns, filter rows, look one key up, append, write one row, push one record through a
stream); ``backends.operations.OPERATIONS`` defines each. A purpose (exploration, sharing,
training, batch, online) is a profile: the operations that matter for it, listed in its definition
in ``storeadvise.purposes``. ``plan_workload`` derives the concrete inputs (lookup keys, the
predicate, the projected columns, rows to append) from the dataset, deterministically.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from storeadvise.backends.base import Predicate
from storeadvise.backends.operations import OPERATIONS, Data, WorkloadPlan
from storeadvise.errors import UsageError
from storeadvise.purposes import PURPOSES

if TYPE_CHECKING:
    import pyarrow as pa

    from storeadvise.bench.datasets import Dataset
    from storeadvise.bench.feeding import LoaderSettings


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
        chosen = {name for name, op in OPERATIONS.items() if op.default}
    # Reads before mutations, so that every read sees exactly the written dataset.
    return [name for name in OPERATIONS if name in chosen]


def plan_workload(
    dataset: Dataset, ops: Sequence[str], lookups: int = 200, seed: int = 0, data: Data | None = None,
    loader: LoaderSettings | None = None,
) -> WorkloadPlan:
    """Pick lookup keys, the projection, the filter predicate and the append size from the data;
    ``data`` is the dataset as a write takes it (in memory or streamed, the caller's choice);
    ``loader`` how training reads it (the shuffled epoch and the emulated accelerators)."""
    import pyarrow as pa

    from storeadvise.backends.batching import scan_batch_rows

    profile = dataset.profile
    schema = dataset.schema
    key = profile.key_column
    sample = dataset.sample_rows(max(lookups, 1_000), seed=seed)
    plan = WorkloadPlan(key_column=key, template=sample, data=data)

    if key is not None:
        keys = sample.column(key).slice(0, lookups).to_pylist()
        plan.lookup_keys = [k for k in keys if k is not None]
        from storeadvise.backends._selection import value_type
        from storeadvise.bench.datasets import decoded

        key_type = value_type(schema.field(key).type)
        if pa.types.is_integer(key_type):
            plan.key_offset = _free_key_offset(decoded(sample.column(key)), profile.rows, key_type)
    else:
        plan.notes["lookup"] = "no key column (pass --key COLUMN to name one)"

    plan.scan_batch_rows = scan_batch_rows(profile.arrow_bytes / profile.rows if profile.rows else 0)
    plan.take_positions = _take_positions(profile.rows, lookups, seed)
    if not plan.take_positions:
        plan.notes["take"] = "no rows to take"
    _plan_training(plan, dataset, ops, loader, seed)

    flat = [f.name for f in schema if not pa.types.is_nested(f.type) and f.name != key]
    # A third of the columns, at least one: what a training job selecting its features reads.
    width = max(1, len(schema) // 3)
    plan.projection = (flat or [f.name for f in schema])[:width]

    plan.predicate, plan.predicate_share = _choose_predicate(sample, key)
    if plan.predicate is None:
        plan.notes["filter"] = "no column to filter on (numeric, timestamp or low-cardinality string)"
    # One percent of the rows, the size of a typical incremental load.
    plan.append_rows = max(1, min(100_000, profile.rows // 100))
    if key is None:
        plan.notes["update"] = "no key column to update rows by (pass --key COLUMN to name one)"
    elif "update" in ops:
        plan.update_rows = changed_rows(dataset.sample_rows(plan.append_rows, seed=seed + 1), key)
    return plan


def _plan_training(plan: WorkloadPlan, dataset: Dataset, ops: Sequence[str], loader: LoaderSettings | None,
                   seed: int) -> None:
    """The shuffled epoch and the emulated accelerators, when an operation selected needs them."""
    from storeadvise.bench.feeding import Epoch, FeedJob, LoaderSettings, decode_skip
    from storeadvise.media import media_modality

    settings = loader or LoaderSettings()
    rows = dataset.profile.rows
    plan.modality = media_modality(dataset.schema)
    if rows and {"shuffle", "decode"} & set(ops):
        plan.epoch = Epoch.of(rows, settings, seed, plan.modality)
    if decode_skip(plan.modality):
        plan.notes["decode"] = decode_skip(plan.modality) or ""
    if rows and "feed" in ops:
        plan.feed = FeedJob(rows, settings, settings.accelerators or 1, seed, search=True)


def _take_positions(rows: int, calls: int, seed: int) -> list[list[int]]:
    """``calls`` batches of ``TAKE_ROWS`` distinct random positions below ``rows`` (fewer when the data
    has fewer rows), unsorted, as a shuffling sampler draws them; deterministic for a seed."""
    import random

    from storeadvise.backends.operations import TAKE_ROWS

    if rows < 1:
        return []
    rng = random.Random(seed)
    size = min(TAKE_ROWS, rows)
    return [rng.sample(range(rows), size) for _ in range(max(calls, 1))]


def changed_rows(rows: pa.Table, key: str) -> pa.Table:
    """``rows`` with one row per key (the first of each), every other column's values moved down by one
    row (the last row takes the first's): the same keys with other values of the same types, what an
    update of those rows writes."""
    import pyarrow as pa

    from storeadvise.bench.datasets import decoded

    seen: set[Any] = set()
    first = [i for i, k in enumerate(decoded(rows.column(key)).to_pylist())
             if k is not None and k not in seen and not seen.add(k)]  # type: ignore[func-returns-value]
    rows = rows.take(pa.array(first, pa.int64()))
    if rows.num_rows < 2:
        return rows
    columns = [
        col if field.name == key else pa.concat_arrays([c.combine_chunks() for c in (col.slice(1), col.slice(0, 1))])
        for col, field in zip(rows.columns, rows.schema, strict=True)
    ]
    return pa.Table.from_arrays(columns, schema=rows.schema)


def row_for_key(template: pa.Table, key: str, value: Any, index: int) -> pa.Table:
    """Row ``index`` (modulo its rows) of ``template`` with its key column set to ``value``: the new values
    an update of the stored row of that key writes, as ``changed_rows`` takes them, from the dataset's own rows."""
    import pyarrow as pa

    from storeadvise.backends._selection import cast_values, value_type

    row = template.slice(index % template.num_rows, 1)
    column = row.schema.get_field_index(key)
    key_type = row.schema.field(column).type
    return row.set_column(column, key, cast_values(pa.array([value], value_type(key_type)), key_type)).combine_chunks()


NEW_KEY_ROOM = 2**32
"""Keys kept free above the offset for appended and single-written rows."""


def _free_key_offset(keys: pa.ChunkedArray, rows: int, key_type: pa.DataType) -> int:
    """The first key of new rows: well above the sampled keys, or below them when that would leave
    the key type's range (keys near 2^63 or 2^64: snowflake ids, epoch nanoseconds). Python ints, so
    nothing is rounded."""
    import numpy as np
    import pyarrow.compute as pc

    limits = np.iinfo(key_type.to_pandas_dtype())
    low, high = int(limits.min), int(limits.max)
    extremes = pc.min_max(keys).as_py()
    top, bottom = extremes["max"] or 0, extremes["min"] or 0
    preferred = max(top, rows) * 10 + 1_000_000
    if preferred + NEW_KEY_ROOM <= high:
        return preferred
    if low + NEW_KEY_ROOM < bottom:
        return low
    return min(top + 1, high - NEW_KEY_ROOM)


def _upper_tenth(values: pa.ChunkedArray) -> Any:
    """The value with nine tenths of ``values`` at or below it, picked by sorting: exact for every
    ordered type (a cast to float64 would round integers beyond 2^53, and refuse them). None when
    pyarrow cannot sort the type (float16) or Python cannot hold the value in the column's zone
    (9999-12-31 UTC is in year 10000 in +05:30)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        order = pc.sort_indices(values)
        return values.take(order.slice(int(0.9 * (len(values) - 1)), 1))[0].as_py()
    except (pa.ArrowNotImplementedError, OverflowError, ValueError):
        return None


TARGET_SHARE = 0.10
"""The share of rows the filter should select; one within ``SHARE_RANGE`` of the sample is taken."""
SHARE_RANGE = (0.05, 0.20)


def _choose_predicate(sample: pa.Table, key: str | None) -> tuple[Predicate | None, float | None]:
    """A predicate selecting about a tenth of the rows, and the share of the sample it selects.

    Candidates, in column order: ``>`` (then ``>=``) the upper tenth of each numeric or temporal column,
    ``==`` the value of each low-cardinality string column whose share is nearest a tenth. The first whose share on the
    sample is within ``SHARE_RANGE`` is taken; else the nearest to a tenth that selects some rows but not
    all (a column holding one value, or a value most rows share, would time an empty or a full result)."""
    best: tuple[float, Predicate, float] | None = None
    for predicate in _candidate_predicates(sample, key):
        share = _share(sample, predicate)
        if SHARE_RANGE[0] <= share <= SHARE_RANGE[1]:
            return predicate, share
        distance = abs(share - TARGET_SHARE)
        if 0 < share < 1 and (best is None or distance < best[0]):
            best = (distance, predicate, share)
    return (best[1], best[2]) if best else (None, None)


def _candidate_predicates(sample: pa.Table, key: str | None) -> Iterator[Predicate]:
    import pyarrow.compute as pc

    from storeadvise.bench.datasets import column_kind, decoded

    columns = [(f.name, column_kind(f.type), decoded(sample.column(i))) for i, f in enumerate(sample.schema)
               if f.name != key]
    for name, kind, col in columns:
        col = col.drop_null()
        if kind == "float":
            col = col.filter(pc.is_finite(col))
        if len(col) and kind in ("int", "float", "timestamp", "date"):
            value = _upper_tenth(col)
            if value is not None:
                yield Predicate(name, ">", value)
                yield Predicate(name, ">=", value)  # where the top tenth is one value repeated
    for name, kind, col in columns:
        if kind == "string":
            counts = pc.value_counts(col.drop_null()).to_pylist()
            if 0 < len(counts) <= max(2, sample.num_rows // 20):
                nearest = min(counts, key=lambda c: abs(c["counts"] / sample.num_rows - TARGET_SHARE))
                yield Predicate(name, "==", nearest["values"])


def _share(sample: pa.Table, predicate: Predicate) -> float:
    """The share of the sample's rows ``predicate`` selects (0 where pyarrow cannot evaluate it)."""
    import pyarrow as pa

    from storeadvise.bench.datasets import decoded

    column = decoded(sample.column(predicate.column))
    try:
        selected = pa.table({predicate.column: column}).filter(predicate.to_arrow()).num_rows
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return 0.0
    return selected / sample.num_rows if sample.num_rows else 0.0
