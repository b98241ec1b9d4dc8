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

import functools
import itertools
import mmap
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from storeadvise.backends.batching import SCAN_BATCH_ROWS
from storeadvise.errors import UnsupportedOperation

if TYPE_CHECKING:
    import pyarrow as pa

    from storeadvise.backends.base import Backend, Predicate


TAKE_ROWS = 32
"""Rows per ``take`` call: one training batch of shuffled positions. A map-style loader hands each
batch's sampled indices to one call (Lance's ``lance.torch.data.SafeLanceDataset.__getitems__`` calls
``take`` with them); 32 is the batch size of that module's ``get_safe_loader`` (docs/decisions.md,
'Lance: take as one training batch of 32 random positions')."""


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
    take_positions: list[list[int]] = field(default_factory=list)
    """For ``take``: per call, ``TAKE_ROWS`` random row positions, as a shuffled training loader asks."""
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
    epoch: Any = None
    """For ``shuffle`` and ``decode``: one shuffled epoch (``bench.feeding.Epoch``), read with ``take``."""
    feed: Any = None
    """For ``feed``: the emulated accelerators (``bench.feeding.FeedJob``)."""
    modality: str | None = None
    """The media modality of the data (``storeadvise.media``), None for ordinary rows."""
    scan_batch_rows: int = SCAN_BATCH_ROWS
    """Rows per batch of ``scan`` and ``first_batch`` (``batching.scan_batch_rows``: bounded in bytes)."""

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
    held: int = 0
    """Bytes of a read's result in memory at once, consumed: the whole result when it is one table or
    batch, the largest piece of a stream. A floor under the call's peak memory, which resident memory
    alone misses when allocators reuse pages they kept."""


PAGE_BYTES = mmap.PAGESIZE


def consume(result: pa.Table | pa.RecordBatch | Iterable[pa.Table | pa.RecordBatch] | None) -> Tally:
    """Materialise and count what a read-like call returned: a table, a batch, or a stream of either
    (drained here); None (a call that returned nothing) moved nothing.

    Every read-like operation's result passes through this one function, inside the timer, so that
    a read means the same for every backend: the data is in this process's memory. One byte of every
    page of every buffer the result uses is read (validity and offset buffers, the children of nested
    columns and dictionaries included), so a memory-mapped file is faulted in and a lazily produced
    buffer is produced; the bytes are not otherwise inspected, so data already in memory costs about
    2 µs per megabyte (docs/decisions.md, 'A read is consumed by touching every page of its buffers').
    """
    if result is None:
        return Tally(0, 0)
    batches = (result,) if hasattr(result, "num_rows") else result
    rows = nbytes = held = 0
    for batch in batches:
        rows += batch.num_rows
        nbytes += batch.nbytes
        held = max(held, batch.nbytes)
        for column in batch.columns:
            for chunk in getattr(column, "chunks", (column,)):
                for buffer, start, stop in _regions(chunk):
                    _touch(buffer, start, stop)
    return Tally(rows, nbytes, held)


def _touch(buffer: pa.Buffer, start: int, stop: int) -> None:
    """Read one byte of every memory page that bytes ``start:stop`` of ``buffer`` lie on: one per
    ``PAGE_BYTES`` from the first byte, and the last byte (the stride may step past the last page)."""
    if stop <= start:
        return
    view = memoryview(buffer)[start:stop]
    if stop - start > PAGE_BYTES:
        view[::PAGE_BYTES].tobytes()
    view[0], view[-1]


# How ``_regions`` reads an array of each type: where its values lie in its buffers.
FIXED, OFFSETS, LIST, FIXED_LIST, STRUCT, DICTIONARY, WHOLE = range(7)


