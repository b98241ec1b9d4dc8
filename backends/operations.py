"""The operations a backend can be asked to do: one table, the only definition of each.

An entry says what the operation means, whether it is timed per call (a latency operation) and
whether it changes what is stored, which input each call takes from the workload plan, how one call
drives a backend, how the call's result is counted, and when the plan cannot feed it. The runner, the
contract tests and the performance suite all drive backends through this table; a backend's
``supports`` names its entries. A new operation is one entry here (plus, if it needs one, a field of
``WorkloadPlan`` that ``bench.workloads.plan_workload`` fills from the data).

Only ``bench.runner`` holds a clock: this module says *what* a call does, never how long it took.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from storeadvise.errors import UnsupportedOperation

if TYPE_CHECKING:
    import pyarrow as pa

    from storeadvise.backends.base import Backend, Predicate


class Data(Protocol):
    """A dataset as a write consumes it: a schema, a fresh batch stream per call, and its size."""

    @property
    def schema(self) -> pa.Schema: ...

    @property
    def rows(self) -> int: ...

    @property
    def nbytes(self) -> int: ...

    def batches(self) -> Iterable[pa.RecordBatch]: ...


@dataclass(frozen=True)
class InMemory:
    """A table held in memory as a write's input, handed over in record batches of ``batch_rows``."""

    table: pa.Table
    batch_rows: int = 65_536

    @property
    def schema(self) -> pa.Schema:
        return self.table.schema

    @property
    def rows(self) -> int:
        return self.table.num_rows

    @property
    def nbytes(self) -> int:
        return self.table.nbytes

    def batches(self) -> Iterable[pa.RecordBatch]:
        return self.table.to_batches(max_chunksize=self.batch_rows)


