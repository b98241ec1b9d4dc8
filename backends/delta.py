"""Delta Lake: a table folder of Parquet data files and a JSON commit log (``_delta_log``), written
and read through ``deltalake`` (delta-rs, Rust); pip extra ``delta``.

Semantics:

- Layout: ``delta/table/`` is an ordinary Delta table (any Delta reader opens it: delta-rs, Spark,
  polars' ``read_delta``, DuckDB's ``delta_scan``); ``delta/_schema.arrow`` beside it keeps the written
  Arrow schema, so that reads give back the written types (``backends._tables``).
- Commits: ``write`` creates the table (version 0); each ``append`` is one more commit adding a data
  file; ``update`` is a ``MERGE`` on the key column (``when matched, update all columns``), one commit
  that rewrites the data files holding the matched rows (copy-on-write; no deletion vectors);
  ``time_travel`` loads the version before the latest and reads it whole. ``write_one`` is not declared:
  a commit and a data file per row is not how anyone uses a table format.
- Durability: a commit is atomic (the log entry ``0000…N.json`` is created only if absent, after its
  data files are written), so a crash leaves the previous version readable; but delta-rs writes local
  files through ``object_store``'s ``LocalFileSystem``, which does not fsync (checked with strace: no
  fsync or fdatasync during a write). With ``--fsync``, every file and folder the commit added is
  fsynced before the call returns.
- Type mapping (``type_mapping``): Delta has no unsigned integers (written as the next wider signed
  type, uint64 as decimal(20, 0), and cast back), no half floats (float32), no time of day (int32/int64
  of its unit), no durations (int64); timestamps are microseconds (nanoseconds truncated: a documented
  loss), zoned ones stored in UTC with the zone kept in the saved schema; dates, decimals (up to 38
  digits), binary, strings, structs, lists and maps are native.
- Data files: snappy-compressed, in row groups of 131,072 rows (the Parquet backend's), so that a
  filter or lookup skips the row groups whose statistics exclude it (delta-rs's default made a
  500k-row table one row group).
- Reads: the data files the latest commit lists, read by polars (``backends._tables``: the filter
  column is decoded first, the others only for the matching rows) or, for types or filters polars does
  not handle exactly, by ``pyarrow.dataset``; both skip row groups by their statistics and decode only
  the asked columns. Lookup is such a filtered read on the key column (no index). Not
  ``DeltaTable.to_pyarrow_dataset``, which skips files by the statistics in the log: delta-rs
  writes a wrong maximum there for a decimal above 2^63 (a uint64 column stored as decimal(20, 0) gets
  9223372036854775807 for 2^64 - 1, and a filter on it then skips the file), and rounds timestamp
  statistics to milliseconds. The Parquet files' own statistics are exact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from storeadvise.backends._tables import TableFormatBackend, unsigned_as_signed
from storeadvise.backends.base import TypeLoss

if TYPE_CHECKING:
    import pyarrow as pa
    from deltalake import DeltaTable


def delta_type(dtype: pa.DataType) -> pa.DataType:
    """The type a column is handed to delta-rs in (a ``_typemap`` leaf rule): one Delta stores."""
    import pyarrow as pa

    if pa.types.is_float16(dtype):
        return pa.float32()
    if pa.types.is_time32(dtype):
        return pa.int32()
    if pa.types.is_time64(dtype) or pa.types.is_duration(dtype):
        return pa.int64()
    if pa.types.is_timestamp(dtype) and dtype.unit == "ns":
        return pa.timestamp("us", tz=dtype.tz)
    return unsigned_as_signed(dtype)


class DeltaBackend(TableFormatBackend):
    """A Delta Lake table in the run's scratch folder."""

    name: ClassVar[str] = "delta"
    object_client: ClassVar[str] = "deltalake (object_store) / polars and pyarrow.fs for reads"
    library: ClassVar[str] = "deltalake"
    extra: ClassVar[str] = "delta"
    type_mapping: ClassVar[dict[str, str]] = {
        "timestamp": "timestamp_ntz, microseconds (nanoseconds truncated)",
        "timestamp with timezone": "timestamp (UTC, microseconds); the zone is kept in the saved schema",
        "date": "date (exact)",
        "null": "void (exact)",
        "bool": "boolean (exact)",
        "int8/16/32/64": "byte/short/integer/long (exact)",
        "unsigned int": "the next wider signed type; uint64 as decimal(20,0) (exact, cast back)",
        "float": "float/double (exact); float16 as float (exact, cast back)",
        "decimal": "decimal up to 38 digits (exact; a 256-bit decimal that fits as 128-bit; wider ones refused)",
        "binary": "binary (exact)",
        "string": "string (exact)",
        "nested struct/list/map": "struct/array/map (exact)",
        "time of day, duration": "integer of its unit (exact, cast back)",
    }

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self._table: DeltaTable | None = None

    storage_type = staticmethod(delta_type)

    def type_loss(self, field: pa.Field) -> TypeLoss | None:
        from storeadvise.backends import _typemap

        if not _typemap.any_type(field.type, _is_ns_timestamp):
            return None
        return TypeLoss(
            "Delta timestamps hold microseconds: nanoseconds truncated",
            lambda values: _typemap.round_trip(values, delta_type),
        )

    # -- the table ----------------------------------------------------------------------------------------
    @property
    def table(self) -> DeltaTable:
        """The latest version, loaded once and kept current by this backend's own commits."""
        if self._table is None:
            from deltalake import DeltaTable

            self.schema  # noqa: B018 - nothing written: a DataError, not delta-rs's "not a Delta table"
            self._table = DeltaTable(self.table_uri, storage_options=self.storage_options())
        return self._table

    def forget_table(self) -> None:
        self._table = None

    def refresh(self) -> None:
        if self._table is not None:
            self._table.update_incremental()

    def create(self, stream: pa.RecordBatchReader) -> None:
        from deltalake import write_deltalake

        write_deltalake(self.table_uri, stream, mode="error", writer_properties=_writer_properties(),
                        storage_options=self.storage_options())

    def commit_append(self, rows: pa.Table) -> None:
        from deltalake import write_deltalake

        write_deltalake(self.table, rows, mode="append", writer_properties=_writer_properties())

    def commit_update(self, rows: pa.Table, key: str) -> None:
        column = "`" + key.replace("`", "``") + "`"
        merge = self.table.merge(rows, predicate=f"t.{column} = s.{column}", source_alias="s", target_alias="t",
                                 writer_properties=_writer_properties())
        merge.when_matched_update_all().execute()

    def data_files(self) -> list[str]:
        return self.table.file_uris()

    def previous_files(self) -> list[str]:
        from deltalake import DeltaTable

        version = self.table.version()
        if version < 1:
            raise self.no_earlier_version()
        return DeltaTable(self.table_uri, version=version - 1, storage_options=self.storage_options()).file_uris()

    def storage_options(self) -> dict[str, str] | None:
        """delta-rs's settings for the bucket's server (None for the local disk)."""
        return None if self.remote is None else self.remote.storage_options()


def _writer_properties() -> Any:
    """Row groups of the Parquet backend's size: delta-rs's default makes a 500k-row table one row group,
    which no filter or lookup can skip. Snappy named again: properties given without a codec write
    uncompressed files (a 300k-row table 11.4 MB instead of 10.0 MB, and an update 1.45x slower than
    delta-rs's defaults)."""
    from deltalake import WriterProperties

    from storeadvise.backends.parquet import DEFAULT_ROW_GROUP_ROWS

    return WriterProperties(max_row_group_size=DEFAULT_ROW_GROUP_ROWS, compression="SNAPPY")


def _is_ns_timestamp(dtype: pa.DataType) -> bool:
    import pyarrow as pa

    return pa.types.is_timestamp(dtype) and dtype.unit == "ns"
