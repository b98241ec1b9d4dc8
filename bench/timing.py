"""How many runs a figure rests on, and what is said about them: the counting rules the runner applies
(warm-ups, the time budget, the minimum of counted runs, hyperfine's first-run warning), the runs of one
operation with their memory peaks, and the throughput derived from a median."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from storeadvise.formatting import fmt_time

if TYPE_CHECKING:
    from storeadvise.bench.probes import PeakMemory
    from storeadvise.bench.results import Measurement

LATENCY_WARMUP_CALLS = 5
MIN_LATENCY_CALLS = 10
MIN_COUNTED_RUNS = 3
"""Counted runs an operation gets even once its budget is spent, when one run takes under a tenth of
the budget: a median needs a few runs to mean something, and these cost under a third of the budget."""
FIRST_RUN_FACTOR = 2.0
"""A first run slower than this many times the counted runs' median is warned about (hyperfine warns
when the first run is an outlier among the rest; with the handful of runs a budget gives, a ratio to
the median is the steadier test)."""


@dataclass
class Runs:
    """The runs of one operation so far: counted and warm-up durations, and the largest memory peaks."""

    durations: list[float] = field(default_factory=list)
    warmups: list[float] = field(default_factory=list)
    peak: int | None = None
    server_peak: int | None = None

    def count(self, seconds: float, mem: PeakMemory, server: PeakMemory | None) -> None:
        self.durations.append(seconds)
        self.add_peaks(mem, server)

    def warm_up(self, seconds: float, mem: PeakMemory, server: PeakMemory | None) -> None:
        """A warm-up's time is kept apart; its memory peak counts (the first run is the one that
        starts from released memory)."""
        self.warmups.append(seconds)
        self.add_peaks(mem, server)

    def add_peaks(self, mem: PeakMemory, server: PeakMemory | None) -> None:
        self.peak = larger_peak(self.peak, mem.peak)
        if server is not None:
            self.server_peak = larger_peak(self.server_peak, server.peak)


def larger_peak(a: int | None, b: int | None) -> int | None:
    """The larger of two peaks, either of which may be unmeasured (None)."""
    return b if a is None else a if b is None else max(a, b)


def budget_spent(durations: list[float], wall_seconds: float, max_time: float) -> bool:
    """Whether counting stops: the ``max_time`` budget is spent (set-up and warm-ups included), unless
    fewer than ``MIN_COUNTED_RUNS`` runs are counted and a run takes under a tenth of the budget;
    then a few more runs cost little and give the figure a spread."""
    if wall_seconds <= max_time:
        return False
    return len(durations) >= MIN_COUNTED_RUNS or statistics.median(durations) * 10 > max_time


def first_run_warning(warmups: list[float], durations: list[float]) -> str | None:
    """hyperfine's "first run much slower" warning: the first COUNTED run took more than
    ``FIRST_RUN_FACTOR`` times the median of the counted runs after it, so first-use costs the warm-ups
    did not absorb weigh on the figure. A slow warm-up is what warm-ups are for and is not warned
    about (its time is kept in ``extra["warmup_seconds"]``). None when no counted run follows the first."""
    first, after = durations[0], durations[1:]
    if not after:
        return None
    ratio = first / statistics.median(after) if statistics.median(after) > 0 else math.inf
    if ratio <= FIRST_RUN_FACTOR:
        return None
    advice = "consider --warmup" if not warmups else f"consider --warmup {len(warmups) + 1} or more"
    return (f"the first counted run took {fmt_time(first)}, {ratio:.1f}x the median of the rest: "
            f"first-use costs (caches, connections) weigh on this figure; {advice}")


def throughput(m: Measurement) -> None:
    """rows/s and MB/s (of the Arrow size) of a measurement, from its median."""
    if m.stats is None or m.stats.median <= 0:
        return
    m.rows_per_s = m.rows / m.stats.median if m.rows else None
    m.mb_per_s = m.arrow_bytes / m.stats.median / 1e6 if m.arrow_bytes else None
