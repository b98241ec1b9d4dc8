"""Exports for other tools: a run as the JSON that ``pytest-benchmark compare`` reads.

Each successful measurement becomes one benchmark: ``group`` is the operation (with its cache state
when not warm, so a warm and a cold read are never compared), ``name`` is ``op[backend]``, and
``stats`` holds pytest-benchmark's fields in seconds. Latency operations give their per-call figures
(``rounds`` is the number of calls). pytest-benchmark computes its statistics from the durations;
storeadvise keeps its summary, not every duration, so ``data`` is left out. Run files written before
the quartiles and outlier counts were recorded get estimates for them (q1 and q3 at the median ∓
IQR/2, the fences at min and max, no outliers), and such a benchmark says so under
``extra_info.estimated``. Failed, skipped and unsupported operations have no figures and are left out.
"""

from __future__ import annotations

import json
from typing import Any

from storeadvise.bench.results import OK, Measurement, Run, Stats
from storeadvise.bench.table import group_title
from storeadvise.formatting import number

FORMAT_VERSION = "4.0.0"
"""The pytest-benchmark version whose JSON layout this writes (its ``version`` key); the keys used
here are unchanged since."""


def _quartiles(stats: Stats) -> tuple[dict[str, Any], list[str]]:
    """pytest-benchmark's quartile and outlier fields, and the names of those that are estimates."""
    recorded = {"q1": stats.q1, "q3": stats.q3, "ld15iqr": stats.ld15iqr, "hd15iqr": stats.hd15iqr,
                "iqr_outliers": stats.iqr_outliers, "stddev_outliers": stats.stddev_outliers}
    estimates = {"q1": stats.median - stats.iqr / 2, "q3": stats.median + stats.iqr / 2, "ld15iqr": stats.min,
                 "hd15iqr": stats.max, "iqr_outliers": 0, "stddev_outliers": 0}
    estimated = [name for name, value in recorded.items() if value is None]
    return {name: estimates[name] if value is None else value for name, value in recorded.items()}, estimated


def benchmark_stats(stats: Stats) -> tuple[dict[str, Any], list[str]]:
    """The ``stats`` object of one pytest-benchmark benchmark, and which of its fields are estimated."""
    quartiles, estimated = _quartiles(stats)
    mean = stats.mean
    return {
        "min": stats.min, "max": stats.max, "mean": mean, "stddev": stats.stdev, "rounds": stats.n,
        "median": stats.median, "iqr": stats.iqr, "q1": quartiles["q1"], "q3": quartiles["q3"],
        "iqr_outliers": quartiles["iqr_outliers"], "stddev_outliers": quartiles["stddev_outliers"],
        "outliers": f"{quartiles['stddev_outliers']};{quartiles['iqr_outliers']}",
        "ld15iqr": quartiles["ld15iqr"], "hd15iqr": quartiles["hd15iqr"],
        "ops": 1.0 / mean if mean > 0 else 0.0, "total": mean * stats.n, "iterations": 1,
    }, estimated


def _benchmark(m: Measurement, run: Run, trusted: bool) -> dict[str, Any]:
    group = group_title(m.op, m.cache)
    label = m.backend if m.cache in (None, "warm") else f"{m.backend}-{m.cache}"
    stats, estimated = benchmark_stats(m.stats)
    extra = {"run_id": run.run_id, "backend": m.backend, "op": m.op, "cache": m.cache, "latency": m.latency,
             "rows": m.rows, "rows_per_s": number(m.rows_per_s), "mb_per_s": number(m.mb_per_s),
             "peak_memory_bytes": m.peak_memory_bytes, "bytes_at_rest": m.bytes_at_rest, "durable": m.durable,
             "trusted": trusted, "warnings": list(m.warnings), "estimated": estimated}
    return {
        "group": group, "name": f"{m.op}[{label}]", "fullname": f"storeadvise::{m.op}[{label}]",
        "params": {"backend": m.backend, "cache": m.cache}, "param": label, "extra_info": extra,
        "options": {"disable_gc": False, "timer": "perf_counter", "min_rounds": run.settings.get("repeat"),
                    "max_time": run.settings.get("max_time"), "min_time": None,
                    "warmup": bool(run.settings.get("warmup"))},
        "stats": stats,
    }


def _machine_info(env: dict[str, Any]) -> dict[str, Any]:
    system, _, release = str(env.get("os") or "").partition(" ")
    return {
        "node": "", "processor": env.get("cpu") or "", "machine": env.get("machine") or "",
        "python_compiler": "", "python_implementation": env.get("implementation") or "",
        "python_implementation_version": env.get("python") or "", "python_version": env.get("python") or "",
        "python_build": [], "release": release, "system": system,
        "cpu": {"brand_raw": env.get("cpu") or "", "count": env.get("cpu_count")},
    }


def pytest_benchmark_document(run: Run) -> dict[str, Any]:
    """The run in pytest-benchmark's saved-run layout (``machine_info``, ``commit_info``, ``benchmarks``,
    ``datetime``, ``version``)."""
    benchmarks = []
    for b in run.backends:
        if b.status != OK:
            continue
        trusted = not (b.verification is not None and b.verification.flagged)
        benchmarks += [_benchmark(m, run, trusted) for m in b.measurements
                       if m.status == OK and m.stats is not None and number(m.stats.median) is not None]
    env = run.environment
    return {
        "machine_info": _machine_info(env),
        "commit_info": {"id": env.get("git_revision") or "unversioned", "time": None, "author_time": None,
                        "dirty": bool(env.get("git_dirty")), "project": "storeadvise", "branch": None},
        "benchmarks": benchmarks,
        "datetime": run.started_at,
        "version": FORMAT_VERSION,
    }


def render_pytest_benchmark(run: Run, **_unused: Any) -> str:
    """The exporter of ``--format pytest-benchmark`` (a comparison with a baseline is pytest-benchmark's
    own job: ``pytest-benchmark compare OLD.json NEW.json``)."""
    from storeadvise.bench.results import _finite

    return json.dumps(_finite(pytest_benchmark_document(run)), indent=2, allow_nan=False) + "\n"
