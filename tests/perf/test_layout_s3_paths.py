"""The media layouts on object storage (``files_index@s3``, ``webdataset@s3``, the embedded S3 emulator)
against the fastest direct read of the same objects with the same client library (the gate, 1.15).

The data: ``STOREADVISE_PERF_S3_ITEMS`` items (default 300) of 100 kB of random bytes, written once by each
layout's storeadvise backend into one bucket (webdataset in shards of 8 MB, so that the epoch spans
several). Two cases per layout, both reading what storeadvise wrote:

- ``scan``: an epoch in write order (``Backend.scan``, every batch consumed) against boto3 GETs of every
  item object, or of every shard whole (then the members' bytes cut out at their offsets from the tar
  headers) or in the same ranges storeadvise asks for;
- ``take``: one shuffled epoch, a random permutation of every position cut into batches of 32, one ``take``
  per batch, against the same batches read directly: a GET per item object, or a ranged GET per member at
  its offset.

Both sides use boto3 with ``GET_THREADS`` requests in flight (a thread pool each, kept across runs) and
return the items' bytes; storeadvise also builds the Arrow table with every column inside its timing.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pairs
import pytest
from test_layout_paths import ITEM_BYTES, media_data, run_media_case, stored

from storeadvise.backends._media_objects import GET_THREADS, Span, spans

SHARD_BYTES = "8MB"
LAYOUTS = ("files_index", "webdataset")
OPS = ("scan", "take")
LOCATION = "s3://storeadvise-perf/media"


@pytest.fixture(scope="module")
def media_s3(perf_servers: dict, perf_scratch: Path) -> Iterator[tuple[Any, list[list[int]], dict[str, Any]]]:
    """(table, the shuffled epoch's batches of positions, the storeadvise backends holding the table)."""
    table, batches = media_data(pairs.env_int("STOREADVISE_PERF_S3_ITEMS", 300))
    with stored(LAYOUTS, table, perf_scratch / "layouts-s3", service=perf_servers["s3"],
                options={"location": LOCATION, "webdataset_shard_bytes": SHARD_BYTES}) as stores:
        yield table, batches, stores


@pytest.fixture(scope="module")
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=GET_THREADS) as threads:
        yield threads


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_storeadvise_on_object_storage_vs_direct(benchmark: Any, media_s3: tuple[Any, list[list[int]], dict[str, Any]],
                                                 pool: ThreadPoolExecutor, layout: str, op: str) -> None:
    table, batches, stores = media_s3
    note = f"{table.num_rows} items of {ITEM_BYTES // 1000} kB, embedded S3 emulator, {GET_THREADS} GETs at once"
    ids = table.column("id").to_pylist()
    run_media_case(benchmark, f"{layout}@s3", stores[layout], op, table, batches,
                   SIDES[layout](stores[layout], pool, op, ids, batches), note)


def _getter(backend: Any) -> Any:
    """A boto3 GET of the backend's object ``name`` (a range of it when given), as bytes."""
    client, bucket, prefix = backend.objects.client, backend.objects.bucket, backend.objects.prefix

    def get(name: str, start: int | None = None, stop: int | None = None) -> bytes:
        ranged = {} if start is None else {"Range": f"bytes={start}-{stop - 1}"}
        return client.get_object(Bucket=bucket, Key=f"{prefix}/{name}", **ranged)["Body"].read()
    return get


def files_sides(backend: Any, pool: ThreadPoolExecutor, op: str, ids: list[str],
                batches: list[list[int]]) -> list[pairs.Side]:
    get = _getter(backend)
    if op == "scan":
        return [pairs.Side("boto3 GET per item object in id order",
                           lambda: list(pool.map(get, [f"items/{i}" for i in ids])))]
    return [pairs.Side("boto3 GET per item object per batch",
                       lambda: [list(pool.map(get, [f"items/{ids[p]}" for p in b])) for b in batches])]


def webdataset_sides(backend: Any, pool: ThreadPoolExecutor, op: str, ids: list[str],
                     batches: list[list[int]]) -> list[pairs.Side]:
    get = _getter(backend)
    shards = backend.objects.names("shard-")
    index: dict[str, tuple[str, int, int]] = {}  # from the tar headers, read outside the timing
    for shard in shards:
        with tarfile.open(fileobj=io.BytesIO(get(shard))) as tar:
            index.update((m.name, (shard, m.offset_data, m.size)) for m in tar)

    def member(item: str) -> bytes:
        shard, offset, size = index[item]
        return get(shard, offset, offset + size)

    if op == "take":
        return [pairs.Side("boto3 ranged GET per member per batch", lambda: [list(pool.map(member, [ids[p] for p in b]))
                                                                             for b in batches])]
    located = [index[i] for i in ids]

    def whole_shards() -> list[memoryview]:
        data = dict(zip(shards, pool.map(get, shards), strict=True))
        return [memoryview(data[shard])[offset:offset + size] for shard, offset, size in located]

    ranges = spans(*zip(*located, strict=True))

    def same_ranges() -> list[bytes]:
        def fetch(span: Span) -> bytes:
            return get(span.name, span.start, span.stop)
        return list(pool.map(fetch, ranges))

    def tar_iteration() -> list[bytes]:
        out = []
        for data in pool.map(get, shards):
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                out.extend(tar.extractfile(m).read() for m in tar)
        return out

    return [pairs.Side("boto3 GET per shard whole, members cut at their offsets", whole_shards),
            pairs.Side("boto3 ranged GETs of storeadvise's ranges", same_ranges),
            pairs.Side("boto3 GET per shard whole, tarfile iteration", tar_iteration)]


SIDES = {"files_index": files_sides, "webdataset": webdataset_sides}
