"""MongoDB: one document per row in a scratch database, read back through pymongo into Arrow.

Semantics. Database ``storeadvise_<runid>``, collection ``data``; ``cleanup()`` drops exactly that
database and nothing else. Writes are unordered ``insert_many`` calls of ``mongo_batch_size`` rows
(default 2,000: on SecantusDB other batch sizes and 2-4 parallel writers were within noise of it, the
server being the bottleneck, and one writer keeps insertion order; docs/decisions.md, 'MongoDB: writes
of 2,000 documents, one writer'). Durability (``durability``): the URI's write concern, by default w=1
without ``j``: acknowledged before the journal is synced (mongod syncs it every 100 ms, SecantusDB leaves
it to the OS), so a power loss can lose the last acknowledged writes. ``--fsync`` (or ``journal=true``
in the URI) asks ``j=true``: acknowledged only once the journal holding the write is on disk (SecantusDB
fsyncs that commit). ``size_bytes`` is what the server reports: ``collStats`` storageSize (compressed
bytes on disk) plus totalIndexSize. The key column gets an ascending index after the load (part of the timed
write: it is what makes lookups fast). Rows come back in natural order, which for a collection only ever
inserted into is insertion order (no sort: sorting by ``_id`` slowed a full read). Projections and
predicates go to the server (``Predicate.to_mongo()``). ``take`` (rows by position, a shuffled training
batch): the ``_id`` of every document in natural order, listed once per written state, says which
documents are at the positions; one ``find`` with ``$in`` fetches them, put in the order asked.
``update`` is an unordered bulk write of
``update_many({key: value}, {"$set": row})`` (no upsert: a key no document has is not inserted), under the
same write concern as the writes.

Read path: the hand-written one (cursor batches -> ``Table.from_pylist`` with the stored types ->
cast back) was kept over pymongoarrow's ``find_arrow_all``: both read as fast on SecantusDB (the server
dominates), and the hand-written path handles every type below, nested ones included, without another
compiled dependency (docs/decisions.md, 'MongoDB: natural order, and the hand-written read path').

Arrow <-> BSON (``type_mapping``): integers -> int32/int64; uint64 -> Decimal128 (BSON has no
unsigned 64-bit integer; exact); floats -> double; strings -> string; bool -> bool; null -> null;
timestamps -> BSON datetime, which holds milliseconds in UTC: microseconds and nanoseconds are
truncated (the one documented loss), the time zone comes back from the schema; date -> datetime at
midnight UTC (exact); time / duration -> integer in their unit; decimal -> Decimal128 up to 34 digits,
wider ones as their exact text (range filters on those refused: text order is not their order);
binary -> BSON binary; structs -> sub-documents; lists -> arrays; dictionary -> its values.
"""

from __future__ import annotations

import contextlib
import decimal
import functools
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from storeadvise.backends import _typemap
from storeadvise.backends._selection import check_columns
from storeadvise.backends.base import Backend, BackendSettings, Durability, Predicate, TypeLoss
from storeadvise.backends.masking import mask_uri
from storeadvise.backends.services import Launch, Service, has_module
from storeadvise.errors import BackendUnavailable, DataError, UnsupportedOperation

if TYPE_CHECKING:
    import pyarrow as pa
    import pymongo

COLLECTION = "data"
BSON_DECIMAL_DIGITS = 34
"""Digits a BSON Decimal128 holds; wider decimals are stored as their exact text."""
DEFAULT_BATCH_ROWS = 2_000
READ_BATCH_ROWS = 10_000
CONNECT_TIMEOUT_MS = 3_000


# -- the service: SecantusDB embedded, or the user's MongoDB ------------------------------------------
def _launch(scratch: Path, port: int) -> Launch:
    """SecantusDB on ``port`` with a data folder in ``scratch`` and an explicit, empty config (never
    the user's ``~/.secantus``)."""
    data_dir = scratch / f"mongo-{port}"
    data_dir.mkdir(parents=True, exist_ok=True)
    config = scratch / "secantusd.toml"
    config.write_text("# storeadvise: defaults only\n", encoding="utf-8")
    launcher = "import sys; from secantus.cli import main; sys.argv[0] = 'secantusd-py'; sys.exit(main())"
    args = [
        sys.executable, "-c", launcher, "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
        "--storage-path", str(data_dir), "--log-level", "WARNING",
    ]  # fmt: skip
    return Launch(args, f"mongodb://127.0.0.1:{port}/", data_dir)


