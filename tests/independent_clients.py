"""Independent readers of what storeadvise wrote, run by the tests as a separate process.

    python independent_clients.py kafka BOOTSTRAP TOPIC EXPECTED_MESSAGES
    python independent_clients.py mongo URI DATABASE KEY_COLUMN KEY
    python independent_clients.py lance FOLDER KEY_COLUMN KEY POSITION[,POSITION...]

Kafka is read with confluent-kafka (librdkafka, not kafka-python), assigning every partition from
offset 0 (no consumer group: Tansu's are incomplete). MongoDB is read with a fresh pymongo client in
this process. A Lance dataset is opened afresh from its folder by pylance in this process (no other
reader of the format works offline: DuckDB's lance extension is downloaded at run time). Each prints
one JSON object on stdout.
"""

from __future__ import annotations

import json
import sys
import time


def kafka_main(bootstrap: str, topic: str, expected: int) -> dict:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "storeadvise-independent-check",  # required by librdkafka; never joined (assign)
            "enable.auto.commit": False,
            "socket.timeout.ms": 5000,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(partitions)])
        values, keys = [], []
        deadline = time.monotonic() + 30
        while len(values) < expected and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=10_000, timeout=0.5):
                if message.error() is None:
                    values.append(json.loads(message.value()))
                    keys.append(message.key().decode() if message.key() is not None else None)
        return {"count": len(values), "partitions": len(partitions), "first": values[:3], "keys": keys[:3]}
    finally:
        consumer.close()


def mongo_main(uri: str, database: str, key_column: str, key: str) -> dict:
    import pymongo

    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    try:
        collection = client[database]["data"]
        doc = collection.find_one({key_column: int(key)}, {"_id": 0})
        return {
            "count": collection.count_documents({}),
            "doc": json.loads(json.dumps(doc, default=str)),
            "indexes": sorted(collection.index_information()),
        }
    finally:
        client.close()


def lance_main(folder: str, key_column: str, key: str, positions: str) -> dict:
    import hashlib

    import lance
    import pyarrow as pa

    dataset = lance.dataset(folder)
    table = dataset.to_table()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema.remove_metadata()) as writer:
        writer.write_table(table.combine_chunks())
    return {
        "count": dataset.count_rows(),
        "version": dataset.version,
        "versions": len(dataset.versions()),
        "indices": sorted((i.field_names[0], i.index_type) for i in dataset.describe_indices()),
        "schema": str(table.schema.remove_metadata()),
        "sha256": hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest(),
        "row": dataset.to_table(filter=f"{key_column} = {int(key)}").to_pylist(),
        "take": dataset.take([int(p) for p in positions.split(",")]).column(key_column).to_pylist(),
    }


if __name__ == "__main__":
    kind, *args = sys.argv[1:]
    if kind == "kafka":
        result = kafka_main(args[0], args[1], int(args[2]))
    elif kind == "mongo":
        result = mongo_main(*args)
    elif kind == "lance":
        result = lance_main(*args)
    else:
        raise SystemExit(f"unknown client {kind!r}")
    print(json.dumps(result, default=str))
