"""The benchmark harness: datasets, workloads, runner, verification, results and reports.

Its Python entry point is ``storeadvise.benchmark`` (``bench.api.benchmark``), the face of
``storeadvise bench``.
"""
