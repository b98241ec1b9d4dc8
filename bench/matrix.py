"""The one-screen summary of a run: backends × operations, and one score per backend.

Each cell is the "× best" ratio of medians of ``bench.table`` (the same entries, the same best), with
the marks that say what the figure rests on. The score is ClickBench's: per operation the shifted
ratio ``(SHIFT_S + t) / (SHIFT_S + best)``, so that sub-millisecond differences do not swamp seconds,
combined by a geometric mean over the operations of the run's purpose (every measured operation
without one). An operation a backend did not do is scored ``PENALTY_FACTOR`` times the slowest shifted
ratio on it, so a missing operation always ranks below the slowest backend that did it
(docs/decisions.md, 'The summary score: shifted ratios, a missing operation at twice the slowest').
Only arithmetic on finished results: no clock, no I/O, no text syntax.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from storeadvise.bench.results import FAILED, SKIPPED, UNSUPPORTED, Run
from storeadvise.bench.table import (
    BEST_MARK,
    NO_WARMUP_MARK,
    NOT_DURABLE_MARK,
    SINGLE_RUN_MARK,
    UNTRUSTED_MARK,
    WARNING_MARK,
    Entry,
    group_title,
    groups,
    unsupported_everywhere,
)
from storeadvise.formatting import DASH
from storeadvise.purposes import PURPOSES

SHIFT_S = 0.010
"""ClickBench's constant added to every time before dividing (10 ms)."""
PENALTY_FACTOR = 2.0
"""A missing operation scores this many times the slowest shifted ratio measured on it."""

NOT_DONE = {UNSUPPORTED: "n/a", FAILED: "failed", SKIPPED: "skipped"}
"""A cell's text for an operation a backend did not do; "–" when it was not measured at all."""


@dataclass
class MatrixColumn:
    op: str
    cache: str | None
    scored: bool  # counts in the score

    @property
    def title(self) -> str:
        return group_title(self.op, self.cache)


@dataclass
class MatrixCell:
    text: str
    entry: Entry | None  # None: the backend has no measurement of this operation
    score_ratio: float | None = None  # what this cell puts into the score (shifted ratio or penalty)
    penalised: bool = False
    elsewhere: bool = False  # not measured here, but in another cache state of the same operation


@dataclass
class MatrixRow:
    backend: str
    cells: list[MatrixCell]
    score: float | None
    untrusted: bool

    @property
    def score_text(self) -> str:
        text = DASH if self.score is None else f"{self.score:.2f}"
        return text + (UNTRUSTED_MARK if self.untrusted else "")


@dataclass
class Matrix:
    columns: list[MatrixColumn]
    rows: list[MatrixRow]
    score_ops: list[str]  # column titles the score covers
    notes: list[str] = field(default_factory=list)  # printed under the matrix

    def to_dict(self) -> dict[str, Any]:
        """The matrix as plain data (the JSON report's ``matrix``)."""
        return {
            "score": f"geometric mean of ({SHIFT_S * 1000:g} ms + t) / ({SHIFT_S * 1000:g} ms + best)",
            "shift_s": SHIFT_S,
            "penalty_factor": PENALTY_FACTOR,
            "score_ops": self.score_ops,
            "columns": [c.title for c in self.columns],
            "rows": [
                {
                    "backend": row.backend,
                    "score": row.score,
                    "trusted": not row.untrusted,
                    "cells": {c.title: _cell_dict(cell) for c, cell in zip(self.columns, row.cells, strict=True)},
                }
                for row in self.rows
            ],
            "notes": self.notes,
        }


def _cell_dict(cell: MatrixCell) -> dict[str, Any]:
    entry = cell.entry
    out: dict[str, Any] = {"text": cell.text, "score_ratio": cell.score_ratio, "penalised": cell.penalised}
    if entry is None:
        return {**out, "status": "not measured"}
    m = entry.measurement
    return {
        **out,
        "status": m.status,
        "ratio_to_best": entry.ratio_to_best,
        "best": entry.best,
        "n": m.stats.n if m.stats is not None else None,
        "single_run": entry.single_run,
        "no_warmup": entry.unwarmed,
        "cache": m.cache,
        "durable": m.durable,
        "warnings": list(m.warnings),
    }


