"""Comparing runs: the same dataset or a refusal, what only one run holds, and each change judged
against both runs' noise (pytest-benchmark's ``--benchmark-compare``, with a verdict).

The first run is the reference (``report NEW --baseline OLD`` compares ``[OLD, NEW]``; ``report A B C``
compares B and C with A). Measurements are matched by (backend, operation, cache state): a run with
``--cache both`` holds a warm and a cold figure of the same operation, and each is compared with its
own kind.

A change is *faster* or *slower* only when both runs have a spread (two or more timings each), the
medians differ by ``NOISE_FLOOR`` or more once both are shifted by ``SHIFT_S`` (whole-operation timings
only, as ClickBench shifts its ratios: a few milliseconds more or less is what a shared machine gives
any two runs) and the runs' whiskers do not overlap: a run's whiskers span its timings within
``WHISKER_IQRS`` IQRs of its median, as a box plot draws them (outliers left out, so one slow timing
does not hide a change). Otherwise it is *within noise*, or *no spread: cannot tell* when either run
timed it once. Nothing here measures; the only arithmetic is ratios of medians.

Why whiskers and not median ± IQR: docs/decisions.md, 'Comparing runs: a change beyond noise when the
whiskers of both runs part'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from storeadvise.bench.matrix import SHIFT_S
from storeadvise.bench.results import OK, Measurement, Run, Stats
from storeadvise.bench.table import group_title
from storeadvise.errors import DataError, Regression
from storeadvise.formatting import fmt_change, fmt_time, number, printable

if TYPE_CHECKING:
    from storeadvise.bench.table import PlainTable, Report

NOISE_FLOOR = 0.10
"""A change of the (shifted) median smaller than this share is within noise, whatever the spreads say:
reruns of unchanged code on a shared machine move by that much with spreads that do not overlap."""

# Both medians of a whole-operation timing are shifted by the score's SHIFT_S before the floor is
# applied; latency figures, per call and resting on many calls, are not shifted.

WHISKER_IQRS = 2.0
"""How far a run's whiskers reach from its median, in IQRs (about Tukey's 1.5 IQR beyond the quartiles)."""

FASTER, SLOWER, WITHIN_NOISE, NO_SPREAD = "faster", "slower", "within noise", "no spread: cannot tell"

Key = tuple[str, str, str | None]
"""(backend, operation, cache state) of a measurement."""


def measurement_key(m: Measurement, backend: str) -> Key:
    # Runs from before cache states were recorded read warm, as every run then did.
    return (m.backend or backend, m.op, m.cache or "warm")


def key_label(key: Key) -> str:
    """"parquet scan", "parquet scan (cold)"."""
    backend, op, cache = key
    return f"{backend} {group_title(op, cache)}"


@dataclass
class Change:
    """One matched measurement of a later run against the first."""

    key: Key
    reference: Stats
    stats: Stats
    latency: bool = False  # per-call figures: not shifted

    @property
    def ratio(self) -> float | None:
        old, new = number(self.reference.median), number(self.stats.median)
        return new / old if old and new is not None else None

    @property
    def verdict(self) -> str:
        return verdict(self.reference, self.stats, latency=self.latency)

    @property
    def text(self) -> str:
        """"1.34× slower", "1.25× faster", "within noise (+3%)", "no spread: cannot tell (+34%)"."""
        ratio, judged = self.ratio, self.verdict
        if ratio is None:
            return judged
        if judged in (FASTER, SLOWER):
            return fmt_change(ratio)
        return f"{judged} ({round((ratio - 1) * 100):+d}%)"


def _whiskers(stats: Stats) -> tuple[float, float]:
    reach = WHISKER_IQRS * stats.iqr
    return max(stats.min, stats.median - reach), min(stats.max, stats.median + reach)


def verdict(reference: Stats, stats: Stats, *, latency: bool = False) -> str:
    """faster / slower / within noise / no spread: cannot tell, of ``stats`` against ``reference``
    (``latency``: figures per call, compared unshifted)."""
    if reference.n < 2 or stats.n < 2:
        return NO_SPREAD
    old, new = reference.median, stats.median
    shift = 0.0 if latency else SHIFT_S
    if old + shift <= 0 or abs((new + shift) / (old + shift) - 1) < NOISE_FLOOR:
        return WITHIN_NOISE
    low_old, high_old = _whiskers(reference)
    low_new, high_new = _whiskers(stats)
    if low_new <= high_old and low_old <= high_new:
        return WITHIN_NOISE
    return SLOWER if new > old else FASTER


@dataclass
class Comparison:
    """Several runs of the same dataset, matched measurement by measurement; the first is the reference."""

    runs: list[Run]
    warnings: list[str] = field(default_factory=list)
    figures: dict[Key, list[Stats | None]] = field(default_factory=dict)
    """Every key some run measured successfully, with each run's figure (None: not in that run)."""
    only_in: list[tuple[str, str]] = field(default_factory=list)
    """Backends and operations present in some runs only: ("backend mongo", "r1, r3")."""
    latency: set[Key] = field(default_factory=set)
    """The keys whose figures are per call."""

    def changes(self, position: int) -> dict[Key, Change]:
        """The run at ``position`` (1 or more) against the first, for the keys both measured."""
        return {key: Change(key, stats[0], stats[position], key in self.latency) for key, stats in self.figures.items()
                if stats[0] is not None and stats[position] is not None}

    def regressions(self, limit: float) -> list[Change]:
        """Changes slower than ``limit`` times the first run's median and beyond noise, in any later run."""
        return [change for position in range(1, len(self.runs)) for change in self.changes(position).values()
                if change.verdict == SLOWER and change.ratio is not None and change.ratio > limit]


