"""Interleaved A/B timing, the ratio gate, and the suite's saved results.

Why interleave: on a shared machine the same code path moves between runs by more than the gate allows
(docs/decisions.md, 'Perf suite: interleaved pairs, a time budget per case, settling pairs'), so timing
all of A and then all of B measures the machine's mood as much as the code. Here the two sides run
alternately, each pair sees the same machine state, and the gate uses the median of the per-pair ratios
storeadvise / direct, which is robust to a few disturbed pairs. The order within a pair alternates
(B A, A B, B A, ...), so that whatever the first run of a pair leaves behind (a warm cache, garbage,
an open database) favours each side equally often; a garbage collection runs before every timed run
and outside the timer.

How many pairs: enough for the median to settle, within a time budget per case. A case gets
``budget / (2 x sample)`` pairs, at least ``MIN_PAIRS`` and at most ``MAX_PAIRS`` (an odd number, so the
median is one pair's ratio); a sample is the reference's selection median. Reads shorter than
``MIN_SAMPLE_SECONDS`` are repeated within one timed sample (both sides the same number of times), as
``timeit`` does, so that a 1 ms read is not timed at the clock's and the scheduler's granularity.
Each case also reports a distribution-free 95% interval of its median ratio. When that interval
straddles the limit, the first pairs could not settle the verdict either way (with 37 cases, a few
do in every run on a shared machine), so the case runs more pairs, as many as twice its budget pays
for (at most ``SETTLE_MAX_PAIRS`` in all), and the verdict is the median over all of them, pass or
fail. ``STOREADVISE_PERF_PAIRS`` fixes the count (no settling pairs).

How pytest-benchmark fits in: ``benchmark.pedantic`` times the storeadvise side (it is the recorded
timing of the test), and its per-round ``setup`` hook runs the reference side, timed by our own
clock and outside pytest-benchmark's timer. One loop therefore gives the interleaved pairs and the
pytest-benchmark record of the same runs; the reference's timings go into ``benchmark.extra_info``.

Choosing the reference: every direct library call of a case (pyarrow, polars, DuckDB, pandas, ...)
runs once as a warm-up, candidates more than ``PRUNE_FACTOR`` times slower than the best warm-up are
recorded with that one time and not run again (they cannot be the fastest), and the rest run
``SELECT_ROUNDS`` counted rounds in turn. The fastest median is the reference of the pair loop; the
others stay in the results as the losers.

Results: ``SESSION`` collects every record; ``conftest.py`` saves it as ``results/bench-<stamp>.json``
(plus a Markdown table for the README), compares it with the newest earlier ``bench-*.json`` and
prints the ratio table.
"""

from __future__ import annotations

import gc
import json
import math
import os
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from time import perf_counter
from typing import Any

from storeadvise.formatting import fmt_time, markdown_table

FILE_THRESHOLD = 1.10
"""Largest accepted median ratio storeadvise / fastest direct call for file and embedded-database backends."""
SERVER_THRESHOLD = 1.15
"""The same for the message-at-a-time server backends (MongoDB, Kafka): the network and the server add noise."""
SERVERS_AT_FILE_THRESHOLD = frozenset({"postgres", "redis"})
"""Server backends held to ``FILE_THRESHOLD``: their direct calls are the same client library on the same
connection kind, so what is left between the two sides is storeadvise's own work."""
PRUNE_FACTOR = 3.0
MIN_PAIRS = 9
MAX_PAIRS = 41
CASE_SECONDS = {"file": 6.0, "database": 6.0, "server": 30.0}
"""Time budget of a case's counted pairs by backend kind. The servers' pair ratios spread several times
wider (the embedded server shares the two cores with the client; docs/decisions.md, 'Perf suite:
interleaved pairs, a time budget per case, settling pairs'), so they get more pairs; a file case
reaches ``MAX_PAIRS`` in well under its budget when it is quick."""
SETTLE_BUDGET_FACTOR = 2.0
SETTLE_MAX_PAIRS = 81
MIN_SAMPLE_SECONDS = 0.05
WRITE_BATCH_ROWS = 65_536
"""Rows per record batch of the suite's table: the batches the runner writes. Both sides of a write get
this same table, so a direct call pays for the same input shape as storeadvise (a library that is
faster on one contiguous chunk may combine the chunks itself, inside its timing)."""
SCHEMA = "storeadvise-perf/1"


