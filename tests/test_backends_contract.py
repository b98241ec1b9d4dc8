"""The one contract every backend in the registry passes (YCSB-style: same checks, every store).

Server backends run against their service's session fixture (``mongo_server``, ``kafka_server``),
which fails rather than skips when the server cannot be had.
Operations are driven through ``backends.operations.OPERATIONS``, as the runner drives them. Values are
compared after casting back to the written type; a column the backend's type mapping documents as
changed is compared with the written values transformed as documented (``Backend.type_loss``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import pickle
import re
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from media_tables import media_table

from storeadvise.backends import REGISTRY, backend_class
from storeadvise.backends.base import Backend, BackendSettings, Predicate
from storeadvise.backends.operations import OPERATIONS, InMemory, Tally, WorkloadPlan, operations_of
from storeadvise.bench.feeding import FEED_STEPS
from storeadvise.bench.workloads import changed_rows
from storeadvise.errors import DataError, UnsupportedOperation, UsageError

ROWS = 300

PARAMS = [pytest.param(name, marks=pytest.mark.server) if backend_class(name).service else name for name in REGISTRY]
# Every backend that can keep its data in object storage passes the same contract there (the embedded S3 server).
S3_LOCATION = {"location": "s3://storeadvise-contract/tests"}
PARAMS += [pytest.param(f"{name}@s3", marks=pytest.mark.server)
           for name in REGISTRY if backend_class(name).needs_service(S3_LOCATION) is not None]


def mixed_table(rows: int = ROWS, start: int = 0) -> pa.Table:
    """Ints, floats, unicode strings (with the characters text formats trip on), bools, timestamps
    (naive, UTC and another zone), dates, decimals, binary, nulls in most columns, and nested values."""
    words = ["alpha", "déjà vu", "日本語", "", "x,y", 'say "hi"', "two\nlines", "NA", "  padded "]
    base = dt.datetime(2024, 3, 1, 12, 0, 0)
    ids = list(range(start, start + rows))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "qty": pa.array([None if i % 7 == 0 else (i * 37) % 1000 - 500 for i in ids], pa.int64()),
            "price": pa.array([None if i % 11 == 0 else i / 3 - 41.25 for i in ids], pa.float64()),
            "name": pa.array([None if i % 13 == 0 else words[i % len(words)] for i in ids], pa.string()),
            "flag": pa.array([None if i % 17 == 0 else i % 2 == 0 for i in ids], pa.bool_()),
            "ts": pa.array([base + dt.timedelta(seconds=i * 3601, microseconds=i) for i in ids], pa.timestamp("us")),
            "ts_utc": pa.array(
                [None if i % 5 == 0 else base + dt.timedelta(minutes=i) for i in ids], pa.timestamp("us", tz="UTC")
            ),
            "ts_paris": pa.array(
                [base + dt.timedelta(hours=i) for i in ids], pa.timestamp("ms", tz="Europe/Paris")
            ),
            "day": pa.array([dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in ids], pa.date32()),
            "amount": pa.array(
                [None if i % 9 == 0 else decimal.Decimal(i * 1234 - 50000) / 100 for i in ids], pa.decimal128(12, 2)
            ),
            "blob": pa.array([bytes([i % 256, 0, 10, 44, 34]) for i in ids], pa.binary()),
            "tags": pa.array([None if i % 10 == 0 else ["a", "é"][: i % 3] for i in ids], pa.list_(pa.string())),
            "point": pa.array(
                [{"x": i, "label": words[i % 3]} for i in ids], pa.struct([("x", pa.int64()), ("label", pa.string())])
            ),
        }
    )


@pytest.fixture(params=PARAMS)
def backend(request: pytest.FixtureRequest, scratch: Path) -> Iterator[Backend]:
    name, _, location = request.param.partition("@")
    cls = backend_class(name)
    options = S3_LOCATION if location else {}
    service = cls.needs_service(options)
    server = request.getfixturevalue(f"{service.name}_server") if service else None
    settings = BackendSettings(run_id=uuid.uuid4().hex[:8], scratch_dir=scratch, key_column="id", service=server,
                               options=dict(options))
    ok, reason = cls.available(settings)
    if not ok:
        pytest.fail(f"{request.param} cannot run here, and the contract tests never skip a backend: {reason}")
    instance = cls(settings)
    instance.open()
    yield instance
    instance.cleanup()


def needs(backend: Backend, *ops: str) -> None:
    missing = [op for op in ops if op not in backend.supports]
    if missing:
        pytest.skip(f"{backend.name} does not support {', '.join(missing)}")


class OneShot(InMemory):
    """The table as a write's input, its batches a stream that can be consumed only once (as from a file)."""

    def batches(self) -> Iterable[pa.RecordBatch]:
        return iter(super().batches())


