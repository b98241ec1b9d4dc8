"""Apache Iceberg: a table folder of Parquet data files, Avro manifests and JSON metadata, with a SQL
catalog (SQLite) in the run's scratch folder, written and read through ``pyiceberg``; pip extra
``iceberg``.

Semantics:

- Layout: ``iceberg/catalog.db`` is the catalog (one SQLite file, the pointer to each table's current
  metadata file); ``iceberg/table/`` is the table: ``data/*.parquet`` and ``metadata/`` (a
  ``NNNNN-….metadata.json`` per commit, manifest lists and manifests). The namespace is the run's
  scratch name, the table ``data``. ``iceberg/_schema.arrow`` keeps the written Arrow schema.
- Commits: ``write`` creates the table and appends the data in one transaction (one commit, the first
  snapshot; pyiceberg takes the batch stream as it comes); each ``append`` is one commit; ``update`` is an
  overwrite filtered on the keys of the updated rows (``key IN (...)``): in one commit, the data files
  holding those keys are rewritten without them (copy-on-write; pyiceberg writes no delete files) and
  the new rows are added. ``time_travel`` reads the snapshot that was current in the metadata file
  before the latest commit (an Iceberg commit is a new metadata file). ``write_one`` is not declared.
- Durability: a commit is atomic (the catalog's pointer moves to the new metadata file in one SQLite
  transaction, after the data and metadata files are written). SQLite fsyncs that transaction, but
  pyiceberg writes the data and metadata files through pyarrow's local file system, which does not
  fsync (checked with strace: the only syncs of a commit are SQLite's fdatasync calls on the catalog,
  its journal and their folder). So after a power loss the catalog can point to files that never
  reached the disk. With ``--fsync``, every file and folder the
  commit added is fsynced before the call returns.
- Type mapping (``type_mapping``): Iceberg v2 has int (32-bit) and long only (int8/int16 as int,
  unsigned as the next wider signed type, uint64 as decimal(20, 0), all cast back), no half floats
  (float), time of day in microseconds only, no durations (long), no null type (an optional string
  column, given back as null); timestamps are microseconds (nanoseconds truncated: a documented
  loss), zoned ones stored in UTC (``timestamptz``) with the zone kept in the saved schema; dates,
  decimals (up to 38 digits), binary, fixed, strings, structs, lists and maps are native, except that
  pyiceberg (0.12) writes a null list of structs as the values its slot spans (an empty list when it
  spans none): such nulls are handed over as empty lists, and documented as that loss.
- On object storage (``--location``): the table's data and metadata objects are in the bucket
  (written through pyiceberg's pyarrow FileIO); the catalog file stays in the local scratch folder.
- Reads: the data files the current snapshot lists (pyiceberg plans them from the manifests), read
  by polars or ``pyarrow.dataset`` as for ``delta`` (``backends._tables``), in row groups of 131,072
  rows (``write.parquet.row-group-limit``). Lookup is such a filtered read on the key column (no index).
"""

from __future__ import annotations

import contextlib
import shutil
from typing import TYPE_CHECKING, Any, ClassVar

from storeadvise.backends import _typemap
from storeadvise.backends._tables import SCHEMA_FILE, TableFormatBackend, unsigned_as_signed
from storeadvise.backends.base import TypeLoss

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.table import Table

TABLE = "data"
CATALOG_FILE = "catalog.db"


def iceberg_type(dtype: pa.DataType) -> pa.DataType:
    """The type a column is handed to pyiceberg in (a ``_typemap`` leaf rule): one Iceberg v2 stores."""
    import pyarrow as pa

    if pa.types.is_timestamp(dtype):
        return pa.timestamp("us", tz=None if dtype.tz is None else "UTC")
    simple = {
        pa.types.is_float16: pa.float32(), pa.types.is_int8: pa.int32(), pa.types.is_int16: pa.int32(),
        pa.types.is_time: pa.time64("us"), pa.types.is_duration: pa.int64(), pa.types.is_date64: pa.date32(),
        pa.types.is_large_string: pa.string(), pa.types.is_large_binary: pa.binary(), pa.types.is_null: pa.string(),
    }
    for test, stored in simple.items():
        if test(dtype):
            return stored
    return unsigned_as_signed(dtype)


def _list_of_structs(dtype: pa.DataType) -> bool:
    import pyarrow as pa

    return (pa.types.is_list(dtype) or pa.types.is_large_list(dtype)) and pa.types.is_struct(dtype.value_type)


