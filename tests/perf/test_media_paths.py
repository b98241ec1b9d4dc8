"""A shuffled epoch of media items through storeadvise against the layout's own library, read the same
way (the gate of file backends, 1.10).

The items: a generated folder of text documents (``storeadvise sample documents``; the bytes of an
item are what is read, so documents stand for any media at a fraction of the generation time), loaded
as the media table and written once into each layout that takes positions. storeadvise's side is the
``shuffle`` operation: one seeded epoch in batches of 32 read ahead by 4 threads (``bench.feeding``).
The direct sides read the same batches in the same order with the layout's own call (Lance:
``LanceDataset.take``): one after the other, and through a ``ThreadPoolExecutor`` of 4 threads per
epoch and kept across epochs (what ``DataLoader`` does with ``persistent_workers``).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pairs
import pytest

ITEMS = 2_000
ITEM_BYTES = 50_000
LAYOUTS = ("lance",)
"""The layouts on this branch that take positions; more join as their backends gain ``take``."""


@pytest.fixture(scope="module")
def media_store(perf_scratch: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    from storeadvise.backends import backend_class
    from storeadvise.backends.base import BackendSettings
    from storeadvise.bench.api import write_media_sample
    from storeadvise.bench.datasets import load_dataset

    folder = perf_scratch / "media" / "documents"
    write_media_sample("documents", ITEMS, ITEM_BYTES, folder)
    dataset = load_dataset(folder)
    stores = {}
    for name in LAYOUTS:
        backend = backend_class(name)(BackendSettings(run_id="perf_media", scratch_dir=perf_scratch / "media" / name,
                                                      key_column="id"))
        backend.open()
        backend.write(dataset.schema, dataset.batches())
        stores[name] = backend
    yield {"dataset": dataset, "stores": stores}
    for backend in stores.values():
        backend.cleanup()
    shutil.rmtree(perf_scratch / "media", ignore_errors=True)


def direct_sides(name: str, backend: Any, batches: list[list[int]], workers: int) -> list[pairs.Side]:
    import lance

    assert name == "lance"
    dataset = lance.dataset(str(backend.location))
    kept = ThreadPoolExecutor(max_workers=workers)

    def per_epoch() -> list[Any]:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(dataset.take, batches))

    return [
        pairs.Side("lance take, one batch after another", lambda: [dataset.take(b) for b in batches]),
        pairs.Side(f"lance take, {workers} threads per epoch", per_epoch),
        pairs.Side(f"lance take, {workers} threads kept", lambda: list(kept.map(dataset.take, batches))),
    ]


@pytest.mark.parametrize("name", LAYOUTS)
def test_shuffled_epoch_vs_direct(benchmark: Any, media_store: dict[str, Any], name: str) -> None:
    from storeadvise.backends.operations import OPERATIONS
    from storeadvise.bench.feeding import Epoch, LoaderSettings

    backend = media_store["stores"][name]
    settings = LoaderSettings()
    epoch = Epoch.of(ITEMS, settings, seed=0, modality="text")
    shuffle = OPERATIONS["shuffle"]
    storeadvise = pairs.Side("storeadvise", lambda: list(shuffle.call(backend, epoch)))
    candidates = direct_sides(name, backend, list(epoch.batches()), settings.workers)
    result = pairs.run_case(benchmark, name, "shuffle", backend.kind, ITEMS, storeadvise, candidates,
                            notes=f"{ITEMS} items of ~{ITEM_BYTES // 1000} kB, batches of {settings.batch_size}",
                            dataset="documents")
    if not result.passed:
        pytest.fail(result.message(), pytrace=False)
