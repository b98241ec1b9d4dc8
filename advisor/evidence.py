"""Evidence: measured numbers on the user's data that confirm or overturn the rules' ranking.

``gather_evidence`` runs the harness's purpose profile on the top candidates that have a backend;
``apply_evidence`` is pure (a finished ``Run`` in, a re-ranked recommendation out), so it can be tested
on a hand-built run. Each purpose is judged by the one number its definition names
(``storeadvise.purposes``: lookup p99 for online, scan throughput for training, ...); this module
reads that number from the run and compares the candidates on it.

A backend whose round trip was flagged ranks after every clean one, whatever its speed. Re-ranking keeps
options that were not measured (memory, files index, ...) where the rules put them, and reorders the
measured ones among the places they held.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storeadvise.advisor.engine import Recommendation, candidate_backends, unmeasured_note
from storeadvise.formatting import fmt_bytes, fmt_count, fmt_time
from storeadvise.modalities import MEDIA_SAMPLE_KINDS, SAMPLE_KINDS
from storeadvise.purposes import PURPOSES, Metric
from storeadvise.units import parse_count

if TYPE_CHECKING:
    from storeadvise.bench.api import BackendRun, Measurement, Run

DEFAULT_SAMPLE_ROWS = 10_000
DEFAULT_SAMPLE_ITEMS = 500
DEFAULT_ITEM_BYTES = 100_000
EVIDENCE_CLIENTS = (1, 4)
"""With ``--readers many`` or ``--writers many`` for online serving, the candidates are also measured with
this many client processes at once (``bench --clients``): one, and more than this machine's cores hold
without queueing, for a small one."""
MARGIN = 0.10
"""A measurement overturns the rules only if the winner beats the rules' favourite by at least this
fraction (and, for a tail-latency metric, is not slower at the median), so that run-to-run noise does
not reorder the advice; docs/decisions.md records how far results move between runs."""


@dataclass(frozen=True)
class Statistic:
    """How to read one statistic from an operation's measurement, and how to show its value."""

    read: Callable[[Measurement], float | None]
    show: Callable[[float], str]


def _timing(attr: str) -> Callable[[Measurement], float | None]:
    return lambda m: getattr(m.stats, attr) if m.stats is not None else None



STATISTICS: dict[str, Statistic] = {
    "median": Statistic(_timing("median"), fmt_time),
    "p99": Statistic(_timing("p99"), fmt_time),
    "rows_per_s": Statistic(lambda m: m.rows_per_s, lambda v: f"{fmt_count(v)} rows/s"),
    "items_per_s": Statistic(lambda m: m.rows_per_s, lambda v: f"{fmt_count(v)} items/s"),
    "bytes_at_rest": Statistic(lambda m: m.bytes_at_rest, fmt_bytes),
}
"""The statistics a purpose's metric can name (``purposes.Metric.statistic``)."""


def _total(statistic: str, ops: Sequence[str], by_op: dict[str, Any]) -> float | None:
    """``statistic`` summed over ``ops``; None when one of them lacks it."""
    values = [STATISTICS[statistic].read(by_op[op]) for op in ops]
    if any(v is None for v in values):
        return None
    return sum(values[1:], values[0])


@dataclass
class EvidenceRow:
    """One measured candidate: its rule place beside its measured place."""

    option: str
    rule_rank: int
    rule_score: float
    value: float | None = None
    display: str = "-"
    status: str = "ok"  # ok | flagged | not measured
    note: str = ""
    measured_rank: int | None = None
    median: float | None = None  # the cross-check value, for tail-latency metrics

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Evidence:
    """What the benchmark said about the candidates, for one purpose."""

    purpose: str
    metric: str
    unit: str
    lower_is_better: bool
    rows: list[EvidenceRow] = field(default_factory=list)
    overturned: bool = False
    message: str = ""
    run_id: str = ""
    dataset: str = ""
    concurrency: str = ""
    """With many readers or writers: what the measurement with several clients at once said (``load``)."""
    load: list[dict[str, Any]] = field(default_factory=list)
    """Per candidate and client count: mix, requests/s, p99 and status of the several-client steps."""
    problems: list[str] = field(default_factory=list)
    """Why the measurement run is partial (``Run.problems``: a candidate skipped or failed); empty when complete."""

    def to_dict(self) -> dict[str, Any]:
        return {**{k: v for k, v in self.__dict__.items() if k != "rows"}, "rows": [r.to_dict() for r in self.rows]}


def _measure(backend: BackendRun, metric: Metric) -> tuple[float | None, str, str, float | None]:
    """(value, status, note, cross-check value) of one backend for the purpose's metric."""
    value, status, note, by_op = _measure_value(backend, metric)
    check = _total(metric.cross_check, metric.ops, by_op) if metric.cross_check and value is not None else None
    return value, status, note, check


