"""The base class of the file backends (csv, jsonl, parquet, arrow): numbered part files in a folder.

A file backend keeps its data as numbered part files in its own scratch folder
(``part-00000.<suffix>``, then one more per append for formats that cannot grow a file in place).
Reading concatenates the parts in order, so rows come back in write order, then appended rows.
Formats that cannot carry the Arrow schema themselves (CSV, JSON Lines) save it beside the data as
``_schema.arrow``; files whose name starts with ``_`` are the harness's bookkeeping and are not
counted as bytes at rest.

With an object-storage location (``--location s3://bucket/prefix``; ``backends._objectstore``) the
same part files are objects in the bucket: ``self.remote`` is the folder there, writes stream to
objects, reads open them through pyarrow's S3 filesystem (``output``, ``source``, ``input_file``), and
formats that grow a file in place cannot append (an object cannot grow; rewriting it is not an append).

Also here: reading and scanning the part files through pyarrow.dataset, for the formats it reads.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from storeadvise.backends._objectstore import Located
from storeadvise.backends._selection import conform, lookup_by_key, subschema, value_type
from storeadvise.backends.base import Backend, Predicate, fsync_paths
from storeadvise.backends.batching import rebatch
from storeadvise.errors import DataError, UnsupportedOperation

if TYPE_CHECKING:
    import pyarrow as pa


SCHEMA_FILE = "_schema.arrow"
NOTE_PREFIX = "storeadvise."
"""Metadata keys of the schema sidecar that are notes about the file, not part of the written schema."""
STREAM_BUFFER_BYTES = 32 << 20
"""The range a stream of an object reads per request (pyarrow's default reads what the reader asks, a
request per block of 1 MiB)."""
FILE_OPERATIONS = frozenset({"write", "read", "scan", "project", "filter", "lookup", "append"})


def _plain(schema: pa.Schema) -> pa.Schema | None:
    """``schema`` with dictionary-encoded columns as their values, or None when it has none.

    pyarrow.dataset can neither read a file whose writer decoded a category (polars writes plain
    values) into a dictionary type, nor compare a dictionary column with a plain value in a filter:
    such files are read as values and encoded again by ``conform``."""
    import pyarrow as pa

    if not any(pa.types.is_dictionary(f.type) for f in schema):
        return None
    return pa.schema([f.with_type(value_type(f.type)) for f in schema], metadata=schema.metadata)


def dataset_read(
    files: Sequence[Path | str], file_format: Any, schema: pa.Schema,
    columns: Sequence[str] | None, where: Predicate | None, filesystem: Any = None,
) -> pa.Table:
    """Read part files (on ``filesystem``, else local) through pyarrow.dataset: projection and predicate
    pushed down to the format (row-group statistics for Parquet), rows in file order."""
    import pyarrow.dataset as ds

    plain = _plain(schema)
    dataset = ds.dataset([str(f) for f in files], schema=plain or schema, format=file_format, filesystem=filesystem)
    table = dataset.to_table(
        columns=list(columns) if columns is not None else None,
        filter=where.to_arrow(schema.field(where.column).type) if where is not None else None,
    )
    return table if plain is None else conform(table, subschema(schema, table.schema.names))


def dataset_scan(
    files: Sequence[Path | str], file_format: Any, schema: pa.Schema, columns: Sequence[str] | None, batch_rows: int,
    filesystem: Any = None,
) -> Iterator[pa.RecordBatch]:
    """Stream part files (on ``filesystem``, else local) through pyarrow.dataset, in order, in batches of
    ``batch_rows``."""
    import pyarrow.dataset as ds

    plain = _plain(schema)
    dataset = ds.dataset([str(f) for f in files], schema=plain or schema, format=file_format, filesystem=filesystem)
    batches = dataset.to_batches(columns=list(columns) if columns is not None else None, batch_size=batch_rows)
    if plain is not None:
        target = subschema(schema, list(columns) if columns is not None else schema.names)
        batches = (conform(b, target) for b in batches)
    yield from rebatch((b for b in batches if b.num_rows), batch_rows)


def chunk_starts(sizes: Iterable[int]) -> Any:
    """The position of each chunk's first row, then the row count (a numpy array one longer than ``sizes``)."""
    import numpy as np

    return np.concatenate([[0], np.cumsum(list(sizes), dtype=np.int64)]).astype(np.int64)