def run(backend: Backend, op: str, given: Any = None) -> Any:
    """One call of ``op`` through the operations table."""
    return OPERATIONS[op].call(backend, given)


def write(backend: Backend, table: pa.Table) -> None:
    """Store ``table``; for a backend that stores only some tables (a media layout given ordinary rows),
    check that the write refuses it with the backend's reason, and skip the rest of the test."""
    reason = backend.refuses(table.schema)
    if reason:
        with pytest.raises(UnsupportedOperation, match=re.escape(reason)):
            run(backend, "write", OneShot(table, batch_rows=64))
        pytest.skip(f"{backend.name} {reason}")
    run(backend, "write", OneShot(table, batch_rows=64))


def assert_same_rows(backend: Backend, got: pa.Table, expected: pa.Table) -> None:
    """Same rows in the same order; each column equal after casting back to the written type, or, where
    the backend documents a change, equal to the written values changed as documented. A backend that
    does not keep the row order (``keeps_row_order``) is compared by key: both sides sorted by ``id``."""
    assert got.num_rows == expected.num_rows
    assert got.column_names == expected.column_names
    if not backend.keeps_row_order:
        got, expected = got.sort_by("id"), expected.sort_by("id")
    for field in expected.schema:
        want = expected[field.name].combine_chunks()
        loss = backend.type_loss(field)
        if loss:
            want = loss.transform(want)
        column = got[field.name]
        if column.type != want.type:
            column = column.cast(want.type)
        assert column.to_pylist() == want.to_pylist(), f"{backend.name}: column {field.name}"


def test_declares_only_known_operations(backend: Backend) -> None:
    assert backend.supports <= set(OPERATIONS)
    assert backend.name in REGISTRY
    assert backend.describe()["supports"] == operations_of(backend)


def test_type_mapping_documents_every_family(backend: Backend) -> None:
    """Every Arrow type family is named in the mapping (key wording may differ between backends)."""
    keys = " ".join(backend.type_mapping).lower()
    families = [
        ("timestamp",), ("date",), ("null",), ("bool",), ("int",), ("float",), ("decimal",), ("binary",),
        ("string",), ("struct", "nested"), ("list", "nested"),
    ]
    missing = [words[0] for words in families if not any(w in keys for w in words)]
    assert not missing, f"{backend.name} type_mapping does not mention {missing}"


def small_plan(table: pa.Table) -> WorkloadPlan:
    """Inputs for every operation on ``table``: key 3, rows 7, 0 and 3 by position, column id, id > 3,
    5 new rows per append, rows 1 and 2 updated, a shuffled epoch in batches of 8, one emulated
    accelerator taking batches of 2 (nothing to decode: the rows are no media items)."""
    from storeadvise.bench.feeding import Epoch, FeedJob, LoaderSettings

    return WorkloadPlan(
        key_column="id", lookup_keys=[3], take_positions=[[7, 0, 3]], projection=["id"],
        predicate=Predicate("id", ">", 3), append_rows=5, update_rows=changed_rows(table.take([1, 2]), "id"),
        template=table, key_offset=1_000, data=OneShot(table),
        epoch=Epoch.of(table.num_rows, LoaderSettings(batch_size=8, workers=2), seed=0),
        feed=FeedJob(table.num_rows, LoaderSettings(batch_size=2, workers=2, step_time=0.001), 1, 0, search=False),
        notes={"decode": "no media items to decode"},
    )


