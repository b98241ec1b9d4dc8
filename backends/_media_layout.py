"""What the media layouts (files_index, webdataset, lmdb, gridfs) share: the items' bytes in the layout's own storage,
everything else about them in a manifest.

A media table (``storeadvise.media``) is one row per item: its id, its bytes, its size, its format and
any labels. A layout keeps the bytes its own way (one file per item, tar shards, LMDB values) and the
other columns, plus where each item's bytes are (``location_fields``: a shard and an offset, say), in a
manifest: a Parquet file written with the items (``manifest-00000.parquet``), and one more per append.
The manifest is read once into memory (Arrow) and kept until the next write: every read starts from
it, so the rows come back in write order with their labels exactly as written, and an item is found by
position (``take``) or by id (``lookup``, a dictionary from id to position built on first use) without
touching any other item's bytes. Parquet rather than SQLite for the manifest: the whole manifest is
wanted in memory anyway, and Parquet gives it back as Arrow in one call with every label column's type
exact (docs/decisions.md, 'Media layouts: the manifest in Parquet').

Only media tables: an ordinary table has no item bytes to lay out, so ``write`` refuses it with
``UnsupportedOperation`` and the reason (``refuses``). Item ids become names (file paths, tar member
names), so an id that would leave the folder (absolute, ``..``, empty parts) is a ``DataError``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, ClassVar

from storeadvise.backends._selection import check_columns, select, subschema
from storeadvise.backends.base import Backend, Predicate, fsync_paths
from storeadvise.backends.batching import check_batch_rows
from storeadvise.errors import DataError, UnsupportedOperation
from storeadvise.media import BYTES_COLUMN, ID_COLUMN, media_modality

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    import pyarrow as pa

MEDIA_OPERATIONS = frozenset({"write", "read", "scan", "project", "filter", "lookup", "take", "append"})
MANIFEST_PREFIX = "manifest-"
MANIFEST_TYPES = "the manifest (Parquet, Arrow schema kept: exact)"


def manifest_type_mapping(items: str) -> dict[str, str]:
    """A layout's ``type_mapping``: the item bytes where ``items`` says, every other column in the manifest."""
    families = ("timestamp", "timestamp with timezone", "date", "null", "bool", "int64", "float", "decimal",
                "string", "nested struct/list")
    return {**dict.fromkeys(families, MANIFEST_TYPES),
            "binary": f"the item bytes ({BYTES_COLUMN!r}): {items}, byte-identical; other binary columns: "
                      f"{MANIFEST_TYPES}"}


def refuses_table(schema: pa.Schema) -> str | None:
    """Why a media layout cannot store a table of ``schema`` (not a media table), or None."""
    if media_modality(schema) is None or ID_COLUMN not in schema.names or BYTES_COLUMN not in schema.names:
        return ("stores media tables only (one row per item: its id and its bytes, from a folder of images, "
                "video, audio or documents); an ordinary table has no items to lay out")
    return None


def item_path(item_id: str) -> str:
    """``item_id`` as a relative path that stays inside the layout's folder; ``DataError`` otherwise."""
    path = PurePosixPath(item_id)
    if not item_id or path.is_absolute() or any(part in ("", ".", "..") for part in item_id.split("/")) \
            or "\\" in item_id or "\0" in item_id:
        raise DataError(f"item id {item_id!r} is not a relative path inside the folder")
    return item_id


def read_items(lengths: list[int], read_into: Callable[[int, memoryview], int]) -> pa.Array:
    """The bytes of ``len(lengths)`` items as one ``large_binary`` array, each item read by ``read_into(i,
    view)`` straight into its place in the array's buffer (a read into ``bytes`` and then into Arrow would
    copy every item twice); ``DataError`` when an item is not as long as the manifest says (changed since)."""
    import numpy as np
    import pyarrow as pa

    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64)
    data = pa.allocate_buffer(int(offsets[-1]))
    view = memoryview(data).cast("B")
    for i, (start, stop) in enumerate(zip(offsets.tolist(), offsets[1:].tolist(), strict=False)):
        if read_into(i, view[start:stop]) != stop - start:
            raise DataError(f"item {i} of this read is not the length its manifest records: changed since written")
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(lengths), [None, pa.py_buffer(offsets), data])


