"""MongoDB and Kafka backends against hand-tuned client code, on the embedded servers.

The direct side is what an expert would write with the same client library: pymongo ``insert_many``
of all rows in one call and a ``find`` loop into Arrow; a kafka-python producer with a 1 MiB batch and a
consumer assigned to the partition from offset 0. Other clients (pymongoarrow, confluent-kafka) run too;
those whose library is not the backend's are shown for information and never the gate's reference.
Both sides do the same conversions: rows as BSON documents / JSON messages, back into Arrow.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pairs
import pytest
from stores import written_stores

pytestmark = pytest.mark.server

MONGO_OPS = ("write", "read", "project", "filter", "lookup")
KAFKA_OPS = ("write", "read")
CASES = [("mongo", op) for op in MONGO_OPS] + [("kafka", op) for op in KAFKA_OPS]
LOOKUP_KEYS = 200


@pytest.fixture(scope="module")
def server_stores(server_data: Any, perf_servers: dict, perf_scratch: Path) -> Iterator[dict[str, Any]]:
    table, plan, _ = server_data
    yield from written_stores(table, plan.key_column, perf_scratch / "storeadvise", perf_servers)


@pytest.mark.parametrize(("backend_name", "op"), CASES, ids=[f"{b}-{op}" for b, op in CASES])
def test_storeadvise_vs_direct(benchmark: Any, server_stores: dict[str, Any], server_data: Any,
                               perf_servers: dict, backend_name: str, op: str) -> None:
    table, plan, _ = server_data
    backend = server_stores[backend_name]
    keys = plan.lookup_keys[:LOOKUP_KEYS]
    with contextlib.ExitStack() as closing:
        storeadvise = pairs.storeadvise_side(backend, op, plan, keys)
        if backend_name == "mongo":
            candidates = mongo_sides(backend, op, table, plan, keys, perf_servers, closing)
        else:
            candidates = kafka_sides(backend, op, table, plan, perf_servers, closing)
        result = pairs.run_case(benchmark, backend_name, op, backend.kind, table.num_rows, storeadvise, candidates,
                                notes=f"{len(keys)} keys per lookup run" if op == "lookup" else "")
    if not result.passed:
        pytest.fail(result.message(), pytrace=False)


# -- MongoDB -------------------------------------------------------------------------------------------------
def bson_schema(schema: Any) -> Any:
    """What BSON gives back: datetimes in milliseconds (dates as midnight datetimes)."""
    import pyarrow as pa

    def leaf(t: Any) -> Any:
        if pa.types.is_timestamp(t):
            return pa.timestamp("ms", tz=t.tz)
        if pa.types.is_date(t):
            return pa.timestamp("ms")
        return t

    return pa.schema([pa.field(f.name, leaf(f.type)) for f in schema])


def to_documents(table: Any) -> list[dict[str, Any]]:
    """Rows as documents pymongo can encode: BSON has no date type, so dates become datetimes."""
    return table.cast(bson_schema(table.schema), safe=False).to_pylist()


def mongo_sides(backend: Any, op: str, table: Any, plan: Any, keys: list, servers: dict,
                closing: contextlib.ExitStack) -> list[pairs.Side]:
    import pymongo

    client: pymongo.MongoClient = pymongo.MongoClient(servers["mongo"].address)
    closing.callback(client.close)
    database = client[backend.settings.scratch_name]
    if op == "write":
        return mongo_write_sides(database, table, plan.key_column, closing)
    return mongo_read_sides(database["data"], op, table, plan, keys)


def mongo_write_sides(database: Any, table: Any, key: str, closing: contextlib.ExitStack) -> list[pairs.Side]:
    import pymongo

    target = database["direct"]
    closing.callback(target.drop)
    schema = bson_schema(table.schema)

    def insert_many() -> None:
        target.insert_many(to_documents(table), ordered=False)
        target.create_index([(key, pymongo.ASCENDING)])

    def pymongoarrow_write() -> None:
        from pymongoarrow.api import write

        write(target, table.cast(schema, safe=False))
        target.create_index([(key, pymongo.ASCENDING)])

    return [
        pairs.Side("pymongo insert_many (one call)", insert_many, setup=target.drop),
        pairs.Side("pymongoarrow write", pymongoarrow_write, setup=target.drop),
    ]


def mongo_read_sides(source: Any, op: str, table: Any, plan: Any, keys: list) -> list[pairs.Side]:
    import pyarrow as pa

    key = plan.key_column
    schema = bson_schema(table.schema)

    def subschema(columns: Any) -> Any:
        return pa.schema([schema.field(c) for c in columns]) if columns is not None else schema

    def find(query: dict, columns: Any) -> Any:
        projection = {"_id": 0, **dict.fromkeys(columns or [], 1)}
        docs = list(source.find(query, projection, batch_size=10_000))
        return pa.Table.from_pylist(docs, schema=subschema(columns))

    def find_arrow(query: dict, columns: Any) -> Any:
        from pymongoarrow.api import Schema, find_arrow_all

        return find_arrow_all(source, query, schema=Schema({f.name: f.type for f in subschema(columns)}),
                              projection={"_id": 0, **dict.fromkeys(columns or [], 1)})

    def sides(read: Any) -> Any:
        if op == "read":
            return lambda: read({}, None)
        if op == "project":
            return lambda: read({}, plan.projection)
        if op == "filter":
            return lambda: read(plan.predicate.to_mongo(), None)
        return lambda: [read({key: k}, None) for k in keys]

    return [pairs.Side("pymongo find loop", sides(find)), pairs.Side("pymongoarrow find_arrow_all", sides(find_arrow))]


# -- Kafka ---------------------------------------------------------------------------------------------------
def json_columns(table: Any) -> Any:
    """Temporal columns as their integer epochs: what JSON can carry and parse back exactly."""
    import pyarrow as pa

    columns = []
    for column in table.columns:
        if pa.types.is_timestamp(column.type):
            column = column.combine_chunks().view(pa.int64())
        elif pa.types.is_date32(column.type):
            column = column.combine_chunks().view(pa.int32())
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)


def encode(table: Any, key: str) -> tuple[list[bytes], list[bytes]]:
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    rows = json_columns(table).to_pylist()
    return [str(r[key]).encode() for r in rows], [dumps(r).encode() for r in rows]


def decode(values: list[bytes], schema: Any) -> Any:
    import pyarrow as pa

    storage = json_columns(schema.empty_table()).schema
    table = pa.Table.from_pylist([json.loads(v) for v in values], schema=storage)
    return pa.Table.from_arrays(
        [c.combine_chunks().view(f.type) if c.type != f.type else c
         for c, f in zip(table.columns, schema, strict=True)],
        schema=schema,
    )


def kafka_sides(backend: Any, op: str, table: Any, plan: Any, servers: dict,
                closing: contextlib.ExitStack) -> list[pairs.Side]:
    bootstrap = servers["kafka"].address
    if op == "write":
        return kafka_write_sides(backend, table, plan, bootstrap, closing)
    # the topic storeadvise wrote (private: the backend exposes no accessor)
    return kafka_read_sides(backend._topic, table, bootstrap)


class DirectTopics:
    """The direct producers' topics and producer, set up and retired outside the timer like
    storeadvise's clear(): each timed write goes to a new topic."""

    def __init__(self, admin: Any, prefix: str) -> None:
        self.admin = admin
        self.names = (f"{prefix}_direct_{i}" for i in itertools.count())
        self.topic: str | None = None
        self.producer: Any = None

    def retire(self) -> None:
        """Close (kafka-python) or flush (confluent-kafka) the producer and delete the last topic."""
        producer, self.producer = self.producer, None
        if producer is not None:
            producer.close() if not hasattr(producer, "poll") else producer.flush()
        if self.topic:
            with contextlib.suppress(Exception):
                self.admin.delete_topics([self.topic])
        self.topic = None

    def new_topic(self) -> str:
        from kafka.admin import NewTopic

        self.topic = next(self.names)
        self.admin.create_topics([NewTopic(self.topic, 1, 1)])
        return self.topic


