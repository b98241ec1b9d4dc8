"""The media layouts on object storage (``-b files_index@s3``, ``-b webdataset@s3``, or ``--location
s3://bucket/prefix`` with ``-b files,wds``): the same objects a user would put in a bucket.

files_index puts every item as an object under ``<folder>/items/<id>``, webdataset every tar shard as an
object ``<folder>/shard-NNNNN.tar``, and both their manifest parts as ``<folder>/manifest-NNNNN.parquet``
(``<folder>`` is ``prefix/storeadvise_<run id>/<backend>``, ``backends._objectstore``). The item ids are
checked as on the disk (``_media_layout.item_path``), so no key leaves the folder.

The client is boto3, not pyarrow's S3 filesystem that the file backends use: with many small objects
boto3 PUT them 3.2 times and GET them 1.8 times as fast, because pyarrow's filesystem asks for each
object's size (a HEAD) before it GETs it and makes more requests per upload; ranged GETs cost the same
with either (docs/decisions.md, 'Object storage: boto3 for the media layouts'). Every batch of items is
fetched concurrently by ``GET_THREADS`` threads (one pool per backend, shared by the loader threads of a
shuffled epoch, so at most that many GETs are in flight): one GET per item object, and for tar shards one
ranged GET per run of neighbouring items (``spans``: the items of a shard whose bytes lie at most
``NEIGHBOUR_GAP`` apart, up to ``STREAM_BUFFER_BYTES`` a request), so a take of random items asks for
each item's range and a scan for large ranges of its shards. A shard is built in memory and uploaded in
one PUT by the pool while the next one is built.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from storeadvise.backends._media_layout import MANIFEST_PREFIX, MediaLayout, read_items
from storeadvise.backends._objectstore import Located
from storeadvise.backends._partfiles import STREAM_BUFFER_BYTES

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor
    from pathlib import Path

    import pyarrow as pa

    from storeadvise.backends._objectstore import RemoteFolder

GET_THREADS = 8
"""Requests in flight at once per backend (docs/decisions.md, 'Object storage: boto3 for the media layouts')."""
NEIGHBOUR_GAP = 8 * 1024
"""Items of a shard whose bytes are at most this far apart (a tar header and padding; a PAX header for a
long name) are read by one ranged GET: the bytes in between cost less than a request."""


@dataclass(frozen=True)
class Span:
    """One GET: the bytes ``[start, stop)`` of the object ``name`` (the whole object when ``stop`` is None),
    holding the asked items ``items`` (their indices in the request)."""

    name: str
    start: int
    stop: int | None
    items: tuple[int, ...]


def spans(names: Sequence[str], offsets: Sequence[int], lengths: Sequence[int], *, gap: int = NEIGHBOUR_GAP,
          limit: int = STREAM_BUFFER_BYTES) -> list[Span]:
    """The ranged GETs that read item ``i``'s bytes ``[offsets[i], offsets[i] + lengths[i])`` of the object
    ``names[i]``: neighbouring items of an object (at most ``gap`` bytes apart) share one, up to ``limit``
    bytes a request."""
    runs: list[list[Any]] = []
    for i in sorted(range(len(names)), key=lambda i: (names[i], offsets[i])):
        start, stop = offsets[i], offsets[i] + lengths[i]
        run = runs[-1] if runs else None
        if run is not None and run[0] == names[i] and start - run[2] <= gap and max(stop, run[2]) - run[1] <= limit:
            run[2] = max(run[2], stop)
            run[3].append(i)
        else:
            runs.append([names[i], start, stop, [i]])
    return [Span(name, start, stop, tuple(items)) for name, start, stop, items in runs]


class Objects:
    """A layout's folder in the bucket, through boto3: keys under the folder, and PUTs and GETs run by a
    pool of ``GET_THREADS`` threads."""

    def __init__(self, remote: RemoteFolder) -> None:
        self.remote = remote
        self.bucket = remote.where.bucket
        self.prefix = remote.path.partition("/")[2]
        self._pool: ThreadPoolExecutor | None = None
        self._client: Any = None
        self._lock = threading.Lock()

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    @property
    def client(self) -> Any:
        """boto3's S3 client (thread-safe once made; made under a lock: making two at once is not)."""
        with self._lock:
            if self._client is None:
                self._client = self.remote._client()
            return self._client

    @property
    def pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(max_workers=GET_THREADS, thread_name_prefix="storeadvise-s3")
            return self._pool

    def put(self, name: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.key(name), Body=body)

    def put_all(self, names: Sequence[str], bodies: Sequence[bytes]) -> None:
        for _ in self.pool.map(self.put, names, bodies):
            pass

    def put_later(self, name: str, body: bytes) -> Future[None]:
        """Upload ``body`` as ``name`` on the pool; the caller waits on the future."""
        return self.pool.submit(self.put, name, body)

    def get(self, span: Span) -> bytes:
        if span.stop is not None and span.stop <= span.start:
            return b""  # an empty range: no request (S3 has no way to ask for zero bytes)
        ranged = {} if span.stop is None else {"Range": f"bytes={span.start}-{span.stop - 1}"}
        return self.client.get_object(Bucket=self.bucket, Key=self.key(span.name), **ranged)["Body"].read()

    def read(self, names: Sequence[str], offsets: Sequence[int] | None, lengths: Sequence[int]) -> pa.Array:
        """The bytes of the items, in the order asked, as ``large_binary``: item ``i`` is the whole object
        ``names[i]`` (``offsets`` None) or ``lengths[i]`` bytes at ``offsets[i]`` of it, fetched concurrently."""
        if offsets is None:
            offsets = [0] * len(names)
            gets = [Span(name, 0, None, (i,)) for i, name in enumerate(names)]
        else:
            gets = spans(names, offsets, lengths)
        where: list[tuple[bytes, int]] = [(b"", 0)] * len(names)
        for span, data in zip(gets, self.pool.map(self.get, gets), strict=True):
            for i in span.items:
                where[i] = (data, offsets[i] - span.start)

        def read_into(i: int, view: memoryview) -> int:
            data, at = where[i]
            piece = memoryview(data)[at:at + len(view)]
            view[:len(piece)] = piece
            return len(piece)

        return read_items(list(lengths), read_into)

    def names(self, start: str) -> list[str]:
        """The names of the folder's objects that start with ``start``, sorted."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.key(start))
        return sorted(item["Key"][len(self.prefix) + 1:] for page in pages for item in page.get("Contents", []))

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)


class ObjectMediaLayout(Located, MediaLayout):
    """A media layout whose folder may be in a bucket (``self.objects``; None on the local disk, where the
    layout's own code runs unchanged)."""

    object_client: ClassVar[str] = "boto3"

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.locate(settings, self.name)
        self.objects = None if self.remote is None else Objects(self.remote)
        self._empty = False
        """True from a ``clear`` on object storage until the next manifest is stored: nothing to list or delete."""

    def open(self) -> None:
        super().open()
        if self.objects is not None:
            _ = self.objects.client  # made here, not inside the first timed call

    def size_source(self) -> str:
        if self.remote is not None:
            return "objects: the sizes the object store lists for the layout's objects (items or shards, manifest)"
        return super().size_source()

    def size_bytes(self) -> int:
        return super().size_bytes() if self.remote is None else self.remote.total_bytes()

    def clear(self) -> None:
        super().clear()
        if self.remote is not None:
            self.remote.clear()
            self._empty = True

    def cleanup(self) -> None:
        super().cleanup()
        if self.remote is not None and self.objects is not None:
            self.remote.remove()
            self.objects.close()

    def _fresh(self) -> None:
        if self.remote is None:
            super()._fresh()
        elif not self._empty:  # the runner cleared just before the timed write: no listing inside it
            self.clear()

    def _synced(self, paths: list[Path]) -> None:
        if self.remote is None:  # an object is stored once its PUT is answered: nothing to sync
            super()._synced(paths)

    def _save_manifest(self, name: str, table: pa.Table) -> list[Path]:
        if self.objects is None:
            return super()._save_manifest(name, table)
        import pyarrow as pa
        import pyarrow.parquet as pq

        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        self.objects.put(name, sink.getvalue().to_pybytes())
        self._empty = False
        return []

    def _manifest_names(self) -> list[str]:
        if self.objects is None:
            return super()._manifest_names()
        names = [] if self._empty else self.objects.names(MANIFEST_PREFIX)
        if not names:
            raise self.nothing_written()
        return names

    def _manifest_file(self, name: str) -> Any:
        if self.objects is None:
            return super()._manifest_file(name)
        import pyarrow as pa

        return pa.BufferReader(self.objects.get(Span(name, 0, None, ())))
