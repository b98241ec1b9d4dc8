"""The lance backend: exact round trips, its key index, versions, take, durability and its limits."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pyarrow as pa
import pytest
import server_data

from storeadvise.backends.base import BackendSettings, Predicate
from storeadvise.backends.lance import LanceBackend
from storeadvise.errors import DataError, UsageError

HERE = Path(__file__).parent
KEY = "id"


def _backend(scratch: Path, key: str | None = KEY, **options: object) -> LanceBackend:
    backend = LanceBackend(BackendSettings(run_id=uuid.uuid4().hex[:8], scratch_dir=scratch, key_column=key,
                                           options=dict(options)))
    backend.open()
    return backend


@pytest.fixture
def lance_backend(scratch: Path):
    backend = _backend(scratch)
    yield backend
    backend.cleanup()


def _table(rows: int, start: int = 0) -> pa.Table:
    ids = list(range(start, start + rows))
    return pa.table({
        KEY: pa.array(ids, pa.int64()),
        "value": pa.array([i * 0.5 for i in ids], pa.float64()),
        "label": pa.array([f"row {i}" for i in ids], pa.string()),
    })


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def test_every_documented_type_round_trips_exactly(lance_backend: LanceBackend) -> None:
    table = server_data.with_microseconds(server_data.typed_table())
    lance_backend.write(table.schema, table.to_batches(max_chunksize=100))
    back = lance_backend.read()
    assert back.schema == table.schema
    assert back.equals(table)
    assert all(lance_backend.type_loss(f) is None for f in table.schema)


@pytest.mark.parametrize("kind", ["tabular", "time-series", "text", "nested"])
def test_round_trip_of_sample_datasets(lance_backend: LanceBackend, kind: str) -> None:
    from storeadvise.bench.datasets import sample_dataset

    dataset = sample_dataset(kind, 400, seed=3)
    table = pa.Table.from_batches(list(dataset.batches()), schema=dataset.schema)
    lance_backend.settings.key_column = dataset.profile.key_column
    lance_backend.write(dataset.schema, dataset.batches(batch_rows=150))
    back = lance_backend.read()
    assert back.schema == table.schema
    assert back.equals(table)


def test_an_independent_reader_sees_what_was_written(lance_backend: LanceBackend) -> None:
    """A second process opens the folder with pylance alone: same rows, bytes, versions and index."""
    table, extra = _table(1_000), _table(10, start=1_000)
    lance_backend.write(table.schema, table.to_batches(max_chunksize=300))
    lance_backend.append(extra.to_batches()[0])
    out = subprocess.run(
        [sys.executable, str(HERE / "independent_clients.py"), "lance", str(lance_backend.location), KEY, "1005",
         "999,0,1009,3"],
        capture_output=True, text=True, check=True, timeout=120,
    )
    seen = json.loads(out.stdout)
    expected = pa.concat_tables([table, extra]).combine_chunks()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, expected.schema) as writer:
        writer.write_table(expected)
    import hashlib

    assert seen["count"] == 1_010
    assert seen["sha256"] == hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()
    assert seen["version"] == 3 and seen["versions"] == 3  # the write, the index, the append
    assert seen["indices"] == [[KEY, "BTree"]]
    assert seen["row"] == [{KEY: 1005, "value": 502.5, "label": "row 1005"}]
    assert seen["take"] == [999, 0, 1009, 3]


def test_lookups_are_answered_by_the_btree_index(lance_backend: LanceBackend) -> None:
    table = _table(5_000)
    lance_backend.write(table.schema, table.to_batches(max_chunksize=1_000))
    dataset = lance_backend.dataset
    assert [(i.field_names, i.index_type) for i in dataset.describe_indices()] == [([KEY], "BTree")]
    plan = dataset.scanner(filter=Predicate(KEY, "==", 42).to_arrow(pa.int64())).explain_plan()
    assert "ScalarIndexQuery" in plan, plan
    assert lance_backend.lookup(42).to_pylist() == [{KEY: 42, "value": 21.0, "label": "row 42"}]
    lance_backend.append(_table(5, start=5_000).to_batches()[0])  # not in the index: scanned, still found
    assert lance_backend.lookup(5_003).column(KEY).to_pylist() == [5_003]


@pytest.mark.parametrize(
    ("key_type", "key", "sql"),
    [
        (pa.int64(), 42, "`id` = 42"),
        (pa.int32(), 2**31, None),  # not an int32: the expression decides (no row)
        (pa.string(), "it's \\ 日本", "`id` = 'it''s \\ 日本'"),
        (pa.float64(), 1.5, None),
    ],
)
def test_lookups_of_integer_and_string_keys_go_as_sql_text(scratch: Path, key_type: pa.DataType, key: object,
                                                            sql: str | None) -> None:
    from storeadvise.backends.lance import sql_equals

    assert sql_equals(KEY, key_type, key) == sql
    values = [key, "other"] if pa.types.is_string(key_type) else [1, 2]
    table = pa.table({KEY: pa.array(values, key_type), "n": [1, 2]})
    backend = _backend(scratch)
    backend.write(table.schema, table.to_batches())
    expected = [{KEY: key, "n": 1}] if pa.types.is_string(key_type) else []
    assert backend.lookup(key).to_pylist() == expected
    backend.cleanup()


def test_no_index_when_asked_and_an_unknown_index_is_a_usage_error(scratch: Path) -> None:
    table = _table(100)
    plain = _backend(scratch, lance_index="none")
    plain.write(table.schema, table.to_batches())
    assert plain.dataset.describe_indices() == []
    assert plain.lookup(7).column(KEY).to_pylist() == [7]
    plain.cleanup()
    with pytest.raises(UsageError, match="lance_index"):
        _backend(scratch, lance_index="hash").write(table.schema, table.to_batches())


def test_append_commits_a_new_version_and_the_old_one_stays_readable(lance_backend: LanceBackend) -> None:
    import lance

    table = _table(100)
    lance_backend.write(table.schema, table.to_batches())
    before = lance_backend.dataset.version
    lance_backend.append(_table(5, start=100).to_batches()[0])
    assert lance_backend.dataset.version == before + 1
    assert lance_backend.read().num_rows == 105
    assert lance.dataset(str(lance_backend.location), version=before).count_rows() == 100


def test_size_counts_data_manifests_and_index(lance_backend: LanceBackend) -> None:
    table = _table(2_000)
    lance_backend.write(table.schema, table.to_batches())
    files = _files(lance_backend.location)
    folders = {p.relative_to(lance_backend.location).parts[0] for p in files}
    assert {"data", "_versions", "_indices"} <= folders
    assert lance_backend.size_bytes() == sum(p.stat().st_size for p in files)


def test_fsync_covers_every_new_file_and_folder(scratch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import storeadvise.backends.lance as module

    synced: list[Path] = []
    monkeypatch.setattr(module, "fsync_paths", lambda paths: synced.extend(paths))
    backend = _backend(scratch)
    backend.settings.fsync = True
    assert backend.durability().durable and not LanceBackend.write_guarantees[0].durable
    table = _table(300)
    backend.write(table.schema, table.to_batches())
    written = _files(backend.location)
    assert written <= set(synced) and backend.location in synced
    synced.clear()
    backend.append(_table(3, start=300).to_batches()[0])
    new = _files(backend.location) - written
    assert new and {p for p in synced if p.is_file()} == new  # only what the append created
    assert {p.parent for p in new} <= set(synced)
    backend.cleanup()


def test_a_filter_lance_cannot_take_is_evaluated_on_the_rows_read(lance_backend: LanceBackend) -> None:
    """A dictionary-encoded column: pyarrow cannot hand Lance that filter, so it is applied after."""
    table = pa.table({KEY: [1, 2, 3, 4], "colour": pa.array(["red", "blue", "red", None]).dictionary_encode()})
    lance_backend.write(table.schema, table.to_batches())
    got = lance_backend.read(columns=[KEY], where=Predicate("colour", "==", "red"))
    assert got.to_pylist() == [{KEY: 1}, {KEY: 3}]
    assert lance_backend.read(where=Predicate("colour", "!=", "red")).column(KEY).to_pylist() == [2]


@pytest.mark.parametrize("name", ["a.b", "a`b"])
def test_a_column_name_lance_cannot_read_back_is_refused_clearly(lance_backend: LanceBackend, name: str) -> None:
    table = pa.table({KEY: [1], name: [2]})
    with pytest.raises(DataError, match=repr(name).replace(".", r"\.")):
        lance_backend.write(table.schema, table.to_batches())
    assert not lance_backend.location.exists()


def test_a_cold_read_opens_the_folder_again(lance_backend: LanceBackend) -> None:
    table = _table(50)
    lance_backend.write(table.schema, table.to_batches())
    first = lance_backend.dataset
    lance_backend.release_cache()
    assert lance_backend.dataset is not first
    assert lance_backend.read().equals(table)


def test_without_pylance_the_backend_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "lance" else real(name, *a))
    ok, why = LanceBackend.available()
    assert not ok and "install pylance" in why


def test_take_positions_are_training_batches() -> None:
    """Distinct random positions per batch, in range, not sorted, the same for the same seed."""
    from storeadvise.backends.operations import TAKE_ROWS
    from storeadvise.bench.datasets import sample_dataset
    from storeadvise.bench.workloads import plan_workload

    dataset = sample_dataset("tabular", 5_000)
    plan = plan_workload(dataset, ["take"], lookups=50, seed=4)
    assert len(plan.take_positions) == 50
    assert all(len(set(b)) == len(b) == TAKE_ROWS and min(b) >= 0 and max(b) < 5_000 for b in plan.take_positions)
    assert any(b != sorted(b) for b in plan.take_positions)
    assert plan_workload(dataset, ["take"], lookups=50, seed=4).take_positions == plan.take_positions
    assert plan_workload(sample_dataset("tabular", 10), ["take"], lookups=3).take_positions[0].__len__() == 10


def test_bench_measures_take_per_batch(tmp_path: Path) -> None:
    """Through the runner: take is a latency operation over whole batches, its rows/s counts their rows."""
    from storeadvise import benchmark
    from storeadvise.backends.operations import TAKE_ROWS

    run = benchmark(sample="tabular", rows=2_000, backends="lance,csv", ops="read,take,lookup", repeat=2,
                    lookups=20, out=tmp_path / "run.json", scratch_dir=tmp_path)
    by = {(b.backend, m.op): m for b in run.backends for m in b.measurements}
    take = by[("lance", "take")]
    assert take.status == "ok" and take.latency and take.extra["misses"] == 0
    assert take.rows == TAKE_ROWS and take.rows_per_s == pytest.approx(TAKE_ROWS / take.stats.median)
    assert by[("lance", "lookup")].rows == 1
    assert by[("csv", "take")].status == "unsupported"
    assert run.complete
