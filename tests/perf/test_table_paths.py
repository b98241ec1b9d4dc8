"""The table formats (delta, iceberg) against the fastest direct call of their own library, per operation.

Reads read the table storeadvise wrote, through a handle opened once outside the timing on both sides
(an expert keeps the ``DeltaTable`` or the Iceberg ``Table`` open). Writes write the same in-memory
Arrow table to a table of their own. Append, update and time travel commit to (or read) a table of
each side's own: storeadvise's store and a copy the direct calls wrote, both growing by one commit
per run. Mutations run last, so that every read reads the written table.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pairs
import pytest
from test_file_paths import reader_sides

from storeadvise.backends.base import Predicate

FORMATS = ("delta", "iceberg")
OPS = ("write", "read", "project", "filter", "lookup", "append", "update", "time_travel")
CASES = [(b, op) for b in FORMATS for op in OPS]
LOOKUP_KEYS = 20
"""Keys per lookup run: each is a filtered read of the whole table (no index)."""


@pytest.fixture(scope="session")
def table_data(suite_data: Any) -> tuple[Any, Any]:
    """The suite's table and a plan that also holds the update's rows (1% of the rows, changed); of the
    session's data (``file_data`` is per test)."""
    from storeadvise.bench.workloads import changed_rows

    table, plan, dataset = suite_data.use("tabular")[0]
    rows = changed_rows(dataset.sample_rows(plan.append_rows, seed=1), plan.key_column)
    return table, dataclasses.replace(plan, update_rows=rows)


@pytest.fixture(scope="session")
def table_stores(table_data: Any, perf_scratch: Path) -> Iterator[dict[str, Any]]:
    from stores import written_stores

    table, plan = table_data
    yield from written_stores(table, plan.key_column, perf_scratch / "storeadvise-tables")


@pytest.mark.parametrize(("backend_name", "op"), CASES, ids=[f"{b}-{op}" for b, op in CASES])
def test_storeadvise_vs_direct(benchmark: Any, table_stores: dict[str, Any], table_data: Any, perf_scratch: Path,
                               backend_name: str, op: str) -> None:
    table, plan = table_data
    backend = table_stores[backend_name]
    keys = plan.lookup_keys[:LOOKUP_KEYS]
    out = perf_scratch / "direct-tables" / f"{backend_name}-{op}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    storeadvise = pairs.storeadvise_side(backend, op, plan, keys)
    if op == "update":  # both sides update the same table: each starts from the other's latest commit
        storeadvise.setup = backend.refresh
    sides = (DeltaSides if backend_name == "delta" else IcebergSides)(backend, table, plan, out)
    result = pairs.run_case(benchmark, backend_name, op, backend.kind, table.num_rows, storeadvise,
                            sides.for_op(op, keys), notes=f"{len(keys)} keys per lookup run" if op == "lookup" else "")
    if not result.passed:
        pytest.fail(result.message(), pytrace=False)


class Sides:
    """The direct calls of one format: readers take (columns, where) on a handle of the stored table."""

    def __init__(self, backend: Any, table: Any, plan: Any, out: Path) -> None:
        self.backend, self.table, self.plan, self.out = backend, table, plan, out
        self.storage = backend.to_stored(table)
        """The suite's table in the types the format stores (the same cast storeadvise makes, done once
        here so that the direct calls get what their library accepts)."""

    def for_op(self, op: str, keys: list) -> list[pairs.Side]:
        if op == "write":
            return self.writers()
        if op in ("append", "update", "time_travel"):
            return getattr(self, op)()
        return reader_sides(self.readers(), op, self.plan, keys)

    def stored(self, rows: Any) -> Any:
        return self.backend.stored_table(rows)

    def filter(self, where: Predicate) -> Any:
        return self.backend.filter_expression(where)


def delta_layout() -> Any:
    """The data-file layout storeadvise writes (row groups of the Parquet backend's size, snappy), given to
    the direct calls too: a comparison with delta-rs's default layout (one row group per file) compared
    layouts, not paths."""
    from deltalake import WriterProperties

    from storeadvise.backends.parquet import DEFAULT_ROW_GROUP_ROWS

    return WriterProperties(max_row_group_size=DEFAULT_ROW_GROUP_ROWS, compression="SNAPPY")


