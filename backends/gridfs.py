"""MongoDB GridFS: each item a GridFS file (its bytes in 255 kB chunks) in the run's scratch database, and a
Parquet manifest.

What it is for: items a MongoDB deployment already serves, and items of 16 MB and more, which a plain
document cannot hold (BSON's limit). Each read of an item is a query for its file document and one for
its chunks, so small items pay two round trips each: plain documents (``-b mongo``) suit them better.

Semantics:

- Layout: the GridFS bucket ``fs`` (collections ``fs.files`` and ``fs.chunks``) of database
  ``storeadvise_<runid>`` on the mongo service's server (embedded SecantusDB, or ``--mongo-uri``); a file
  is named by the item's id and holds its bytes exactly. The manifest (``backends._media_layout``), in
  the run's local scratch folder, holds every other column and each item's GridFS file id.
- Access patterns: ``scan`` (an epoch: every file's bytes in write order), ``take`` (a shuffled batch),
  ``lookup`` by id (the manifest's id -> position, then its bytes),
  ``read``/``project``/``filter`` (from the manifest, the bytes only when asked), ``append`` (new files,
  one more manifest part).
- Reads: the bytes of a batch of items are one query on ``fs.chunks`` (``files_id`` ``$in`` the batch's
  file ids, answered by GridFS's index on ``files_id, n``), each file's chunks joined in ``n`` order: a
  download per item (``GridFSBucket.open_download_stream``) asks for the file's document and then its
  chunks, two round trips per item, and took 1.6 times as long for an epoch of 100 kB items
  (docs/decisions.md, 'GridFS: the chunks of a batch in one query').
- The connection, its write concern and the clean-up are the mongo backend's (``MongoBackend``):
  ``cleanup`` drops exactly the scratch database. ``size_bytes`` is the server's ``collStats`` of both
  collections plus the manifest file.
- Durability: the mongo backend's write concern: acknowledged writes, ``j=true`` with ``--fsync``
  (the manifest and its folder fsynced too).
- Type mapping (as every media layout's): media tables only, the item bytes as GridFS files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from storeadvise.backends._media_layout import MediaLayout, manifest_type_mapping
from storeadvise.backends.mongo import SERVICE, MongoBackend

BUCKET = "fs"
"""GridFS's default bucket name: the collections ``fs.files`` and ``fs.chunks``."""
CHUNK_BYTES = 255 * 1024
"""GridFS's default chunk size (the specification's 255 KiB, what every driver writes)."""

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    import pyarrow as pa

    from storeadvise.backends.base import Durability
    from storeadvise.backends.services import Service


class GridfsBackend(MediaLayout):
    """Items as GridFS files on the mongo service's server, plus a local Parquet manifest."""

    name: ClassVar[str] = "gridfs"
    kind: ClassVar[str] = "server"
    service: ClassVar[Service | None] = SERVICE
    own_cache: ClassVar[bool] = True  # the server's cache
    location_fields: ClassVar[tuple[tuple[str, str], ...]] = (("_file_id", "binary"),)
    write_guarantees: ClassVar[tuple[Durability, Durability]] = MongoBackend.write_guarantees
    type_mapping: ClassVar[dict[str, str]] = manifest_type_mapping("one GridFS file per item")

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self._mongo = MongoBackend(settings)

    def open(self) -> None:
        self._mongo.open()

    def reconnect(self) -> None:
        self._mongo.reconnect()

    def server_info(self) -> dict[str, Any] | None:
        return self._mongo.server_info()

    def _start(self) -> None:
        """The indexes every GridFS driver makes before its first upload (the GridFS specification)."""
        database = self._mongo.database
        database[f"{BUCKET}.files"].create_index([("filename", 1), ("uploadDate", 1)])
        database[f"{BUCKET}.chunks"].create_index([("files_id", 1), ("n", 1)], unique=True)

    def _put(self, ids: list[str], data: pa.Array, first: int) -> dict[str, list[Any]]:
        """A batch of items as GridFS files, written as the specification lays them out (a ``fs.files``
        document per item, its bytes in ``CHUNK_BYTES`` chunks in ``fs.chunks``) with one ``insert_many``
        per collection: ``GridFSBucket.upload_from_stream`` makes several round trips per item (it checks
        the indexes for every file), and took 203 s for 2,000 items of 100 kB on the embedded server
        against 1.8 s for the same items as plain documents (docs/decisions.md, 'GridFS: files written in
        bulk'). Any GridFS client reads them (tested with ``GridFSBucket``)."""
        import datetime

        from bson import ObjectId

        files, chunks = [], []
        now = datetime.datetime.now(datetime.timezone.utc)
        for item_id, value in zip(ids, data, strict=True):
            file_id, data_bytes = ObjectId(), value.as_py()
            chunks += [{"files_id": file_id, "n": n, "data": data_bytes[start:start + CHUNK_BYTES]}
                       for n, start in enumerate(range(0, len(data_bytes), CHUNK_BYTES))]
            files.append({"_id": file_id, "length": len(data_bytes), "chunkSize": CHUNK_BYTES, "uploadDate": now,
                          "filename": item_id})
        database = self._mongo.database.with_options(write_concern=self._mongo._write_concern())
        if chunks:  # the chunks first: a files document names a complete file
            database[f"{BUCKET}.chunks"].insert_many(chunks, ordered=False)
        if files:
            database[f"{BUCKET}.files"].insert_many(files, ordered=False)
        return {"_file_id": [f["_id"].binary for f in files]}

    def _finish(self) -> list[Path]:
        return []

    def _get(self, rows: pa.Table, positions: np.ndarray) -> pa.Array:
        import pyarrow as pa
        from bson import ObjectId

        files = [ObjectId(file_id) for file_id in rows.column("_file_id").to_pylist()]
        chunks: dict[Any, list[tuple[int, bytes]]] = {}
        for chunk in self._mongo.database[f"{BUCKET}.chunks"].find({"files_id": {"$in": list(set(files))}}):
            chunks.setdefault(chunk["files_id"], []).append((chunk["n"], chunk["data"]))
        # an empty file has no chunk; a file of one chunk is that chunk's bytes, not a copy
        return pa.array([b"".join(data for _, data in sorted(chunks.get(f, ()))) for f in files], pa.large_binary())

    def clear(self) -> None:
        database = self._mongo.database
        for suffix in ("files", "chunks"):
            database.drop_collection(f"{BUCKET}.{suffix}")
        super().clear()

    def cleanup(self) -> None:
        super().clear()  # the local manifest; the database goes with the mongo backend's clean-up
        self._mongo.cleanup()

    def size_bytes(self) -> int:
        database = self._mongo.database
        stored = 0
        for suffix in ("files", "chunks"):
            stats = database.command("collStats", f"{BUCKET}.{suffix}")
            stored += int(stats.get("storageSize") or stats.get("size") or 0) + int(stats.get("totalIndexSize") or 0)
        return stored + super().size_bytes()

    def size_source(self) -> str:
        return "server: collStats storageSize (else size) plus index size of fs.files and fs.chunks; plus the manifest"