@dataclass
class WorkloadPlan:
    """The concrete inputs of every operation, derived once from the dataset."""

    key_column: str | None
    lookup_keys: list[Any] = field(default_factory=list)
    projection: list[str] = field(default_factory=list)
    predicate: Predicate | None = None
    predicate_share: float | None = None
    """The share of the sampled rows the predicate selects."""
    append_rows: int = 0
    update_rows: pa.Table | None = None
    """Existing rows (a hundredth of the dataset, one per key) with new values in every other column:
    what an ``update`` writes over the stored rows of the same keys."""
    template: pa.Table | None = None  # rows that new rows for append / write_one are made from
    key_offset: int = 0  # added to integer keys (or suffix counter for string keys) of new rows
    notes: dict[str, str] = field(default_factory=dict)
    data: Data | None = None  # what a write stores

    def new_rows(self, n: int, round_index: int) -> pa.RecordBatch:
        """``n`` rows shaped like the data, with keys that do not exist yet (distinct per round)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        assert self.template is not None
        rows = self.template.slice(0, min(n, self.template.num_rows))
        while rows.num_rows < n:
            rows = pa.concat_tables([rows, self.template.slice(0, n - rows.num_rows)])
        if self.key_column:
            from storeadvise.backends._selection import cast_values, value_type

            key = rows.column(self.key_column)
            base = self.key_offset + round_index * n
            if pa.types.is_integer(value_type(key.type)):  # a categorical key too
                new_key = cast_values(pa.array(range(base, base + n), type=value_type(key.type)), key.type)
            else:
                new_key = cast_values(pc.binary_join_element_wise(
                    pc.cast(key, pa.string()), pa.array([f"~new{base + i}" for i in range(n)]), ""
                ), key.type)
            rows = rows.set_column(rows.schema.get_field_index(self.key_column), self.key_column, new_key)
        return rows.combine_chunks().to_batches()[0]


@dataclass(frozen=True)
class Tally:
    """What one call moved: rows and bytes of Arrow data."""

    rows: int
    nbytes: int


def consume(result: pa.Table | pa.RecordBatch | Iterable[pa.RecordBatch]) -> Tally:
    """Count what a read-like call returned: a table, a batch, or a stream of batches (drained here).

    Every read-like operation's result passes through this one function, so that whatever counting a
    result means is the same for every backend and every read.
    """
    batches = (result,) if hasattr(result, "num_rows") else result
    rows = nbytes = 0
    for batch in batches:
        rows += batch.num_rows
        nbytes += batch.nbytes
    return Tally(rows, nbytes)


def _sent(batch: pa.RecordBatch, result: Any) -> Tally:
    """A call that stores or sends ``batch`` moved that batch."""
    return Tally(batch.num_rows, batch.nbytes)


def _returned(given: Any, result: Any) -> Tally:
    return consume(result)


def _stored(data: Data, result: Any) -> Tally:
    return Tally(data.rows, data.nbytes)


def _every_call(value: Callable[[WorkloadPlan], Any]) -> Callable[[WorkloadPlan], Iterator[Any]]:
    """Inputs for an operation whose every call takes the same plan value."""
    return lambda plan: itertools.repeat(value(plan))


def _new_rows(rows: Callable[[WorkloadPlan], int], first_round: int = 0) -> Callable[[WorkloadPlan], Iterator[Any]]:
    """Inputs for an operation that adds rows: ``rows(plan)`` new rows per call, new keys every call."""
    return lambda plan: (plan.new_rows(rows(plan), first_round + i) for i in itertools.count())


def _never(plan: WorkloadPlan) -> str | None:
    return None


def _needs_data(plan: WorkloadPlan) -> str | None:
    return None if plan.data is not None else "no data to write"


def _append(backend: Backend, batch: pa.RecordBatch) -> None:
    """Add ``batch`` to what is stored: one call serves both the batch append and the single-row write."""
    backend.append(batch)


def _update_skip(plan: WorkloadPlan) -> str | None:
    if plan.update_rows is not None and plan.update_rows.num_rows:
        return None
    return plan.notes.get("update", "no rows to update (an update needs a key column: --key COLUMN)")


def _holds_key(plan: WorkloadPlan, key: Any, table: pa.Table) -> bool:
    """Whether a lookup of ``key`` returned its row."""
    column = plan.key_column
    if column is None or table.num_rows == 0 or column not in table.column_names:
        return False
    return key in table.column(column).to_pylist()


@dataclass(frozen=True)
class Operation:
    """One operation: what it means and how the harness drives and counts it."""

    name: str
    description: str
    latency: bool
    """Timed per call over many calls (p50/p95/p99) rather than as whole runs."""
    mutates: bool
    """Changes what is stored."""
    inputs: Callable[[WorkloadPlan], Iterator[Any]]
    """The input of each successive call, from the plan; made before the call, outside any timer."""
    run: Callable[[Backend, Any], Any]
    """One call: drive ``backend`` with one input and return what it gave back. Operations that make
    the same call share one function (append and write_one): a backend that declares one of them can
    do the other, and only its declaration refuses it."""
    count: Callable[[Any, Any], Tally]
    """What one call moved, given its input and its result; read-like results go through ``consume``."""
    skip: Callable[[WorkloadPlan], str | None] = _never
    """Why the plan cannot feed this operation (no key column, no predicate), or None."""
    reset: Callable[[Backend], None] | None = None
    """Runs before each call, outside any timer (a write starts from an empty store)."""
    whole_dataset: bool = False
    """Returns every stored row and column as one in-memory table: skipped when the data does not fit
    the memory limit, and its result is what the round-trip check verifies."""
    checks_row_count: bool = False
    """After the calls, the stored rows must be the dataset's plus the rows the calls added."""
    answers: Callable[[WorkloadPlan, Any, Any], bool] | None = None
    """Whether one call's result answers its input (a lookup returns its key's row), or None."""
    cache_sensitive: bool = True
    """Reads what is stored, so its time depends on whether that is in a cache (``--cache`` measures it
    warm, cold or both). Not for the operations that store data, nor for a stream's round trip, which
    reads back only the record it has just sent."""

    def supported_by(self, backend: Backend) -> bool:
        return self.name in backend.supports

    def call(self, backend: Backend, given: Any) -> Any:
        """One call, refused with ``UnsupportedOperation`` when the backend does not declare it (even if
        the backend method it uses serves another operation the backend does declare)."""
        if self.name not in backend.supports:
            raise UnsupportedOperation(backend.why_unsupported(self.name))
        return self.run(backend, given)

    def call_counted(self, backend: Backend, given: Any) -> tuple[Any, Tally]:
        """One call and the counting of its result: what a throughput run of this operation does."""
        result = self.call(backend, given)
        return result, self.count(given, result)


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation(
            "write", "store the whole dataset (replacing what was there)", latency=False, mutates=True,
            inputs=_every_call(lambda plan: plan.data),
            run=lambda backend, data: backend.write(data.schema, data.batches()),
            count=_stored, skip=_needs_data, reset=lambda backend: backend.clear(), cache_sensitive=False,
        ),
        Operation(
            "read", "read everything into one in-memory Arrow table", latency=False, mutates=False,
            inputs=_every_call(lambda plan: None), run=lambda backend, _: backend.read(), count=_returned,
            whole_dataset=True,
        ),
        Operation(
            "scan", "iterate over all rows in batches, one batch in memory at a time", latency=False, mutates=False,
            inputs=_every_call(lambda plan: None), run=lambda backend, _: backend.scan(), count=_returned,
        ),
        Operation(
            "project", "read a subset of the columns", latency=False, mutates=False,
            inputs=_every_call(lambda plan: plan.projection),
            run=lambda backend, columns: backend.read(columns=columns), count=_returned,
        ),
        Operation(
            "filter", "read the rows matching a predicate on one column", latency=False, mutates=False,
            inputs=_every_call(lambda plan: plan.predicate),
            run=lambda backend, predicate: backend.read(where=predicate), count=_returned,
            skip=lambda plan: None if plan.predicate is not None else plan.notes.get("filter", "no predicate"),
        ),
        Operation(
            "lookup", "fetch one row by key (files: an honest scan and filter)", latency=True, mutates=False,
            inputs=lambda plan: iter(plan.lookup_keys), run=lambda backend, key: backend.lookup(key),
            count=_returned, answers=_holds_key,
            skip=lambda plan: None if plan.lookup_keys else plan.notes.get("lookup", "no keys to look up"),
        ),
        Operation(
            "append", "add a batch of new rows to what is stored", latency=False, mutates=True,
            inputs=_new_rows(lambda plan: plan.append_rows), run=_append,
            count=_sent, checks_row_count=True, cache_sensitive=False,
        ),
        Operation(
            "write_one", "write a single new row", latency=True, mutates=True,
            # Keys far from the append's, so that both can run on the same store.
            inputs=_new_rows(lambda plan: 1, first_round=10_000), run=_append,
            count=_sent, cache_sensitive=False,
        ),
        Operation(
            "stream_latency", "send one record and wait until it is received back", latency=True, mutates=False,
            inputs=_new_rows(lambda plan: 1, first_round=10_000), run=lambda backend, row: backend.deliver(row),
            count=_sent, cache_sensitive=False,
        ),
        Operation(
            "update", "update 1% of the rows in place by key (a new commit)", latency=False, mutates=True,
            inputs=_every_call(lambda plan: plan.update_rows), run=lambda backend, rows: backend.update(rows),
            count=_sent, skip=_update_skip, cache_sensitive=False,
        ),
        Operation(
            # After the mutations, so that there is a version before the latest commit to read.
            "time_travel", "read the version before the latest commit", latency=False, mutates=False,
            inputs=_every_call(lambda plan: None), run=lambda backend, _: backend.time_travel(), count=_returned,
        ),
    )
}
"""Every operation, in run order: reads before mutations."""