class DeltaSides(Sides):
    def writers(self) -> list[pairs.Side]:
        from deltalake import write_deltalake

        path = self.out / "write"
        layout = delta_layout()

        def polars_write() -> None:
            import polars as pl

            pl.from_arrow(self.storage, rechunk=False).write_delta(
                str(path), delta_write_options={"writer_properties": layout})

        return [
            pairs.Side("deltalake write_deltalake",
                       lambda: write_deltalake(str(path), self.storage, writer_properties=layout),
                       setup=lambda: shutil.rmtree(path, ignore_errors=True)),
            pairs.Side("polars write_delta", polars_write, setup=lambda: shutil.rmtree(path, ignore_errors=True)),
        ]

    def readers(self) -> dict[str, Any]:
        import polars as pl
        import pyarrow.dataset as ds
        from deltalake import DeltaTable

        path = str(self.backend.table_path)
        handle = DeltaTable(path)

        def columns_of(columns: Any) -> Any:
            return None if columns is None else list(columns)

        def to_pyarrow_dataset(columns: Any, where: Any) -> Any:
            filter_ = self.filter(where) if where is not None else None
            return handle.to_pyarrow_dataset().to_table(columns=columns_of(columns), filter=filter_)

        def file_uris(columns: Any, where: Any) -> Any:
            filter_ = self.filter(where) if where is not None else None
            dataset = ds.dataset(handle.file_uris(), format="parquet")
            return dataset.to_table(columns=columns_of(columns), filter=filter_)

        def polars_scan(columns: Any, where: Any) -> Any:
            import direct

            return direct.polars_lazy(pl.scan_delta(path), columns, where)

        def polars_files(columns: Any, where: Any) -> Any:
            import direct

            return direct.polars_lazy(pl.scan_parquet(handle.file_uris(), hive_partitioning=False), columns, where)

        return {
            "deltalake to_pyarrow_dataset": to_pyarrow_dataset,
            "pyarrow dataset of DeltaTable.file_uris": file_uris,
            "polars scan_delta": polars_scan,
            "polars scan_parquet of DeltaTable.file_uris": polars_files,
        }

    def own_copy(self) -> Any:
        from deltalake import DeltaTable, write_deltalake

        path = str(self.out / "table")
        write_deltalake(path, self.storage)
        return DeltaTable(path)

    def append(self) -> list[pairs.Side]:
        from deltalake import write_deltalake

        handle = self.own_copy()
        rows = self.stored(self.plan.new_rows(self.plan.append_rows, 0))
        return [pairs.Side("deltalake write_deltalake (append)", lambda: write_deltalake(handle, rows, mode="append"))]

    def update(self) -> list[pairs.Side]:
        """On storeadvise's table, which the append case has grown: a fresh copy would have fewer files."""
        from deltalake import DeltaTable

        handle = DeltaTable(str(self.backend.table_path))
        rows = self.stored(self.plan.update_rows)
        column = f"`{self.plan.key_column}`"

        layout = delta_layout()

        def merge() -> None:
            handle.merge(rows, predicate=f"t.{column} = s.{column}", source_alias="s", target_alias="t",
                         writer_properties=layout).when_matched_update_all().execute()

        return [pairs.Side("deltalake merge (when matched update all)", merge, setup=handle.update_incremental)]

    def time_travel(self) -> list[pairs.Side]:
        """Both sides read the version before the latest of storeadvise's table (after the append and
        update cases, it has many commits: both replay the same log)."""
        from deltalake import DeltaTable

        path = str(self.backend.table_path)
        handle = DeltaTable(path)

        def previous_version() -> Any:
            return DeltaTable(path, version=handle.version() - 1).to_pyarrow_dataset().to_table()

        def polars_version() -> Any:
            import polars as pl

            return pl.read_delta(path, version=handle.version() - 1).to_arrow()

        return [pairs.Side("deltalake DeltaTable(version=v-1)", previous_version),
                pairs.Side("polars read_delta(version=v-1)", polars_version)]


def iceberg_filter(where: Predicate) -> Any:
    from pyiceberg import expressions as ex

    kinds = {"==": ex.EqualTo, "!=": ex.NotEqualTo, "<": ex.LessThan, "<=": ex.LessThanOrEqual,
             ">": ex.GreaterThan, ">=": ex.GreaterThanOrEqual}
    return kinds[where.op](where.column, where.value)


