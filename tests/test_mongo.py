"""The mongo backend against a real server (embedded SecantusDB unless STOREADVISE_MONGO_URI is set)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pytest
import server_data

from storeadvise.backends.base import BackendSettings, Predicate
from storeadvise.backends.mongo import SERVICE, MongoBackend
from storeadvise.backends.services import ServiceStatus
from storeadvise.errors import BackendUnavailable, DataError

pytestmark = pytest.mark.server

HERE = Path(__file__).parent
KEY, typed_table, with_microseconds = server_data.KEY, server_data.typed_table, server_data.with_microseconds


def _settings(server: ServiceStatus, scratch: Path, key: str | None = KEY) -> BackendSettings:
    return BackendSettings(run_id=f"t{uuid.uuid4().hex[:10]}", scratch_dir=scratch, key_column=key, service=server)


@pytest.fixture
def mongo(mongo_server: ServiceStatus, scratch: Path):
    backend = MongoBackend(_settings(mongo_server, scratch))
    backend.open()
    yield backend
    backend.cleanup()


def _client(server: ServiceStatus):
    import pymongo

    return pymongo.MongoClient(server.address, serverSelectionTimeoutMS=5000)


def _truncate_to_ms(table: pa.Table) -> pa.Table:
    """What MongoDB's documented mapping promises: timestamps cut to milliseconds."""
    columns = []
    for column, field in zip(table.columns, table.schema, strict=True):
        if pa.types.is_timestamp(field.type) and field.type.unit in ("us", "ns"):
            column = column.cast(pa.timestamp("ms", tz=field.type.tz), safe=False).cast(field.type)
        columns.append(column)
    return pa.table(columns, schema=table.schema)


def test_round_trip_keeps_every_documented_type(mongo) -> None:
    table = with_microseconds(typed_table())
    mongo.write(table.schema, table.to_batches(max_chunksize=100))
    back = mongo.read()
    assert back.schema == table.schema
    assert back.equals(_truncate_to_ms(table))
    assert not back.equals(table)  # the microseconds really are gone ...
    assert mongo.type_loss(table.schema.field("at_us"))  # ... and that is documented
    assert all(mongo.type_loss(f) is None for f in table.schema if f.name != "at_us")


@pytest.mark.parametrize("kind", ["tabular", "time-series", "text", "nested"])
def test_round_trip_of_sample_datasets(mongo, kind: str) -> None:
    from storeadvise.bench.datasets import sample_dataset

    dataset = sample_dataset(kind, 400, seed=3)
    table = pa.Table.from_batches(list(dataset.batches()), schema=dataset.schema)
    mongo.write(dataset.schema, dataset.batches(batch_rows=150))
    back = mongo.read()
    assert back.num_rows == 400
    assert back.equals(_truncate_to_ms(table))  # natural order is insertion order


def test_lookup_projection_filter_and_scan(mongo) -> None:
    table = typed_table(500)
    mongo.write(table.schema, table.to_batches())
    hit = mongo.lookup(123)
    assert hit.num_rows == 1
    assert hit.to_pylist() == table.slice(123, 1).to_pylist()
    assert mongo.lookup(10_000).num_rows == 0
    projected = mongo.read(columns=[KEY, "name"])
    assert projected.column_names == [KEY, "name"]
    assert projected.equals(table.select([KEY, "name"]))
    recent = mongo.read(columns=[KEY], where=Predicate("day", ">=", table["day"][450].as_py()))
    assert recent[KEY].to_pylist() == [i for i in range(450, 500) if i % 7 != 3]
    batches = list(mongo.scan(batch_rows=128))
    assert [b.num_rows for b in batches] == [128, 128, 128, 116]
    assert pa.Table.from_batches(batches).equals(table)


def test_key_index_append_and_size(mongo, mongo_server: ServiceStatus) -> None:
    table = typed_table(200)
    mongo.write(table.schema, table.to_batches())
    size = mongo.size_bytes()
    assert size > 0
    mongo.append(table.slice(0, 10).to_batches()[0])
    assert mongo.read().num_rows == 210
    indexes = _client(mongo_server)[mongo.settings.scratch_name]["data"].index_information()
    assert any(spec["key"] == [(KEY, 1)] for spec in indexes.values())
    mongo.clear()
    assert mongo.read(columns=[KEY]).num_rows == 0


def test_an_independent_client_reads_what_was_written(mongo, mongo_server: ServiceStatus) -> None:
    table = typed_table(250)
    mongo.write(table.schema, table.to_batches())
    out = subprocess.run(
        [sys.executable, str(HERE / "independent_clients.py"), "mongo", mongo_server.address,
         mongo.settings.scratch_name, KEY, "42"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    seen = json.loads(out.stdout)
    assert seen["count"] == 250
    assert seen["doc"]["name"] == "naïve-42-日本-🙂"
    assert seen["doc"]["point"]["tag"] == "t42"
    assert seen["doc"]["tags"] == ["a0", "a1"]
    assert len(seen["indexes"]) == 2  # _id and the key column


def test_cleanup_drops_its_database_and_nothing_else(mongo_server: ServiceStatus, scratch: Path) -> None:
    client = _client(mongo_server)
    other = f"storeadvise_keep_{uuid.uuid4().hex[:8]}"
    client[other]["data"].insert_one({"keep": True})
    try:
        backend = MongoBackend(_settings(mongo_server, scratch))
        backend.open()
        table = typed_table(20)
        backend.write(table.schema, table.to_batches())
        assert backend.settings.scratch_name in client.list_database_names()
        backend.cleanup()
        backend.cleanup()  # safe twice
        names = client.list_database_names()
        assert backend.settings.scratch_name not in names
        assert other in names
    finally:
        client.drop_database(other)


def test_server_info_names_the_server(mongo, mongo_server: ServiceStatus) -> None:
    info = mongo.server_info()
    assert info["version"]
    assert info["embedded"] is mongo_server.embedded
    if mongo_server.embedded:
        assert info["product"] == "SecantusDB"
        assert info["protocol"] == "MongoDB wire protocol"


@pytest.mark.parametrize(
    "uri",
    ["http://127.0.0.1:27017/", "mongodb://127.0.0.1:1/", "mongodb://bob:hunter2@127.0.0.1:1/"],
    ids=["bad-scheme", "refused", "refused-with-password"],
)
def test_unreachable_server_is_unavailable_quickly(uri: str, scratch: Path) -> None:
    backend = MongoBackend(_settings(ServiceStatus(SERVICE, address=uri), scratch))
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="cannot reach MongoDB") as err:
        backend.open()
    assert time.monotonic() - started < 15
    assert "hunter2" not in str(err.value)


def test_field_names_mongodb_cannot_address_are_refused(mongo) -> None:
    table = pa.table({KEY: [1], "$price": [2.0]})
    with pytest.raises(DataError, match=r"'\$price' cannot be a MongoDB field name"):
        mongo.write(table.schema, table.to_batches())
    nested = pa.table({KEY: [1], "point": [{"a.b": 1}]})
    with pytest.raises(DataError, match=r"'a\.b'"):
        mongo.write(nested.schema, nested.to_batches())


def test_a_document_over_16_mb_is_a_clear_error(mongo) -> None:
    table = pa.table({KEY: [1, 2], "body": ["small", "x" * (17 * 1024 * 1024)]})
    with pytest.raises(DataError, match=r"16 MB|too large"):
        mongo.write(table.schema, table.to_batches())
