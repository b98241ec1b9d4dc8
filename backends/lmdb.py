"""LMDB: one key per item in a memory-mapped B+tree file (PyPI ``lmdb``), and a Parquet manifest.

What it is for: many small items read at random, the store image-training pipelines adopted when a
folder of millions of files was too slow to list and open (one file, reads served from the memory map,
no per-item open). Items of a few MB and more gain little over files.

Semantics:

- Layout: ``items.lmdb/`` is one LMDB environment (``data.mdb`` and ``lock.mdb``); the key of an item is
  its position (8 bytes, big-endian, so that key order is write order) and its value is its bytes
  exactly. The manifest (``backends._media_layout``) holds every other column; an id is looked up there.
  The map size is 1 TiB of address space (only what is written takes disk).
- Access patterns: ``scan`` (an epoch: one read transaction, a cursor walking the keys in order, values
  straight from the memory map), ``take`` (a shuffled batch: one ``get`` per item in one read
  transaction), ``lookup`` by id (the manifest's id -> position, then one ``get``),
  ``read``/``project``/``filter`` (from the manifest, the bytes only when asked), ``append`` (one write
  transaction of new keys, one more manifest part).
- Values are read as buffers into the memory map (``buffers=True``) and copied once, into the Arrow
  array the read returns, before the transaction ends.
- Durability: LMDB commits are atomic (copy-on-write pages, then the meta page). By default the
  environment is opened with ``sync=False, metasync=False``: a committed write survives an application
  crash; a power loss or OS crash can lose the last commits, never corrupt the file. ``--fsync`` opens
  it with ``sync=True``: every commit is on disk when it returns (and the manifest and folder fsynced).
- Type mapping: media tables only (an ordinary table is refused with the reason); the item bytes are
  LMDB values, every other column is in the manifest, exact.
"""

from __future__ import annotations

import importlib.util
import itertools
import threading
from typing import TYPE_CHECKING, Any, ClassVar

from storeadvise.backends._media_layout import MediaLayout, manifest_type_mapping
from storeadvise.backends.base import Durability

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import lmdb
    import numpy as np
    import pyarrow as pa

MAP_SIZE = 1 << 40
ENVIRONMENT = "items.lmdb"


def item_key(position: int) -> bytes:
    """The LMDB key of the item at ``position``: big-endian, so that the keys sort in write order."""
    return position.to_bytes(8, "big")


class LmdbBackend(MediaLayout):
    """One LMDB environment, a key per item, plus a Parquet manifest."""

    name: ClassVar[str] = "lmdb"
    own_cache: ClassVar[bool] = True
    type_mapping: ClassVar[dict[str, str]] = manifest_type_mapping("one LMDB value per item")
    write_guarantees: ClassVar[tuple[Durability, Durability]] = (
        Durability(False, "LMDB commits atomically but without syncing (sync=False): an application crash loses "
                   "nothing committed, a power loss or OS crash can lose the last commits"),
        Durability(True, "LMDB syncs every commit (sync=True) and the manifest and folder are fsynced (--fsync)"),
    )

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self._env: lmdb.Environment | None = None
        self._opening = threading.Lock()
        """LMDB refuses a second handle on an environment in one process: loader threads open it once."""

    @classmethod
    def available(cls, settings: Any = None) -> tuple[bool, str]:
        if importlib.util.find_spec("lmdb") is None:
            return False, "install lmdb (pip install 'storeadvise[layouts]')"
        return True, "ok"

    @property
    def env(self) -> lmdb.Environment:
        """The open environment (opened on first use after ``release_cache``)."""
        with self._opening:
            self._env = self._env or self._open()
        return self._env

    def _open(self) -> lmdb.Environment:
        import lmdb

        path = self.location / ENVIRONMENT
        if not path.is_dir():
            raise self.nothing_written()
        return lmdb.open(str(path), map_size=MAP_SIZE, sync=self.settings.fsync, metasync=self.settings.fsync)

    def _start(self) -> None:
        (self.location / ENVIRONMENT).mkdir(exist_ok=True)

    def _put(self, ids: list[str], data: pa.Array, first: int) -> dict[str, list[Any]]:
        with self.env.begin(write=True) as txn:
            items = ((item_key(first + i), value.as_buffer()) for i, value in enumerate(data))
            txn.cursor().putmulti(items, append=True)
        return {}

    def _finish(self) -> list[Path]:
        path = self.location / ENVIRONMENT
        return [*path.iterdir(), path] if self.settings.fsync else []

    def _get(self, rows: pa.Table, positions: np.ndarray) -> pa.Array:
        import pyarrow as pa

        with self.env.begin(buffers=True) as txn:
            return pa.array([txn.get(item_key(p)) for p in positions.tolist()], pa.large_binary())

    def _scan_bytes(self, slices: list[tuple[int, int]]) -> Iterator[pa.Array]:
        import pyarrow as pa

        with self.env.begin(buffers=True) as txn, txn.cursor() as cursor:
            values = cursor.iternext(keys=False, values=True)
            for start, stop in slices:
                yield pa.array(list(itertools.islice(values, stop - start)), pa.large_binary())

    def _release(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None