def short_ratio(ratio: float | None) -> str:
    """A "× best" ratio in at most five characters: 1.0×, 12×, 340×, 2k×."""
    if ratio is None or not math.isfinite(ratio):
        return DASH
    if ratio < 9.95:
        return f"{ratio:.1f}×"
    if ratio < 999.5:
        return f"{ratio:.0f}×"
    return f"{ratio / 1000:.0f}k×"


def _expected_n(entry: Entry, settings: dict[str, Any]) -> Any:
    """The counted runs the run asked for; None for a latency operation, whose n is its calls (the
    detail table's "calls"), a percentile over many, never a handful."""
    return None if entry.measurement.latency else settings.get("repeat")


def cell_text(entry: Entry | None, settings: dict[str, Any]) -> str:
    """"× best" and the marks of one figure; the status of an operation that was not done."""
    if entry is None:
        return DASH
    if not entry.ok:
        return NOT_DONE.get(entry.measurement.status, "failed")
    m = entry.measurement
    text = short_ratio(entry.ratio_to_best) + (f" {BEST_MARK}" if entry.best else "")
    marks = (
        (UNTRUSTED_MARK, entry.untrusted),
        (SINGLE_RUN_MARK, entry.single_run),
        (NO_WARMUP_MARK, entry.unwarmed),
        (WARNING_MARK, bool(m.warnings)),
        (NOT_DURABLE_MARK, entry.not_durable),
    )
    text += "".join(mark for mark, carried in marks if carried)
    expected = _expected_n(entry, settings)
    if expected is not None and m.stats.n != expected and not entry.single_run:
        text += f" n{m.stats.n}"
    return text


def _reference(column: list[Entry]) -> float | None:
    """The median the score divides by: the best trusted one (the "× best" reference), else the fastest."""
    trusted = [e.median for e in column if e.ok and not e.untrusted]
    measured = trusted or [e.median for e in column if e.ok]
    return min(measured) if measured else None


def shifted_ratio(median: float, best: float) -> float:
    """ClickBench's per-query ratio: both times shifted by ``SHIFT_S``."""
    return (SHIFT_S + median) / (SHIFT_S + best)


def _scored_titles(run: Run, columns: list[MatrixColumn]) -> tuple[set[str], str]:
    """The operations the score covers, and why those."""
    purpose = PURPOSES.get(str(run.settings.get("purpose") or "").strip().lower())
    if purpose is not None:
        ops = [c.op for c in columns if c.op in purpose.ops]
        if ops:
            return set(ops), f"the {purpose.name} purpose's operations"
    return {c.op for c in columns}, "every measured operation"


def _score(cells: list[MatrixCell], columns: list[MatrixColumn]) -> float | None:
    ratios = [cell.score_ratio for cell, c in zip(cells, columns, strict=True) if c.scored and not cell.elsewhere]
    if not ratios or any(r is None for r in ratios):
        return None
    return math.exp(sum(math.log(r) for r in ratios) / len(ratios))


def _fill_scores(column: list[MatrixCell]) -> bool:
    """Each cell's share of the score: its shifted ratio, or the penalty when it was not done; False
    when no backend measured the operation (nothing to compare with)."""
    best = _reference([c.entry for c in column if c.entry is not None])
    if best is None:
        return False
    for cell in column:
        if cell.entry is not None and cell.entry.ok:
            cell.score_ratio = shifted_ratio(cell.entry.median, best)
    worst = max([c.score_ratio for c in column if c.score_ratio is not None], default=1.0)
    for cell in column:
        if cell.score_ratio is None and not cell.elsewhere:
            cell.score_ratio, cell.penalised = PENALTY_FACTOR * max(worst, 1.0), True
    return True