def env_int(name: str, default: int) -> int:
    """A positive integer from the environment (the suite's knobs: rows, pairs)."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    number = int(value.replace("_", ""))
    if number < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return number


def file_rows() -> int:
    return env_int("STOREADVISE_PERF_ROWS", 500_000)


def server_rows() -> int:
    """20k by default: the embedded MongoDB (SecantusDB) stores about 4k rows/s, and a write case runs
    two dozen writes."""
    return env_int("STOREADVISE_PERF_SERVER_ROWS", 20_000)


def fixed_pair_count() -> int | None:
    """``STOREADVISE_PERF_PAIRS`` when set: every case runs that many pairs instead of its budget's."""
    if not os.environ.get("STOREADVISE_PERF_PAIRS", "").strip():
        return None
    return env_int("STOREADVISE_PERF_PAIRS", MIN_PAIRS)


@dataclass(frozen=True)
class PairPlan:
    """How a case is timed: ``pairs`` counted pairs, each sample ``calls`` runs of a side."""

    pairs: int
    calls: int = 1


def plan_pairs(sample_s: float, kind: str, repeatable: bool) -> PairPlan:
    """Pairs and calls per sample for a case whose one run takes about ``sample_s`` (see the module
    docstring). ``repeatable``: both sides can run back to back without a setup (reads)."""
    calls = max(1, math.ceil(MIN_SAMPLE_SECONDS / max(sample_s, 1e-6))) if repeatable else 1
    fixed = fixed_pair_count()
    if fixed is not None:
        return PairPlan(fixed, calls)
    budget = CASE_SECONDS.get(kind, CASE_SECONDS["file"])
    wanted = math.ceil(budget / (2 * sample_s * calls))
    count = min(MAX_PAIRS, max(MIN_PAIRS, wanted))
    return PairPlan(count | 1, calls)  # odd: the median is one pair's ratio


def straddles(interval: tuple[float, float], threshold: float) -> bool:
    """Whether a median ratio's interval holds values on both sides of the gate."""
    low, high = interval
    return low <= threshold < high


def settling_pairs(pairs: PairResult, threshold: float, sample_s: float, kind: str) -> int:
    """More pairs for a case the first ones did not settle (see the module docstring): 0 when the
    interval lies on one side of the gate or the pair count is fixed; otherwise as many as twice the
    case's budget pays for, up to ``SETTLE_MAX_PAIRS`` in all."""
    if fixed_pair_count() is not None or not straddles(pairs.ratio_interval, threshold):
        return 0
    budget = SETTLE_BUDGET_FACTOR * CASE_SECONDS.get(kind, CASE_SECONDS["file"])
    room = SETTLE_MAX_PAIRS - len(pairs.ratios)
    return max(0, min(room, math.ceil(budget / (2 * sample_s))))


