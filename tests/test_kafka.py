"""The kafka backend against a real broker (embedded Tansu unless STOREADVISE_KAFKA_BOOTSTRAP is set)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from storeadvise.backends.base import BackendSettings, Predicate
from storeadvise.errors import BackendUnavailable, StoreAdviseError, UnsupportedOperation, UsageError

pytestmark = pytest.mark.server

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("server_data", HERE / "server_data.py")
server_data = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(server_data)
KEY, typed_table = server_data.KEY, server_data.typed_table


def _settings(options: dict, scratch: Path, **extra: object) -> BackendSettings:
    return BackendSettings(
        run_id=f"t{uuid.uuid4().hex[:10]}", scratch_dir=scratch, key_column=KEY, options={**options, **extra}
    )


def _backend(options: dict, scratch: Path, **extra: object):
    from storeadvise.backends.kafka import KafkaBackend

    if options.get("kafka_unavailable"):
        pytest.fail(options["kafka_unavailable"])  # CI never skips the server tests
    backend = KafkaBackend(_settings(options, scratch, **extra))
    backend.open()
    return backend


@pytest.fixture
def kafka(server_options: dict, scratch: Path):
    backend = _backend(server_options, scratch)
    yield backend
    backend.cleanup()


def _topics(bootstrap: str) -> list[str]:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, bootstrap_timeout_ms=5000)
    try:
        return admin.list_topics()
    finally:
        admin.close()


def test_round_trip_is_exact(kafka) -> None:
    table = typed_table()
    kafka.write(table.schema, table.to_batches(max_chunksize=64))
    back = kafka.read()
    assert back.schema == table.schema
    assert back.equals(table)  # one partition: the order written
    assert all(kafka.documented_loss(f) is None for f in table.schema)


@pytest.mark.parametrize("kind", ["tabular", "time-series", "text", "nested"])
def test_round_trip_of_sample_datasets(kafka, kind: str) -> None:
    from storeadvise.bench.datasets import sample_dataset

    dataset = sample_dataset(kind, 500, seed=4)
    table = pa.Table.from_batches(list(dataset.batches()), schema=dataset.schema)
    kafka.write(dataset.schema, dataset.batches(batch_rows=200))
    assert kafka.read().equals(table)


def test_several_partitions_keep_every_row(server_options: dict, scratch: Path) -> None:
    backend = _backend(server_options, scratch, kafka_partitions=3)
    try:
        table = typed_table(400)
        backend.write(table.schema, table.to_batches())
        back = backend.read()
        assert back.num_rows == 400
        assert back.sort_by(KEY).equals(table)  # order across partitions is not kept; content is
    finally:
        backend.cleanup()


def test_scan_append_and_size(kafka) -> None:
    table = typed_table(300)
    kafka.write(table.schema, table.to_batches())
    batches = list(kafka.scan(batch_rows=100))
    assert sum(b.num_rows for b in batches) == 300
    assert all(b.num_rows <= 200 for b in batches)
    assert pa.Table.from_batches(batches).equals(table)
    size = kafka.size_bytes()
    assert size > 300 * 20
    kafka.append(table.slice(0, 5).to_batches()[0])
    back = kafka.read()
    assert back.num_rows == 305
    assert back.slice(300).equals(table.slice(0, 5))
    assert kafka.size_bytes() > size


def test_deliver_returns_after_the_record_came_back(kafka) -> None:
    table = typed_table(50)
    kafka.write(table.schema, table.to_batches())
    for i in range(3):
        kafka.deliver(table.slice(i, 1).to_batches()[0])
    assert kafka.read().num_rows == 53


def test_a_log_has_no_keyed_access_or_pushdown(kafka) -> None:
    assert {"lookup", "project", "filter"}.isdisjoint(kafka.supports)
    table = typed_table(10)
    kafka.write(table.schema, table.to_batches())
    with pytest.raises(UnsupportedOperation):
        kafka.lookup(3)
    with pytest.raises(UnsupportedOperation):
        kafka.read(columns=[KEY])
    with pytest.raises(UnsupportedOperation):
        kafka.read(where=Predicate(KEY, "==", 3))


def test_an_independent_librdkafka_client_reads_every_message(server_options: dict, scratch: Path) -> None:
    backend = _backend(server_options, scratch, kafka_partitions=2)
    try:
        table = typed_table(333)
        backend.write(table.schema, table.to_batches(max_chunksize=100))
        out = subprocess.run(
            [sys.executable, str(HERE / "independent_clients.py"), "kafka", server_options["kafka_bootstrap"],
             backend._topic, "333"],
            capture_output=True, text=True, timeout=90, check=True,
        )  # fmt: skip
        seen = json.loads(out.stdout)
        assert seen["count"] == 333
        assert seen["partitions"] == 2
        first = seen["first"][0]
        assert seen["keys"][0] == str(first[KEY])
        row = table.filter(pc.field(KEY) == first[KEY]).to_pylist()[0]
        assert first["name"] == row["name"]
        assert first["point"]["tag"] == row["point"]["tag"]
    finally:
        backend.cleanup()


def test_cleanup_deletes_only_its_own_topics(server_options: dict, scratch: Path) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    bootstrap = server_options["kafka_bootstrap"]
    other = f"storeadvise_keep_{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, bootstrap_timeout_ms=5000)
    admin.create_topics([NewTopic(other, 1, 1)])
    try:
        backend = _backend(server_options, scratch)
        table = typed_table(20)
        backend.write(table.schema, table.to_batches())
        backend.clear()
        backend.write(table.schema, table.to_batches())  # a second topic
        prefix = backend.settings.scratch_name
        assert [t for t in _topics(bootstrap) if t.startswith(prefix)] == [f"{prefix}_2"]
        backend.cleanup()
        backend.cleanup()
        topics = _topics(bootstrap)
        assert not [t for t in topics if t.startswith(prefix)]
        assert other in topics
    finally:
        admin.delete_topics([other])
        admin.close()


def test_server_info_names_the_broker(kafka, server_options: dict) -> None:
    info = kafka.server_info()
    assert info["embedded"] is bool(server_options.get("kafka_embedded"))
    assert info["api_version"]
    if server_options.get("kafka_embedded"):
        assert info["product"] == "Tansu"
        assert "in-memory" in info["protocol"]


@pytest.mark.parametrize("bootstrap", ["127.0.0.1:1", "not a host:xx"], ids=["refused", "garbage"])
def test_unreachable_broker_is_unavailable_quickly(bootstrap: str, scratch: Path) -> None:
    from storeadvise.backends.kafka import KafkaBackend

    backend = KafkaBackend(_settings({"kafka_bootstrap": bootstrap}, scratch))
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="cannot reach Kafka"):
        backend.open()
    assert time.monotonic() - started < 15


def test_unavailable_compression_is_a_usage_error(server_options: dict, scratch: Path) -> None:
    from storeadvise.backends.kafka import KafkaBackend

    backend = KafkaBackend(_settings(server_options, scratch, kafka_compression="brotli"))
    with pytest.raises(UsageError, match="kafka_compression 'brotli'"):
        backend.open()


@pytest.mark.slow
def test_a_broker_killed_mid_produce_is_a_clear_error(server_options: dict, scratch: Path, tmp_path: Path) -> None:
    from storeadvise.backends.services import Services

    table = typed_table(200)
    services = Services({"kafka"}, options={}, scratch_dir=tmp_path / "own")
    with services as own:
        if own.get("kafka_unavailable"):
            pytest.fail(own["kafka_unavailable"])
        backend = _backend(own, scratch, kafka_timeout_s=3)
        (pid,) = services.pids

        def batches():
            yield table.to_batches()[0]
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
            yield table.to_batches()[0]

        started = time.monotonic()
        with pytest.raises(StoreAdviseError, match=r"Kafka at 127\.0\.0\.1"):
            backend.write(table.schema, batches())
        assert time.monotonic() - started < 60
        backend.cleanup()  # the broker is gone: cleanup must not hang or raise
    prefix = backend.settings.scratch_name
    assert not [t for t in _topics(server_options["kafka_bootstrap"]) if t.startswith(prefix)]

