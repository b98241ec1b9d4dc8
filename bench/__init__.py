"""The benchmark harness: datasets, workloads, runner, verification, results and reports.

``storeadvise.bench`` is also callable: ``storeadvise.bench(sample="tabular", rows=10_000)`` is
``storeadvise.bench.api.bench``. A package attribute cannot hold both the subpackage and a function
of the same name (importing any ``storeadvise.bench.*`` module rebinds it), so the package itself
forwards calls, and ``from storeadvise import recommend, bench`` works as DESIGN.md promises.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallablePackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from storeadvise.bench.api import bench

        return bench(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