def test_undeclared_operations_answer_unsupported(backend: Backend) -> None:
    """Every operation the backend does not declare is refused by the backend itself, not faked (a read
    that ignores its predicate), unless a declared operation makes the same call; refusing changes
    nothing stored."""
    table = mixed_table(20)
    if backend.refuses(table.schema):  # a media layout: the same checks on items
        table = media_table(20)
    if "write" in backend.supports:
        write(backend, table)
    plan = small_plan(table)
    declared_calls = {op.run for op in OPERATIONS.values() if op.supported_by(backend)}
    undeclared = [op for op in OPERATIONS.values() if not op.supported_by(backend)]
    for op in undeclared:
        if op.run in declared_calls:
            continue
        with pytest.raises(UnsupportedOperation):
            result = op.run(backend, next(op.inputs(plan)))
            if isinstance(result, Iterator):  # a loader reads when it is iterated
                next(result)
    if {"write", "read"} <= backend.supports:
        assert run(backend, "read").num_rows == 20


def test_the_table_refuses_an_operation_the_backend_does_not_declare(tmp_path: Path) -> None:
    """The guard in front of every call: even a backend method that could serve it is not reached."""
    cls = backend_class("parquet")
    assert "write_one" not in cls.supports and "append" in cls.supports
    backend = cls(BackendSettings(run_id="guard", scratch_dir=tmp_path, key_column="id"))
    backend.open()
    try:
        table = mixed_table(5)
        write(backend, table)
        with pytest.raises(UnsupportedOperation):
            OPERATIONS["write_one"].call(backend, next(OPERATIONS["write_one"].inputs(small_plan(table))))
        assert run(backend, "read").num_rows == 5
    finally:
        backend.cleanup()


def test_declared_operations_run_and_count_what_they_moved(backend: Backend) -> None:
    """Each declared operation, driven and counted through the table in run order, moves what its plan says."""
    needs(backend, "write")
    table = mixed_table(20)
    if backend.refuses(table.schema):
        write(backend, table)  # refused: the layout's own tests count its operations on items
    plan = small_plan(table)
    expected_rows = {
        "write": 20, "read": 20, "scan": 20, "first_batch": 20, "project": 20, "filter": 16, "lookup": 1, "take": 3,
        "append": 5, "write_one": 1, "stream_latency": 1, "update": 2,
        "time_travel": 25,  # the version before the update: the written rows and one append
        "shuffle": 20, "feed": FEED_STEPS * 2,
    }
    assert set(expected_rows) | {"decode"} == set(OPERATIONS)
    for op in OPERATIONS.values():
        if not op.supported_by(backend) or op.name == "decode":  # decode: tests/test_media.py
            continue
        assert op.skip(plan) is None
        given = next(op.inputs(plan))
        if op.reset:
            op.reset(backend)
        tally = op.count(given, op.call(backend, given))
        assert isinstance(tally, Tally) and tally.rows == expected_rows[op.name], (op.name, tally)
        assert tally.nbytes > 0, op.name


def test_write_then_read_round_trips(backend: Backend) -> None:
    needs(backend, "write", "read")
    table = mixed_table()
    write(backend, table)
    assert_same_rows(backend, run(backend, "read"), table)


def test_project_returns_exactly_the_asked_columns(backend: Backend) -> None:
    needs(backend, "write", "project")
    table = mixed_table()
    write(backend, table)
    got = run(backend, "project", ["ts", "name", "id"])
    assert got.column_names == ["ts", "name", "id"]
    assert_same_rows(backend, got, table.select(["ts", "name", "id"]))


@pytest.mark.parametrize(
    "predicate",
    [
        Predicate("qty", ">", 100),
        Predicate("name", "==", "déjà vu"),
        Predicate("flag", "==", True),
        Predicate("price", "<=", 0.0),
        Predicate("ts", ">=", dt.datetime(2024, 3, 5)),
        Predicate("id", "!=", 7),
    ],
    ids=str,
)
def test_filter_returns_exactly_the_matching_rows(backend: Backend, predicate: Predicate) -> None:
    needs(backend, "write", "filter")
    table = mixed_table()
    write(backend, table)
    expected = table.filter(predicate.to_arrow())
    assert 0 < expected.num_rows < table.num_rows
    assert_same_rows(backend, run(backend, "filter", predicate), expected)


def test_filter_with_projection(backend: Backend) -> None:
    needs(backend, "write", "filter", "project")
    table = mixed_table()
    write(backend, table)
    predicate = Predicate("qty", "<", 0)
    got = backend.read(columns=["id", "name"], where=predicate)
    assert_same_rows(backend, got, table.filter(predicate.to_arrow()).select(["id", "name"]))


