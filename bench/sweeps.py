"""Sweeps: the same workload over codecs and layouts, or over data sizes.

A codec sweep is a list of backend ``Variant``s (the runner needs nothing special for it). A scaling
sweep runs the workload at several sizes and fits, per backend and operation, how cost grows with
rows: ``median ≈ c · rows^k``; k near 1 is linear, below 1 means fixed costs dominate at small
sizes, above 1 means the backend slows down per row as data grows.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from storeadvise.bench.results import OK, Run
from storeadvise.bench.runner import Variant
from storeadvise.errors import UsageError
from storeadvise.units import parse_count

SWEEP_OPS = ("write", "read")


def codec_variants(backends: Sequence[str] | None = None) -> list[Variant]:
    """The codec and layout variants each backend declares (``Backend.sweep_variants``), for the named
    backends or all of them; a ``UsageError`` when none of them declares any."""
    from storeadvise.backends import REGISTRY, backend_class

    variants = []
    swept = []
    for name in REGISTRY:
        try:
            declared = backend_class(name).sweep_variants
        except ImportError:  # a backend whose client library is missing has nothing to sweep here
            continue
        swept += [name] if declared else []
        if backends is None or name in backends:
            variants += [Variant(name, f"{name}[{label}]", dict(options)) for label, options in declared.items()]
    if not variants:
        raise UsageError(f"--sweep covers {', '.join(swept)}; --backends names none of them")
    without = [name for name in backends or () if name not in swept]
    if without:  # dropping them silently would look like a complete comparison
        raise UsageError(f"--sweep covers {', '.join(swept)}; {', '.join(without)} "
                         f"{'has' if len(without) == 1 else 'have'} no variants to compare: leave "
                         f"{'it' if len(without) == 1 else 'them'} out of --backends")
    return variants


def parse_scale(text: str | Sequence[int | str]) -> list[int]:
    """``10k,100k,1M`` -> [10000, 100000, 1000000], sorted, at least two distinct sizes."""
    parts = text.split(",") if isinstance(text, str) else list(text) if isinstance(text, (list, tuple)) else []
    sizes = sorted({parse_count(str(p).strip(), option="--scale") for p in parts if str(p).strip()})
    if len(sizes) < 2:
        raise UsageError(f"--scale {text!r}: give at least two sizes, like 10k,100k,1M")
    return sizes


def growth_exponent(rows: Sequence[int], seconds: Sequence[float]) -> float | None:
    """Least-squares slope of log(seconds) against log(rows); None with fewer than two distinct sizes."""
    points = [(math.log(r), math.log(s)) for r, s in zip(rows, seconds, strict=True) if r > 0 and s > 0]
    if len({x for x, _ in points}) < 2:
        return None
    return statistics.linear_regression([x for x, _ in points], [y for _, y in points]).slope


def scaling_summary(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """Per backend and operation: seconds (p50 for latency ops) at each size, time per row the operation
    moved for throughput ops (an append's new rows, a filter's matches: the rows its rows/s counts), and
    the fitted growth exponent against the dataset's size."""
    # Keyed by cache state too: with `--cache both` a read is measured warm and cold, two curves.
    table: dict[tuple[str, str, str | None], list[tuple[int, float, int]]] = {}
    latency: dict[tuple[str, str, str | None], bool] = {}
    for run in runs:
        rows = int(run.dataset.get("rows") or 0)
        for m in run.measurements():
            if m.status != OK or m.stats is None:
                continue
            # Latency ops grow with data only when there is no index: their p50 shows it.
            seconds = m.stats.p50 if m.latency else m.stats.median
            table.setdefault((m.backend, m.op, m.cache), []).append((rows, seconds, m.rows or 0))
            latency[(m.backend, m.op, m.cache)] = m.latency
    summary = []
    for (backend, op, cache), points in table.items():
        per_call = latency[(backend, op, cache)]
        points.sort()
        sizes = [r for r, _, _ in points]
        seconds = [s for _, s, _ in points]
        exponent = growth_exponent(sizes, seconds)
        summary.append(
            {
                "backend": backend,
                "op": op,
                "cache": cache,
                "latency": per_call,
                "points": [
                    {"rows": r, "seconds": s, "per_row_s": None if per_call or not moved else s / moved}
                    for r, s, moved in points
                ],
                "exponent": round(exponent, 3) if exponent is not None else None,
            }
        )
    return summary
