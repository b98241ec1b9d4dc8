"""WebDataset-style tar shards: the items as members of plain tar files of a bounded size, and a manifest
that indexes them.

What it is for: training on many small items from a disk or a bucket that is fast only for large
sequential reads. Each shard is one ordinary tar file (``tar tf`` lists it, the ``webdataset`` package
loads it: a member ``cats/001.jpg`` is the sample ``cats/001`` with its ``jpg``), read from start to end
in an epoch; shuffling is done by a loader over shards and within a buffer. Random access by item is
not what the format is for, which is why this backend keeps an index.

Semantics:

- Layout: ``shard-00000.tar``, ``shard-00001.tar``, ... (stdlib ``tarfile``, ustar/PAX headers, no
  compression: media is compressed already), each closed and a new one started once it holds
  ``webdataset_shard_bytes`` (default 256 MB, the shard size WebDataset's documentation suggests:
  large enough for sequential reads, small enough to spread over workers). A member is named by the
  item's id, holds its bytes exactly, and has mode 0644 and mtime 0 (the shards are reproducible).
  The manifest (``backends._media_layout``) holds every other column and the shard index: each item's
  shard, the offset of its bytes in that shard and their length.
- Access patterns: ``scan`` (an epoch: every shard read in order, each item's bytes at its indexed
  offset, so the reads are sequential), ``take`` (a shuffled batch: one positioned read per item at its
  indexed offset, ``os.preadv`` straight into the returned Arrow array's buffer), ``lookup`` by id
  (the manifest's id -> position, then one read),
  ``read``/``project``/``filter`` (from the manifest, the bytes only when asked), ``append`` (new shards
  and one more manifest part; a written shard is never changed).
- Durability: ordinary file writes, not fsynced; ``--fsync`` fsyncs every shard, the manifest and the
  folder before the write returns.
- On object storage (``webdataset@s3``, ``--location``; ``backends._media_objects``): each shard is the
  object ``<folder>/shard-NNNNN.tar``, built in memory and uploaded in one PUT while the next is built,
  the manifest parts objects beside them; a take is one ranged GET per item at its indexed offset (one per
  run of neighbouring items), concurrent; a scan reads its shards in ranges of up to 32 MiB, concurrent;
  a write is durable as the object store promises once the PUTs are answered.
- Type mapping: media tables only (an ordinary table is refused with the reason); the item bytes are
  the tar members, every other column is in the manifest, exact.
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Any, ClassVar

from storeadvise.backends._media_layout import item_path, manifest_type_mapping, read_items
from storeadvise.backends._media_objects import ObjectMediaLayout
from storeadvise.errors import UsageError
from storeadvise.units import parse_bytes

if TYPE_CHECKING:
    import tarfile
    from concurrent.futures import Future
    from pathlib import Path

    import numpy as np
    import pyarrow as pa

DEFAULT_SHARD_BYTES = 256 * 1000**2
BLOCK = 512
"""Tar's block size: a member's bytes are padded to a multiple of it."""


class WebdatasetBackend(ObjectMediaLayout):
    """Tar shards of at most ``webdataset_shard_bytes``, indexed by the manifest."""

    name: ClassVar[str] = "webdataset"
    aliases: ClassVar[tuple[str, ...]] = ("wds", "tar")
    location_fields: ClassVar[tuple[tuple[str, str], ...]] = (("_shard", "int32"), ("_offset", "int64"),
                                                               ("_length", "int64"))
    type_mapping: ClassVar[dict[str, str]] = manifest_type_mapping("members of tar shards")

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self._tar: tarfile.TarFile | None = None
        self._shard = -1
        self._written: list[Path] = []
        self._fds: dict[int, int] = {}
        self._uploads: list[Future[None]] = []

    def shard_bytes(self) -> int:
        """The size at which a shard is closed (option ``webdataset_shard_bytes``, e.g. ``256MB``)."""
        value = self.settings.options.get("webdataset_shard_bytes") or DEFAULT_SHARD_BYTES
        size = parse_bytes(value, "webdataset_shard_bytes")
        if size < BLOCK:
            raise UsageError(f"webdataset_shard_bytes must be at least {BLOCK} bytes, not {value}")
        return size

    @staticmethod
    def shard_name(index: int) -> str:
        return f"shard-{index:05d}.tar"

    def shard_path(self, index: int) -> Path:
        return self.location / self.shard_name(index)

    def _start(self) -> None:
        self._tar = None
        self._written = []
        if self.objects is None:
            self._shard = len(list(self.location.glob("shard-*.tar"))) - 1
        else:  # the shards are numbered from 0 without a gap: the manifest knows the last one
            self._shard = -1 if self._empty else max(self.manifest.column("_shard").to_pylist(), default=-1)

    def _next_shard(self) -> tarfile.TarFile:
        import tarfile

        self._close_tar()
        self._shard += 1
        if self.objects is not None:  # built in memory, uploaded whole when closed
            self._tar = tarfile.open(fileobj=io.BytesIO(), mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115 - as below
            return self._tar
        path = self.shard_path(self._shard)
        self._written.append(path)
        self._tar = tarfile.open(path, "w", format=tarfile.PAX_FORMAT)  # noqa: SIM115 - open across _put calls, closed by _close_tar
        return self._tar

    def _close_tar(self) -> None:
        if self._tar is not None:
            self._tar.close()
            if self.objects is not None:
                buffer = self._tar.fileobj.getvalue()  # type: ignore[union-attr]
                self._uploads.append(self.objects.put_later(self.shard_name(self._shard), buffer))
            self._tar = None

    def _put(self, ids: list[str], data: pa.Array, first: int) -> dict[str, list[Any]]:
        import tarfile

        import pyarrow as pa

        limit = self.shard_bytes()
        shards, offsets, lengths = [], [], []
        for item_id, value in zip(ids, data, strict=True):
            tar = self._tar if self._tar is not None and self._tar.offset < limit else self._next_shard()
            buffer = value.as_buffer()
            info = tarfile.TarInfo(item_path(item_id))
            info.size, info.mode, info.mtime = buffer.size, 0o644, 0
            tar.addfile(info, pa.BufferReader(buffer))
            shards.append(self._shard)
            offsets.append(tar.offset - -(-buffer.size // BLOCK) * BLOCK)  # the bytes end where padding starts
            lengths.append(buffer.size)
        return {"_shard": shards, "_offset": offsets, "_length": lengths}

    def _finish(self) -> list[Path]:
        self._close_tar()
        uploads, self._uploads = self._uploads, []
        for upload in uploads:
            upload.result()
        written, self._written = self._written, []
        return written

    def _fd(self, shard: int) -> int:
        fd = self._fds.get(shard)
        if fd is None:  # two threads may open a shard at once: the first stored is kept, the other closed
            opened = os.open(self.shard_path(shard), os.O_RDONLY)
            fd = self._fds.setdefault(shard, opened)
            if fd != opened:
                os.close(opened)
        return fd

    def _get(self, rows: pa.Table, positions: np.ndarray) -> pa.Array:
        shards, offsets = rows.column("_shard").to_pylist(), rows.column("_offset").to_pylist()
        if self.objects is not None:
            return self.objects.read([self.shard_name(k) for k in shards], offsets, rows.column("_length").to_pylist())
        return read_items(rows.column("_length").to_pylist(),
                          lambda i, view: os.preadv(self._fd(shards[i]), [view], offsets[i]))

    def _release(self) -> None:
        if self.objects is not None:  # a shard being built is dropped; uploads under way end before a clear
            self._tar = None
            for upload in self._uploads:
                upload.exception()
            self._uploads = []
        self._close_tar()
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
