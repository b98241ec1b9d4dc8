"""The table formats (delta, iceberg): what the contract test cannot see.

Every generated sample kind round-trips; the types the formats lack come back as written; an update
changes exactly the updated rows and time travel reads the version before it; a reader that does not
go through storeadvise's library reads what storeadvise wrote; ``--fsync`` syncs what each commit added;
a missing library is a clear skip; the registry does not import the libraries.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import storeadvise
from storeadvise.backends import backend_class
from storeadvise.backends.base import Backend, BackendSettings
from storeadvise.bench.samples import GENERATORS, KEY_COLUMN
from storeadvise.bench.workloads import changed_rows
from storeadvise.errors import DataError

sys.path.insert(0, str(Path(__file__).parent))
from test_backends_contract import mixed_table

TABLE_FORMATS = ["delta", "iceberg"]


def make(name: str, scratch: Path, fsync: bool = False, key: str = "id") -> Backend:
    backend = backend_class(name)(BackendSettings(run_id="tf", scratch_dir=scratch, key_column=key, fsync=fsync))
    backend.open()
    return backend


@pytest.fixture(params=TABLE_FORMATS)
def table_format(request: pytest.FixtureRequest, scratch: Path) -> Iterator[Backend]:
    backend = make(request.param, scratch)
    yield backend
    backend.cleanup()


def by_key(table: pa.Table, key: str = "id") -> list[dict[str, Any]]:
    return table.sort_by(key).to_pylist()


@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_every_sample_kind_round_trips(table_format: Backend, kind: str) -> None:
    schema, generate = GENERATORS[kind]
    table = pa.Table.from_batches(list(generate(500, 0)), schema=schema)
    table_format.settings.key_column = KEY_COLUMN
    table_format.write(schema, table.to_batches(max_chunksize=128))
    got = table_format.read()
    assert got.schema == schema
    expected = table
    for field in schema:  # documented losses only (nanosecond timestamps)
        loss = table_format.type_loss(field)
        if loss:
            expected = expected.set_column(schema.get_field_index(field.name), field,
                                           loss.transform(expected[field.name].combine_chunks()))
    assert by_key(got, KEY_COLUMN) == by_key(expected, KEY_COLUMN)


def odd_types() -> pa.Table:
    """The types the formats do not have, at their extremes: they come back as written."""
    ids = [0, 1, 2]
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "u8": pa.array([0, 200, 255], pa.uint8()),
        "u16": pa.array([0, 40_000, 65_535], pa.uint16()),
        "u32": pa.array([0, 3_000_000_000, 2**32 - 1], pa.uint32()),
        "u64": pa.array([0, 2**63, 2**64 - 1], pa.uint64()),
        "half": pa.array(np.array([1.5, -2.0, 0.0], np.float16), mask=np.array([False, False, True])),
        "t": pa.array([dt.time(0, 0), dt.time(12, 30, 1, 5), None], pa.time64("us")),
        "dur": pa.array([0, 10**12, None], pa.duration("us")),
        "cat": pa.array(["a", "b", "a"]).dictionary_encode(),
        "big": pa.array(["x", "yy", None], pa.large_string()),
        "fixed": pa.array([b"ab", b"cd", b"ef"], pa.binary(2)),
        "ts_ns": pa.array([0, 1_700_000_000_123_456_789, None], pa.timestamp("ns")),
        "offset": pa.array([dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)] * 3, pa.timestamp("us", tz="+05:30")),
        "nothing": pa.nulls(3),
        "nested_u": pa.array([{"n": 255}, {"n": 0}, None], pa.struct([("n", pa.uint8())])),
    })


def test_types_the_formats_lack_come_back_as_written(table_format: Backend) -> None:
    table = odd_types()
    table_format.write(table.schema, table.to_batches())
    got = table_format.read()
    assert got.schema == table.schema
    for field in table.schema:
        want = table[field.name].combine_chunks()
        loss = table_format.type_loss(field)
        if loss:
            assert field.name == "ts_ns", field.name
            want = loss.transform(want)
        assert got.sort_by("id")[field.name].to_pylist() == want.to_pylist(), field.name
    assert got.sort_by("id")["ts_ns"][1].as_py() == pa.scalar(1_700_000_000_123_456_000, pa.timestamp("ns")).as_py()


def test_a_filter_on_an_unsigned_column_compares_the_written_values(table_format: Backend) -> None:
    from storeadvise.backends.base import Predicate

    table = odd_types()
    table_format.write(table.schema, table.to_batches())
    assert table_format.read(columns=["id"], where=Predicate("u64", ">", 2**63 - 1)).column("id").to_pylist() \
        in ([1, 2], [2, 1])
    assert table_format.read(where=Predicate("u8", "==", 255)).column("u8").to_pylist() == [255]


def test_update_changes_exactly_the_updated_rows_and_time_travel_reads_the_version_before(
    table_format: Backend,
) -> None:
    table = mixed_table(1_000)
    table_format.write(table.schema, table.to_batches(max_chunksize=256))
    updates = changed_rows(table.take(list(range(3, 1_000, 100))), "id")  # 1% of the rows
    assert updates.num_rows == 10
    table_format.update(updates)
    got = {row["id"]: row for row in table_format.read().to_pylist()}
    written = {row["id"]: row for row in table.to_pylist()}
    updated = {row["id"]: row for row in updates.to_pylist()}
    assert len(got) == 1_000 == table_format.read().num_rows
    changed = {k for k in got if got[k] != written[k]}
    assert changed == set(updated)  # every updated row changed (the values moved by one row) ...
    assert all(got[k] == updated[k] for k in updated)  # ... to exactly the update's values
    assert by_key(table_format.time_travel()) == by_key(table)


def test_time_travel_needs_a_second_version(table_format: Backend) -> None:
    with pytest.raises(DataError, match="write the dataset first"):
        table_format.time_travel()
    table = mixed_table(10)
    table_format.write(table.schema, table.to_batches())
    with pytest.raises(DataError, match="one version only"):
        table_format.time_travel()
    table_format.append(mixed_table(5, start=10).to_batches()[0])
    assert by_key(table_format.time_travel()) == by_key(table)


def delta_files(path: Path) -> list[Path]:
    """The data files of a Delta table's latest version, from its JSON log read here (not by delta-rs):
    every ``add`` of every commit, minus every ``remove``."""
    live: dict[str, None] = {}
    for commit in sorted((path / "_delta_log").glob("*.json")):
        for line in commit.read_text(encoding="utf-8").splitlines():
            action = json.loads(line)
            if "add" in action:
                live[action["add"]["path"]] = None
            elif "remove" in action:
                live.pop(action["remove"]["path"], None)
    return [path / name for name in live]


def iceberg_files(path: Path) -> list[Path]:
    """The data files of an Iceberg table's current snapshot, found without pyiceberg: the catalog's
    pointer (SQLite, read with sqlite3), the metadata JSON, then the manifest list and the manifests
    (Avro, read by polars' own reader); every entry not deleted (status 2) of every data manifest."""
    import sqlite3

    import polars as pl

    def local(uri: str) -> Path:
        return Path(uri.removeprefix("file://"))

    with sqlite3.connect(path.parent / "catalog.db") as con:
        (location,) = con.execute("SELECT metadata_location FROM iceberg_tables").fetchone()
    metadata = json.loads(local(location).read_text(encoding="utf-8"))
    snapshot = next(s for s in metadata["snapshots"] if s["snapshot-id"] == metadata["current-snapshot-id"])
    manifests = pl.read_avro(local(snapshot["manifest-list"]))
    assert manifests["content"].to_list() == [0] * manifests.height  # data manifests only, no deletes
    files = []
    for manifest in manifests["manifest_path"]:
        entries = pl.read_avro(local(manifest)).filter(pl.col("status") != 2)
        files += [local(p) for p in entries["data_file"].struct.field("file_path")]
    return files


INDEPENDENT_READERS = {"delta": delta_files, "iceberg": iceberg_files}


def test_an_independent_reader_reads_what_storeadvise_wrote(table_format: Backend) -> None:
    """The data files the table's metadata lists, read by pyarrow's Parquet reader alone, hold the
    written, appended and updated rows."""
    table = mixed_table(300)
    table_format.write(table.schema, table.to_batches(max_chunksize=64))
    extra = mixed_table(20, start=300)
    table_format.append(extra.to_batches()[0])
    updates = changed_rows(table.take([0, 150]), "id")
    table_format.update(updates)
    files = INDEPENDENT_READERS[table_format.name](table_format.table_path)
    # Each file in the types its writer chose (an update's files hold string views): compared in the written ones.
    got = pa.concat_tables([pq.read_table(f).select(table.schema.names).cast(table.schema) for f in files])
    expected = {row["id"]: row for row in pa.concat_tables([table, extra]).to_pylist()}
    expected.update({row["id"]: row for row in updates.to_pylist()})
    assert by_key(got) == [expected[k] for k in sorted(expected)]
    assert not any(p.name.startswith("_schema") for p in table_format.table_path.rglob("*"))


def test_size_counts_data_and_metadata_files(table_format: Backend) -> None:
    table = mixed_table(100)
    table_format.write(table.schema, table.to_batches())
    files = [p for p in table_format.table_path.rglob("*") if p.is_file()]
    assert table_format.size_bytes() == sum(p.stat().st_size for p in files)
    assert any(p.suffix == ".parquet" for p in files) and any(p.suffix != ".parquet" for p in files)


@pytest.mark.parametrize("name", TABLE_FORMATS)
@pytest.mark.parametrize("fsync", [False, True], ids=["default", "fsync"])
def test_fsync_syncs_what_each_commit_added_only_when_asked(name: str, fsync: bool, scratch: Path,
                                                            fsynced: list[str]) -> None:
    backend = make(name, scratch, fsync=fsync)
    table = mixed_table(100)
    backend.write(table.schema, table.to_batches())
    after_write = list(fsynced)
    written = {str(p.resolve()) for p in backend.table_path.rglob("*")}
    assert backend.durability().durable is fsync
    if not fsync:
        backend.append(mixed_table(5, start=100).to_batches()[0])
        assert fsynced == [] and "not fsynced" in backend.durability().guarantee
        return
    assert written <= set(after_write), written - set(after_write)
    assert str(scratch.resolve()) in after_write
    backend.update(changed_rows(table.take([1, 2]), "id"))
    added = {str(p.resolve()) for p in backend.table_path.rglob("*")} - written
    assert added and added <= set(fsynced[len(after_write):])
    backend.cleanup()


@pytest.mark.parametrize("name", TABLE_FORMATS)
def test_a_missing_library_is_a_clear_skip(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    cls = backend_class(name)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda mod, *a: None if mod == cls.library else real(mod, *a))
    ok, why = cls.available()
    assert not ok and why == f"install {cls.library}: pip install 'storeadvise[{cls.extra}]'"
    run = storeadvise.benchmark(sample="tabular", rows=100, backends=name, ops="write,read", repeat=1, warmup=0,
                                save=False, scratch_dir=tmp_path)
    entry = run.backends[0]
    assert entry.status == "skipped" and cls.library in entry.reason


@pytest.mark.parametrize("name", TABLE_FORMATS)
def test_the_registry_does_not_import_the_library(name: str) -> None:
    code = (
        "import sys\nfrom storeadvise.backends import backend_class\n"
        f"cls = backend_class({name!r})\nassert cls.library not in sys.modules, cls.library\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", TABLE_FORMATS)
def test_bench_measures_every_table_operation_and_verifies(name: str, tmp_path: Path) -> None:
    ops = "write,read,scan,project,filter,lookup,append,update,time_travel"
    run = storeadvise.benchmark(sample="tabular", rows=3_000, backends=name, ops=ops, repeat=2, warmup=0,
                                lookups=20, save=False, scratch_dir=tmp_path)
    entry = run.backends[0]
    measured = {m.op: m for m in entry.measurements}
    assert set(measured) == set(ops.split(","))
    assert all(m.status == "ok" for m in measured.values()), {m.op: m.reason for m in measured.values()}
    assert measured["update"].rows == 30  # 1% of the rows
    assert measured["time_travel"].rows == 3_000 + 2 * 30  # the written rows and two appends
    v = entry.verification
    assert v is not None and v.checksum_match and not v.flagged and v.rows_read == v.rows_written == 3_000, v
    assert list(tmp_path.iterdir()) == [] or all(not any(p.iterdir()) for p in tmp_path.iterdir())


def test_data_files_are_compressed_in_row_groups_a_filter_can_skip(table_format: Backend) -> None:
    rows = 140_000
    table = pa.table({"id": pa.array(range(rows), pa.int64()), "v": pa.array([i % 7 for i in range(rows)], pa.int64())})
    table_format.write(table.schema, table.to_batches(max_chunksize=65_536))
    (path,) = table_format.data_files()
    metadata = pq.ParquetFile(path).metadata
    assert metadata.num_row_groups == 2 and metadata.row_group(0).num_rows == 131_072
    assert metadata.row_group(0).column(0).compression != "UNCOMPRESSED"