@functools.lru_cache(maxsize=256)
def _layout(kind: pa.DataType) -> tuple[int, int]:
    """How an array of type ``kind`` lays out its values, and a number that goes with it: bits per
    value (fixed width), bytes per offset (strings, binaries, lists, maps) or values per list (fixed-size
    lists). Types repeat across columns and calls, so this is worked out once per type."""
    import pyarrow as pa

    t = pa.types
    if t.is_dictionary(kind):
        return DICTIONARY, 0
    if t.is_struct(kind):
        return STRUCT, 0
    if t.is_fixed_size_list(kind):
        return FIXED_LIST, kind.list_size
    if t.is_string(kind) or t.is_binary(kind):
        return OFFSETS, 4
    if t.is_large_string(kind) or t.is_large_binary(kind):
        return OFFSETS, 8
    if t.is_list(kind) or t.is_map(kind):
        return LIST, 4
    if t.is_large_list(kind):
        return LIST, 8
    try:
        bits = kind.bit_width
    except ValueError:  # a layout not described here (unions, views, run-end encoding)
        return WHOLE, 0
    return (FIXED, bits) if bits and kind.num_buffers == 2 else (WHOLE, 0)


def _regions(array: pa.Array) -> Iterator[tuple[pa.Buffer, int, int]]:
    """The byte ranges ``(buffer, start, stop)`` that hold ``array``'s values. A slice of a larger array
    uses part of its buffers (a batch cut from a table, one row of a lookup), so only its part counts:
    consuming it must not cost a read of everything its buffers hold."""
    layout, size = _layout(array.type)
    if layout == DICTIONARY:
        yield from _regions(array.indices)
        yield from _regions(array.dictionary)
        return
    buffers = array.buffers()
    first, count = array.offset, len(array)
    if buffers[0] is not None:  # validity bitmap
        yield buffers[0], first // 8, -(-(first + count) // 8)
    if layout == FIXED:
        yield buffers[1], first * size // 8, -(-(first + count) * size // 8)
    elif layout in (OFFSETS, LIST):
        yield from _offset_regions(array, buffers, layout, size)
    elif layout == STRUCT:
        for i in range(array.type.num_fields):
            yield from _regions(array.field(i))  # the child sliced as the struct is
    elif layout == FIXED_LIST:
        yield from _regions(array.values.slice(first * size, count * size))
    else:
        yield from ((b, 0, b.size) for b in buffers[1:] if b is not None)


def _offset_regions(array: pa.Array, buffers: list[pa.Buffer | None], layout: int,
                    width: int) -> Iterator[tuple[pa.Buffer, int, int]]:
    """The offsets of a variable-width array's values, then the values they point at: bytes of a
    string or binary column, the child array of a list or map."""
    offsets = buffers[1]
    first, count = array.offset, len(array)
    if offsets is None or offsets.size == 0:
        return
    yield offsets, first * width, (first + count + 1) * width
    view = memoryview(offsets)
    start = int.from_bytes(view[first * width:(first + 1) * width], "little", signed=True)
    stop = int.from_bytes(view[(first + count) * width:(first + count + 1) * width], "little", signed=True)
    if layout == LIST:
        yield from _regions(array.values.slice(start, stop - start))
    elif buffers[2] is not None:
        yield buffers[2], start, stop


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


def _write(backend: Backend, data: Data) -> None:
    """Store ``data``, unless the backend cannot hold a table of its schema at all (``Backend.refuses``):
    then ``UnsupportedOperation`` with its reason, before anything is written."""
    reason = backend.refusal(data.schema)
    if reason:
        raise UnsupportedOperation(f"{backend.name} {reason}")
    backend.write(data.schema, data.batches())


def _append(backend: Backend, batch: pa.RecordBatch) -> None:
    """Add ``batch`` to what is stored: one call serves both the batch append and the single-row write."""
    backend.append(batch)


def _first_batch(backend: Backend, batch_rows: int) -> list[pa.RecordBatch]:
    """Open a scan, take its first batch (none when nothing is stored) and close the scan: what a
    training loop waits for before its first step."""
    stream = iter(backend.scan(batch_rows=batch_rows))
    try:
        return list(itertools.islice(stream, 1))
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


def _took_every_position(plan: WorkloadPlan, positions: list[int], table: pa.Table) -> bool:
    """Whether a take returned one row per asked position."""
    return table.num_rows == len(positions)


def _update_skip(plan: WorkloadPlan) -> str | None:
    if plan.update_rows is not None and plan.update_rows.num_rows:
        return None
    return plan.notes.get("update", "no rows to update (an update needs a key column: --key COLUMN)")


