"""The base class of the table formats (delta, iceberg): a table folder with versioned commits.

A table format keeps data files (Parquet) and metadata files (a log or manifests) in one folder; every
write, append and update is a commit, and earlier versions stay readable (``time_travel``). What the
two formats share lives here:

- The written Arrow schema is saved beside the table (``_schema.arrow``, outside the table folder, so
  that no reader of the table sees it): the formats have no unsigned integers, half floats or zones
  other than UTC, and every read is cast back to the written types (``_typemap.from_storage``).
- Size at rest is every file in the table folder: data files and the format's metadata.
- ``--fsync`` syncs every file and folder a commit added (neither library syncs by itself).
- Row order: a table has none. delta-rs writes the batches of one stream concurrently and may store
  them in another order; readers read data files in the order the metadata lists them.
- Lookup is an honest filtered read on the key column: the formats have no index, only per-file
  min/max statistics that let a reader skip files.
- On object storage (``--location s3://bucket/prefix``, ``backends._objectstore``) the table folder is
  ``<prefix>/storeadvise_<run id>/<format>/table`` in the bucket, written and committed by the format's
  own library (given the folder's settings), its data files read by polars and ``pyarrow.dataset``
  through the same S3 settings; the saved schema (and Iceberg's catalog) stay in the local scratch
  folder: they are the harness's, not the table's. Size at rest is then every object of the table,
  as the object store lists them; ``--fsync`` changes nothing (there is no file to sync).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from storeadvise.backends import _typemap
from storeadvise.backends._objectstore import SCHEME, Located
from storeadvise.backends._selection import check_columns, lookup_by_key, subschema
from storeadvise.backends.base import Backend, Predicate, fsync_paths
from storeadvise.backends.batching import rebatch
from storeadvise.errors import DataError

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as ds

SCHEMA_FILE = "_schema.arrow"
TABLE_OPERATIONS = frozenset(
    {"write", "read", "scan", "project", "filter", "lookup", "append", "update", "time_travel"}
)


def unsigned_as_signed(dtype: pa.DataType) -> pa.DataType:
    """An unsigned integer as the signed type that holds all its values (uint64 as decimal(20, 0)):
    the formats have signed integers only, and a same-width cast would wrap large values around; a
    256-bit decimal that fits as a 128-bit one (their decimals hold 38 digits)."""
    import pyarrow as pa

    wider = {8: pa.int16(), 16: pa.int32(), 32: pa.int64()}
    if pa.types.is_unsigned_integer(dtype):
        return wider.get(dtype.bit_width, pa.decimal128(20, 0))
    return _typemap.decimal128_when_it_fits(dtype)


def cast_back(data: Any, plan: list[tuple[int, pa.Field]]) -> Any:
    """A table or batch with the planned columns cast back to their written types (``_typemap.cast_plan``);
    a null-typed column, which a format without a null type stores as all-null values of another type,
    becomes nulls again (Arrow casts nothing to null)."""
    import pyarrow as pa

    for i, field in plan:
        column = data.column(i)
        values = pa.nulls(len(column)) if pa.types.is_null(field.type) else column.cast(field.type)
        data = data.set_column(i, field, values)
    return data


class TableFormatBackend(Located, Backend):
    """One table in ``location / "table"``; subclasses write, commit and read it through their library."""

    kind: ClassVar[str] = "file"
    supports: ClassVar[frozenset[str]] = TABLE_OPERATIONS
    keeps_row_order: ClassVar[bool] = False
    library: ClassVar[str]
    """The module of the client library (checked by ``available`` without importing it)."""
    extra: ClassVar[str]
    """The pip extra that installs it."""

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self._schema: pa.Schema | None = None
        self._storage: pa.Schema | None = None
        self._polars_reads: tuple[pa.Schema, bool] | None = None
        self.locate(settings, self.name)

    @classmethod
    def available(cls, settings: Any = None) -> tuple[bool, str]:
        import importlib.util

        if importlib.util.find_spec(cls.library) is None:
            return False, f"install {cls.library}: pip install 'storeadvise[{cls.extra}]'"
        return True, "ok"

    # -- what the library stores -----------------------------------------------------------------------
    @staticmethod
    @abc.abstractmethod
    def storage_type(dtype: pa.DataType) -> pa.DataType:
        """The leaf rule (``_typemap``): the type a column of ``dtype`` is handed to the library in."""

    @property
    def table_path(self) -> Path:
        """The table's own folder in the local scratch folder: its data and metadata files, what an
        independent reader opens."""
        return self.location / "table"

    @property
    def table_uri(self) -> str:
        """Where the library finds the table: the local folder, or its ``s3://`` URL on object storage."""
        return str(self.table_path) if self.remote is None else self.remote.uri("table")

    @property
    def schema(self) -> pa.Schema:
        """The written Arrow schema (from memory, or the file saved beside the table)."""
        if self._schema is None:
            import pyarrow as pa

            path = self.location / SCHEMA_FILE
            if not path.is_file():
                raise self.nothing_written()
            self._schema = pa.ipc.read_schema(pa.py_buffer(path.read_bytes()))
        return self._schema

    @property
    def storage(self) -> pa.Schema:
        """The written schema in the types the library stores."""
        if self._storage is None:
            self._storage = _typemap.storage_schema(self.schema, self.storage_type)
        return self._storage

    def stored_batches(self, batches: Iterable[pa.RecordBatch]) -> pa.RecordBatchReader:
        """The batches in the stored types, as one stream the library pulls from (memory stays bounded)."""
        import pyarrow as pa

        return pa.RecordBatchReader.from_batches(self.storage, (self.to_stored(b) for b in batches))

    def to_stored(self, data: Any) -> Any:
        """A table or batch in the written schema, cast to the stored types (unsafe: the documented
        truncations happen here)."""
        return _typemap.to_storage(data, self.storage)

    def stored_table(self, rows: pa.Table | pa.RecordBatch) -> pa.Table:
        """Rows in the written schema's column order and the stored types; ``DataError`` if the columns differ."""
        import pyarrow as pa

        if rows.schema.names != self.schema.names:
            raise DataError(
                f"{self.name}: the rows have columns {', '.join(rows.schema.names)}, "
                f"but the stored data has {', '.join(self.schema.names)}"
            )
        table = rows if isinstance(rows, pa.Table) else pa.Table.from_batches([rows])
        return self.to_stored(table.cast(self.schema))

    def as_written(self, table: pa.Table) -> pa.Table:
        """What the library returned, cast back to the written types of the columns it holds."""
        return cast_back(table, _typemap.cast_plan(table.schema, subschema(self.schema, table.schema.names)))

    def filter_expression(self, where: Predicate) -> Any:
        """``where`` as a pyarrow expression on the stored column (its value typed as stored)."""
        return where.to_arrow(self.storage.field(where.column).type)

    # -- life cycle ------------------------------------------------------------------------------------
    def begin_write(self, schema: pa.Schema) -> None:
        """Empty the folder (unless the runner's reset just did: Iceberg's clear is a catalog transaction)
        and save the written schema beside the table (not in it)."""
        if self._schema is not None or (self.location / SCHEMA_FILE).exists():
            self.clear()
        self.location.mkdir(parents=True, exist_ok=True)
        self._schema, self._storage = schema, None
        (self.location / SCHEMA_FILE).write_bytes(schema.serialize().to_pybytes())

    def clear(self) -> None:
        super().clear()
        if self.remote is not None:
            self.remote.clear()
        self._schema = self._storage = None
        self.forget_table()

    def cleanup(self) -> None:
        self.clear()
        if self.remote is not None:
            self.remote.remove()

    def forget_table(self) -> None:
        """Drop the library's handle on the table (it is being removed)."""

    def refresh(self) -> None:
        """Load the latest version, which another writer may have committed (not timed)."""

    def size_bytes(self) -> int:
        if self.remote is not None:
            return self.remote.total_bytes("table")
        if not self.table_path.exists():
            return 0
        return sum(p.stat().st_size for p in self.table_path.rglob("*") if p.is_file())

    def size_source(self) -> str:
        if self.remote is not None:
            return "objects: the sizes the object store lists for the table's data and metadata objects"
        return "files: the table's data and metadata files"

    # -- durability --------------------------------------------------------------------------------------
    def table_files(self) -> set[Path]:
        """Every file and folder in the table folder now (what a commit is compared with, for ``--fsync``)."""
        return set(self.table_path.rglob("*")) if self.table_path.exists() else set()

    def sync_new(self, before: set[Path] | None) -> None:
        """Under ``--fsync``: flush every file and folder that appeared since ``before`` (None: the table
        is new, and so are the schema file and the backend's folder), and the folder holding each (a new
        name is durable only once its folder is)."""
        if not self.settings.fsync or self.remote is not None:
            return
        new = self.table_files() - (before or set())
        if before is None:
            new |= {self.location / SCHEMA_FILE, self.location, self.location.parent}
        fsync_paths(sorted(new | {p.parent for p in new}))

    def refuses(self, schema: pa.Schema) -> str | None:
        wide = _typemap.decimal_too_wide(schema, _typemap.DECIMAL128_DIGITS)
        return f"holds decimals of up to {_typemap.DECIMAL128_DIGITS} digits: {wide}" if wide else None

    # -- operations ---------------------------------------------------------------------------------------
    def write(self, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> None:
        self.begin_write(schema)
        self.create(self.stored_batches(batches))
        self.sync_new(None)

    def append(self, batch: pa.RecordBatch) -> None:
        rows = self.stored_table(batch)
        before = self.table_files() if self.settings.fsync else set()
        self.commit_append(rows)
        self.sync_new(before)

    def update(self, rows: pa.Table) -> None:
        key = self.update_key()
        stored = self.stored_table(rows)
        before = self.table_files() if self.settings.fsync else set()
        self.commit_update(stored, key)
        self.sync_new(before)

    def update_key(self) -> str:
        """The key column an update matches rows by (the run's ``--key``)."""
        return self.lookup_key_column()

    def read(self, columns: Sequence[str] | None = None, where: Predicate | None = None) -> pa.Table:
        check_columns(self.schema, columns, where)
        return self.as_written(self.read_stored(columns, where))

    def read_stored(self, columns: Sequence[str] | None, where: Predicate | None,
                    files: list[str] | None = None) -> pa.Table:
        """The rows of a version (the latest, or the one whose data files are ``files``) matching
        ``where``, ``columns`` only, in the stored types: through
        polars where it reads the stored types exactly and evaluates the filter as pyarrow does (it
        decodes the filter column first and the other columns only for the matching rows), else
        through ``pyarrow.dataset`` (both skip the row groups whose statistics exclude the filter;
        docs/decisions.md, 'Table formats: data files read by polars, not through the library scans')."""
        from storeadvise.backends.parquet import polars_predicate

        files = self.data_files() if files is None else files
        names = list(columns) if columns is not None else self.schema.names
        physical = self.physical
        moved = None if where is None else Predicate(physical[where.column], where.op, where.value)
        if files and self.polars_reads():
            expr = None if moved is None else polars_predicate(self.storage.field(where.column).type, moved)
            if moved is None or expr is not None:
                return self.polars_read(files, names, expr)
        filter_ = None if moved is None else moved.to_arrow(self.storage.field(where.column).type)
        table = self.dataset(files).to_table(columns=[physical[n] for n in names], filter=filter_)
        return table.rename_columns(names)

    def polars_reads(self) -> bool:
        """Whether polars reads the stored types exactly (``parquet.polars_keeps``); remembered per
        written schema, since a lookup asks once per key."""
        from storeadvise.backends.parquet import polars_keeps

        schema = self.schema
        if self._polars_reads is None or self._polars_reads[0] is not schema:
            self._polars_reads = (schema, polars_keeps(self.storage))
        return self._polars_reads[1]

    def polars_read(self, files: list[str], names: list[str], where: Any) -> pa.Table:
        import polars as pl

        from storeadvise.backends._selection import conform
        from storeadvise.backends.parquet import frame_to_arrow

        options = None if self.remote is None else self.remote.storage_options()
        frame = pl.scan_parquet(files, hive_partitioning=False, storage_options=options)
        if where is not None:
            frame = frame.filter(where)
        physical = self.physical
        table = frame_to_arrow(frame.select([physical[n] for n in names]).collect()).rename_columns(names)
        return conform(table, subschema(self.storage, names))

    def scan(self, columns: Sequence[str] | None = None, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        check_columns(self.schema, columns)
        names = list(columns) if columns is not None else self.schema.names
        target = subschema(self.schema, names)
        plan = _typemap.cast_plan(subschema(self.storage, names), target)
        physical = self.physical
        stored = self.dataset(self.data_files()).to_batches(columns=[physical[n] for n in names], batch_size=batch_rows)
        for batch in rebatch((b.rename_columns(names) for b in stored if b.num_rows), batch_rows):
            yield cast_back(batch, plan)

    def dataset(self, files: list[str]) -> ds.Dataset:
        """Data files as one ``pyarrow.dataset``, their columns under their names in the files."""
        import pyarrow as pa
        import pyarrow.dataset as ds

        physical = self.physical
        schema = pa.schema([f.with_name(physical[f.name]) for f in self.storage])
        if self.remote is None:
            return ds.dataset(files, schema=schema, format="parquet")
        paths = [f.removeprefix(SCHEME) for f in files]  # pyarrow's S3 filesystem names objects bucket/key
        return ds.dataset(paths, schema=schema, format="parquet", filesystem=self.remote.fs)

    @property
    def physical(self) -> dict[str, str]:
        """Column name -> its name in the data files (the same unless the format escapes it)."""
        return {name: name for name in self.schema.names}

    def lookup(self, key: Any) -> pa.Table:
        return lookup_by_key(self, key)

    def time_travel(self) -> pa.Table:
        self.schema  # noqa: B018 - nothing written is a DataError before any version is asked for
        return self.as_written(self.read_stored(None, None, self.previous_files()))

    def no_earlier_version(self) -> DataError:
        """The error of a time travel on a table with one commit."""
        return DataError(
            f"{self.name}: the table has one version only; time travel reads the one before the latest "
            "commit, so run it after an append or update"
        )

    # -- what each format does through its library ----------------------------------------------------------
    @abc.abstractmethod
    def create(self, stream: pa.RecordBatchReader) -> None:
        """Create the table from the stream (stored types), as its first commit."""

    @abc.abstractmethod
    def commit_append(self, rows: pa.Table) -> None:
        """Add ``rows`` (stored types) as one commit."""

    @abc.abstractmethod
    def commit_update(self, rows: pa.Table, key: str) -> None:
        """Replace the rows with ``rows``' keys by ``rows`` (stored types), as one commit."""

    @abc.abstractmethod
    def data_files(self) -> list[str]:
        """The local paths (or ``s3://`` URLs) of the latest version's data files."""

    @abc.abstractmethod
    def previous_files(self) -> list[str]:
        """The local paths (or ``s3://`` URLs) of the data files of the version before the latest commit
        (``no_earlier_version`` when there is none)."""