def test_lookup_finds_the_row_and_nothing_for_a_missing_key(backend: Backend) -> None:
    needs(backend, "write", "lookup")
    table = mixed_table()
    write(backend, table)
    assert_same_rows(backend, run(backend, "lookup", 42), table.slice(42, 1))
    assert run(backend, "lookup", 10**9).num_rows == 0


def test_take_returns_exactly_the_rows_at_those_positions(backend: Backend) -> None:
    """In the order asked, a position asked twice returned twice, after an append too (its rows follow)."""
    needs(backend, "write", "take")
    table = mixed_table()
    write(backend, table)
    positions = [299, 0, 150, 7, 150]
    assert_same_rows(backend, run(backend, "take", positions), table.take(positions))
    if "append" in backend.supports:
        extra = mixed_table(10, start=ROWS)
        run(backend, "append", extra.to_batches()[0])
        both = pa.concat_tables([table, extra])
        assert_same_rows(backend, run(backend, "take", [305, 3]), both.take([305, 3]))


def test_lookup_without_a_key_column_is_a_usage_error(backend: Backend) -> None:
    needs(backend, "write", "lookup")
    write(backend, mixed_table(20))
    backend.settings.key_column = None
    with pytest.raises(UsageError, match="lookup needs a key column"):
        backend.lookup(3)


def test_append_adds_exactly_the_rows(backend: Backend) -> None:
    needs(backend, "write", "read", "append")
    table = mixed_table()
    extra = mixed_table(25, start=ROWS)
    write(backend, table)
    run(backend, "append", extra.to_batches()[0])
    assert_same_rows(backend, run(backend, "read"), pa.concat_tables([table, extra]))


def test_write_one_adds_one_row(backend: Backend) -> None:
    needs(backend, "write", "read", "write_one")
    table = mixed_table()
    extra = mixed_table(1, start=ROWS)
    write(backend, table)
    run(backend, "write_one", extra.to_batches()[0])
    assert_same_rows(backend, run(backend, "read"), pa.concat_tables([table, extra]))


def test_update_changes_exactly_the_updated_rows(backend: Backend) -> None:
    """Every column of the updated rows takes the new values (nulls too, where a value was stored), and
    every other row is unchanged. Compared by key: an updated row may move in the read order (a new row
    version in PostgreSQL, a delete and insert in DuckDB for nested columns)."""
    needs(backend, "write", "read", "update")
    table = mixed_table()
    write(backend, table)
    positions = [3, 150, 299]
    updates = changed_rows(table.take(positions), "id")
    # Another row's values, nulls included, so each column changes; the key stays.
    updates = pa.table({n: updates[n] if n == "id" else table.take([10, 20, 30])[n] for n in table.column_names})
    assert OPERATIONS["update"].count(updates, run(backend, "update", updates)).rows == 3
    expected = pa.Table.from_pylist(
        [updates.slice(positions.index(i), 1).to_pylist()[0] if i in positions else row
         for i, row in enumerate(table.to_pylist())], schema=table.schema)
    assert_same_rows(backend, run(backend, "read").sort_by("id"), expected)
    if "lookup" in backend.supports:
        assert_same_rows(backend, run(backend, "lookup", 150), updates.slice(1, 1))


def test_update_of_one_row_and_of_a_key_not_stored(backend: Backend) -> None:
    """One row updated alone (the path a client's update takes); a key no row has inserts nothing."""
    needs(backend, "write", "read", "update")
    table = mixed_table(20)
    write(backend, table)
    one = pa.table({n: pa.array([7], pa.int64()) if n == "id" else table[n].take([5]) for n in table.column_names})
    run(backend, "update", one)
    stray = mixed_table(1, start=ROWS)
    run(backend, "update", stray)
    rows = table.to_pylist()
    rows[7] = {**table.slice(5, 1).to_pylist()[0], "id": 7}
    assert_same_rows(backend, run(backend, "read").sort_by("id"), pa.Table.from_pylist(rows, schema=table.schema))