def _answers(address: str) -> bool:
    import pymongo

    client = pymongo.MongoClient(address, serverSelectionTimeoutMS=500, connectTimeoutMS=500)
    try:
        client.admin.command("ping")
        return True
    except pymongo.errors.PyMongoError:
        return False
    finally:
        client.close()


def _version() -> str | None:
    from importlib.metadata import version

    return version("SecantusDB")


def _scratch_names(address: str, prefix: str) -> list[str]:
    import pymongo

    client = pymongo.MongoClient(address, serverSelectionTimeoutMS=5_000)
    try:
        return [name for name in client.list_database_names() if name.startswith(prefix)]
    finally:
        client.close()


SERVICE = Service(
    name="mongo",
    product="MongoDB",
    embedded_product="SecantusDB",
    address_option="mongo_uri",
    metavar="URI",
    client="pymongo",
    installed=has_module("secantus"),
    launch=_launch,
    ready=_answers,
    version=_version,
    scratch_names=_scratch_names,
)


# -- the backend -------------------------------------------------------------------------------------
@functools.cache
def _decimal_registry() -> Any:
    """A type registry for Python ``Decimal`` <-> BSON Decimal128 (pymongo encodes neither way by default)."""
    from bson.codec_options import TypeDecoder, TypeEncoder, TypeRegistry
    from bson.decimal128 import Decimal128

    class DecimalCodec(TypeEncoder, TypeDecoder):
        python_type = decimal.Decimal
        bson_type = Decimal128

        def transform_python(self, value: decimal.Decimal) -> Decimal128:
            return Decimal128(value)

        def transform_bson(self, value: Decimal128) -> decimal.Decimal:
            return value.to_decimal()

    return TypeRegistry([DecimalCodec()])


def _bson_leaf(dtype: pa.DataType) -> pa.DataType:
    """The Arrow type whose Python values BSON stores for ``dtype`` (see the module docstring)."""
    import pyarrow as pa

    t = pa.types
    stored_as = (  # the first test that holds decides
        (t.is_timestamp, lambda d: pa.timestamp("ms", tz=d.tz)),
        (t.is_date, lambda d: pa.timestamp("ms")),
        (t.is_time32, lambda d: pa.int32()),
        (lambda d: t.is_time64(d) or t.is_duration(d), lambda d: pa.int64()),
        (t.is_uint64, lambda d: pa.decimal128(20, 0)),
        (t.is_uint32, lambda d: pa.int64()),
        (t.is_float16, lambda d: pa.float32()),
        (lambda d: t.is_decimal(d) and d.precision > BSON_DECIMAL_DIGITS, lambda d: pa.string()),
        (lambda d: t.is_large_string(d) or t.is_string_view(d), lambda d: pa.string()),
        (lambda d: t.is_large_binary(d) or t.is_binary_view(d) or t.is_fixed_size_binary(d), lambda d: pa.binary()),
    )
    return next((leaf(dtype) for applies, leaf in stored_as if applies(dtype)), dtype)


def _bad_field_name(schema: pa.Schema) -> str | None:
    """The first column or nested field name MongoDB queries cannot address, if any."""
    names: list[str] = []

    def walk(fields: Iterable[pa.Field]) -> None:
        import pyarrow as pa

        for f in fields:
            names.append(f.name)
            inner = f.type
            while hasattr(inner, "value_type") and not pa.types.is_dictionary(inner):
                inner = inner.value_type
            if pa.types.is_struct(inner):
                walk(inner)

    walk(schema)
    for name in names:
        if name == "_id" or name.startswith("$") or "." in name or "\0" in name:
            return name
    return None