def _measure_value(backend: BackendRun, metric: Metric) -> tuple[float | None, str, str, dict]:
    if backend.status != "ok":
        return None, "not measured", f"{backend.status}: {backend.reason}".strip(": "), {}
    by_op = {m.op: m for m in backend.measurements}
    for op, substitute in metric.substitutes.items():
        if by_op.get(op) is None or by_op[op].status != "ok":
            by_op[op] = by_op.get(substitute)
    for op in metric.ops:
        m = by_op.get(op)
        if m is None or m.status != "ok":
            why = f"{m.status}" + (f" ({m.reason})" if m.reason else "") if m is not None else "not run"
            return None, "not measured", f"{op}: {why}", by_op
    value = _total(metric.statistic, metric.ops, by_op)
    if value is None:
        return None, "not measured", f"no {metric.name} in the run", by_op
    if backend.verification is not None and backend.verification.flagged:
        return value, "flagged", f"round trip failed: {backend.verification.summary}", by_op
    return value, "ok", "", by_op


def apply_evidence(advice: Recommendation, run: Run) -> Recommendation:
    """Re-rank ``advice`` with the measurements in ``run`` and attach the side-by-side evidence."""
    purpose = PURPOSES[advice.inputs.purpose or ""]
    items = bool(run.dataset.get("items"))  # a folder of media items
    metric = purpose.media_metric if items and purpose.media_metric else purpose.metric
    show = STATISTICS[metric.statistic].show
    runs = {b.backend: b for b in run.backends}
    everything = sorted((*advice.recommendations, *advice.others, *advice.avoid), key=lambda r: r.rule_rank)
    rows: list[EvidenceRow] = []
    for r in everything:
        if r.backend in runs:
            value, status, note, median = _measure(runs[r.backend], metric)
            display = show(value) + _kept_busy(runs[r.backend]) if value is not None else "-"
            rows.append(EvidenceRow(r.option, r.rule_rank, r.score, value, display, status, note, median=median))
    sign = 1 if metric.lower_is_better else -1
    order = {"ok": 0, "flagged": 1, "not measured": 2}
    ranked = sorted(rows, key=lambda e: (order[e.status], sign * e.value if e.value is not None else 0, e.rule_rank))
    for i, row in enumerate(ranked):
        row.measured_rank = i + 1 if row.status != "not measured" else None

    evidence = Evidence(purpose.name, metric.name, metric.unit, metric.lower_is_better, rows=rows,
                        run_id=run.run_id, dataset=str(run.dataset.get("name", "")), problems=list(run.problems))
    if run.load:
        evidence.load = [{k: s.get(k) for k in ("backend", "clients", "mix", "status", "reason", "throughput")}
                         | {"p99": (s.get("latency") or {}).get("p99"), "contention": bool(s.get("contention"))}
                         for s in run.load]
        evidence.concurrency = concurrency_verdict(run.load, min(rows, key=lambda e: e.rule_rank).option
                                                   if rows else None)
    clean = [e for e in ranked if e.status == "ok"]
    favourite = min(rows, key=lambda e: e.rule_rank) if rows else None
    rerank = True
    if not clean or favourite is None:
        evidence.message = "No candidate produced a clean measurement, so the rule ranking stands."
        rerank = False
    elif clean[0].option == favourite.option:
        evidence.message = (f"Measurement agrees with the rules: {favourite.option} is also best on "
                            f"{metric.name} ({favourite.display}).")
    elif favourite.status != "ok":
        evidence.overturned = True
        evidence.message = (f"Measurement overturned the rules: the rules ranked {favourite.option} first, but it "
                            f"has no clean {metric.name} ({favourite.note or favourite.status}); "
                            f"{clean[0].option} measured best ({clean[0].display}).")
    else:
        winner = clean[0]
        gap = _gain(winner.value, favourite.value)
        median_disagrees = (winner.median is not None and favourite.median is not None
                            and winner.median > favourite.median)
        if gap >= MARGIN and not median_disagrees:
            evidence.overturned = True
            evidence.message = (f"Measurement overturned the rules: {winner.option} measured best on {metric.name} "
                                f"({winner.display}), although the rules ranked {favourite.option} first "
                                f"({favourite.display}).")
        else:
            rerank = False
            why = (f"the median says the opposite ({favourite.option} {show(favourite.median)} vs "
                   f"{winner.option} {show(winner.median)})" if median_disagrees
                   else f"the gap is under {MARGIN:.0%}")
            evidence.message = (f"Inconclusive: {winner.option} has the better {metric.name} ({winner.display} vs "
                                f"{favourite.display}), but {why}, so the rule ranking stands; measure with more "
                                "rows or repeats to settle it.")

    # Refill the places the measured options held, in measured order; the others stay put.
    by_option = {r.option: r for r in advice.recommendations}
    measured_options = {e.option for e in rows}
    slots = [i for i, r in enumerate(advice.recommendations) if r.option in measured_options]
    fill = [e for e in ranked if e.option in by_option] if rerank else [
        e for e in sorted(rows, key=lambda e: e.rule_rank) if e.option in by_option]
    reordered = list(advice.recommendations)
    for slot, row in zip(slots, fill, strict=False):
        reordered[slot] = replace(by_option[row.option], measured={
            "metric": metric.name, "value": row.value, "display": row.display, "status": row.status,
            "note": row.note, "measured_rank": row.measured_rank,
        })
    return replace(advice, recommendations=tuple(reordered), evidence=evidence)