def take_from_chunks(starts: Any, load: Callable[[int], pa.Table], schema: pa.Schema,
                     positions: Sequence[int]) -> pa.Table:
    """The rows at ``positions`` (in the order asked) of a file stored in chunks (Parquet row groups,
    Arrow IPC record batches), ``starts`` from ``chunk_starts``: only the chunks holding an asked row are
    loaded (``load(k)``), the rows are taken from each, and only the taken rows are put in order (a take
    on the loaded chunks together would first copy them into one)."""
    import numpy as np
    import pyarrow as pa

    asked = np.asarray(positions, dtype=np.int64)
    if not asked.size:
        return schema.empty_table()
    if asked.min() < 0 or asked.max() >= starts[-1]:
        raise IndexError(f"positions outside 0..{int(starts[-1]) - 1}")
    chunk_of = np.searchsorted(starts, asked, side="right") - 1
    by_chunk = np.argsort(chunk_of, kind="stable")
    chunks, first = np.unique(chunk_of[by_chunk], return_index=True)
    bounds = [*first.tolist(), len(asked)]
    pieces = [load(int(k)).take(pa.array(asked[by_chunk[a:b]] - starts[k]))
              for k, a, b in zip(chunks.tolist(), bounds, bounds[1:], strict=False)]
    inverse = np.empty_like(by_chunk)
    inverse[by_chunk] = np.arange(len(asked))
    return pa.concat_tables(pieces).take(pa.array(inverse))