def _decode_skip(plan: WorkloadPlan) -> str | None:
    return plan.notes.get("decode") if plan.epoch is not None else "no rows to decode"


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
    built_on: str | None = None
    """The declared operation this one is made of (time to first batch is part of a scan): a backend
    supports it exactly when it declares that one, and never names it in ``supports``."""
    default: bool = True
    """Run when no operation and no purpose is named. The training-loop emulations (``shuffle``,
    ``decode``, ``feed``) are asked for, or chosen for a folder of media items."""
    figures: Callable[[WorkloadPlan, float, Callable[[Any], float]], dict[str, Any]] | None = None
    """Facts derived from a throughput measurement (given the plan and the median seconds of a run),
    with a timed call of the operation on another input for more (the accelerator search)."""

    @property
    def declared_as(self) -> str:
        """The name a backend's ``supports`` must hold for this operation."""
        return self.built_on or self.name

    def supported_by(self, backend: Backend | type[Backend]) -> bool:
        return self.declared_as in backend.supports

    def call(self, backend: Backend, given: Any) -> Any:
        """One call, refused with ``UnsupportedOperation`` when the backend does not declare it (even if
        the backend method it uses serves another operation the backend does declare)."""
        if not self.supported_by(backend):
            raise UnsupportedOperation(backend.why_unsupported(self.declared_as))
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
            run=_write,
            count=_stored, skip=_needs_data, reset=lambda backend: backend.clear(), cache_sensitive=False,
        ),
        Operation(
            "read", "read everything into one in-memory Arrow table", latency=False, mutates=False,
            inputs=_every_call(lambda plan: None), run=lambda backend, _: backend.read(), count=_returned,
            whole_dataset=True,
        ),
        Operation(
            "scan", "iterate over all rows in batches, one batch in memory at a time", latency=False, mutates=False,
            inputs=_every_call(lambda plan: plan.scan_batch_rows),
            run=lambda backend, rows: backend.scan(batch_rows=rows), count=_returned,
        ),
        Operation(
            "first_batch", "open a scan and have its first batch in memory (the wait before a first step)",
            latency=False, mutates=False, inputs=_every_call(lambda plan: plan.scan_batch_rows),
            run=_first_batch, count=_returned, built_on="scan",
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
            "take", f"fetch {TAKE_ROWS} rows at random positions, one training batch (latency per batch)",
            latency=True, mutates=False,
            inputs=lambda plan: iter(plan.take_positions), run=lambda backend, positions: backend.take(positions),
            count=_returned, answers=_took_every_position,
            skip=lambda plan: None if plan.take_positions else plan.notes.get("take", "no rows to take"),
        ),
        Operation(
            "shuffle", "one epoch in a seeded random order, in mini-batches read ahead by worker threads",
            latency=False, mutates=False, inputs=_every_call(lambda plan: plan.epoch),
            run=lambda backend, epoch: epoch.read(backend), count=_returned, built_on="take", default=False,
            skip=lambda plan: None if plan.epoch is not None else plan.notes.get("shuffle", "no rows to shuffle"),
        ),
        Operation(
            "decode", "a shuffled epoch with every item decoded (pixels, frames, samples, text)",
            latency=False, mutates=False, inputs=_every_call(lambda plan: plan.epoch),
            run=lambda backend, epoch: epoch.read(backend, decode=True), count=_returned, built_on="take",
            default=False, skip=_decode_skip,
        ),
        Operation(
            "feed", "emulated accelerators that each wait a step time per batch while loaders read ahead",
            latency=False, mutates=False, inputs=_every_call(lambda plan: plan.feed),
            run=lambda backend, job: job.run(backend), count=lambda job, tally: tally, built_on="take",
            default=False, skip=lambda plan: None if plan.feed is not None else "no rows to feed",
            figures=lambda plan, seconds, timed: plan.feed.figures(seconds, timed),
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
            "update", "update 1% of the rows in place by key (one transaction; a new commit on table formats)",
            latency=False, mutates=True,
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


def operations_of(backend: Backend | type[Backend]) -> list[str]:
    """The operations a backend (or backend class) can run, in run order: those it declares, and
    those built on one it declares."""
    return [name for name, op in OPERATIONS.items() if op.supported_by(backend)]
