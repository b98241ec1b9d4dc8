"""Lance: a columnar dataset folder (data files, versioned manifests, indices) written and read through
pylance, built for random access to rows by position.

Semantics:

- Layout: the backend's folder is one Lance dataset: ``data/*.lance`` (the rows, in fragments of up
  to a million rows), ``_versions/*.manifest`` (one manifest per committed version), ``_transactions/``
  and, with the key index, ``_indices/``. ``size_bytes`` counts every file in it (data, manifests and
  index), the bytes a user would copy to move the dataset.
- Write: ``lance.write_dataset`` consumes the Arrow stream once (a ``RecordBatchReader``) and commits
  version 1. With a key column it then builds a BTREE scalar index on that column, inside the timed
  write, as the SQL backends build theirs (option ``lance_index``: ``btree``, the default, or
  ``none``). The index is the faster lookup path by measurement (docs/decisions.md, 'Lance: a BTREE
  index on the key column, lookups as SQL text'). A lookup of an integer or string key is handed to
  Lance as SQL text (``sql_equals``), other keys as a pyarrow expression like the filters.
- Append: ``write_dataset(mode="append")`` adds a fragment and commits a new version; reads see the
  rows in write order, then appended rows. The index is not rebuilt: Lance answers a lookup from the
  index for the indexed fragments and by scanning the appended ones, so lookups stay exact.
  ``write_one`` is not declared: a fragment and a version per single row is not how Lance is used.
- Durability: Lance writes each file under a temporary name and renames it into place, then commits
  the version by linking its manifest into place (an existing version of that number refuses the
  commit): a version is complete or absent. It calls no fsync (traced with strace on pylance 14.0.2),
  so when ``write`` returns the files are in the OS page cache: an application crash loses nothing
  committed, a power loss can. ``--fsync`` fsyncs every file the write or append created, and their
  folders, before it returns.
- Reads (read, project, filter, lookup) go through ``LanceDataset.to_table``: only the asked columns
  are decoded, and the filter is handed to Lance as a pyarrow expression (pushed into its scan; a
  filter on the indexed key is answered from the index). A predicate Lance cannot evaluate on a column
  of some type (a dictionary-encoded one) is evaluated by pyarrow on the columns read back: slower,
  never skipped. ``scan`` streams ``to_batches`` in scan order.
- ``take`` (the access pattern Lance is built for): ``LanceDataset.take(positions)``, the rows at those
  positions in the order asked; a shuffled training loader (Lance's own ``torch`` dataset hands each
  batch of sampled indices to ``take``) asks for one batch of random positions per step.
- Type mapping: Lance stores Arrow types natively (its schema is Arrow's), so every type here comes
  back identical (``type_mapping``).
- The dataset handle is kept open between calls (its metadata and index caches, the state a
  long-running reader has); ``release_cache`` lets it go, so a cold read opens the folder again.
- On object storage (``--location s3://bucket/prefix``, ``backends._objectstore``) the dataset is
  ``<prefix>/storeadvise_<run id>/lance/`` in the bucket, written and read by pylance's own S3 client
  given the folder's settings; a version is committed with a conditional put, as on the disk with a
  link. Size at rest is every object of the dataset, as listed; ``--fsync`` changes nothing.
- Not supported: ``write_one`` (see Append), ``stream_latency`` (not a stream), and a column whose
  name holds a ``.`` or a backtick: Lance takes a ``.`` for a path into a struct and refuses the
  write, and writes a backtick but cannot read the column back; the write is refused first with a
  ``DataError`` naming the columns.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from storeadvise.backends._objectstore import Located
from storeadvise.backends._selection import check_columns, needed_columns, select
from storeadvise.backends.base import Backend, Predicate, fsync_paths, quote_literal
from storeadvise.backends.batching import check_batch_rows, rebatch
from storeadvise.errors import DataError, UsageError

if TYPE_CHECKING:
    import lance
    import pyarrow as pa

INDEXES = ("btree", "none")
UNNAMEABLE = (".", "`")
"""Characters a column name cannot hold in a Lance dataset (see the module docstring)."""
DEFAULT_INDEX = "btree"
LANCE_OPERATIONS = frozenset({"write", "read", "scan", "project", "filter", "lookup", "append", "take"})


def sql_equals(column: str, data_type: pa.DataType, value: Any) -> str | None:
    """``column = value`` as Lance's SQL filter text, for an integer or string key (a backtick-quoted
    name, a literal of the column's own type); None for anything else, which goes as a pyarrow
    expression. Lance turns each expression into its own form on every call, which cost a lookup about
    a sixth of its time (docs/decisions.md, 'Lance: a BTREE index on the key column, lookups as SQL text')."""
    import pyarrow as pa

    if isinstance(value, bool):
        return None
    name = f"`{column}`"
    if pa.types.is_signed_integer(data_type) and isinstance(value, int):
        bits = data_type.bit_width - 1
        return f"{name} = {value}" if -(2**bits) <= value < 2**bits else None
    if (pa.types.is_string(data_type) or pa.types.is_large_string(data_type)) and isinstance(value, str):
        return f"{name} = {quote_literal(value)}"
    return None


class LanceBackend(Located, Backend):
    """One Lance dataset folder, with a BTREE index on the key column."""

    name: ClassVar[str] = "lance"
    object_client: ClassVar[str] = "pylance (object_store)"
    kind: ClassVar[str] = "file"
    supports: ClassVar[frozenset[str]] = LANCE_OPERATIONS
    own_cache: ClassVar[bool] = True
    type_mapping: ClassVar[dict[str, str]] = {
        family: "Arrow type stored natively by Lance (exact)"
        for family in (
            "timestamp", "timestamp with timezone", "date", "null", "bool", "int64", "float", "decimal",
            "binary", "string", "nested struct/list",
        )
    }

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self._dataset: lance.LanceDataset | None = None
        self._key_type: tuple[str, pa.DataType] | None = None
        """The key column and its type, for lookups (the schema changes only with a new write)."""
        self.locate(settings, self.name)

    @property
    def uri(self) -> str:
        """Where the dataset is: the local folder, or its ``s3://`` URL on object storage."""
        return str(self.location) if self.remote is None else self.remote.uri()

    def storage_options(self) -> dict[str, str] | None:
        return None if self.remote is None else self.remote.storage_options()

    def written(self) -> bool:
        """Whether a version has been committed (its manifest is there)."""
        if self.remote is None:
            return (self.location / "_versions").is_dir()
        return bool(self.remote.listing("_versions"))

    # -- availability and life cycle -----------------------------------------------------------------
    @classmethod
    def available(cls, settings: Any = None) -> tuple[bool, str]:
        if importlib.util.find_spec("lance") is None:
            return False, "install pylance (pip install 'storeadvise[lance]')"
        return True, "ok"

    def why_unsupported(self, op: str) -> str:
        if op == "write_one":
            return "lance commits a fragment and a version per write: single-row writes are not how it is used"
        return super().why_unsupported(op)

    @property
    def dataset(self) -> lance.LanceDataset:
        """The open dataset (opened on first use after ``release_cache``); ``DataError`` before a write."""
        if self._dataset is None:
            import lance

            if not self.written():
                raise self.nothing_written()
            self._dataset = lance.dataset(self.uri, storage_options=self.storage_options())
        return self._dataset

    @property
    def schema(self) -> pa.Schema:
        return self.dataset.schema

    def release_cache(self) -> None:
        self._dataset = None

    def clear(self) -> None:
        self._dataset = None
        self._key_type = None
        super().clear()
        if self.remote is not None:
            self.remote.clear()

    def cleanup(self) -> None:
        self.clear()
        if self.remote is not None:
            self.remote.remove()

    def size_bytes(self) -> int:
        return super().size_bytes() if self.remote is None else self.remote.total_bytes()

    def size_source(self) -> str:
        if self.remote is not None:
            return "objects: the sizes the object store lists for the dataset's objects"
        return super().size_source()

    def _index(self) -> str:
        index = str(self.settings.options.get("lance_index") or DEFAULT_INDEX).lower()
        if index not in INDEXES:
            raise UsageError(f"unknown lance_index {index!r}; choose from {', '.join(INDEXES)}")
        return index

    # -- writes ----------------------------------------------------------------------------------------
    def write(self, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> None:
        import lance
        import pyarrow as pa

        index = self._index()
        refused = [f.name for f in schema if any(c in f.name for c in UNNAMEABLE)]
        if refused:
            raise DataError(
                f"{self.name} cannot store a column whose name holds a '.' or a '`' (Lance reads a '.' as a path "
                f"into a struct and cannot read a '`' back): {', '.join(map(repr, refused))}"
            )
        self.clear()
        self.location.parent.mkdir(parents=True, exist_ok=True)
        reader = pa.RecordBatchReader.from_batches(schema, iter(batches))
        self._dataset = lance.write_dataset(reader, self.uri, schema=schema, mode="create",
                                            storage_options=self.storage_options())
        key = self.settings.key_column
        if index == "btree" and key and schema.get_field_index(key) >= 0 and self._dataset.count_rows():
            self._dataset.create_scalar_index(key, "BTREE")
        if self.settings.fsync and self.remote is None:
            fsync_paths(self._written_since(set()))

    def append(self, batch: pa.RecordBatch) -> None:
        import lance
        import pyarrow as pa

        schema = self.schema
        if batch.schema.names != schema.names:
            raise DataError(
                f"{self.name}: appended rows have columns {', '.join(batch.schema.names)}, "
                f"but the stored data has {', '.join(schema.names)}"
            )
        if batch.schema != schema:
            batch = batch.cast(schema)
        syncs = self.settings.fsync and self.remote is None
        before = self._files() if syncs else set()
        self._dataset = lance.write_dataset(pa.Table.from_batches([batch]), self.uri, mode="append",
                                            storage_options=self.storage_options())
        if syncs:
            fsync_paths(self._written_since(before))

    def _files(self) -> set[Path]:
        return {p for p in self.location.rglob("*") if p.is_file()}

    def _written_since(self, before: set[Path]) -> list[Path]:
        """The files not in ``before``, then their folders (a new name is durable once its folder is)."""
        new = sorted(self._files() - before)
        folders = sorted({p.parent for p in new} | {self.location, self.location.parent})
        return [*new, *folders]

    # -- reads -----------------------------------------------------------------------------------------
    def read(self, columns: Sequence[str] | None = None, where: Predicate | None = None) -> pa.Table:
        dataset = self.dataset
        schema = dataset.schema
        if columns is not None or where is not None:
            check_columns(schema, columns, where)
        asked = list(columns) if columns is not None else None
        if where is None:
            return dataset.to_table(columns=asked)
        import pyarrow as pa

        data_type = schema.field(where.column).type
        if not pa.types.is_dictionary(data_type):  # pyarrow cannot translate a filter on one for Lance
            try:
                return dataset.to_table(columns=asked, filter=where.to_arrow(data_type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                pass  # an expression pyarrow cannot translate for Lance: filtered below instead
        return select(dataset.to_table(columns=needed_columns(columns, where)), columns, where)

    def scan(self, columns: Sequence[str] | None = None, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        check_batch_rows(batch_rows)
        dataset = self.dataset
        if columns is not None:
            check_columns(dataset.schema, columns)
        batches = dataset.to_batches(columns=list(columns) if columns is not None else None, batch_size=batch_rows)
        yield from rebatch((b for b in batches if b.num_rows), batch_rows)

    def lookup(self, key: Any) -> pa.Table:
        column = self.lookup_key_column()
        dataset = self.dataset
        if self._key_type is None or self._key_type[0] != column:
            # pylance builds the schema anew on every access, a tenth of an indexed lookup: once per write
            schema = dataset.schema
            check_columns(schema, None, Predicate(column, "==", key))
            self._key_type = (column, schema.field(column).type)
        sql = sql_equals(column, self._key_type[1], key)
        if sql is None:
            return self.read(where=Predicate(column, "==", key))
        return dataset.to_table(filter=sql)

    def take(self, positions: Sequence[int]) -> pa.Table:
        return self.dataset.take(list(positions))