class FileBackend(Located, Backend):
    """Part files in ``self.location``; subclasses say how to write, append and read one format."""

    kind: ClassVar[str] = "file"
    supports: ClassVar[frozenset[str]] = FILE_OPERATIONS
    suffix: ClassVar[str] = ""
    """File name suffix of a part, e.g. ``.csv`` (``.csv.gz`` when compressed)."""
    saves_schema: ClassVar[bool] = False
    """True for formats that do not carry the Arrow schema themselves."""
    appends_in_place: ClassVar[bool] = False
    """True for formats that can grow a file (text): an append adds to the first part instead of
    writing one more part."""

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self._schema: pa.Schema | None = None
        self._parts: list[Any] | None = None
        self._empty = False
        """True from a ``clear`` until the next write: a write need not empty the folder again (on object
        storage that is a listing request inside the timed write)."""
        self.locate(settings, self.name)  # on object storage, part paths are ``bucket/key`` texts
        if self.remote is not None and self.appends_in_place:
            self.supports = self.supports - {"append", "write_one"}

    # -- where the parts are: a local folder or an object-storage prefix ------------------------------
    def size_source(self) -> str:
        if self.remote is not None:
            return "objects: the sizes the object store lists for the part objects"
        return super().size_source()

    def why_unsupported(self, op: str) -> str:
        if self.remote is not None and self.appends_in_place and op in ("append", "write_one"):
            return (f"{self.name} on object storage: an object cannot grow, and rewriting the whole object is not "
                    "an append")
        return super().why_unsupported(op)

    @contextlib.contextmanager
    def output(self, path: Any) -> Iterator[Any]:
        """Where a writer writes the part ``path``: the local path itself, or a stream uploading the object."""
        if self.remote is None:
            yield path
            return
        with self.remote.fs.open_output_stream(path, compression=None) as stream:
            yield stream

    def source(self, path: Any, *, whole: bool = False) -> Any:
        """What a streaming reader opens for the part ``path``: the local path, or a function that opens a
        fresh stream of the object, gzip decompressed by its name (a reader that must start again calls it
        again). ``whole``: a read that keeps everything anyway downloads the object in one GET first,
        else the stream reads it in ``STREAM_BUFFER_BYTES`` ranges (bounded memory) (docs/decisions.md,
        'Object storage: whole objects for reads, large ranges for scans')."""
        if self.remote is None:
            return path
        import pyarrow as pa

        if not whole:
            fs = self.remote.fs
            return lambda: fs.open_input_stream(path, compression="detect", buffer_size=STREAM_BUFFER_BYTES)
        data = self._download(path)
        if str(path).endswith(".gz"):
            return lambda: pa.CompressedInputStream(pa.BufferReader(data), "gzip")
        return lambda: pa.BufferReader(data)

    def input_file(self, path: Any, *, whole: bool = False) -> Any:
        """The part ``path`` opened for random access: memory-mapped locally; on object storage ranged GETs,
        or with ``whole`` the object downloaded in one GET, as a buffer."""
        import pyarrow as pa

        if self.remote is None:
            return pa.memory_map(str(path))
        return pa.BufferReader(self._download(path)) if whole else self.remote.fs.open_input_file(path)

    def _download(self, path: str) -> pa.Buffer:
        """The whole object, in one GET."""
        assert self.remote is not None
        with self.remote.fs.open_input_file(path) as source:
            return source.read_buffer()

    @property
    def filesystem(self) -> Any:
        """The pyarrow filesystem the parts are on: None for the local disk."""
        return None if self.remote is None else self.remote.fs

    def _write_file(self, name: str, data: bytes) -> None:
        if self.remote is None:
            (self.location / name).write_bytes(data)
        else:
            self.remote.write_bytes(name, data)

    def _read_file(self, name: str) -> bytes | None:
        if self.remote is None:
            path = self.location / name
            return path.read_bytes() if path.is_file() else None
        return self.remote.read_bytes(name) if self.remote.exists(name) else None

    # -- parts and schema ----------------------------------------------------------------------------
    def part_suffix(self) -> str:
        """The suffix of this run's part files (subclasses add ``.gz`` when asked to compress)."""
        return self.suffix

    def part_path(self, index: int) -> Any:
        name = f"part-{index:05d}{self.part_suffix()}"
        return self.location / name if self.remote is None else self.remote.file(name)

    def parts(self) -> list[Any]:
        """The part files in write order; ``DataError`` if nothing was written.

        Listed once and remembered until ``clear``, ``write`` or ``append`` changes them (the folder is
        this backend's own): listing the folder costs a tenth of a memory-mapped Arrow read
        (docs/decisions.md, 'File parts listed once; Arrow reads without per-call extras')."""
        if self._parts is None:
            if self.remote is not None:
                files = [self.remote.file(name) for name in self.remote.names("part-")]
            else:
                found = self.location.glob("part-*") if self.location.exists() else []
                files = sorted(p for p in found if p.is_file())
            if not files:
                raise self.nothing_written()
            self._parts = files
        return list(self._parts)

    def start_write(self, schema: pa.Schema) -> Any:
        """Empty the folder (unless a ``clear`` just did), remember (and for text formats save) the
        schema; the first part's path."""
        if not self._empty:
            self.clear()
        self._empty = False
        if self.remote is None:
            self.location.mkdir(parents=True, exist_ok=True)
        self._schema = schema
        if self.saves_schema:
            self.save_schema()
        return self.part_path(0)

    def save_schema(self, notes: dict[str, str] | None = None) -> None:
        """Write the schema sidecar (``_schema.arrow``), with ``notes`` about the file (e.g. CSV's
        "some value holds a line break") kept in its metadata under ``storeadvise.<name>`` keys."""
        schema = self.schema
        if notes:
            extra = {f"{NOTE_PREFIX}{k}".encode(): v.encode() for k, v in notes.items()}
            schema = schema.with_metadata({**(schema.metadata or {}), **extra})
        self._write_file(SCHEMA_FILE, schema.serialize().to_pybytes())

    def load_notes(self) -> dict[str, str]:
        """The notes saved with the schema sidecar (empty when there are none)."""
        import pyarrow as pa

        data = self._read_file(SCHEMA_FILE)
        if data is None:
            return {}
        metadata = pa.ipc.read_schema(pa.py_buffer(data)).metadata or {}
        prefix = NOTE_PREFIX.encode()
        return {k[len(prefix):].decode(): v.decode() for k, v in metadata.items() if k.startswith(prefix)}

    @property
    def schema(self) -> pa.Schema:
        """The schema of what was written (from memory, or the saved sidecar / the first part)."""
        if self._schema is None:
            self._schema = self.load_schema()
        return self._schema

    def load_schema(self) -> pa.Schema:
        import pyarrow as pa

        data = self._read_file(SCHEMA_FILE)
        if data is None:
            raise self.nothing_written()
        schema = pa.ipc.read_schema(pa.py_buffer(data))
        prefix = NOTE_PREFIX.encode()
        if schema.metadata and any(k.startswith(prefix) for k in schema.metadata):
            kept = {k: v for k, v in schema.metadata.items() if not k.startswith(prefix)}
            schema = schema.with_metadata(kept) if kept else schema.remove_metadata()
        return schema

    def clear(self) -> None:
        if self.remote is None:
            super().clear()
        else:
            self.remote.clear()
        self._schema = None
        self._parts = None
        self._empty = True

    def cleanup(self) -> None:
        if self.remote is None:
            super().cleanup()
            return
        self.remote.remove()
        self._schema = None
        self._parts = None

    def size_bytes(self) -> int:
        if self.remote is not None:
            return self.remote.sizes("part-")
        if not self.location.exists():
            return 0
        return sum(p.stat().st_size for p in self.location.glob("part-*") if p.is_file())

    def check_append(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The batch in the written schema; ``DataError`` if its columns differ."""
        schema = self.schema
        if batch.schema.names != schema.names:
            raise DataError(
                f"{self.name}: appended rows have columns {', '.join(batch.schema.names)}, "
                f"but the stored data has {', '.join(schema.names)}"
            )
        return batch if batch.schema == schema else batch.cast(schema)

    # -- operations shared by every file format ------------------------------------------------------
    def write(self, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> None:
        self.write_part(self.start_write(schema), schema, batches, new=True)
        self._parts = None
        # every file is new, and so is the folder: its entry in the scratch folder too (objects: nothing to sync)
        if self.settings.fsync and self.remote is None:
            files = [p for p in self.location.iterdir() if p.is_file()]
            fsync_paths([*files, self.location, self.location.parent])

    def append(self, batch: pa.RecordBatch) -> None:
        if self.remote is not None and self.appends_in_place:
            raise UnsupportedOperation(self.why_unsupported("append"))
        batch = self.check_append(batch)
        parts = self.parts()
        path = parts[0] if self.appends_in_place else self.part_path(len(parts))
        self._parts = None
        self.write_part(path, self.schema, [batch], new=not self.appends_in_place)
        # a file grown in place keeps its name; a new part needs its folder synced (objects: nothing to sync)
        if self.settings.fsync and self.remote is None:
            fsync_paths([path] if self.appends_in_place else [path, self.location])

    @abc.abstractmethod
    def write_part(self, path: Path, schema: pa.Schema, batches: Iterable[pa.RecordBatch], *, new: bool) -> None:
        """Write the stream to the part file ``path``: a new file, or (``new`` False, only for formats
        that append in place) added to the end of an existing one."""

    def lookup(self, key: Any) -> pa.Table:
        """An honest scan-and-filter: files have no index, so every part is read for the key column."""
        return lookup_by_key(self, key)

    @abc.abstractmethod
    def read(self, columns: Sequence[str] | None = None, where: Predicate | None = None) -> pa.Table: ...