def _kept_busy(backend: BackendRun) -> str:
    """", keeps 6 accelerators busy" when the run emulated accelerators on this backend, else ""."""
    feed = next((m for m in backend.measurements if m.op == "feed" and m.status == "ok"), None)
    largest = feed.extra.get("largest_kept_busy") if feed is not None else None
    return "" if largest is None else f", keeps {largest} accelerator{'' if largest == 1 else 's'} busy"


def concurrency_verdict(steps: list[dict[str, Any]], favourite: str | None) -> str:
    """One sentence on the several-client steps: each candidate's p99 and requests/s at the largest client
    count, and whether the rules' favourite also has the best p99 there."""
    most = max((s["clients"] for s in steps), default=0)
    at_most = [s for s in steps if s["clients"] == most]
    clean = sorted((s for s in at_most if s.get("status") == "ok" and (s.get("latency") or {}).get("p99")),
                   key=lambda s: s["latency"]["p99"])
    if not clean:
        return f"With {most} clients at once no candidate measured cleanly; see the run's load steps."
    figures = "; ".join(
        f"{s['backend']} p99 {fmt_time(s['latency']['p99'])}, {fmt_count(s['throughput'])} requests/s"
        + (" (contention on one file, not a server)" if s.get("contention") else "") for s in clean)
    failed = [f"{s['backend']} {s['status']}" for s in at_most if s not in clean]
    lead = f"With {most} client processes at once (mix {clean[0]['mix']}, on this machine): {figures}"
    lead += f"; {', '.join(failed)}" if failed else ""
    if favourite == clean[0]["backend"]:
        return f"{lead}. It agrees with the first choice: {favourite} has the best p99 there."
    return f"{lead}. The best p99 there is {clean[0]['backend']}'s, not the rules' first choice {favourite}'s."


def _gain(winner: float | None, other: float | None) -> float:
    """How much better ``winner`` is than ``other``, as a fraction of the worse value."""
    if winner is None or other is None:
        return 0.0
    worse = max(winner, other)
    return abs(other - winner) / worse if worse else 0.0


def gather_evidence(advice: Recommendation, *, data: str | Path | None = None, rows: int | str | None = None,
                    backends: Sequence[str] | None = None, options: dict[str, Any] | None = None,
                    on_event: Callable[[str, str, str], None] | None = None,
                    dtype: Any = None, schema: str | Path | None = None) -> Recommendation:
    """Benchmark the top candidates on ``data`` (or a generated sample of the modality; ``dtype`` and
    ``schema`` type the file's columns) with the purpose's operations, then re-rank with
    ``apply_evidence``. Saves the run under ``results/``."""
    modality = advice.inputs.modality
    unmeasured = () if backends else tuple(n for n in [unmeasured_note(advice.recommendations)] if n)
    media_kind = next((kind for kind, m in MEDIA_SAMPLE_KINDS.items() if m == modality), None)
    if data is None and modality not in SAMPLE_KINDS and media_kind is None:
        note = (f"Evidence is not available for {modality}: the harness has no sample generator for it; "
                "pass --data with a sample of your own, or time your data loader on a sample of your files.")
        return replace(advice, notes=(*advice.notes, note, *unmeasured))
    names = list(backends) if backends else candidate_backends(advice.recommendations)
    if not names:
        return replace(advice, notes=(*advice.notes, "No recommended option has a backend to benchmark.",
                                      *unmeasured))
    advice = replace(advice, notes=(*advice.notes, *unmeasured))
    if rows is not None:
        rows = parse_count(rows, "--bench-rows")
    from storeadvise.bench.api import benchmark

    kwargs: dict[str, Any] = {"backends": names, "purpose": advice.inputs.purpose, "save": True, "on_event": on_event}
    if advice.inputs.purpose == "online" and "many" in (advice.inputs.readers, advice.inputs.writers):
        # Many processes reading (or writing) at once: also measure several clients at once.
        kwargs.update(clients=EVIDENCE_CLIENTS, mix="A" if advice.inputs.writers == "many" else "B")
    if options:
        kwargs["options"] = options
    if data is None and modality not in SAMPLE_KINDS:  # a generated folder of the modality's items
        kwargs.update(sample=media_kind, items=rows or DEFAULT_SAMPLE_ITEMS,
                      item_size=advice.inputs.item_size or DEFAULT_ITEM_BYTES)
    elif data is None:
        kwargs.update(sample=modality, rows=rows or DEFAULT_SAMPLE_ROWS)
    else:
        kwargs.update(dtype=dtype, schema=schema)
        if rows is not None:
            kwargs["rows"] = rows
    run = benchmark(data, **kwargs)
    return apply_evidence(advice, run)