def _figures(run: Run) -> dict[Key, Stats]:
    return {measurement_key(m, b.backend): m.stats for b in run.backends if b.status == OK
            for m in b.measurements if m.status == OK and m.stats is not None and number(m.stats.median) is not None}


def check_same_dataset(runs: list[Run], *, compare_anyway: bool = False) -> list[str]:
    """Warnings for a comparison of ``runs``; ``DataError`` naming what differs when their datasets are
    not the same data, unless ``compare_anyway`` (then the warning is loud)."""
    from storeadvise.bench.datasets import DataFingerprint

    reference = DataFingerprint.of(runs[0].dataset)
    warnings = []
    for run in runs[1:]:
        fingerprint = DataFingerprint.of(run.dataset)
        differences = reference.differences(fingerprint)
        if differences:
            what = f"{runs[0].run_id} and {run.run_id} measured different datasets: {'; '.join(differences)}"
            if not compare_anyway:
                raise DataError(f"{what}; compare runs of the same data, or pass --force to compare anyway")
            warnings.append(f"WARNING: {what}. Compared anyway (--force): differences may come from the data.")
        elif not reference.content_known_in(fingerprint):
            known = "same rows and schema" if reference.rows is not None and fingerprint.rows is not None else (
                "cannot check they measured the same data")
            warnings.append(f"dataset content of {runs[0].run_id} and {run.run_id} not compared (a run file "
                            f"without a content fingerprint, or hashed another way): {known}")
    return warnings


def _only_in(runs: list[Run], figures: list[dict[Key, Stats]]) -> list[tuple[str, str]]:
    """Backends, then operations of shared backends, that some runs lack."""
    lines = []
    backends = [{key[0] for key in f} for f in figures]
    for name in sorted(set().union(*backends)):
        holders = [run.run_id for run, present in zip(runs, backends, strict=True) if name in present]
        if len(holders) < len(runs):
            lines.append((f"backend {name}", ", ".join(holders)))
    shared = set.intersection(*backends)
    for key in sorted({key for f in figures for key in f if key[0] in shared}, key=lambda k: (k[0], k[1], k[2] or "")):
        holders = [run.run_id for run, f in zip(runs, figures, strict=True) if key in f]
        if len(holders) < len(runs):
            lines.append((key_label(key), ", ".join(holders)))
    return lines


COMPARED_SETTINGS = {"fsync": "--fsync", "cache": "--cache", "repeat": "--repeat", "warmup": "--warmup",
                     "max_time": "--max-time", "memory_limit": "--memory-limit"}
"""Settings that change what a figure measures: runs that differ in them are compared with a warning."""


def _settings_differ(runs: list[Run]) -> list[str]:
    """One WARNING line per setting the runs were made with differently (a durable write against one
    that is not is not a regression)."""
    lines = []
    for key, option in COMPARED_SETTINGS.items():
        values = [run.settings.get(key) for run in runs]
        if len(set(map(str, values))) > 1:
            made = ", ".join(f"{run.run_id}: {value}" for run, value in zip(runs, values, strict=True))
            lines.append(f"WARNING: the runs were made with different {option} ({made}): "
                         "their differences may come from that, not from the stores.")
    return lines


def compare_runs(runs: list[Run], *, compare_anyway: bool = False) -> Comparison:
    """Match the measurements of ``runs`` (two or more; the first is the reference) after checking
    they measured the same dataset (see ``check_same_dataset``)."""
    if len(runs) < 2:
        raise ValueError("a comparison needs two runs or more")
    warnings = check_same_dataset(runs, compare_anyway=compare_anyway) + _settings_differ(runs)
    figures = [_figures(run) for run in runs]
    keys = list(dict.fromkeys(key for f in figures for key in f))
    return Comparison(
        runs=runs, warnings=warnings, figures={key: [f.get(key) for f in figures] for key in keys},
        only_in=_only_in(runs, figures),
        latency={measurement_key(m, b.backend) for run in runs for b in run.backends for m in b.measurements
                 if m.latency},
    )