class MediaLayout(Backend):
    """Items' bytes in the layout's storage (subclass hooks), their other columns in the manifest."""

    kind: ClassVar[str] = "file"
    supports: ClassVar[frozenset[str]] = MEDIA_OPERATIONS
    location_fields: ClassVar[tuple[tuple[str, str], ...]] = ()
    """Manifest columns saying where each item's bytes are (name, Arrow type name), filled by ``_put``."""

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self._manifest: pa.Table | None = None
        self._schema: pa.Schema | None = None
        self._ids: dict[str, int] | None = None

    # -- the layout's own storage (subclasses) -------------------------------------------------------------
    @abc.abstractmethod
    def _start(self) -> None:
        """Open the store for writing (the folder exists and is empty)."""

    @abc.abstractmethod
    def _put(self, ids: list[str], data: pa.Array, first: int) -> dict[str, list[Any]]:
        """Store the items ``ids`` (bytes ``data``; ``first`` the position of the first): their location columns."""

    @abc.abstractmethod
    def _finish(self) -> list[Path]:
        """Close what the write or append opened; the files it wrote or changed (fsynced with ``--fsync``)."""

    @abc.abstractmethod
    def _get(self, rows: pa.Table, positions: np.ndarray) -> pa.Array:
        """The bytes of the items at ``positions`` (their manifest ``rows``), in that order, as ``large_binary``."""

    def _scan_bytes(self, slices: list[tuple[int, int]]) -> Iterator[pa.Array]:
        """The bytes of each slice ``[start, stop)`` of the items in write order (override to stream)."""
        import numpy as np

        for start, stop in slices:
            yield self._get(self.manifest.slice(start, stop - start), np.arange(start, stop))

    def _release(self) -> None:
        """Close open handles (files, environments)."""

    # -- life cycle ----------------------------------------------------------------------------------------
    def refuses(self, schema: pa.Schema) -> str | None:
        return refuses_table(schema)

    def why_unsupported(self, op: str) -> str:
        if op == "write_one":
            return f"{self.name} stores items; one row is one item, which append stores"
        return super().why_unsupported(op)

    def release_cache(self) -> None:
        self._release()

    def clear(self) -> None:
        self._release()
        self._manifest = self._schema = self._ids = None
        super().clear()

    # -- writes --------------------------------------------------------------------------------------------
    def write(self, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> None:
        reason = self.refuses(schema)
        if reason:
            raise UnsupportedOperation(f"{self.name} {reason}")
        self._fresh()
        self._start()
        self._schema = schema
        written = self._store(batches, first=0, part=0)
        self._synced([*written, self.location, self.location.parent])

    def append(self, batch: pa.RecordBatch) -> None:
        schema = self.schema
        if batch.schema.names != schema.names:
            raise DataError(f"{self.name}: appended rows have columns {', '.join(batch.schema.names)}, "
                            f"but the stored data has {', '.join(schema.names)}")
        batch = batch if batch.schema == schema else batch.cast(schema)
        parts = self._manifest_names()
        self._start()
        self._synced([*self._store([batch], first=self.manifest.num_rows, part=len(parts)), self.location])

    def _store(self, batches: Iterable[pa.RecordBatch], first: int, part: int) -> list[Path]:
        """Put every batch's items, then write their manifest part; the files written."""
        import pyarrow as pa

        schema = self.schema
        rows: list[pa.RecordBatch] = []
        locations: dict[str, list[Any]] = {name: [] for name, _ in self.location_fields}
        position = first
        for batch in batches:
            ids = batch.column(ID_COLUMN).to_pylist()
            for item_id in ids:
                item_path(item_id)
            for name, values in self._put(ids, batch.column(BYTES_COLUMN), position).items():
                locations[name].extend(values)
            rows.append(batch.drop_columns([BYTES_COLUMN]))
            position += batch.num_rows
        written = self._finish()
        table = pa.Table.from_batches(rows, schema=schema.remove(schema.get_field_index(BYTES_COLUMN)))
        for name, type_name in self.location_fields:
            table = table.append_column(name, pa.array(locations[name], getattr(pa, type_name)()))
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **self._schema_note()})
        saved = self._save_manifest(f"{MANIFEST_PREFIX}{part:05d}.parquet", table)
        self._manifest = None if first else table
        self._ids = None
        return [*written, *saved]

    def _schema_note(self) -> dict[bytes, bytes]:
        """The written schema, kept in the manifest's metadata (the bytes column is not in the manifest)."""
        return {b"storeadvise.schema": self.schema.serialize().to_pybytes()}

    def _synced(self, paths: list[Path]) -> None:
        if self.settings.fsync:
            fsync_paths(paths)

    # -- where the layout is (a local folder here; ``backends._media_objects`` puts it in a bucket) --------
    def _fresh(self) -> None:
        """Make the layout's place empty before a write."""
        self.clear()
        self.location.mkdir(parents=True)

    def _save_manifest(self, name: str, table: pa.Table) -> list[Path]:
        """Store the manifest part ``name``; the files written (fsynced with ``--fsync``)."""
        import pyarrow.parquet as pq

        path = self.location / name
        pq.write_table(table, path)
        return [path]

    def _manifest_names(self) -> list[str]:
        """The manifest parts' names in write order; ``DataError`` when nothing was written."""
        parts = sorted(self.location.glob(f"{MANIFEST_PREFIX}*.parquet")) if self.location.is_dir() else []
        if not parts:
            raise self.nothing_written()
        return [part.name for part in parts]

    def _manifest_file(self, name: str) -> Any:
        """The manifest part ``name`` as pyarrow's Parquet reader opens it."""
        return self.location / name

    # -- the manifest --------------------------------------------------------------------------------------

    @property
    def manifest(self) -> pa.Table:
        """Every item's row without its bytes, plus its location columns, in write order (read once)."""
        if self._manifest is None:
            import pyarrow as pa
            import pyarrow.parquet as pq

            tables = [pq.read_table(self._manifest_file(name)) for name in self._manifest_names()]
            self._manifest = pa.concat_tables(tables).combine_chunks() if len(tables) > 1 else tables[0]
        return self._manifest

    @property
    def schema(self) -> pa.Schema:
        """The written schema (from memory, or the first manifest's metadata)."""
        if self._schema is None:
            import pyarrow as pa
            import pyarrow.parquet as pq

            metadata = pq.read_schema(self._manifest_file(self._manifest_names()[0])).metadata or {}
            self._schema = pa.ipc.read_schema(pa.py_buffer(metadata[b"storeadvise.schema"]))
        return self._schema

    def _position_of(self, item_id: Any) -> int | None:
        if self._ids is None:
            self._ids = {value: i for i, value in enumerate(self.manifest.column(ID_COLUMN).to_pylist())}
        return self._ids.get(item_id)

    # -- reads ---------------------------------------------------------------------------------------------
    def _rows(self, rows: pa.Table, positions: np.ndarray, columns: Sequence[str] | None) -> pa.Table:
        """The asked columns of the items at ``positions`` (manifest ``rows``): the bytes fetched only if asked."""
        import pyarrow as pa

        target = self.schema if columns is None else subschema(self.schema, columns)
        data = self._get(rows, positions) if BYTES_COLUMN in target.names else None
        arrays = [data if name == BYTES_COLUMN else rows.column(name) for name in target.names]
        return pa.Table.from_arrays(arrays, schema=target)

    def read(self, columns: Sequence[str] | None = None, where: Predicate | None = None) -> pa.Table:
        import numpy as np
        import pyarrow as pa

        check_columns(self.schema, columns, where)
        manifest = self.manifest
        if where is not None and where.column == BYTES_COLUMN:  # a filter on the bytes needs them all
            return select(self.read(), columns, where)
        indices = np.arange(manifest.num_rows)
        if where is None:
            return self._rows(manifest, indices, columns)
        numbered = manifest.append_column("_position", pa.array(indices))
        indices = select(numbered, ["_position"], where).column(0).to_numpy()
        return self._rows(manifest.take(indices), indices, columns)

    def scan(self, columns: Sequence[str] | None = None, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        check_batch_rows(batch_rows)
        check_columns(self.schema, columns)
        manifest = self.manifest
        target = self.schema if columns is None else subschema(self.schema, columns)
        slices = [(start, min(start + batch_rows, manifest.num_rows)) for start in range(0, manifest.num_rows,
                                                                                       batch_rows)]
        stream = self._scan_bytes(slices) if BYTES_COLUMN in target.names else iter(())
        for start, stop in slices:
            rows = manifest.slice(start, stop - start)
            data = next(stream) if BYTES_COLUMN in target.names else None
            arrays = [data if name == BYTES_COLUMN else rows.column(name).combine_chunks() for name in target.names]
            yield pa.RecordBatch.from_arrays(arrays, schema=target)

    def take(self, positions: Sequence[int]) -> pa.Table:
        import numpy as np

        asked = np.asarray(positions, dtype=np.int64)
        manifest = self.manifest
        if asked.size and (asked.min() < 0 or asked.max() >= manifest.num_rows):
            raise IndexError(f"{self.name}: positions outside 0..{manifest.num_rows - 1}")
        return self._rows(manifest.take(asked), asked, None)

    def lookup(self, key: Any) -> pa.Table:
        column = self.lookup_key_column()
        if column != ID_COLUMN:
            return self.read(where=Predicate(column, "==", key))
        position = self._position_of(key)
        return self.take([] if position is None else [position])
