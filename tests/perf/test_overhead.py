"""The harness's own overhead per measured operation, with a backend that does nothing.

Definition. The runner times ``call()`` only. Around each counted run it also does work that is not
in the reported time but is in the wall time of a benchmark: the progress event, the setup hook check,
the ``PeakMemory`` context (a write to ``/proc/self/clear_refs`` and two reads of ``/proc/self/status``),
list appends and the time-budget check. With the no-op backend, ``call()`` costs next to nothing, so

    overhead per run = median(wall time between consecutive "run k" events) - median(reported time)

and it is reported as a percentage of a representative cheap real operation: Parquet ``project`` on
100k rows, measured by the same runner. The limit is 2 %.
"""

from __future__ import annotations

import itertools
import statistics
import time
from typing import Any

import pairs
import pytest

import storeadvise.backends
from storeadvise.bench.datasets import sample_dataset
from storeadvise.bench.runner import BenchConfig, Runner
from storeadvise.formatting import fmt_time

LIMIT_PCT = 2.0
ROWS = 100_000
NOOP_RUNS = 300
REFERENCE_RUNS = 15


def _measure(dataset: Any, backend: str, op: str, repeat: int, scratch: Any) -> tuple[Any, list[float]]:
    """The runner's measurement of ``op``, and the times at which each counted run began."""
    starts: list[float] = []

    def on_event(name: str, event_op: str, message: str) -> None:
        if event_op == op and message.startswith("run "):
            starts.append(time.perf_counter())

    config = BenchConfig(backends=[backend], ops=[op], repeat=repeat, warmup=2, max_time=120.0, scratch_root=scratch)
    run = Runner(dataset, config, on_event=on_event).run()
    [entry] = run.backends
    measurement = next(m for m in entry.measurements if m.op == op)
    assert measurement.status == "ok", measurement.reason
    return measurement, starts


def test_runner_overhead_per_counted_run(monkeypatch: pytest.MonkeyPatch, perf_scratch: Any) -> None:
    monkeypatch.setitem(storeadvise.backends.REGISTRY, "noop", "noop:NoopBackend")
    scratch = perf_scratch / "overhead"
    scratch.mkdir(exist_ok=True)
    dataset = sample_dataset("tabular", ROWS)

    noop, starts = _measure(dataset, "noop", "read", NOOP_RUNS, scratch)
    intervals = [b - a for a, b in itertools.pairwise(starts)]
    assert len(intervals) == NOOP_RUNS - 1
    overhead = statistics.median(intervals) - noop.stats.median

    real, _ = _measure(dataset, "parquet", "project", REFERENCE_RUNS, scratch)
    pct = overhead / real.stats.median * 100
    pairs.record("overhead", {
        "overhead_per_run_s": overhead,
        "noop_call_median_s": noop.stats.median,
        "interval_median_s": statistics.median(intervals),
        "reference_op": f"parquet project, {ROWS:,} rows",
        "reference_median_s": real.stats.median,
        "overhead_pct": pct,
        "limit_pct": LIMIT_PCT,
        "runs": NOOP_RUNS,
    })
    if pct > LIMIT_PCT:
        pytest.fail(f"the runner adds {fmt_time(overhead)} per counted run, {pct:.2f}% of a parquet project "
                    f"on {ROWS:,} rows; the limit is {LIMIT_PCT}%", pytrace=False)