def _nulls_as_empty(values: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.fill_null(values, pa.scalar([], values.type))


def _finer_than_us(dtype: pa.DataType) -> bool:
    import pyarrow as pa

    return (pa.types.is_timestamp(dtype) and dtype.unit == "ns") or (pa.types.is_time64(dtype) and dtype.unit == "ns")


class IcebergBackend(TableFormatBackend):
    """An Iceberg table in a SQLite-backed catalog, both in the run's scratch folder."""

    name: ClassVar[str] = "iceberg"
    object_client: ClassVar[str] = "pyiceberg (PyArrowFileIO) / polars and pyarrow.fs for reads"
    library: ClassVar[str] = "pyiceberg"
    extra: ClassVar[str] = "iceberg"
    type_mapping: ClassVar[dict[str, str]] = {
        "timestamp": "timestamp, microseconds (nanoseconds truncated)",
        "timestamp with timezone": "timestamptz (UTC, microseconds); the zone is kept in the saved schema",
        "date": "date (exact)",
        "null": "an optional string column, all null (given back as null)",
        "bool": "boolean (exact)",
        "int8/16/32/64": "int (32-bit) or long (exact, cast back)",
        "unsigned int": "the next wider signed type; uint64 as decimal(20,0) (exact, cast back)",
        "float": "float/double (exact); float16 as float (exact, cast back)",
        "decimal": "decimal up to 38 digits (exact; a 256-bit decimal that fits as 128-bit; wider ones refused)",
        "binary": "binary; fixed-size binary as fixed (exact)",
        "string": "string (exact)",
        "nested struct/list/map": "struct/list/map (exact, but a null list of structs becomes an empty list)",
        "time of day, duration": "time (microseconds) / long (exact, cast back)",
    }
    storage_type = staticmethod(iceberg_type)

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self._catalog: SqlCatalog | None = None
        self._table: Table | None = None
        self._files: tuple[int | None, list[str]] | None = None
        self._physical: tuple[pa.Schema, dict[str, str]] | None = None
        self._namespace = False

    def refuses(self, schema: pa.Schema) -> str | None:
        odd = _typemap.unnamed_struct_field(schema)
        return super().refuses(schema) or (f"names every field in Avro, which needs a unique name: {odd}" if odd
                                           else None)

    def type_loss(self, field: pa.Field) -> TypeLoss | None:
        if _list_of_structs(field.type):
            return TypeLoss("pyiceberg writes a null list of structs as an empty list", _nulls_as_empty)
        if not _typemap.any_type(field.type, _finer_than_us):
            return None
        return TypeLoss(
            "Iceberg timestamps and times hold microseconds: nanoseconds truncated",
            lambda values: _typemap.round_trip(values, iceberg_type),
        )

    def to_stored(self, data: Any) -> Any:
        """As stored, and with the null lists of a list-of-structs column as empty lists: pyiceberg's
        writer drops such a null and stores whatever values the null slot spans (none, once it is empty)."""
        data = super().to_stored(data)
        for i, field in enumerate(data.schema):
            if _list_of_structs(field.type) and data.column(i).null_count:
                data = data.set_column(i, field, _nulls_as_empty(data.column(i)))
        return data

    # -- catalog and table ------------------------------------------------------------------------------
    @property
    def identifier(self) -> str:
        return f"{self.settings.scratch_name}.{TABLE}"

    def catalog(self) -> SqlCatalog:
        if self._catalog is None:
            from pyiceberg.catalog.sql import SqlCatalog

            self.location.mkdir(parents=True, exist_ok=True)
            remote = {} if self.remote is None else self.remote.iceberg_properties()
            warehouse = (self.location / "warehouse").as_uri() if self.remote is None else self.remote.uri("warehouse")
            self._catalog = SqlCatalog(
                "storeadvise", uri=f"sqlite:///{self.location / CATALOG_FILE}", warehouse=warehouse, **remote,
            )
        return self._catalog

    @property
    def table(self) -> Table:
        """The current version, loaded once and kept current by this backend's own commits."""
        if self._table is None:
            self.schema  # noqa: B018 - nothing written: a DataError, not pyiceberg's "table does not exist"
            self._table = self.catalog().load_table(self.identifier)
        return self._table

    def refresh(self) -> None:
        if self._table is not None:
            self._table.refresh()

    def clear(self) -> None:
        """Drop the table and its files, keeping the catalog: creating it again (SQLAlchemy's engine and
        tables) cost 0.2 s a write (docs/decisions.md, 'Iceberg: the catalog outlives the table between
        writes')."""
        if self._catalog is None:
            super().clear()
            return
        from pyiceberg.exceptions import NoSuchTableError

        with contextlib.suppress(NoSuchTableError):
            self._catalog.drop_table(self.identifier)
        if self.remote is None:
            shutil.rmtree(self.table_path, ignore_errors=True)
        else:
            self.remote.clear()
        (self.location / SCHEMA_FILE).unlink(missing_ok=True)
        self._schema = self._storage = None
        self._table = self._files = None

    def cleanup(self) -> None:
        self.forget_table()
        super().cleanup()

    def forget_table(self) -> None:
        self._table = self._files = None
        if self._catalog is not None:
            self._catalog.engine.dispose()  # the SQLite file is about to be removed
            self._catalog = None
            self._namespace = False

    def create(self, stream: pa.RecordBatchReader) -> None:
        catalog = self.catalog()
        if not self._namespace:  # once per catalog: the check is a query of its own
            catalog.create_namespace_if_not_exists(self.settings.scratch_name)
            self._namespace = True
        from storeadvise.backends.parquet import DEFAULT_ROW_GROUP_ROWS

        # Row groups of the Parquet backend's size, so that filters and lookups skip row groups.
        transaction = catalog.create_table_transaction(
            self.identifier, schema=stream.schema,
            location=self.table_path.as_uri() if self.remote is None else self.table_uri,
            properties={"write.parquet.row-group-limit": str(DEFAULT_ROW_GROUP_ROWS)},
        )
        transaction.append(stream)
        transaction.commit_transaction()
        self._table = None  # what the commit returns is the staged table, which cannot be scanned

    def commit_append(self, rows: pa.Table) -> None:
        self.table.append(rows)

    def commit_update(self, rows: pa.Table, key: str) -> None:
        # An overwrite filtered on the keys, not pyiceberg's upsert, which also compares the rows
        # (docs/decisions.md, 'Iceberg: an update is an overwrite filtered on the keys'). An overwrite
        # appends every row it is given, so rows whose key is not stored are dropped first: an update
        # never inserts (as on every store that updates).
        import pyarrow.compute as pc
        from pyiceberg.expressions import In

        stored_keys = self.read_stored([key], None).column(0)
        rows = rows.filter(pc.is_in(rows.column(key), value_set=stored_keys.combine_chunks()))
        if rows.num_rows:
            self.table.overwrite(rows, overwrite_filter=In(key, rows.column(key).to_pylist()))

    # -- reads ---------------------------------------------------------------------------------------------
    @property
    def physical(self) -> dict[str, str]:
        """pyiceberg writes a name that Avro would not accept (``it's``) in an escaped form
        (``it_x27s``) in the data files; the table's field ids map one to the other. Remembered per
        written schema (a lookup asks once per key)."""
        from pyiceberg.schema import make_compatible_name

        schema = self.schema
        if self._physical is None or self._physical[0] is not schema:
            self._physical = (schema, {name: make_compatible_name(name) for name in schema.names})
        return self._physical[1]

    def data_files(self, snapshot_id: int | None = None) -> list[str]:
        """The data files of a snapshot (the current one by default). A snapshot never changes, so its
        list is planned once (pyiceberg reads the manifests in Python: about 20 ms a time, which made a
        lookup five times as slow) and reused until another snapshot is asked for."""
        current = self.table.current_snapshot()
        wanted = snapshot_id if snapshot_id is not None else current.snapshot_id if current else None
        if self._files is not None and self._files[0] == wanted and wanted is not None:
            return self._files[1]
        files = self._plan_files(wanted)
        self._files = (wanted, files)
        return files

    def _plan_files(self, snapshot_id: int | None) -> list[str]:
        tasks = list(self.table.scan(snapshot_id=snapshot_id).plan_files())
        if any(task.delete_files for task in tasks):  # written by another engine: pyiceberg applies them
            raise NotImplementedError("iceberg: the table has delete files, which these reads do not apply")
        return [task.file.file_path.removeprefix("file://") for task in tasks]

    def previous_files(self) -> list[str]:
        from pyiceberg.serializers import FromInputFile

        log = self.table.metadata.metadata_log
        if not log:
            raise self.no_earlier_version()
        previous = FromInputFile.table_metadata(self.table.io.new_input(log[-1].metadata_file))
        if previous.current_snapshot_id is None:
            raise self.no_earlier_version()
        return self.data_files(previous.current_snapshot_id)
