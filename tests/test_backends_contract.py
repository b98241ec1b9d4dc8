"""The one contract every backend in the registry passes (YCSB-style: same checks, every store).

Server backends run against their service's session fixture (``mongo_server``, ``kafka_server``),
which fails rather than skips when the server cannot be had.
Values are compared after casting back to the written type, except columns for which the backend's
``documented_loss`` gives a reason.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from storeadvise.backends import REGISTRY, backend_class
from storeadvise.backends.base import OPERATIONS, Backend, BackendSettings, Predicate
from storeadvise.errors import UnsupportedOperation

pa = pytest.importorskip("pyarrow")

ROWS = 300

PARAMS = [pytest.param(name, marks=pytest.mark.server) if backend_class(name).service else name for name in REGISTRY]


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
    cls = backend_class(request.param)
    server = request.getfixturevalue(f"{cls.service.name}_server") if cls.service else None
    settings = BackendSettings(run_id=uuid.uuid4().hex[:8], scratch_dir=scratch, key_column="id", service=server)
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


def write(backend: Backend, table: pa.Table) -> None:
    backend.write(table.schema, iter(table.to_batches(max_chunksize=64)))


def assert_same_rows(backend: Backend, got: pa.Table, expected: pa.Table) -> None:
    """Same rows in the same order; each column equal after casting back, unless documented as lossy."""
    assert got.num_rows == expected.num_rows
    assert got.column_names == expected.column_names
    for field in expected.schema:
        if backend.documented_loss(field):
            continue
        column = got[field.name]
        if column.type != field.type:
            column = column.cast(field.type)
        assert column.to_pylist() == expected[field.name].to_pylist(), f"{backend.name}: column {field.name}"


def test_declares_only_known_operations(backend: Backend) -> None:
    assert backend.supports <= set(OPERATIONS)
    assert backend.name in REGISTRY
    assert set(backend.describe()["supports"]) == set(backend.supports)


def test_type_mapping_documents_every_family(backend: Backend) -> None:
    """Every Arrow type family is named in the mapping (key wording may differ between backends)."""
    keys = " ".join(backend.type_mapping).lower()
    families = [
        ("timestamp",), ("date",), ("null",), ("bool",), ("int",), ("float",), ("decimal",), ("binary",),
        ("string",), ("struct", "nested"), ("list", "nested"),
    ]
    missing = [words[0] for words in families if not any(w in keys for w in words)]
    assert not missing, f"{backend.name} type_mapping does not mention {missing}"


def test_undeclared_operations_raise(backend: Backend) -> None:
    table = mixed_table(20)
    one = table.slice(0, 1).to_batches()[0]
    if "write" in backend.supports:
        write(backend, table)
    calls = {
        "write": lambda: backend.write(table.schema, iter(table.to_batches())),
        "read": lambda: backend.read(),
        "scan": lambda: list(backend.scan()),
        "project": lambda: backend.read(columns=["id"]),
        "filter": lambda: backend.read(where=Predicate("id", ">", 3)),
        "lookup": lambda: backend.lookup(3),
        "append": lambda: backend.append(table.slice(0, 5).to_batches()[0]),
        "write_one": lambda: backend.append(one),
        "stream_latency": lambda: backend.deliver(one),
    }
    assert set(calls) == set(OPERATIONS)
    undeclared = [op for op in OPERATIONS if op not in backend.supports]
    for op in undeclared:
        if op in ("read", "project", "filter", "append", "write_one") and {"read", "append"} & backend.supports:
            # these share a method with a declared operation (read(), append()), so calling it may work
            continue
        with pytest.raises(UnsupportedOperation):
            calls[op]()


def test_write_then_read_round_trips(backend: Backend) -> None:
    needs(backend, "write", "read")
    table = mixed_table()
    write(backend, table)
    assert_same_rows(backend, backend.read(), table)


def test_project_returns_exactly_the_asked_columns(backend: Backend) -> None:
    needs(backend, "write", "project")
    table = mixed_table()
    write(backend, table)
    got = backend.read(columns=["ts", "name", "id"])
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
    assert_same_rows(backend, backend.read(where=predicate), expected)


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
    assert_same_rows(backend, backend.lookup(42), table.slice(42, 1))
    assert backend.lookup(10**9).num_rows == 0


def test_append_adds_exactly_the_rows(backend: Backend) -> None:
    needs(backend, "write", "read", "append")
    table = mixed_table()
    extra = mixed_table(25, start=ROWS)
    write(backend, table)
    backend.append(extra.to_batches()[0])
    assert_same_rows(backend, backend.read(), pa.concat_tables([table, extra]))


def test_write_one_adds_one_row(backend: Backend) -> None:
    needs(backend, "write", "read", "write_one")
    table = mixed_table()
    extra = mixed_table(1, start=ROWS)
    write(backend, table)
    backend.append(extra.to_batches()[0])
    assert_same_rows(backend, backend.read(), pa.concat_tables([table, extra]))


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