class MongoBackend(Backend):
    """Documents in a MongoDB (or MongoDB-wire-protocol) server; see the module docstring."""

    name: ClassVar[str] = "mongo"
    kind: ClassVar[str] = "server"
    service: ClassVar[Service | None] = SERVICE
    own_cache: ClassVar[bool] = True  # the server's cache (WiredTiger's)
    write_guarantees: ClassVar[tuple[Durability, Durability]] = (
        Durability(False, "write concern without j (MongoDB's default w=1): acknowledged before the journal is "
                   "synced (mongod syncs it every 100 ms, SecantusDB leaves it to the OS), so a power loss can lose "
                   "the last acknowledged writes"),
        Durability(True, "j=true (--fsync, or journal=true in the URI): acknowledged only once the journal holding "
                   "the write is synced to disk"),
    )
    supports: ClassVar[frozenset[str]] = frozenset(
        {"write", "read", "scan", "project", "filter", "lookup", "append", "write_one", "take", "update"}
    )
    type_mapping: ClassVar[dict[str, str]] = {
        "integer": "int32/int64 (uint64: Decimal128, exact)",
        "float": "double",
        "string": "string",
        "bool": "bool",
        "null": "null",
        "timestamp": "datetime: milliseconds UTC (sub-millisecond digits truncated; zone restored from schema)",
        "date": "datetime at midnight UTC",
        "time/duration": "int64 in the column's unit",
        "decimal": "Decimal128 up to 34 digits (exact); wider decimals as their exact text, cast back (exact; "
                   "range filters on them unsupported)",
        "binary": "binary",
        "struct": "sub-document",
        "list": "array",
        "row order": "natural order = insertion order (no sort)",
    }

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        self._client: pymongo.MongoClient | None = None
        self._schema: pa.Schema | None = None  # what was written (Arrow types to restore)
        self._storage: pa.Schema | None = None  # its BSON-friendly form
        self._hello: dict[str, Any] = {}
        self._build: dict[str, Any] = {}
        self._collections: dict[bool, Any] = {}  # with / without the Decimal codec, once per client
        self._decimals = False  # whether the stored schema holds decimals (Decimal128)
        self._lookup_types: tuple[pa.Schema, list] | None = None  # (stored schema, cast plan) for lookups
        self._size_source = ""
        self._order: list[Any] | None = None  # every document's _id in natural order, for take (until rows change)

    # -- life cycle ------------------------------------------------------------------------------
    def open(self) -> None:
        import pymongo
        from pymongo.errors import ConfigurationError, PyMongoError

        uri = self.address
        lowered = uri.lower()
        timeouts = {
            k: CONNECT_TIMEOUT_MS
            for k in ("serverSelectionTimeoutMS", "connectTimeoutMS")
            if k.lower() not in lowered  # the user's own settings in the URI win
        }
        try:
            client: pymongo.MongoClient = pymongo.MongoClient(uri, **timeouts)
        except (ConfigurationError, ValueError, TypeError) as exc:
            raise BackendUnavailable(f"cannot reach MongoDB at {mask_uri(uri)} ({exc})") from None
        try:
            client.admin.command("ping")
            self._hello = client.admin.command("hello")
            with contextlib.suppress(PyMongoError):
                self._build = client.admin.command("buildInfo")
        except PyMongoError as exc:
            client.close()
            reason = str(exc).split(", Timeout:")[0].split(", Topology Description")[0]
            raise BackendUnavailable(f"cannot reach MongoDB at {mask_uri(uri)} ({reason})") from None
        self._client = client

    @property
    def database(self) -> Any:
        if self._client is None:
            self.open()
        assert self._client is not None
        return self._client[self.settings.scratch_name]

    @property
    def collection(self) -> Any:
        """The collection, with the Decimal codec only when the stored schema holds decimals (or is
        unknown): a type registry with a decoder makes pymongo decode every reply through its
        Python raw-BSON path, a sizeable share of a one-key lookup (docs/decisions.md, 'MongoDB lookups:
        no Decimal codec unless needed, no temporal casts'). Both handles are built once."""
        codec = self._storage is None or self._decimals
        handle = self._collections.get(codec)
        if handle is None:
            from bson.codec_options import CodecOptions

            options = CodecOptions(type_registry=_decimal_registry()) if codec else None
            handle = self._collections[codec] = self.database.get_collection(
                COLLECTION, codec_options=options, write_concern=self._write_concern()
            )
        return handle

    def _write_concern(self) -> Any:
        """The client's write concern, with ``j=true`` added under ``--fsync`` (None: the client's as is)."""
        if not self.settings.fsync or self._client is None:
            return None
        from pymongo import WriteConcern

        return WriteConcern(**{**self._client.write_concern.document, "j": True})

    def syncs(self) -> bool:
        """Whether writes wait for the journal: ``--fsync``, or ``journal=true`` in the URI."""
        if self.settings.fsync:
            return True
        if self._client is not None:
            return bool(self._client.write_concern.document.get("j"))
        from urllib.parse import parse_qsl, urlsplit

        status = self.settings.service
        query = urlsplit(status.address).query if status is not None and status.address else ""
        return any(k.lower() == "journal" and v.lower() == "true" for k, v in parse_qsl(query))


    def reconnect(self) -> None:
        """A ping: it waits for the client to find the restarted server and opens a pooled connection,
        which the first read after a restart would otherwise do inside its timer (60-440 ms more, measured:
        docs/decisions.md, 'Cold reads: servers restarted before every run, latency calls lukewarm')."""
        if self._client is not None:
            self._client.admin.command("ping")

    def clear(self) -> None:
        self._order = None
        self.collection.drop()

    def cleanup(self) -> None:
        from pymongo.errors import PyMongoError

        if self._client is None:
            return
        try:
            self._client.drop_database(self.settings.scratch_name)
        except PyMongoError:
            pass  # a dead server: nothing of ours can be left to drop on it
        finally:
            self._client.close()
            self._client = None
            self._collections.clear()
            self._order = None

    def server_info(self) -> dict[str, Any] | None:
        git = str(self._build.get("gitVersion", ""))
        secantus = self._hello.get("setName") == "secantus" or (git != "" and set(git) == {"0"})
        status = self.settings.service
        embedded = bool(status and status.embedded)
        info: dict[str, Any] = {
            "product": SERVICE.embedded_product if secantus else SERVICE.product,
            "version": self._build.get("version"),
            "protocol": "MongoDB wire protocol" if secantus else None,
            "embedded": embedded,
            "address": mask_uri(self.address),
        }
        if secantus and embedded and status is not None and status.version:
            info["product_version"] = status.version
        return info

    def attachment(self) -> dict[str, Any]:
        return {"schema": self._schema}

    def attach(self, attachment: Mapping[str, Any]) -> None:
        self._prepare(attachment["schema"])

    # -- writing ---------------------------------------------------------------------------------
    def _prepare(self, schema: pa.Schema) -> pa.Schema:
        """Remember ``schema`` and its BSON storage form; refuse names MongoDB cannot query."""
        import pyarrow as pa

        bad = _bad_field_name(schema)
        if bad is not None:
            raise DataError(
                f"column {bad!r} cannot be a MongoDB field name ('_id', a leading '$', '.' or NUL); "
                "rename it or leave mongo out of --backends"
            )
        self._schema = schema
        self._storage = _typemap.storage_schema(schema, _bson_leaf)
        self._decimals = any(_typemap.any_type(f.type, pa.types.is_decimal) for f in self._storage)
        self._lookup_types = None
        return self._storage

    def _insert(self, batch: pa.RecordBatch) -> None:
        from pymongo.errors import BulkWriteError, DocumentTooLarge, InvalidName, OperationFailure

        assert self._storage is not None
        self._order = None
        docs = _typemap.to_storage(batch, self._storage).to_pylist()
        size = int(self.settings.options.get("mongo_batch_size") or DEFAULT_BATCH_ROWS)
        collection = self.collection
        try:
            for start in range(0, len(docs), size):
                collection.insert_many(docs[start : start + size], ordered=False)
        except DocumentTooLarge as exc:
            raise DataError(f"a row is too large for a MongoDB document ({exc}); MongoDB's limit is 16 MB") from None
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors") or [{}]
            message = errors[0].get("errmsg") or str(exc)
            raise DataError(f"MongoDB rejected {len(errors)} row(s): {message[:300]}") from None
        except (InvalidName, OperationFailure) as exc:
            raise DataError(f"MongoDB rejected the rows: {str(exc)[:300]}") from None

    def write(self, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> None:
        self._prepare(schema)
        self.clear()  # write replaces; after the runner's own clear() this drop is a no-op
        for batch in batches:
            self._insert(batch)
        key = self.settings.key_column
        if key and key in schema.names:
            import pymongo

            self.collection.create_index([(key, pymongo.ASCENDING)])

    def append(self, batch: pa.RecordBatch) -> None:
        if self._storage is None:
            self._prepare(batch.schema)
        self._insert(batch)

    def update(self, rows: pa.Table) -> None:
        """Every document with one of ``rows``' keys gets that row's values (``$set`` of every field), in one
        unordered bulk write of ``update_many`` by key (answered by the key's index); one row is one
        ``update_many`` call. No upsert: a key no document has is not inserted."""
        from pymongo import UpdateMany
        from pymongo.errors import BulkWriteError, OperationFailure

        if self._schema is None or self._storage is None:
            raise self.nothing_written()
        key = self.update_key_for(rows, self._schema)
        docs = [] if not rows.num_rows else _typemap.to_storage(rows.combine_chunks().to_batches()[0],
                                                                 self._storage).to_pylist()
        collection = self.collection
        try:
            if len(docs) == 1:
                collection.update_many({key: docs[0][key]}, {"$set": docs[0]})
            elif docs:
                collection.bulk_write([UpdateMany({key: d[key]}, {"$set": d}) for d in docs], ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors") or [{}]
            raise DataError(f"MongoDB rejected {len(errors)} update(s): {(errors[0].get('errmsg') or str(exc))[:300]}"
                            ) from None
        except OperationFailure as exc:
            raise DataError(f"MongoDB rejected the update: {str(exc)[:300]}") from None

    # -- reading ---------------------------------------------------------------------------------
    def _to_table(self, docs: list[dict[str, Any]], columns: Sequence[str] | None) -> pa.Table:
        import pyarrow as pa

        if self._schema is None or self._storage is None:
            raise self.nothing_written()
        names = list(columns) if columns is not None else self._schema.names
        storage = pa.schema([self._storage.field(n) for n in names])
        return _typemap.from_storage(pa.Table.from_pylist(docs, schema=storage), self._schema)

    def _find(self, columns: Sequence[str] | None, where: Predicate | None, batch_rows: int) -> Any:
        if self._schema is None:
            raise self.nothing_written()
        check_columns(self._schema, columns, where)
        projection: dict[str, int] = {"_id": 0}
        if columns is not None:
            projection.update(dict.fromkeys(columns, 1))
        query = self._storage_predicate(where).to_mongo() if where is not None else {}
        return self.collection.find(query, projection, batch_size=batch_rows)

    def _storage_value(self, column: str, value: Any) -> Any:
        """``value`` as it is stored in ``column`` (e.g. a date as a midnight datetime)."""
        import pyarrow as pa

        if self._schema is None or self._storage is None or column not in self._schema.names:
            return value
        original, stored = self._schema.field(column).type, self._storage.field(column).type
        if original.equals(stored):
            return value
        return pa.array([value], type=original).cast(stored, safe=False)[0].as_py()

    def _stored_as_text(self, column: str) -> bool:
        """Whether ``column`` holds text only because BSON has no type for its values (wide decimals):
        text order is not their order."""
        import pyarrow as pa

        if self._storage is None or self._schema is None or column not in self._storage.names:
            return False
        return pa.types.is_string(self._storage.field(column).type) and not pa.types.is_string(
            self._schema.field(column).type)

    def _storage_predicate(self, where: Predicate) -> Predicate:
        if where.op not in ("==", "!=") and self._stored_as_text(where.column):
            raise UnsupportedOperation(f"{self.name} stores {self._schema.field(where.column).type} as text, so it "
                                       f"cannot filter {where.column} with {where.op}")
        return Predicate(where.column, where.op, self._storage_value(where.column, where.value))

    def read(self, columns: Sequence[str] | None = None, where: Predicate | None = None) -> pa.Table:
        return self._to_table(list(self._find(columns, where, READ_BATCH_ROWS)), columns)

    def scan(self, columns: Sequence[str] | None = None, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        chunk: list[dict[str, Any]] = []
        for doc in self._find(columns, None, min(batch_rows, READ_BATCH_ROWS)):
            chunk.append(doc)
            if len(chunk) >= batch_rows:
                yield from self._to_table(chunk, columns).combine_chunks().to_batches()
                chunk = []
        if chunk:
            yield from self._to_table(chunk, columns).combine_chunks().to_batches()

    def take(self, positions: Sequence[int]) -> pa.Table:
        if self._order is None:
            self._order = [doc["_id"] for doc in self.collection.find({}, {"_id": 1})]
        order = self._order
        if any(p < 0 or p >= len(order) for p in positions):
            raise IndexError(f"mongo: positions outside 0..{len(order) - 1}")
        wanted = [order[p] for p in positions]
        found = {doc.pop("_id"): doc for doc in self.collection.find({"_id": {"$in": list(set(wanted))}})}
        return self._to_table([found[i] for i in wanted], None)

    def lookup(self, key: Any) -> pa.Table:
        """The documents whose key equals ``key`` (answered by the key's index). Per call only the query,
        one ``Table.from_pylist`` and one cast back: the schemas are built once per write."""
        import pyarrow as pa

        column = self.lookup_key_column()
        docs = list(self.collection.find({column: self._storage_value(column, key)}, {"_id": 0}))
        if self._schema is None or self._storage is None:
            return self._to_table(docs, None)
        if self._lookup_types is None:
            # Top-level timestamps and dates are built straight in their written type from the decoded
            # datetimes (exact: BSON holds whole milliseconds, dates as midnight), not cast afterwards:
            # in a lookup's one-row table those casts are a sizeable share of the lookup
            # (docs/decisions.md, 'MongoDB lookups: no Decimal codec unless needed, no temporal casts').
            decoded = pa.schema([
                w if pa.types.is_timestamp(w.type) or pa.types.is_date(w.type) else f
                for f, w in zip(self._storage, self._schema, strict=True)
            ])
            self._lookup_types = (decoded, _typemap.cast_plan(decoded, self._schema))
        stored, plan = self._lookup_types
        return _typemap.apply_casts(pa.Table.from_pylist(docs, schema=stored), plan)

    # -- size and fidelity -----------------------------------------------------------------------
    def size_bytes(self) -> int:
        """Storage plus index bytes as the server reports them (``collStats``, else ``$collStats``);
        ``size_source`` says which figures."""
        from pymongo.errors import OperationFailure

        command = "collStats"
        try:
            stats = self.database.command("collStats", COLLECTION)
        except OperationFailure:
            command = "$collStats"
            cursor = self.collection.aggregate([{"$collStats": {"storageStats": {}}}])
            stats = next(iter(cursor), {}).get("storageStats", {})
        data = "storageSize (on disk, compressed)" if stats.get("storageSize") else "size (uncompressed documents)"
        self._size_source = f"server: {command} {data} + totalIndexSize"
        return int(stats.get("storageSize", 0) or stats.get("size", 0)) + int(stats.get("totalIndexSize", 0))

    def size_source(self) -> str:
        return self._size_source or "server: collStats storageSize + totalIndexSize"

    def type_loss(self, field: pa.Field) -> TypeLoss | None:
        import pyarrow as pa

        def finer_than_ms(t: pa.DataType) -> bool:
            return pa.types.is_timestamp(t) and t.unit in ("us", "ns")

        if not _typemap.any_type(field.type, finer_than_ms):
            return None
        return TypeLoss("BSON datetimes hold milliseconds: sub-millisecond digits truncated",
                        lambda values: _typemap.round_trip(values, _bson_leaf))
