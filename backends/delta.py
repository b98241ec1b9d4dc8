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
- Reads: the data files the latest commit lists, as one ``pyarrow.dataset``, with the projection and
  the filter pushed into the Parquet reader: row groups whose statistics exclude the filter are
  skipped, and only the asked columns are decoded. Lookup is such a filtered read on the key column (no
  index). Not ``DeltaTable.to_pyarrow_dataset``, which skips files by the statistics in the log: delta-rs
  writes a wrong maximum there for a decimal above 2^63 (a uint64 column stored as decimal(20, 0) gets
  9223372036854775807 for 2^64 - 1, and a filter on it then skips the file), and rounds timestamp
  statistics to milliseconds. The Parquet files' own statistics are exact.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from storeadvise.backends._tables import TableFormatBackend, unsigned_as_signed
from storeadvise.backends.base import Predicate, TypeLoss

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as ds
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
        "decimal": "decimal up to 38 digits (exact)",
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
            self._table = DeltaTable(str(self.table_path))
        return self._table

    def forget_table(self) -> None:
        self._table = None

    def create(self, stream: pa.RecordBatchReader) -> None:
        from deltalake import write_deltalake

        write_deltalake(str(self.table_path), stream, mode="error")

    def commit_append(self, rows: pa.Table) -> None:
        from deltalake import write_deltalake

        write_deltalake(self.table, rows, mode="append")

    def commit_update(self, rows: pa.Table, key: str) -> None:
        column = "`" + key.replace("`", "``") + "`"
        merge = self.table.merge(rows, predicate=f"t.{column} = s.{column}", source_alias="s", target_alias="t")
        merge.when_matched_update_all().execute()

    def dataset(self, table: DeltaTable | None = None) -> ds.Dataset:
        """The data files of a version (the latest by default), as pyarrow reads them: with each file's
        own Parquet statistics, not the log's (see the module docstring)."""
        import pyarrow.dataset as ds

        return ds.dataset((table or self.table).file_uris(), schema=self.storage, format="parquet")

    def read_stored(self, columns: Sequence[str] | None, where: Predicate | None) -> pa.Table:
        return self.dataset().to_table(
            columns=list(columns) if columns is not None else None,
            filter=self.filter_expression(where) if where is not None else None,
        )

    def scan_stored(self, columns: Sequence[str] | None, batch_rows: int) -> Iterator[pa.RecordBatch]:
        yield from self.dataset().to_batches(columns=None if columns is None else list(columns), batch_size=batch_rows)

    def read_previous(self) -> pa.Table:
        from deltalake import DeltaTable

        version = self.table.version()
        if version < 1:
            raise self.no_earlier_version()
        return self.dataset(DeltaTable(str(self.table_path), version=version - 1)).to_table()


def _is_ns_timestamp(dtype: pa.DataType) -> bool:
    import pyarrow as pa

    return pa.types.is_timestamp(dtype) and dtype.unit == "ns"
