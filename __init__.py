"""storeadvise: where should this data live?

Two faces of the same functions: the ``storeadvise`` command line and this Python API.

    >>> import storeadvise
    >>> advice = storeadvise.recommend(modality="tabular", purpose="online")
    >>> run = storeadvise.benchmark(sample="tabular", rows=10_000, backends=["csv", "parquet"])

Attributes are imported on first use so that ``import storeadvise`` (and the CLI's ``--help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "recommend": "storeadvise.advisor.api:recommend",
    "benchmark": "storeadvise.bench.api:benchmark",
    "load_run": "storeadvise.bench.results:load_run",
    "load_history": "storeadvise.bench.history:load_history",
    "render": "storeadvise.bench.report:render",
    "render_runs": "storeadvise.bench.report:render_runs",
    "compare_runs": "storeadvise.bench.compare:compare_runs",
    "write_report": "storeadvise.bench.report:write_report",
    "save_plot": "storeadvise.bench.charts:save_plot",
    "write_sample": "storeadvise.bench.datasets:write_sample",
    "load_dataset": "storeadvise.bench.datasets:load_dataset",
    "sample_dataset": "storeadvise.bench.datasets:sample_dataset",
    "StoreAdviseError": "storeadvise.errors:StoreAdviseError",
    "UsageError": "storeadvise.errors:UsageError",
    "DataError": "storeadvise.errors:DataError",
    "BackendUnavailable": "storeadvise.errors:BackendUnavailable",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    try:
        target = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'storeadvise' has no attribute {name!r}") from None
    module_name, _, attr = target.partition(":")
    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value