def check_regressions(comparison: Comparison, limit: float | None) -> None:
    """``Regression`` naming every change slower than ``limit`` beyond noise (``--fail-above``)."""
    if limit is None:
        return
    slower = comparison.regressions(limit)
    if slower:
        named = ", ".join(f"{key_label(c.key)} {fmt_change(c.ratio)}" for c in slower)
        raise Regression(f"slower than {limit:g}× the first run beyond noise: {named}")


# -- the comparison as a table ------------------------------------------------------------------------
def _cell(stats: Stats | None) -> str:
    if stats is None:
        return "–"
    return f"{fmt_time(stats.median)} (n={stats.n})"


def run_label(position: int, count: int) -> str:
    """What a table calls a run: "baseline" and "this run" for two, "run 1", "run 2" ... for more."""
    if count == 2:
        return ("baseline", "this run")[position]
    return f"run {position + 1}"


def comparison_table(comparison: Comparison, title: str) -> PlainTable:
    """Per key, each run's median and n and, after the first run, the change against it."""
    from storeadvise.bench.table import PlainTable

    runs = comparison.runs
    head = ["backend", "op", run_label(0, len(runs))]
    for position in range(1, len(runs)):
        head += [run_label(position, len(runs)), f"{run_label(position, len(runs))} vs {run_label(0, len(runs))}"]
    numeric = [False, False, True] + [True, False] * (len(runs) - 1)
    changes = [comparison.changes(position) for position in range(1, len(runs))]
    rows = []
    for key, stats in comparison.figures.items():
        backend, op, cache = key
        row = [backend, group_title(op, cache), _cell(stats[0])]
        for position, later in enumerate(changes, 1):
            change = later.get(key)
            row += [_cell(stats[position]), change.text if change else ("new" if stats[0] is None else "–")]
        rows.append([printable(cell) for cell in row])
    return PlainTable(title, [printable(h) for h in head], numeric, rows)


def _only_in_table(comparison: Comparison) -> list[PlainTable]:
    from storeadvise.bench.table import PlainTable

    if not comparison.only_in:
        return []
    rows = [[printable(what), printable(where)] for what, where in comparison.only_in]
    return [PlainTable("present in some runs only", ["backend / operation", "only in"], [False, False], rows)]


def _run_line(run: Run) -> str:
    from storeadvise.bench.table import dataset_line

    return printable(", ".join(part for part in (run.started_at, dataset_line(run.dataset)) if part))


def with_baseline(report: Report, comparison: Comparison) -> Report:
    """A one-run report (of the last run of ``comparison``) with its changes against the baseline added:
    warnings first in the header, the baseline named, a table of changes and what only one run holds."""
    baseline = comparison.runs[0]
    report.header = [("WARNING" if w.startswith("WARNING") else "dataset check", printable(w))
                     for w in comparison.warnings] + report.header
    report.header.append(("baseline", printable(f"{baseline.run_id}, {_run_line(baseline)}")))
    report.tables += [comparison_table(comparison, "vs baseline"), *_only_in_table(comparison)]
    report.footnotes.append(comparison_footnote())
    return report


def side_by_side(comparison: Comparison) -> Report:
    """Several runs in one report: a column per run per operation, each later run's change to the first."""
    from storeadvise.bench.table import Report

    header = [("WARNING" if w.startswith("WARNING") else "dataset check", printable(w)) for w in comparison.warnings]
    count = len(comparison.runs)
    header += [(run_label(i, count), printable(f"{run.run_id}, {_run_line(run)}"))
               for i, run in enumerate(comparison.runs)]
    return Report(
        title=f"storeadvise: {len(comparison.runs)} runs side by side",
        header=header, sections=[], verification=[], not_run=[],
        footnotes=[comparison_footnote()],
        tables=[comparison_table(comparison, "medians"), *_only_in_table(comparison)],
    )


def comparison_footnote() -> str:
    return (f"Changes are medians ÷ the first run's; faster or slower only when both runs timed it at least twice, "
            f"the medians differ by {NOISE_FLOOR:.0%} or more after adding {fmt_time(SHIFT_S, trim=True)} to each "
            f"(whole operations; latencies per call unshifted) and the runs' timings within {WHISKER_IQRS:g} IQR "
            "of their medians (a box plot's whiskers) do not overlap; otherwise within noise.")


def comparison_record(comparison: Comparison) -> dict[str, Any]:
    """The comparison as plain data (``--format json``)."""
    runs = comparison.runs
    changes = [comparison.changes(position) for position in range(1, len(runs))]
    rows = []
    for key, stats in comparison.figures.items():
        later = [c.get(key) for c in changes]
        rows.append({
            "backend": key[0], "op": key[1], "cache": key[2],
            "medians": [s.median if s else None for s in stats], "n": [s.n if s else None for s in stats],
            "ratios": [c.ratio if c else None for c in later], "verdicts": [c.verdict if c else None for c in later],
        })
    return {"runs": [run.run_id for run in runs], "warnings": comparison.warnings,
            "only_in": comparison.only_in, "measurements": rows}
