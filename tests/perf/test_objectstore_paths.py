"""File backends in a bucket (``--location s3://...``, the embedded S3 emulator) against the fastest direct
call on the same objects, per operation.

The direct calls are the suite's own readers and writers (``direct.py``) given the object as a file: for
reads, the object downloaded in one GET and handed over as a buffer (what the backends do for a read),
and for Parquet also pyarrow on the S3 filesystem itself (ranged GETs); for writes, the same writers
writing to an upload stream (DuckDB's, which write to a file name only, are left out). A direct read a
library cannot make on a buffer fails and is left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import direct
import pairs
import pytest

FORMATS = ("parquet", "arrow", "csv")
OPS = ("write", "read", "filter")
CASES = [(b, op) for b in FORMATS for op in OPS]
LOCATION = "s3://storeadvise-perf/objects"


@pytest.fixture(scope="module")
def s3_stores(suite_data: Any, perf_servers: dict, perf_scratch: Path) -> Iterator[dict[str, Any]]:
    """The file backends written once each into the embedded S3 emulator's bucket (the session's data:
    ``file_data`` is per test)."""
    from storeadvise.backends import backend_class
    from storeadvise.backends.base import BackendSettings

    table, plan, _ = suite_data.use("tabular")[0]
    opened: dict[str, Any] = {}
    for name in FORMATS:
        settings = BackendSettings(run_id="perf_s3", scratch_dir=perf_scratch / "s3", key_column=plan.key_column,
                                   service=perf_servers["s3"], options={"location": LOCATION})
        backend = backend_class(name)(settings)
        backend.open()
        backend.write(table.schema, table.to_batches(max_chunksize=65_536))
        opened[name] = backend
    yield opened
    for backend in opened.values():
        backend.cleanup()


def _download(fs: Any, path: str) -> Any:
    import pyarrow as pa

    with fs.open_input_file(path) as source:
        return pa.BufferReader(source.read_buffer())


def _sides(backend: Any, op: str, table: Any, plan: Any) -> list[pairs.Side]:
    fs = backend.filesystem
    if op == "write":
        def upload(write: Any, key: str) -> None:
            with fs.open_output_stream(key) as out:
                write(table, out)

        # DuckDB's writers take a file name only: handed a stream, they write a local file named after it
        writers = {lib: w for lib, w in getattr(direct, f"{backend.name}_writers")().items() if "duckdb" not in lib}
        folder = f"{backend.remote.path}-direct"
        return [pairs.Side(f"{lib} to an upload stream", lambda w=w, k=f"{folder}/{i}": upload(w, k))
                for i, (lib, w) in enumerate(writers.items())]
    path = backend.parts()[0]
    readers = {f"{lib} on the object downloaded whole": (lambda c, w, r=r: r(_download(fs, path), c, w))
               for lib, r in getattr(direct, f"{backend.name}_readers")(table.schema).items()}
    if backend.name == "parquet":
        import pyarrow.parquet as pq

        def ranged(columns: Any, where: Any) -> Any:
            got = pq.read_table(path, filesystem=fs, columns=direct.needed(columns, where),
                                filters=where.to_arrow() if where is not None else None)
            return got.select(list(columns)) if columns is not None else got

        readers["pyarrow on the S3 filesystem (ranged GETs)"] = ranged
    return [pairs.Side(name, (lambda r=r: r(None, None)) if op == "read" else (lambda r=r: r(None, plan.predicate)))
            for name, r in readers.items()]


@pytest.mark.parametrize(("backend_name", "op"), CASES, ids=[f"{b}@s3-{op}" for b, op in CASES])
def test_storeadvise_on_object_storage_vs_direct(benchmark: Any, s3_stores: dict[str, Any], file_data: Any,
                                                 backend_name: str, op: str) -> None:
    table, plan, _ = file_data
    backend = s3_stores[backend_name]
    storeadvise = pairs.storeadvise_side(backend, op, plan, [])
    result = pairs.run_case(benchmark, f"{backend_name}@s3", op, "file", table.num_rows, storeadvise,
                            _sides(backend, op, table, plan), notes="embedded S3 emulator")
    if not result.passed:
        pytest.fail(result.message(), pytrace=False)