def build_matrix(run: Run, entries: list[Entry]) -> Matrix:
    """Backends (of ``entries``, best score first) × (operation, cache state) pairs; the score per backend."""
    shown = [g for g in groups(entries) if g not in unsupported_everywhere(entries)]
    columns = [MatrixColumn(op, cache, scored=False) for op, cache in shown]
    scored_ops, why = _scored_titles(run, columns)
    for c in columns:
        c.scored = c.op in scored_ops
    cell_of = {(e.measurement.backend, e.group): e for e in entries}
    backends = list(dict.fromkeys(e.measurement.backend for e in entries))
    measured_ops = {(e.measurement.backend, e.measurement.op) for e in entries if e.group in shown}
    grid = [
        [MatrixCell(cell_text(cell_of.get((b, g)), run.settings), cell_of.get((b, g)),
                    # A server's lukewarm read beside the files' cold one: scored in its own column only.
                    elsewhere=(b, g) not in cell_of and (b, g[0]) in measured_ops)
         for g in shown]
        for b in backends
    ]
    for i, column in enumerate(columns):
        # An operation no backend measured ranks nobody: it stays in the matrix, out of the score.
        column.scored = _fill_scores([cells[i] for cells in grid]) and column.scored
    untrusted = {e.measurement.backend for e in entries if e.untrusted}
    rows = [MatrixRow(b, cells, _score(cells, columns), b in untrusted)
            for b, cells in zip(backends, grid, strict=True)]
    # Best score first; a backend whose round trip failed goes last, whatever its score.
    rows.sort(key=lambda r: (r.untrusted, r.score is None, r.score or 0.0))
    score_ops = [c.title for c in columns if c.scored]
    return Matrix(columns, rows, score_ops, _notes(run, columns, rows, score_ops, why))


def _notes(run: Run, columns: list[MatrixColumn], rows: list[MatrixRow], score_ops: list[str], why: str) -> list[str]:
    shift = f"{SHIFT_S * 1000:g} ms"
    notes = [
        f"score: geometric mean over {', '.join(score_ops)} ({why}) of ({shift} + median) / ({shift} + best "
        "median), as ClickBench scores; 1.00 = best at each, lower is better; sorted by score.",
    ]
    if any(cell.penalised for row in rows for cell, c in zip(row.cells, columns, strict=True) if c.scored):
        notes.append(
            f"penalty: an operation a backend did not do (n/a, failed, skipped, –) scores {PENALTY_FACTOR:g} × "
            f"the slowest ratio measured on it (at least {PENALTY_FACTOR:g})."
        )
    texts = [cell.text for row in rows for cell in row.cells]
    legend = [f"× best: median ÷ the best median ({BEST_MARK} = best)"]
    legend += [
        text for mark, text in (
            (UNTRUSTED_MARK, f"{UNTRUSTED_MARK} round trip failed: never {BEST_MARK}, ranked last"),
            (SINGLE_RUN_MARK, f"{SINGLE_RUN_MARK} one counted run"),
            (NO_WARMUP_MARK, f"{NO_WARMUP_MARK} no warm-up"),
            (WARNING_MARK, f"{WARNING_MARK} warning below"),
            (NOT_DURABLE_MARK, f"{NOT_DURABLE_MARK} not durable"),
            (" n", f"nK: K counted runs (asked: {run.settings.get('repeat')})"),
            ("n/a", "n/a: unsupported"),
        )
        if any(mark in text for text in texts)
    ]
    notes.append("; ".join(legend) + ".")
    # Why a figure is missing, where the one screen can show it (an unsupported one only says n/a).
    notes += [
        f"{row.backend} {column.title}: {cell.entry.status_text}"
        for row in rows for column, cell in zip(columns, row.cells, strict=True)
        if cell.entry is not None and not cell.entry.ok and cell.entry.measurement.status != UNSUPPORTED
    ]
    return notes