def median_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """A distribution-free ``confidence`` interval of the median of ``values``: the order statistics
    x(j) and x(n+1-j), j the largest index with P(Binomial(n, 1/2) < j) <= (1 - confidence) / 2
    (at least 1: with few values the interval is their whole range)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    n = len(ordered)
    tail = (1 - confidence) / 2

    def at_most(k: int) -> float:  # P(Binomial(n, 1/2) <= k)
        return sum(math.comb(n, i) for i in range(k + 1)) / 2**n

    j = 1
    while j < (n + 1) // 2 and at_most(j) <= tail:
        j += 1
    return ordered[j - 1], ordered[n - j]


def select_rounds() -> int:
    return env_int("STOREADVISE_PERF_SELECT_ROUNDS", 2)


def threshold_for(kind: str, backend: str = "") -> float:
    """The gate of a backend of a kind (``file``, ``database`` or ``server``)."""
    return SERVER_THRESHOLD if kind == "server" and backend not in SERVERS_AT_FILE_THRESHOLD else FILE_THRESHOLD


@dataclass
class Side:
    """One way of doing the work: a call, and what must happen before each run outside the timer."""

    name: str
    call: Callable[[], Any]
    setup: Callable[[], Any] | None = None
    gate: bool = True
    """False: measured and shown, but never the reference of the gate (e.g. another client library
    than the backend's, kept for information)."""
    note: str = ""
    rows: int | None = None
    """Rows returned by the last run (reads), to check that both sides did the same work."""


def returned_rows(result: Any) -> int | None:
    """Rows in what a read returned: a table, or a list of tables (one per looked-up key)."""
    if hasattr(result, "num_rows"):
        return int(result.num_rows)
    if isinstance(result, list) and all(hasattr(r, "num_rows") for r in result):
        return sum(int(r.num_rows) for r in result)
    return None


def timed(side: Side, calls: int = 1) -> float:
    """Seconds per run of ``side.call``, timed over ``calls`` runs back to back (its setup runs first,
    and a garbage collection, both untimed)."""
    if side.setup is not None:
        side.setup()
    gc.collect()
    seconds, result = time_calls(side.call, calls)
    side.rows = returned_rows(result)
    return seconds


def time_calls(call: Callable[[], Any], calls: int) -> tuple[float, Any]:
    """Seconds per run of ``call`` over ``calls`` runs back to back, and what the last run returned.
    A run ends when what it read is in memory: its result goes through ``consumed`` inside the timing,
    whichever side it is."""
    t0 = perf_counter()
    for _ in range(calls):
        result = consumed(call())
    return (perf_counter() - t0) / calls, result


def consumed(result: Any) -> Any:
    """``result`` after the runner's consumer read it (``backends.operations.consume``: every page of
    every buffer), when it is what a read returns (a table, or a list of tables, one per looked-up
    key); anything else (a write's None) as it is. Both sides of every pair go through it, so a
    zero-copy result is not compared with one that was read."""
    from storeadvise.backends.operations import consume

    if returned_rows(result) is not None:
        consume(result)
    return result


def choose_fastest(candidates: list[Side], rounds: int | None = None) -> tuple[Side, dict[str, dict[str, Any]]]:
    """The fastest gate-eligible candidate, and every candidate's timings (see the module docstring)."""
    if not candidates:
        raise ValueError("a case needs at least one direct call")
    rounds = rounds or select_rounds()
    warm: dict[str, float] = {}
    failed: dict[str, str] = {}
    for c in candidates:
        try:
            warm[c.name] = timed(c)
        except Exception as exc:  # a library that cannot do this work here is a finding, not a crash
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            failed[c.name] = f"failed: {type(exc).__name__}: {first}"
    if not warm:
        raise RuntimeError(f"every direct call failed: {failed}")
    gated = [warm[c.name] for c in candidates if c.gate and c.name in warm]
    best = min(gated or warm.values())
    keep = [c for c in candidates if c.name in warm and warm[c.name] <= best * PRUNE_FACTOR]
    times: dict[str, list[float]] = {c.name: [] for c in keep}
    for _ in range(rounds):
        for c in keep:
            times[c.name].append(timed(c))
    summary = {c.name: _candidate_summary(c, warm, failed, times) for c in candidates}
    measured = [c for c in candidates if c.name in warm]
    eligible = [c for c in measured if c.gate] or measured
    fastest = min(eligible, key=lambda c: summary[c.name]["median_s"])
    return fastest, summary


def _candidate_summary(c: Side, warm: dict[str, float], failed: dict[str, str],
                       times: dict[str, list[float]]) -> dict[str, Any]:
    """One candidate's line of ``choose_fastest``'s summary: its median, runs, gate and notes."""
    if c.name in failed:
        entry: dict[str, Any] = {"median_s": None, "runs": 0, "note": failed[c.name]}
    elif c.name in times:
        entry = {"median_s": statistics.median(times[c.name]), "runs": len(times[c.name])}
    else:
        entry = {"median_s": warm[c.name], "runs": 1, "note": "pruned after its warm-up run"}
    entry["gate"] = c.gate
    if c.note:
        entry["note"] = (entry.get("note", "") + "; " + c.note).lstrip("; ")
    return entry


@dataclass
class PairResult:
    """Interleaved timings of storeadvise (``a``) and its reference (``b``), seconds per run."""

    a: list[float] = field(default_factory=list)
    b: list[float] = field(default_factory=list)
    calls: int = 1
    """Runs per timed sample (short reads are repeated, see the module docstring)."""

    @property
    def ratios(self) -> list[float]:
        return [x / y for x, y in zip(self.a, self.b, strict=True) if y > 0]

    @property
    def median_ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def ratio_interval(self) -> tuple[float, float]:
        return median_interval(self.ratios)


def interleave(benchmark: Any, a: Side, b: Side, plan: PairPlan, warmup: int = 1) -> PairResult:
    """``plan.pairs`` counted pairs of ``a`` and ``b`` (after ``warmup`` uncounted ones), the order
    within a pair alternating: B A, A B, B A, ... ``a`` is what ``benchmark`` records (``plan.calls``
    runs per round). Without a pytest-benchmark fixture (``benchmark=None``) the same loop runs on our
    clock alone."""
    pairing = _Pairing(a, b, plan.calls, warmup)
    if benchmark is None:
        for _ in range(plan.pairs + warmup):
            pairing.before_a()
            pairing.run_a()
    else:
        benchmark.pedantic(pairing.run_a, setup=pairing.before_a, rounds=plan.pairs, warmup_rounds=warmup)
    pairing.finish()
    result = pairing.result
    if benchmark is not None:
        low, high = result.ratio_interval
        benchmark.extra_info.update(
            reference=b.name,
            reference_median_s=statistics.median(result.b),
            median_pair_ratio=result.median_ratio,
            ratio_interval_95=[low, high],
            calls_per_round=plan.calls,
        )
    return result


class _Pairing:
    """The state of ``interleave``: which round runs, and whether the previous pair's B is still due."""

    def __init__(self, a: Side, b: Side, calls: int, warmup: int) -> None:
        self.a, self.b, self.calls = a, b, calls
        self.result = PairResult(calls=calls)
        self.round = -warmup  # negative rounds are the uncounted warm-up pairs
        self.b_pending = False

    def run_b(self, round_index: int) -> None:
        seconds = timed(self.b, self.calls)
        if round_index >= 0:
            self.result.b.append(seconds)

    def before_a(self) -> None:
        if self.b_pending:  # the previous pair ran A first; its B runs now, before this pair
            self.run_b(self.round - 1)
        b_first = self.round % 2 == 0
        if b_first:
            self.run_b(self.round)
        self.b_pending = not b_first
        if self.a.setup is not None:
            self.a.setup()
        gc.collect()

    def run_a(self) -> None:
        seconds, returned = time_calls(self.a.call, self.calls)
        self.a.rows = returned_rows(returned)
        if self.round >= 0:
            self.result.a.append(seconds)
        self.round += 1

    def finish(self) -> None:
        if self.b_pending:
            self.run_b(self.round - 1)


def storeadvise_side(backend: Any, op: str, plan: Any, keys: list) -> Side:
    """The backend object driven through the operations table (not the CLI): one call with its input
    from ``plan``, after the operation's reset (a write starts from an empty store; untimed); a latency
    operation's run is one call per item of ``keys``. Its result is consumed by ``time_calls``, as the
    direct calls' are (the runner's counting beyond that is harness work the direct calls do not do).
    The suite's plan writes its table in ``WRITE_BATCH_ROWS``-row batches, as the runner does."""
    from storeadvise.backends.operations import OPERATIONS

    operation = OPERATIONS[op]
    setup = (lambda: operation.reset(backend)) if operation.reset else None
    if operation.latency:
        return Side("storeadvise", lambda: [operation.call(backend, k) for k in keys], setup=setup)
    given = next(operation.inputs(plan))
    return Side("storeadvise", lambda: operation.call(backend, given), setup=setup)


# -- the session's records -------------------------------------------------------------------------------
SESSION: dict[str, list[dict[str, Any]]] = {"cases": [], "pandas": [], "startup": [], "overhead": []}


@dataclass
class CaseResult:
    """One (dataset, backend, operation): storeadvise against the fastest direct call."""

    backend: str
    op: str
    kind: str
    rows: int
    storeadvise_median_s: float
    reference: str
    reference_median_s: float
    median_ratio: float
    ratio_interval_95: list[float]
    """Distribution-free 95% interval of the median ratio (see ``median_interval``)."""
    pair_ratios: list[float]
    calls_per_sample: int
    settling_pairs: int
    """Of ``pair_ratios``, how many were added because the first ones straddled the limit."""
    threshold: float
    passed: bool
    direct: dict[str, dict[str, Any]]
    notes: str = ""
    dataset: str = "tabular"
    """Which of the suite's datasets (tests/perf/shapes.py) the case ran on."""

    def message(self) -> str:
        low, high = self.ratio_interval_95
        return (
            f"storeadvise {self.backend} {self.op} on {self.dataset} takes {self.median_ratio:.2f}x the time of "
            f"the fastest direct call ({self.reference}; 95% interval {low:.2f}-{high:.2f} over "
            f"{len(self.pair_ratios)} pairs); the limit is {self.threshold:.2f}x"
            + (f" ({self.notes})" if self.notes else "")
        )


def run_case(
    benchmark: Any, backend: str, op: str, kind: str, rows: int, storeadvise: Side, direct: list[Side],
    notes: str = "", dataset: str = "tabular", threshold: float | None = None,
) -> CaseResult:
    """Pick the fastest direct call, run the interleaved pairs against it, record the result (against
    ``threshold``, else the gate of the backend's kind)."""
    reference, summary = choose_fastest(direct)
    repeatable = storeadvise.setup is None and reference.setup is None
    sample_s = summary[reference.name]["median_s"]
    plan = plan_pairs(sample_s, kind, repeatable)
    pairs = interleave(benchmark, storeadvise, reference, plan)
    threshold = threshold or threshold_for(kind, backend)
    extra = settling_pairs(pairs, threshold, sample_s * plan.calls, kind)
    if extra:
        more = interleave(None, storeadvise, reference, PairPlan(extra, plan.calls), warmup=0)
        pairs.a += more.a
        pairs.b += more.b
    ratio = pairs.median_ratio
    for side in direct:
        if side.name in summary and side.rows is not None and storeadvise.rows is not None:
            summary[side.name]["rows_returned"] = side.rows
            if side.rows != storeadvise.rows:
                summary[side.name]["note"] = (
                    summary[side.name].get("note", "") + f"; returned {side.rows} rows, storeadvise {storeadvise.rows}"
                ).lstrip("; ")
    if storeadvise.rows is not None and reference.rows is not None and storeadvise.rows != reference.rows:
        notes = (notes + "; " if notes else "") + (
            f"the reference returned {reference.rows} rows and storeadvise {storeadvise.rows}: not the same work"
        )
    result = CaseResult(
        backend=backend,
        op=op,
        kind=kind,
        rows=rows,
        storeadvise_median_s=statistics.median(pairs.a),
        reference=reference.name,
        reference_median_s=statistics.median(pairs.b),
        median_ratio=ratio,
        ratio_interval_95=[round(x, 4) for x in pairs.ratio_interval],
        pair_ratios=[round(r, 4) for r in pairs.ratios],
        calls_per_sample=pairs.calls,
        settling_pairs=extra,
        threshold=threshold,
        passed=ratio <= threshold,
        direct=summary,
        notes=notes,
        dataset=dataset,
    )
    SESSION["cases"].append(asdict(result))
    return result


def record(section: str, entry: dict[str, Any]) -> None:
    """Add a pandas, startup or overhead record to this run's results."""
    SESSION[section].append(entry)


# -- saving, comparing, rendering ------------------------------------------------------------------------
def stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def previous_run(results_dir: Path, exclude: Path | None = None) -> Path | None:
    """The newest earlier ``bench-*.json`` (names sort by their UTC stamp)."""
    runs = sorted(p for p in results_dir.glob("bench-*.json") if p != exclude)
    return runs[-1] if runs else None


def attach_pandas(session: dict[str, list[dict[str, Any]]]) -> None:
    """Give each case the pandas default's median and paired ratio for the same format and operation
    (the pandas cases run on the tabular sample only)."""
    by_key = {(p["backend"], p["op"]): p for p in session["pandas"]}
    for case in session["cases"]:
        pandas = by_key.get((case["backend"], case["op"]), {}) if case_dataset(case) == "tabular" else {}
        case["pandas_median_s"] = pandas.get("pandas_median_s")
        case["pandas_ratio"] = pandas.get("median_ratio")


def save(results_dir: Path, session: dict[str, list[dict[str, Any]]], environment: dict[str, Any]) -> Path:
    """Write ``bench-<stamp>.json``; returns its path."""
    results_dir.mkdir(parents=True, exist_ok=True)
    attach_pandas(session)
    path = results_dir / f"bench-{stamp()}.json"
    document = {"schema": SCHEMA, "saved_at": stamp(), "environment": environment, **session}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def case_dataset(case: dict[str, Any]) -> str:
    """The dataset of a saved case (runs saved before the suite had several datasets: the tabular sample)."""
    return case.get("dataset", "tabular")


def case_key(case: dict[str, Any]) -> tuple[str, str, str]:
    return case_dataset(case), case["backend"], case["op"]


def compare(current: dict[str, Any], earlier: dict[str, Any]) -> list[str]:
    """One line per case present in both runs: how the storeadvise median and the ratio moved."""
    old = {case_key(c): c for c in earlier.get("cases", [])}
    lines = []
    for case in current.get("cases", []):
        before = old.get(case_key(case))
        name = f"{case_dataset(case):>8} {case['backend']:>8} {case['op']:<8}"
        if before is None or not before.get("storeadvise_median_s"):
            continue
        if before.get("rows") != case.get("rows"):
            lines.append(f"{name} not comparable: {before.get('rows')} rows then, "
                         f"{case.get('rows')} now")
            continue
        change = case["storeadvise_median_s"] / before["storeadvise_median_s"] - 1
        lines.append(
            f"{name} storeadvise {before['storeadvise_median_s']:.4f}s -> "
            f"{case['storeadvise_median_s']:.4f}s ({change:+.0%}); ratio {before['median_ratio']:.2f} -> "
            f"{case['median_ratio']:.2f}"
        )
    return lines


def pair_label(case: dict[str, Any]) -> str:
    """Pairs of a case: ``11``, or ``11+24`` when 24 settling pairs followed the first 11."""
    extra = case.get("settling_pairs") or 0
    first = len(case["pair_ratios"]) - extra
    return f"{first}+{extra}" if extra else str(first)


def ratio_rows(session: dict[str, list[dict[str, Any]]]) -> list[list[str]]:
    """The table of cases: dataset, backend, op, storeadvise, fastest direct, ratio and its interval, pairs, limit,
    verdict, vs pandas."""
    rows = []
    for c in session["cases"]:
        pandas = c.get("pandas_ratio")
        rows.append([
            case_dataset(c), c["backend"], c["op"], fmt_time(c["storeadvise_median_s"]), c["reference"],
            fmt_time(c["reference_median_s"]),
            f"{c['median_ratio']:.2f}", "{:.2f}-{:.2f}".format(*c["ratio_interval_95"]), pair_label(c),
            f"{c['threshold']:.2f}", "ok" if c["passed"] else "SLOWER",
            f"{pandas:.2f}" if pandas else "-",
        ])
    return rows


CASE_HEADER = ["dataset", "backend", "op", "storeadvise", "fastest direct", "direct", "ratio", "95% interval", "pairs",
               "limit", "verdict", "vs pandas"]
PANDAS_HEADER = ["format", "op", "storeadvise", "pandas default", "pandas", "ratio"]


def pandas_rows(session: dict[str, list[dict[str, Any]]]) -> list[list[str]]:
    return [
        [p["backend"], p["op"], fmt_time(p["storeadvise_median_s"]), p["pandas_call"], fmt_time(p["pandas_median_s"]),
         f"{p['median_ratio']:.2f}"]
        for p in session["pandas"]
    ]


def text_table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()  # noqa: E731
    return [line(header), line(["-" * w for w in widths]), *map(line, rows)]


def info_lines(session: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Direct calls outside the gate (another client library, or not the same work) that beat storeadvise."""
    lines = []
    for c in session["cases"]:
        for name, d in c["direct"].items():
            if not d.get("gate", True) and d.get("median_s") and d["median_s"] < c["storeadvise_median_s"]:
                lines.append(
                    f"{case_dataset(c)} {c['backend']} {c['op']}: {name} took {fmt_time(d['median_s'])}, storeadvise "
                    f"{fmt_time(c['storeadvise_median_s'])} ({c['storeadvise_median_s'] / d['median_s']:.1f}x); "
                    f"{d.get('note', '')}"
                )
    return lines


def other_lines(session: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Startup and harness-overhead results, one line each."""
    lines = [
        f"startup `{s['command']}`: median {fmt_time(s['median_s'])} over {s['runs']} runs "
        f"(limit {fmt_time(s['limit_s'])})"
        for s in session["startup"]
    ]
    lines += [
        f"harness overhead: {fmt_time(o['overhead_per_run_s'])} per counted run = {o['overhead_pct']:.2f}% of "
        f"{o['reference_op']} ({fmt_time(o['reference_median_s'])}); limit {o['limit_pct']:.0f}%"
        for o in session["overhead"]
    ]
    return lines


def markdown(session: dict[str, list[dict[str, Any]]], environment: dict[str, Any]) -> str:
    """The Markdown summary to paste into the README."""
    rows = session["cases"][0]["rows"] if session["cases"] else None
    out = ["# storeadvise against direct library calls", ""]
    if rows:
        datasets = environment.get("datasets_note", "Generated tabular sample")
        out += [f"{datasets}; {environment.get('rows_note', '')}", ""]
    out += [
        "Ratio = median over interleaved pairs of (storeadvise time / fastest direct call time); "
        "below 1 storeadvise is faster. \"95% interval\" is a distribution-free interval of that median; "
        "\"vs pandas\" is the same kind of ratio against the pandas default (next table).", "",
        *markdown_table(CASE_HEADER, ratio_rows(session)), "",
    ]
    if session["pandas"]:
        out += ["## storeadvise against the pandas default", "",
                "Ratio = storeadvise time / pandas default time (pandas starts from / ends at a DataFrame).", "",
                *markdown_table(PANDAS_HEADER, pandas_rows(session)), ""]
    info = info_lines(session)
    if info:
        out += ["## Faster paths outside the gate", "", *(f"- {line}" for line in info), ""]
    extra = other_lines(session)
    if extra:
        out += ["## Startup and harness overhead", "", *(f"- {line}" for line in extra), ""]
    return "\n".join(out)