class IcebergSides(Sides):
    def catalog(self, name: str) -> Any:
        from pyiceberg.catalog.sql import SqlCatalog

        folder = self.out / name
        folder.mkdir(parents=True, exist_ok=True)
        catalog = SqlCatalog("direct", uri=f"sqlite:///{folder / 'catalog.db'}", warehouse=folder.as_uri())
        catalog.create_namespace_if_not_exists("direct")
        return catalog

    def writers(self) -> list[pairs.Side]:
        catalog = self.catalog("write")

        def reset() -> None:
            if catalog.table_exists("direct.t"):
                catalog.purge_table("direct.t")
            shutil.rmtree(self.out / "write" / "t", ignore_errors=True)

        from storeadvise.backends.parquet import DEFAULT_ROW_GROUP_ROWS

        def create_and_append() -> None:  # in storeadvise's layout: row groups of the Parquet backend's size
            transaction = catalog.create_table_transaction(
                "direct.t", schema=self.storage.schema, location=(self.out / "write" / "t").as_uri(),
                properties={"write.parquet.row-group-limit": str(DEFAULT_ROW_GROUP_ROWS)})
            transaction.append(self.storage)
            transaction.commit_transaction()

        return [pairs.Side("pyiceberg create_table_transaction + append", create_and_append, setup=reset)]

    def readers(self) -> dict[str, Any]:

        handle = self.stored_handle()

        def scan(columns: Any, where: Any) -> Any:
            from pyiceberg.expressions import AlwaysTrue

            selected = ("*",) if columns is None else tuple(columns)
            return handle.scan(row_filter=iceberg_filter(where) if where is not None else AlwaysTrue(),
                               selected_fields=selected).to_arrow()

        def polars_scan(columns: Any, where: Any) -> Any:
            import direct
            import polars as pl

            return direct.polars_lazy(pl.scan_iceberg(handle), columns, where)

        return {"pyiceberg scan to_arrow": scan, "polars scan_iceberg": polars_scan}

    def stored_handle(self) -> Any:
        """storeadvise's table, through a catalog of its own on the same SQLite file."""
        from pyiceberg.catalog.sql import SqlCatalog

        catalog = SqlCatalog("storeadvise", uri=f"sqlite:///{self.backend.location / 'catalog.db'}",
                             warehouse=self.backend.location.as_uri())
        return catalog.load_table(self.backend.identifier)

    def own_copy(self) -> Any:
        catalog = self.catalog("copy")
        transaction = catalog.create_table_transaction("direct.t", schema=self.storage.schema)
        transaction.append(self.storage)
        transaction.commit_transaction()
        return catalog.load_table("direct.t")

    def append(self) -> list[pairs.Side]:
        handle = self.own_copy()
        rows = self.stored(self.plan.new_rows(self.plan.append_rows, 0))
        return [pairs.Side("pyiceberg append", lambda: handle.append(rows))]

    def update(self) -> list[pairs.Side]:
        """On storeadvise's table, which the append case has grown: a fresh copy would have fewer files.
        An update never inserts: the overwrite that appends every row it is given, whether its key is
        stored or not, is shown but is not the reference; the overwrite of the rows whose key a scan of
        the key column finds, and pyiceberg's upsert without inserts, do an update's whole job."""
        import pyarrow.compute as pc
        from pyiceberg.expressions import In

        handle = self.stored_handle()
        rows = self.stored(self.plan.update_rows)
        key = self.plan.key_column
        keys = rows.column(key).to_pylist()

        def overwrite_stored_keys() -> None:
            stored = handle.scan(selected_fields=(key,)).to_arrow().column(key).combine_chunks()
            kept = rows.filter(pc.is_in(rows.column(key), value_set=stored))
            handle.overwrite(kept, overwrite_filter=In(key, kept.column(key).to_pylist()))

        return [
            pairs.Side("pyiceberg overwrite (key IN updated keys)",
                       lambda: handle.overwrite(rows, overwrite_filter=In(key, keys)), setup=handle.refresh,
                       gate=False, note="appends rows whose key is not stored: no update's check"),
            pairs.Side("pyiceberg scan of the keys + overwrite of the stored ones", overwrite_stored_keys,
                       setup=handle.refresh),
            pairs.Side("pyiceberg upsert (update only)",
                       lambda: handle.upsert(rows, join_cols=[key], when_not_matched_insert_all=False),
                       setup=handle.refresh),
        ]

    def time_travel(self) -> list[pairs.Side]:
        """Both sides read storeadvise's table as it was before its latest commit: the snapshot that the
        previous metadata file names (an overwrite commits two snapshots, so the parent is not it)."""
        from pyiceberg.serializers import FromInputFile

        handle = self.stored_handle()

        def previous_snapshot() -> Any:
            previous = FromInputFile.table_metadata(handle.io.new_input(handle.metadata.metadata_log[-1].metadata_file))
            return handle.scan(snapshot_id=previous.current_snapshot_id).to_arrow()

        return [pairs.Side("pyiceberg scan(snapshot_id=previous commit's)", previous_snapshot)]
