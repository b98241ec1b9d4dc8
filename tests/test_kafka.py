"""The kafka backend against a real broker (embedded Tansu unless STOREADVISE_KAFKA_BOOTSTRAP is set)."""

from __future__ import annotations

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
import server_data

from storeadvise.backends.base import BackendSettings, Predicate
from storeadvise.backends.kafka import SERVICE, KafkaBackend
from storeadvise.backends.services import ServiceStatus
from storeadvise.errors import BackendUnavailable, ServerError, UnsupportedOperation, UsageError

pytestmark = pytest.mark.server

HERE = Path(__file__).parent
KEY, typed_table = server_data.KEY, server_data.typed_table


def _settings(server: ServiceStatus, scratch: Path, **options: object) -> BackendSettings:
    return BackendSettings(
        run_id=f"t{uuid.uuid4().hex[:10]}", scratch_dir=scratch, key_column=KEY, options=options, service=server
    )


def _backend(server: ServiceStatus, scratch: Path, **options: object) -> KafkaBackend:
    backend = KafkaBackend(_settings(server, scratch, **options))
    backend.open()
    return backend


@pytest.fixture
def kafka(kafka_server: ServiceStatus, scratch: Path):
    backend = _backend(kafka_server, scratch)
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
    assert all(kafka.type_loss(f) is None for f in table.schema)


@pytest.mark.parametrize("kind", ["tabular", "time-series", "text", "nested"])
def test_round_trip_of_sample_datasets(kafka, kind: str) -> None:
    from storeadvise.bench.datasets import sample_dataset

    dataset = sample_dataset(kind, 500, seed=4)
    table = pa.Table.from_batches(list(dataset.batches()), schema=dataset.schema)
    kafka.write(dataset.schema, dataset.batches(batch_rows=200))
    assert kafka.read().equals(table)


def test_several_partitions_keep_every_row(kafka_server: ServiceStatus, scratch: Path) -> None:
    backend = _backend(kafka_server, scratch, kafka_partitions=3)
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


def test_an_independent_librdkafka_client_reads_every_message(kafka_server: ServiceStatus, scratch: Path) -> None:
    backend = _backend(kafka_server, scratch, kafka_partitions=2)
    try:
        table = typed_table(333)
        backend.write(table.schema, table.to_batches(max_chunksize=100))
        out = subprocess.run(
            [sys.executable, str(HERE / "independent_clients.py"), "kafka", kafka_server.address,
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


def test_cleanup_deletes_only_its_own_topics(kafka_server: ServiceStatus, scratch: Path) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    bootstrap = kafka_server.address
    other = f"storeadvise_keep_{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, bootstrap_timeout_ms=5000)
    admin.create_topics([NewTopic(other, 1, 1)])
    try:
        backend = _backend(kafka_server, scratch)
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


def test_server_info_names_the_broker(kafka, kafka_server: ServiceStatus) -> None:
    info = kafka.server_info()
    assert info["embedded"] is kafka_server.embedded
    assert info["api_version"]
    if kafka_server.embedded:
        assert info["product"] == "Tansu"
        assert "in-memory" in info["protocol"]


@pytest.mark.parametrize("bootstrap", ["127.0.0.1:1", "not a host:xx"], ids=["refused", "garbage"])
def test_unreachable_broker_is_unavailable_quickly(bootstrap: str, scratch: Path) -> None:
    backend = KafkaBackend(_settings(ServiceStatus(SERVICE, address=bootstrap), scratch))
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="cannot reach Kafka"):
        backend.open()
    assert time.monotonic() - started < 15


def test_unavailable_compression_is_a_usage_error(kafka_server: ServiceStatus, scratch: Path) -> None:
    backend = KafkaBackend(_settings(kafka_server, scratch, kafka_compression="brotli"))
    with pytest.raises(UsageError, match="kafka_compression 'brotli'"):
        backend.open()


def test_a_password_in_the_bootstrap_is_masked_in_errors(scratch: Path) -> None:
    backend = KafkaBackend(_settings(ServiceStatus(SERVICE, address="alice:hunter2@127.0.0.1:1"), scratch))
    with pytest.raises(BackendUnavailable, match="cannot reach Kafka") as err:
        backend.open()
    assert "alice:***@127.0.0.1:1" in str(err.value)
    assert "hunter2" not in str(err.value)


@pytest.mark.slow
def test_a_broker_killed_mid_produce_is_a_clear_error(scratch: Path, tmp_path: Path) -> None:
    from storeadvise.backends.services import Services

    table = typed_table(200)
    services = Services([SERVICE], options={}, scratch_dir=tmp_path / "own")
    with services as statuses:
        own = statuses[SERVICE.name]
        if own.unavailable:
            pytest.fail(own.unavailable)  # CI never skips the server tests
        backend = _backend(own, scratch, kafka_timeout_s=3)
        prefix = backend.settings.scratch_name
        (pid,) = services.pids
        on_the_broker: list[str] = []

        def batches():
            yield table.to_batches()[0]
            on_the_broker.extend(SERVICE.scratch_names(own.address, prefix))  # the private broker, still up
            os.kill(pid, signal.SIGKILL)
            yield table.to_batches()[0]

        started = time.monotonic()
        with pytest.raises(ServerError, match=r"Kafka at 127\.0\.0\.1"):
            backend.write(table.schema, batches())
        assert time.monotonic() - started < 60
        assert on_the_broker == [f"{prefix}_1"]  # the run's topic lived on the broker that was killed
        backend.cleanup()  # the broker is gone: cleanup must not hang or raise
        backend.cleanup()
