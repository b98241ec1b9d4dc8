"""Arrow IPC (Feather v2): Arrow's own columnar layout on disk, written batch by batch and read
memory-mapped.

Semantics:

- Durability: an ordinary file write, complete once ``write`` returns (the footer is written last);
  not fsynced.
- Append: an IPC file cannot grow in place; each ``append`` writes one more file
  (``part-00001.arrow``, ...) in the folder, and reads see all of them in order. ``write_one`` is not
  declared: a file per single row is not how anyone uses Arrow files.
- Type mapping: the file is the Arrow format itself, so every type comes back identical.
- Option ``arrow_compression`` (``lz4`` or ``zstd``; default none, which is what makes memory-mapped,
  zero-copy reads possible).
- Reads memory-map the files: ``read`` returns a table whose buffers point into the mapped files,
  so the pages are loaded from the page cache or disk when the values are first touched, not before.
  Projection is free (unused columns are never touched); a filter or lookup touches the filter
  column and then the matching rows only.
- ``take`` (rows by position, a training loader's shuffled batch): the parts memory-mapped, the record
  batches holding the asked rows found by their row counts, the rows taken from each batch and put in
  the order asked; only the pages of the asked rows are touched, so a batch of 32 items costs their
  bytes, not the file's (a ``Table.take`` of the whole mapped table would first copy every batch into one).
  On object storage each part is downloaded whole per call.
- On object storage (``--location s3://...``): each part is an object; a read opens it for random
  access (ranged GETs) instead of a memory map, and reads it whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from storeadvise.backends._partfiles import FILE_OPERATIONS, FileBackend, chunk_starts, take_from_chunks
from storeadvise.backends._selection import check_columns, select
from storeadvise.backends.base import Predicate
from storeadvise.backends.batching import rebatch
from storeadvise.errors import UsageError

if TYPE_CHECKING:
    from pathlib import Path

    import pyarrow as pa

COMPRESSIONS = ("lz4", "zstd", "none")


class ArrowBackend(FileBackend):
    """A folder of Arrow IPC files: the first from ``write``, one more per ``append``."""

    name: ClassVar[str] = "arrow"
    suffix: ClassVar[str] = ".arrow"
    supports: ClassVar[frozenset[str]] = FILE_OPERATIONS | {"take"}
    type_mapping: ClassVar[dict[str, str]] = {
        family: "Arrow's own layout (exact)"
        for family in (
            "timestamp", "timestamp with timezone", "date", "null", "bool", "int64", "float",
            "decimal", "binary", "string", "nested struct/list",
        )
    }

    def _write_options(self) -> Any:
        import pyarrow as pa

        compression = str(self.settings.options.get("arrow_compression") or "none").lower()
        if compression not in COMPRESSIONS:
            raise UsageError(f"unknown arrow_compression {compression!r}; choose from {', '.join(COMPRESSIONS)}")
        return pa.ipc.IpcWriteOptions(compression=None if compression == "none" else compression)

    def write_part(self, path: Path, schema: pa.Schema, batches: Iterable[pa.RecordBatch], *, new: bool) -> None:
        import pyarrow as pa

        with self.output(path) as target, pa.ipc.new_file(target, schema, options=self._write_options()) as writer:
            for batch in batches:
                writer.write_batch(batch)

    def load_schema(self) -> pa.Schema:
        import pyarrow as pa

        with self.input_file(self.parts()[0]) as source:
            return pa.ipc.open_file(source).schema

    def _readers(self) -> Iterator[Any]:
        import pyarrow as pa

        for path in self.parts():
            yield pa.ipc.open_file(self.input_file(path))

    def read(self, columns: Sequence[str] | None = None, where: Predicate | None = None) -> pa.Table:
        import pyarrow as pa

        if columns is not None or where is not None:
            check_columns(self.schema, columns, where)
        # a memory-mapped read is so quick that per-call extras show in its time: no generator or the
        # like here (docs/decisions.md, 'File parts listed once; Arrow reads without per-call extras')
        tables = [pa.ipc.open_file(self.input_file(path, whole=True)).read_all() for path in self.parts()]
        table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        return select(table, columns, where)

    def take(self, positions: Sequence[int]) -> pa.Table:
        import pyarrow as pa

        # opened per call, as read does: a map kept open would pin its pages past a cold read's eviction
        readers = [pa.ipc.open_file(self.input_file(path, whole=True)) for path in self.parts()]
        batches = [(r, i) for r in readers for i in range(r.num_record_batches)]
        starts = chunk_starts(r.get_batch(i).num_rows for r, i in batches)
        return take_from_chunks(starts, lambda k: pa.Table.from_batches([batches[k][0].get_batch(batches[k][1])]),
                                readers[0].schema, positions)

    def scan(self, columns: Sequence[str] | None = None, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        check_columns(self.schema, columns)

        def batches() -> Iterator[pa.RecordBatch]:
            for reader in self._readers():
                for i in range(reader.num_record_batches):
                    batch = reader.get_batch(i)
                    yield batch if columns is None else batch.select(list(columns))

        yield from rebatch(batches(), batch_rows)