def produce_confluent(producer: Any, topic: str, keys: list[bytes], values: list[bytes]) -> None:
    """Every message through confluent-kafka, waiting for room whenever its local queue is full."""
    for k, v in zip(keys, values, strict=True):
        while True:
            try:
                producer.produce(topic, value=v, key=k)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush()


def kafka_write_sides(backend: Any, table: Any, plan: Any, bootstrap: str,
                      closing: contextlib.ExitStack) -> list[pairs.Side]:
    from kafka import KafkaAdminClient, KafkaProducer

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    closing.callback(admin.close)
    topics = DirectTopics(admin, backend.settings.scratch_name)

    def kafka_python_setup() -> None:
        topics.retire()
        topics.producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, batch_size=1 << 20, acks=1,
                                        max_request_size=16 << 20)

    def kafka_python_write() -> None:
        topic, producer = topics.new_topic(), topics.producer
        keys, values = encode(table, plan.key_column)
        for k, v in zip(keys, values, strict=True):
            producer.send(topic, value=v, key=k)
        producer.flush()

    def confluent_setup() -> None:
        from confluent_kafka import Producer

        topics.retire()
        topics.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": 1})

    def confluent_write() -> None:
        topic = topics.new_topic()
        produce_confluent(topics.producer, topic, *encode(table, plan.key_column))

    closing.callback(topics.retire)
    return [
        pairs.Side("kafka-python producer", kafka_python_write, setup=kafka_python_setup),
        pairs.Side("confluent-kafka producer", confluent_write, setup=confluent_setup, gate=False,
                   note="another client library (librdkafka) than the backend's kafka-python"),
    ]


def kafka_read_sides(topic: str, table: Any, bootstrap: str) -> list[pairs.Side]:
    from kafka import KafkaConsumer, TopicPartition

    rows = table.num_rows

    def kafka_python_read() -> Any:
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                 fetch_max_wait_ms=100, max_partition_fetch_bytes=8 << 20)
        try:
            partition = TopicPartition(topic, 0)
            consumer.assign([partition])
            consumer.seek_to_beginning(partition)
            values: list[bytes] = []
            deadline = time.monotonic() + 60
            while len(values) < rows:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"kafka-python received {len(values)} of {rows} messages")
                for records in consumer.poll(timeout_ms=200, max_records=65_536).values():
                    values.extend(r.value for r in records)
        finally:
            consumer.close()
        return decode(values, table.schema)

    def confluent_read() -> Any:
        from confluent_kafka import OFFSET_BEGINNING, Consumer
        from confluent_kafka import TopicPartition as Partition

        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "storeadvise-perf",
                             "enable.auto.commit": False})
        try:
            consumer.assign([Partition(topic, 0, OFFSET_BEGINNING)])
            values: list[bytes] = []
            deadline = time.monotonic() + 60
            while len(values) < rows:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"confluent-kafka received {len(values)} of {rows} messages")
                values.extend(m.value() for m in consumer.consume(num_messages=10_000, timeout=1.0) if not m.error())
        finally:
            consumer.close()
        return decode(values, table.schema)

    return [
        pairs.Side("kafka-python consumer", kafka_python_read),
        pairs.Side("confluent-kafka consumer", confluent_read, gate=False,
                   note="another client library (librdkafka) than the backend's kafka-python"),
    ]
