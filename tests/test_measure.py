"""What a measurement means: every read-like result consumed inside the timer, time to first batch, the
warm-ups and the first-run warning, the counted-run budget, and peak memory (this process's and an
embedded server's)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
import resident_pages

import storeadvise
import storeadvise.backends
from storeadvise.backends.operations import OPERATIONS, consume
from storeadvise.bench.probes import PeakMemory
from storeadvise.bench.results import OK
from storeadvise.bench.timing import FIRST_RUN_FACTOR, MIN_COUNTED_RUNS, budget_spent, first_run_warning

KeptArrowBackend, LazyMemory = resident_pages.KeptArrowBackend, resident_pages.LazyMemory
pagemap_readable, result_buffers, absent_pages = (
    resident_pages.pagemap_readable, resident_pages.result_buffers, resident_pages.absent_pages)

needs_pagemap = pytest.mark.skipif(not pagemap_readable(), reason="no /proc/self/pagemap on this platform")
INT64_PER_PAGE = LazyMemory(1).buffer.size // 8


def lazy_int64(pages: int) -> tuple[pa.Array, LazyMemory]:
    memory = LazyMemory(pages)
    return pa.Array.from_buffers(pa.int64(), pages * INT64_PER_PAGE, [None, memory.buffer]), memory


@needs_pagemap
def test_consume_touches_every_page_of_every_buffer() -> None:
    """Values, validity bitmaps, string bytes, list children, dictionaries and struct children: each
    lives in memory nobody has read, and after ``consume`` not one of their pages is left unread."""
    page = LazyMemory(1).buffer.size
    values, value_memory = lazy_int64(64)
    validity = LazyMemory(1)  # all bits zero: every value null
    nullable = pa.Array.from_buffers(pa.int64(), 8 * page, [validity.buffer, lazy_int64(64)[0].buffers()[1]],
                                     null_count=8 * page)  # given, so that nothing counts the bits first
    text_memory = LazyMemory(32)  # 32 strings of one page of NUL bytes each
    offsets = pa.array([i * page for i in range(33)], pa.int32()).buffers()[1]
    strings = pa.Array.from_buffers(pa.string(), 32, [None, offsets, text_memory.buffer])
    child, child_memory = lazy_int64(16)
    lists = pa.ListArray.from_arrays(pa.array([0, 8 * INT64_PER_PAGE, 16 * INT64_PER_PAGE], pa.int32()), child)
    dictionary, dictionary_memory = lazy_int64(8)
    encoded = pa.DictionaryArray.from_arrays(pa.array([0, 1, 2], pa.int32()), dictionary)
    field, field_memory = lazy_int64(4)
    struct = pa.StructArray.from_arrays([field], names=["f"])
    lazy = [value_memory, validity, text_memory, child_memory, dictionary_memory, field_memory]
    results = [pa.table({"c": column}) for column in (values, nullable, strings, lists, encoded, struct)]
    assert all(memory.absent() > 0 for memory in lazy), [memory.absent() for memory in lazy]

    tally = consume(iter(results))

    assert [memory.absent() for memory in lazy] == [0] * len(lazy)
    assert tally.rows == sum(t.num_rows for t in results)


@needs_pagemap
def test_consume_reads_only_what_a_slice_uses() -> None:
    """One row cut from a large array (a lookup's answer) costs one page, not the whole buffer."""
    values, memory = lazy_int64(64)
    consume(pa.table({"c": values}).slice(10, 1))
    assert memory.absent() == 63


@needs_pagemap
def test_a_memory_mapped_backend_is_read_inside_the_timed_runs(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The Arrow backend returns memory-mapped batches before reading a byte of them. Every table and batch
    it returned has every page read, and the read's peak memory (measured around the timed call only)
    holds the data: the reading happened while the clock ran, so returning without reading does not
    look fast."""
    monkeypatch.setitem(storeadvise.backends.REGISTRY, "kept_arrow", "resident_pages:KeptArrowBackend")
    monkeypatch.setattr(KeptArrowBackend, "returned", [])
    run = storeadvise.benchmark(sample="tabular", rows=40_000, backends=["kept_arrow"],
                                ops="write,read,scan,first_batch", repeat=2, warmup=1, out=tmp_path / "r.json")
    by_op = {m.op: m for m in run.backends[0].measurements}
    assert all(by_op[op].status == OK for op in ("read", "scan", "first_batch")), by_op
    assert KeptArrowBackend.returned
    for result in KeptArrowBackend.returned:
        assert [b.address for b in result_buffers(result) if absent_pages(b.address, b.size)] == []
    arrow_bytes = run.dataset["arrow_bytes"]
    assert by_op["read"].peak_memory_bytes >= arrow_bytes // 2, (by_op["read"].peak_memory_bytes, arrow_bytes)


def test_time_to_first_batch_is_an_operation_of_every_backend_that_scans(tmp_path: Path) -> None:
    """Built on scan: a backend that declares scan runs it, with no code of its own; it moves one batch."""
    op = OPERATIONS["first_batch"]
    assert op.built_on == "scan" and not op.latency
    run = storeadvise.benchmark(sample="tabular", rows=2_000, backends=["parquet", "csv", "sqlite"],
                                ops="write,first_batch", repeat=2, warmup=0, out=tmp_path / "r.json")
    for entry in run.backends:
        [m] = [m for m in entry.measurements if m.op == "first_batch"]
        assert m.status == OK and 0 < m.rows <= 2_000, (entry.backend, m.status, m.reason, m.rows)
        assert "first_batch" in entry.description["supports"]


def test_warmups_are_kept_and_counted_runs_without_one_are_marked(tmp_path: Path) -> None:
    warmed = storeadvise.benchmark(sample="tabular", rows=500, backends=["csv"], ops="write,read", repeat=2,
                                   warmup=2, out=tmp_path / "a.json")
    cold = storeadvise.benchmark(sample="tabular", rows=500, backends=["csv"], ops="write,read", repeat=2,
                                 warmup=0, out=tmp_path / "b.json")
    for m in warmed.backends[0].measurements:
        assert m.extra["warmup_runs"] == 2 and len(m.extra["warmup_seconds"]) == 2, m.extra
    for m in cold.backends[0].measurements:
        assert m.extra["warmup_runs"] == 0 and m.extra["warmup_seconds"] == [], m.extra


def test_a_much_slower_first_run_is_warned_about() -> None:
    slow = FIRST_RUN_FACTOR * 1.5
    assert first_run_warning([slow], [1.0, 1.0, 1.1]) is None  # a slow warm-up is what it is for
    warmed = first_run_warning([1.0], [slow, 1.0, 1.1])
    assert warmed is not None and "--warmup 2" in warmed and "\n" not in warmed
    unwarmed = first_run_warning([], [slow, 1.0, 1.0])
    assert unwarmed is not None and "consider --warmup" in unwarmed
    assert first_run_warning([], [FIRST_RUN_FACTOR * 0.9, 1.0, 1.0]) is None
    assert first_run_warning([], [slow]) is None  # nothing after it to compare with


def test_the_budget_keeps_counting_quick_operations_to_a_few_runs() -> None:
    assert not budget_spent([0.1], wall_seconds=4.0, max_time=5.0)
    assert not budget_spent([0.1], wall_seconds=9.0, max_time=5.0), "a quick run under a spent budget"
    assert budget_spent([0.1] * MIN_COUNTED_RUNS, wall_seconds=9.0, max_time=5.0)
    assert budget_spent([0.6], wall_seconds=9.0, max_time=5.0), "a run over a tenth of the budget"


def test_default_budgets_give_quick_operations_at_least_three_counted_runs(tmp_path: Path) -> None:
    run = storeadvise.benchmark(sample="tabular", rows=300, backends=["parquet", "sqlite"], lookups=10,
                                out=tmp_path / "r.json")
    for entry in run.backends:
        for m in entry.measurements:
            if m.status == OK:
                assert m.stats.n >= MIN_COUNTED_RUNS, (entry.backend, m.op, m.stats.n, m.extra)


def test_peak_memory_catches_a_peak_freed_before_the_block_ends() -> None:
    size = 48 * 2**20
    with PeakMemory() as mem:
        data = b"x" * size
        del data
    if mem.peak is None:
        pytest.skip("no resettable resident high-water mark on this platform")
    assert mem.peak >= size * 0.9


def test_peak_memory_of_a_read_holds_what_was_read(tmp_path: Path) -> None:
    """Parquet decodes into Arrow's pool, which keeps what earlier runs (the write) freed and reuses it
    without growing: the pool is released before the operation's first run, so the peak is the data
    read, not the 0 a reused pool shows. 0 B is a measured figure; None is kept for a platform that
    cannot measure."""
    run = storeadvise.benchmark(sample="tabular", rows=150_000, backends=["parquet"], ops="write,read", repeat=2,
                                warmup=1, out=tmp_path / "r.json")
    read = next(m for m in run.backends[0].measurements if m.op == "read")
    assert read.peak_memory_bytes is not None
    assert read.peak_memory_bytes >= run.dataset["arrow_bytes"] // 2, (read.peak_memory_bytes,
                                                                        run.dataset["arrow_bytes"])


@pytest.mark.server
def test_an_embedded_server_memory_is_reported_beside_the_process(tmp_path: Path) -> None:
    run = storeadvise.benchmark(sample="tabular", rows=300, backends=["mongo"], ops="write,read", repeat=1,
                                warmup=0, out=tmp_path / "r.json")
    [entry] = run.backends
    assert entry.status == OK, entry.reason
    for m in entry.measurements:
        assert m.extra["server_rss_bytes"] > 0, m.extra
        assert m.extra["server_peak_memory_bytes"] is not None, m.extra