def test_a_second_instance_attached_in_another_process_serves_and_adds_rows(backend: Backend) -> None:
    """What a client of ``bench --clients`` does: a new instance, given the first one's pickled
    ``attachment``, looks up the stored rows and writes one that the first then reads."""
    needs(backend, "write", "read")
    if not {"lookup", "write_one"} & backend.supports:
        pytest.skip(f"{backend.name} has neither lookup nor write_one for a second client to call")
    table = mixed_table()
    extra = mixed_table(1, start=ROWS)
    write(backend, table)
    if backend.kind == "database":
        backend.release_cache()  # the other process needs the file unlocked (DuckDB allows one writer)
    other = type(backend)(backend.settings)
    other.open()
    try:
        other.attach(pickle.loads(pickle.dumps(backend.attachment())))
        if "lookup" in backend.supports:
            assert_same_rows(backend, run(other, "lookup", 42), table.slice(42, 1))
        if "write_one" in backend.supports:
            run(other, "write_one", extra.to_batches()[0])
    finally:
        other.release_cache()
    if "write_one" in backend.supports:
        assert sorted(run(backend, "read").column("id").to_pylist()) == list(range(ROWS + 1))


def test_scan_batches_concatenate_to_read(backend: Backend) -> None:
    needs(backend, "write", "read", "scan")
    table = mixed_table()
    write(backend, table)
    if "append" in backend.supports:
        backend.append(mixed_table(10, start=ROWS).to_batches()[0])
    batches = list(backend.scan(batch_rows=50))
    assert batches and all(b.num_rows <= 50 for b in batches)
    assert pa.Table.from_batches(batches).to_pylist() == backend.read().to_pylist()


def test_scan_with_columns(backend: Backend) -> None:
    needs(backend, "write", "scan", "project")
    table = mixed_table()
    write(backend, table)
    got = pa.Table.from_batches(list(backend.scan(columns=["name", "id"], batch_rows=100)))
    assert_same_rows(backend, got, table.select(["name", "id"]))


def _left_behind(backend: Backend, scratch: Path) -> list[str]:
    """What the backend's storage still holds of this run: files in its scratch folder, and for a
    server backend the databases, collections or topics on the server named with the run's prefix."""
    left = [path.name for path in scratch.iterdir()]
    if backend.service is not None:
        left += backend.service.scratch_names(backend.address, backend.settings.scratch_name)
    return left


def test_size_and_cleanup(backend: Backend, scratch: Path) -> None:
    needs(backend, "write")
    write(backend, mixed_table())
    assert backend.size_bytes() > 0
    assert _left_behind(backend, scratch)  # the check sees what was written ...
    backend.cleanup()
    assert _left_behind(backend, scratch) == []  # ... and nothing of it after cleanup
    backend.cleanup()
    assert _left_behind(backend, scratch) == []


def test_write_after_clear_replaces_the_data(backend: Backend) -> None:
    needs(backend, "write", "read")
    write(backend, mixed_table())
    backend.clear()
    second = mixed_table(40, start=1000)
    write(backend, second)
    assert_same_rows(backend, backend.read(), second)
    write(backend, mixed_table(30, start=5000))
    assert backend.read().num_rows == 30


def test_read_before_write_is_a_clear_error(backend: Backend) -> None:
    needs(backend, "read")
    with pytest.raises(DataError, match="write the dataset first"):
        backend.read()


def test_an_unknown_column_is_a_usage_error(backend: Backend) -> None:
    needs(backend, "write", "project")
    write(backend, mixed_table(10))
    with pytest.raises(UsageError, match="no column 'nope'"):
        backend.read(columns=["nope"])


def test_column_names_with_quotes_work_as_key_projection_and_filter(backend: Backend) -> None:
    needs(backend, "write", "filter", "lookup")
    odd, other = 'it\'s "id"', 'say ""hi""'
    backend.settings.key_column = odd
    table = pa.table({odd: pa.array([1, 2, 3], pa.int64()), other: pa.array(["a", "b", "c"])})
    write(backend, table)
    assert backend.read(columns=[other], where=Predicate(odd, ">=", 2)).column(0).to_pylist() == ["b", "c"]
    assert backend.lookup(3).column(other).to_pylist() == ["c"]


def test_an_empty_dataset_round_trips(backend: Backend) -> None:
    needs(backend, "write", "read")
    table = mixed_table(0)
    write(backend, table)
    got = backend.read()
    assert got.num_rows == 0
    assert got.column_names == table.column_names
