"""Files + metadata index (``-b files_index``, or ``-b files``): the folder as written, one file per item
under its id, and a Parquet manifest (the advisor's option of the same name).

What it is for: the layout most media collections start in, and the baseline every other layout is
compared with (its bytes at rest are the raw files plus the manifest). Any tool reads it; nothing
needs converting. Its weakness is many small files: each item costs an open, a read and a close, and
a shuffled pass reads files scattered over the disk.

Semantics:

- Layout: ``items/<id>`` holds each item's bytes exactly (the id is the item's relative path, so the
  folder looks like the user's), ``manifest-00000.parquet`` every other column (``backends._media_layout``).
- Access patterns: ``scan`` (an epoch in write order), ``take`` (a shuffled batch: one file read per
  item), ``lookup`` by id (the manifest's id -> position, then one file), ``read``/``project``/``filter``
  (a filter or a projection without the bytes is answered from the manifest alone), ``append`` (new
  files and one more manifest part).
- Each item is read with one ``open`` and one ``readinto`` in this thread, straight into the returned
  Arrow array's buffer (its length is in the manifest); a plain loop of ``Path.read_bytes`` over the
  files is the reference of its perf gate.
- Durability: ordinary file writes, not fsynced; ``--fsync`` fsyncs every item, the manifest and the
  folders before the write returns.
- On object storage (``files_index@s3``, ``--location``; ``backends._media_objects``): each item is the
  object ``<folder>/items/<id>`` and each manifest part an object beside it; a write PUTs the items of
  each batch concurrently, a read GETs every asked item's object concurrently (one request each), and a
  write is durable as the object store promises once the PUTs are answered.
- Type mapping: media tables only (an ordinary table is refused with the reason); the item bytes are
  the files, every other column is in the manifest, exact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from storeadvise.backends._media_layout import item_path, manifest_type_mapping, read_items
from storeadvise.backends._media_objects import ObjectMediaLayout

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    import pyarrow as pa

ITEMS = "items"


class FilesIndexBackend(ObjectMediaLayout):
    """A folder of the items as files, under their ids, plus a Parquet manifest."""

    name: ClassVar[str] = "files_index"
    aliases: ClassVar[tuple[str, ...]] = ("files",)
    location_fields: ClassVar[tuple[tuple[str, str], ...]] = (("_length", "int64"),)
    type_mapping: ClassVar[dict[str, str]] = manifest_type_mapping("one file per item under items/<id>")

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self._written: list[Path] = []

    @property
    def items(self) -> Path:
        return self.location / ITEMS

    def _start(self) -> None:
        self._written = []

    def _put(self, ids: list[str], data: pa.Array, first: int) -> dict[str, list[Any]]:
        if self.objects is not None:
            bodies = [value.as_py() for value in data]
            self.objects.put_all([f"{ITEMS}/{item_id}" for item_id in ids], bodies)
            return {"_length": [len(body) for body in bodies]}
        root = self.items
        folders, lengths = set(), []
        for item_id, value in zip(ids, data, strict=True):
            path = root / item_path(item_id)
            if path.parent not in folders:
                path.parent.mkdir(parents=True, exist_ok=True)
                folders.add(path.parent)
            lengths.append(path.write_bytes(value.as_buffer()))
            if self.settings.fsync:
                self._written.append(path)
        if self.settings.fsync:
            self._written.extend(sorted(folders))
        return {"_length": lengths}

    def _finish(self) -> list[Path]:
        written, self._written = self._written, []
        return written

    def _get(self, rows: pa.Table, positions: np.ndarray) -> pa.Array:
        root, ids = self.items, rows.column("id").to_pylist()
        if self.objects is not None:
            names = [f"{ITEMS}/{item_id}" for item_id in ids]
            return self.objects.read(names, None, rows.column("_length").to_pylist())

        def read_into(i: int, view: memoryview) -> int:
            with open(root / ids[i], "rb", buffering=0) as item:
                return item.readinto(view)

        return read_items(rows.column("_length").to_pylist(), read_into)
