"""Redis: one hash per row, keyed by the key column, the online layout of a feature store (redis-py).

Layout. Every row is a hash ``storeadvise_<runid>:<key>`` whose fields are the column names and whose
values are the row's values as text (below); a null is a field left out. The key is the key column's
value in the same text form (without a key column, the row's number). The written Arrow schema is stored
once, serialised, in the hash ``storeadvise_<runid>`` (fields ``schema`` and ``key``), so that what comes
back is cast to exactly the written types. ``clear()`` and ``cleanup()`` delete the keys with the run's
prefix (SCAN + UNLINK) and nothing else. A hash was chosen over one serialised value per key (an Arrow
IPC message per row): writes took about as long, the hashes held a third of the memory, and any client
reads them field by field; a lookup pays about 60 µs more to parse text (docs/decisions.md, 'Redis: one
hash per row, written in pipelines of 10,000').

Writes go through pipelines (no MULTI) of ``redis_batch_size`` rows (default 10,000, measured in the
entry above). A key column value seen twice in one run is refused (``DataError``): Redis would keep the
last row only. HSET's reply (the number of fields it added) says so at no extra cost.

Reads. ``read`` and ``scan`` list the run's keys with SCAN (MATCH on the prefix, COUNT 10,000), put
them in key order (Redis keeps no row order: rows come back sorted by key, which for keys written in
ascending order is the order written), then fetch the hashes with HMGET in pipelines of ``batch_rows``
keys. HMGET names the fields, so a projection is pushed to the server: only the asked fields travel
(``project``). ``lookup`` is one HMGET of one key.

Updates. ``update`` replaces each row's hash by a Lua script (``REPLACE_IF_STORED``: DEL and HSET only if
the key exists, atomically), run with EVALSHA in the same pipelines as writes: a null in the new row
drops its field, and a key not stored is not inserted. ``filter`` is unsupported: Redis has no query on
hash fields (that needs the RediSearch module); reading everything and filtering here would be a
full read under another name. ``take`` (rows by position, a shuffled training batch) is one pipeline of
HMGETs of the keys at those positions in the order reads return (key order: the order written when the
keys were written ascending), the keys listed and sorted once per written state (the first take after a
write or append pays for that listing).

Type mapping (``type_mapping``). Values are stored as the text Arrow's casts write and read back
exactly: integers in decimal digits (uint64 too), floats in their shortest round-trip form (``nan``,
``inf``), bools as ``true``/``false``, decimals as digits, strings as UTF-8, binary as the bytes;
timestamps, dates, times and durations as the integer in their unit (the zone and unit come back from
the schema); structs and lists as JSON text (temporal values inside as integers, decimals as strings;
binary inside a struct or list is refused). Nothing is lost.

Durability (``durability``). The embedded server runs with persistence off (``--save ''
--appendonly no``): everything is in memory and nothing survives its restart. ``--fsync`` turns on the
append-only file with ``appendfsync always`` on the embedded server (CONFIG SET, undone at cleanup):
every write command is fsynced before Redis answers it. Your server's persistence is read with CONFIG
GET and reported as it is; storeadvise never changes your server's configuration (docs/decisions.md,
'Redis: persistence off by default, `--fsync` as appendfsync always').

Size at rest (``size_bytes``): the memory Redis holds for the run's keys, from MEMORY USAGE (key, value
and their allocation overhead) of every key up to 10,000 keys, beyond that of the first 10,000 keys SCAN
returns, scaled to the number of rows (SCAN order is the hash table's, unrelated to the data). Not
counted: the main dictionary's bucket array (about 8 bytes a key).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from storeadvise.backends import _typemap
from storeadvise.backends._selection import check_columns
from storeadvise.backends.base import Backend, BackendSettings, Durability, Predicate
from storeadvise.backends.masking import mask_uri
from storeadvise.backends.services import Launch, Service
from storeadvise.errors import BackendUnavailable, DataError, ServerError, UnsupportedOperation

if TYPE_CHECKING:
    import pyarrow as pa
    import redis

DEFAULT_BATCH_ROWS = 10_000
SCAN_COUNT = 10_000
SIZE_SAMPLE_KEYS = 10_000
CONNECT_TIMEOUT_S = 3.0
AOF_START_TIMEOUT_S = 60.0
SOCKET_TIMEOUT_S = 60.0
SCHEMA_FIELD = b"schema"
KEY_FIELD = b"key"
EMPTY_ROW_FIELD = b""
REPLACE_IF_STORED = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""
"""An update of one row: its hash replaced by the new fields (a null is a field left out, so fields are not
just overwritten), atomically, and only when the key holds a row already (no insert)."""
"""Redis has no empty hash: a row without a key column whose every value is null is stored with this one
empty field (column names are never empty, README 'Awkward files')."""


# -- the service: Debian's redis-server embedded, or the user's Redis -----------------------------------
def _installed() -> bool:
    return shutil.which("redis-server") is not None


def _launch(scratch: Path, port: int) -> Launch:
    """redis-server on ``port``, loopback only, persistence off, any file it writes in ``scratch``; no
    configuration file (never the machine's /etc/redis/redis.conf)."""
    server = shutil.which("redis-server")
    if server is None:
        raise FileNotFoundError("redis-server is not on the PATH")
    args = [
        server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", str(scratch), "--daemonize", "no", "--logfile", "",
    ]  # fmt: skip
    return Launch(args, f"redis://127.0.0.1:{port}/0")


def _client(address: str, timeout: float = CONNECT_TIMEOUT_S) -> redis.Redis:
    import redis

    return redis.Redis.from_url(address, socket_connect_timeout=timeout, socket_timeout=max(timeout, 5.0))


def _answers(address: str) -> bool:
    import redis

    client = _client(address, timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _version() -> str | None:
    out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, timeout=10).stdout
    found = re.search(r"v=(\S+)", out)
    return found.group(1) if found else None


def _glob_escaped(text: str) -> str:
    """``text`` as a literal in a SCAN MATCH pattern."""
    return re.sub(r"([\\*?\[\]])", r"\\\1", text)


def _scratch_names(address: str, prefix: str) -> list[str]:
    client = _client(address, timeout=5.0)
    try:
        return sorted(k.decode("utf-8", "replace") for k in client.scan_iter(match=_glob_escaped(prefix) + "*",
                                                                            count=SCAN_COUNT))
    finally:
        client.close()


SERVICE = Service(
    name="redis",
    product="Redis",
    embedded_product="redis-server",
    address_option="redis_url",
    metavar="URL",
    client="redis",
    installed=_installed,
    launch=_launch,
    ready=_answers,
    version=_version,
    scratch_names=_scratch_names,
    install="apt-get install redis-server",
)


# -- the backend -------------------------------------------------------------------------------------
IN_MEMORY = Durability(False, "in memory only: persistence off (--save '' --appendonly no), nothing survives a "
                              "restart of the server")
FSYNC_ALWAYS = Durability(True, "append-only file with appendfsync always: every write command is fsynced before "
                                "Redis answers it")


def _persistence(config: dict[str, str]) -> Durability:
    """What a server with this configuration (CONFIG GET appendonly, appendfsync, save) guarantees."""
    if config.get("appendonly") == "yes":
        fsync = config.get("appendfsync", "everysec")
        if fsync == "always":
            return FSYNC_ALWAYS
        if fsync == "everysec":
            return Durability(False, "append-only file, appendfsync everysec: fsynced once a second, a power loss "
                                     "can lose the last second of writes")
        return Durability(False, "append-only file, appendfsync no: the OS writes it to disk when it chooses")
    if config.get("save"):
        return Durability(False, f"RDB snapshots only (save {config['save']}): writes since the last snapshot are "
                                 "lost when the server stops uncleanly")
    return IN_MEMORY


def _is_nested(dtype: pa.DataType) -> bool:
    import pyarrow as pa

    t = pa.types
    if t.is_dictionary(dtype):
        return _is_nested(dtype.value_type)
    return t.is_struct(dtype) or t.is_list(dtype) or t.is_large_list(dtype) or t.is_fixed_size_list(dtype) or (
        t.is_list_view(dtype) or t.is_map(dtype)
    )


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _parser(dtype: pa.DataType, nested: bool) -> Callable[[bytes], Any]:
    """How one stored text becomes the Python value of its storage type ``dtype``."""
    import pyarrow as pa

    t = pa.types
    if nested:
        return json.loads
    if t.is_integer(dtype):
        return int
    if t.is_floating(dtype):
        return float
    if t.is_boolean(dtype):
        return lambda v: v == b"true"
    if t.is_string(dtype):
        return lambda v: v.decode()
    return lambda v: v


def _hash_fields(fields: Sequence[bytes], texts: Sequence[Sequence[Any]], row: int) -> list[Any]:
    """HSET's field/value arguments of row ``row`` (a null is a field left out; a row of nulls one empty field)."""
    return [item for field, column in zip(fields, texts, strict=True) if column[row] is not None
            for item in (field, column[row])] or [EMPTY_ROW_FIELD, b""]


class _Codec:
    """Turns the columns of one written schema into hash values and back (see the module docstring)."""

    def __init__(self, schema: pa.Schema) -> None:

        for f in schema:
            if _is_nested(f.type) and _typemap.any_type(f.type, _typemap.is_binary):
                raise DataError(f"column {f.name!r} holds binary inside a struct or list, which redis stores as "
                                "JSON text; leave redis out of --backends for this data")
        self.schema = schema
        self.nested = {f.name for f in schema if _is_nested(f.type)}
        # Flat columns and the values inside nested ones take the same stored types: what JSON holds exactly,
        # which is also what Arrow casts to and from text exactly (decimals as their digits).
        self.storage = _typemap.storage_schema(schema, _typemap.json_leaf)
        self.fields = [name.encode() for name in schema.names]
        self._row_plan: tuple[list[Callable[[bytes], Any]], list[tuple[int, pa.Field]]] | None = None

    def texts(self, batch: pa.RecordBatch) -> list[list[Any]]:
        """Each column's values as the texts (str or bytes; None for null) stored in the hashes."""
        return [self.column_texts(name, column) for name, column in zip(batch.schema.names, batch.columns,
                                                                        strict=True)]

    def column_texts(self, name: str, values: pa.Array) -> list[Any]:
        """The values of column ``name`` as stored texts."""
        import pyarrow as pa
        import pyarrow.compute as pc

        storage = self.storage.field(name).type
        stored = values if values.type.equals(storage) else values.cast(storage, safe=False)
        if name in self.nested:
            dumps = _JSON.encode
            return [None if v is None else dumps(v) for v in stored.to_pylist()]
        if pa.types.is_string(storage) or pa.types.is_binary(storage):
            return stored.to_pylist()
        return pc.cast(stored, pa.string()).to_pylist()

    def row(self, values: Sequence[bytes | None]) -> pa.Table:
        """The one-row table of every column from one hash's values: parsed in Python and built in one
        call, with only the temporal columns cast back, which is several times quicker for one row than
        the column-wise casts of ``table`` (docs/decisions.md, 'Redis: one hash per row, written in
        pipelines of 10,000')."""
        import pyarrow as pa

        if self._row_plan is None:
            self._row_plan = ([_parser(f.type, f.name in self.nested) for f in self.storage],
                              _typemap.cast_plan(self.storage, self.schema))
        parsers, casts = self._row_plan
        row = {name: None if v is None else parse(v)
               for name, parse, v in zip(self.schema.names, parsers, values, strict=True)}
        return _typemap.apply_casts(pa.Table.from_pylist([row], schema=self.storage), casts)

    def key_text(self, name: str, key: Any) -> bytes:
        """The stored text of one key value of column ``name`` (ints and strings without Arrow)."""
        import pyarrow as pa

        dtype = self.storage.field(name).type
        if isinstance(key, int) and not isinstance(key, bool) and pa.types.is_integer(dtype):
            return str(key).encode()
        if isinstance(key, str) and pa.types.is_string(dtype):
            return key.encode()
        text = self.column_texts(name, pa.array([key], self.schema.field(name).type))[0]
        return text if isinstance(text, bytes) else text.encode()

    def table(self, columns: Sequence[str], values: Sequence[Sequence[bytes | None]]) -> pa.Table:
        """The table of ``columns`` (in the written types) from each column's stored values."""
        import pyarrow as pa

        arrays = []
        for name, column in zip(columns, values, strict=True):
            field = self.storage.field(name)
            if name in self.nested:
                stored = pa.array([None if v is None else json.loads(v) for v in column], field.type)
            else:
                stored = pa.array(column, pa.binary())
                if not pa.types.is_binary(field.type):
                    stored = stored.cast(pa.string())
                    if not pa.types.is_string(field.type):
                        stored = stored.cast(field.type)
            target = self.schema.field(name)
            arrays.append(stored if stored.type.equals(target.type) else stored.cast(target.type))
        return pa.Table.from_arrays(arrays, schema=pa.schema([self.schema.field(n) for n in columns]))


class RedisBackend(Backend):
    """Rows as hashes in Redis; see the module docstring."""

    name: ClassVar[str] = "redis"
    kind: ClassVar[str] = "server"
    service: ClassVar[Service | None] = SERVICE
    own_cache: ClassVar[bool] = True  # everything is in the server's memory
    supports: ClassVar[frozenset[str]] = frozenset({"write", "read", "scan", "project", "lookup", "append",
                                                    "write_one", "take", "update"})
    type_mapping: ClassVar[dict[str, str]] = {
        "layout": "one hash per row, key storeadvise_<runid>:<key value>, field = column name; null = field absent",
        "integer": "decimal digits (uint64 too)",
        "float": "shortest round-trip text (nan, inf, -inf)",
        "bool": "true/false",
        "string": "UTF-8 text",
        "binary": "the bytes",
        "null": "field left out of the hash",
        "decimal": "digits (exact)",
        "timestamp/date/time/duration": "integer in the column's unit (zone and unit from the stored schema)",
        "struct/list (nested)": "JSON text; temporal values as integers, decimals as strings; binary inside refused",
        "schema": "the Arrow schema, serialised once in the hash storeadvise_<runid>",
        "row order": "sorted by key (Redis keeps no order)",
        "size": "MEMORY USAGE of the run's keys (sampled above 10,000 keys)",
    }

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        self._client: redis.Redis | None = None
        self._codec: _Codec | None = None
        self._rows = 0  # rows stored by this object since the last clear
        self._next_row = 0  # the next row number, the key of a row when there is no key column
        self._info: dict[str, Any] = {}
        self._config: dict[str, str] | None = None  # persistence settings as read from the server
        self._restore: dict[str, str] = {}  # the embedded server's settings open() changed for --fsync
        self._ordered: list[bytes] | None = None  # the row keys in read order, for take (until rows change)
        self._replace: Any = None  # REPLACE_IF_STORED, registered on first update

    # -- names -----------------------------------------------------------------------------------
    @property
    def prefix(self) -> bytes:
        return f"{self.settings.scratch_name}:".encode()

    @property
    def schema_key(self) -> bytes:
        return self.settings.scratch_name.encode()

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            self.open()
        assert self._client is not None
        return self._client

    def _batch_rows(self) -> int:
        return int(self.settings.options.get("redis_batch_size") or DEFAULT_BATCH_ROWS)

    def _embedded(self) -> bool:
        status = self.settings.service
        return bool(status is not None and status.embedded)

    # -- life cycle ------------------------------------------------------------------------------
    def open(self) -> None:
        import redis

        url = self.address
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S,
                                          socket_timeout=SOCKET_TIMEOUT_S)
            client.ping()
            self._info = client.info("server")
        except (redis.RedisError, ValueError, OSError) as exc:
            raise BackendUnavailable(f"cannot reach Redis at {mask_uri(url)} ({self._reason(exc)})") from None
        self._client = client
        if self.settings.fsync and self._embedded():
            self._sync_every_write()
        self._config = self._read_persistence()

    def _reason(self, exc: BaseException) -> str:
        return str(exc).replace(self.address, mask_uri(self.address))

    def _read_persistence(self) -> dict[str, str] | None:
        """CONFIG GET of the persistence settings; None when the server refuses CONFIG (managed services)."""
        import redis

        try:
            return {k: str(v) for k, v in self.client.config_get("appendonly").items()} | {
                k: str(v) for name in ("appendfsync", "save") for k, v in self.client.config_get(name).items()
            }
        except redis.RedisError:
            return None

    def _sync_every_write(self) -> None:
        """--fsync on the embedded server: the append-only file on, fsynced before every reply, once its
        first rewrite (which Redis starts when the file is turned on) has finished; ``cleanup`` restores
        the settings it had."""
        import time

        client = self.client
        wanted = {"appendfsync": "always", "appendonly": "yes"}
        before = {name: str(client.config_get(name).get(name, "")) for name in wanted}
        for name, value in wanted.items():
            client.config_set(name, value)
        self._restore = {**before, **self._restore}
        deadline = time.monotonic() + AOF_START_TIMEOUT_S
        while True:  # the server's own state, polled: it reports when the rewrite is done
            persistence = client.info("persistence")
            if not persistence.get("aof_rewrite_in_progress") and not persistence.get("aof_rewrite_scheduled"):
                return
            if time.monotonic() > deadline:
                raise ServerError(f"Redis did not finish writing its append-only file within {AOF_START_TIMEOUT_S:g} s")
            time.sleep(0.05)

    def durability(self) -> Durability:
        if self._config is not None:
            return _persistence(self._config)
        if self._embedded() or self.settings.service is None:
            return FSYNC_ALWAYS if self.settings.fsync else IN_MEMORY
        return Durability(False, "your server's persistence settings could not be read (CONFIG GET refused)")

    def syncs(self) -> bool:
        return self.durability().durable

    def _delete_run_keys(self) -> None:
        """UNLINK every key with the run's prefix, found by SCAN (nothing else is touched)."""
        client = self.client
        pattern = _glob_escaped(self.settings.scratch_name) + ":*"
        chunk: list[bytes] = []
        for key in client.scan_iter(match=pattern, count=SCAN_COUNT):
            chunk.append(key)
            if len(chunk) >= SCAN_COUNT:
                client.unlink(*chunk)
                chunk = []
        if chunk:
            client.unlink(*chunk)

    def clear(self) -> None:
        if self._rows or self._codec is not None:
            self._delete_run_keys()
            self.client.unlink(self.schema_key)
        self._rows = self._next_row = 0
        self._codec = None
        self._ordered = None

    def cleanup(self) -> None:
        import redis

        if self._client is None:
            return
        try:
            self._delete_run_keys()
            self._client.unlink(self.schema_key)
            for name in ("appendonly", "appendfsync"):  # the file off first: no rewrite with the old policy
                if name in self._restore:
                    self._client.config_set(name, self._restore[name])
        except redis.RedisError:
            pass  # a dead server: nothing of ours can be left on it
        finally:
            self._client.close()
            self._client = None
            self._codec = None
            self._rows = self._next_row = 0
            self._restore = {}
            self._ordered = None

    def server_info(self) -> dict[str, Any] | None:
        return {
            "product": SERVICE.product,
            "version": self._info.get("redis_version"),
            "protocol": "RESP, persistence: " + self.durability().guarantee,
            "embedded": self._embedded(),
            "address": mask_uri(self.address),
        }

    # -- writing ---------------------------------------------------------------------------------
    def attachment(self) -> dict[str, Any]:
        return {"schema": self._written().schema}

    def attach(self, attachment: Mapping[str, Any]) -> None:
        self._codec = _Codec(attachment["schema"])

    def _prepare(self, schema: pa.Schema) -> _Codec:
        key = self.settings.key_column
        if key and key in schema.names and _is_nested(schema.field(key).type):
            raise DataError(f"key column {key!r} holds structs or lists; a Redis key needs a flat value")
        self._codec = _Codec(schema)
        self.client.hset(self.schema_key, mapping={SCHEMA_FIELD: schema.serialize().to_pybytes(),
                                                   KEY_FIELD: key or ""})
        return self._codec

    def _keys(self, batch: pa.RecordBatch, texts: list[list[Any]]) -> list[bytes]:
        """The Redis key of every row: the prefix and the key column's stored text, else the row number."""
        prefix = self.prefix
        key = self.settings.key_column
        if key and key in batch.schema.names:
            values = texts[batch.schema.get_field_index(key)]
            if None in values:
                raise DataError(f"key column {key!r} holds a null; a Redis key needs a value")
            return [prefix + (v if isinstance(v, bytes) else v.encode()) for v in values]
        start, self._next_row = self._next_row, self._next_row + batch.num_rows
        return [prefix + str(i).encode() for i in range(start, start + batch.num_rows)]

    def _insert(self, batch: pa.RecordBatch) -> None:
        import redis

        codec = self._codec or self._prepare(batch.schema)
        self._ordered = None
        texts = codec.texts(batch)
        keys = self._keys(batch, texts)
        fields = codec.fields
        size = self._batch_rows()
        pipe = self.client.pipeline(transaction=False)
        try:
            for start in range(0, len(keys), size):
                given = []
                for i in range(start, min(start + size, len(keys))):
                    args = _hash_fields(fields, texts, i)
                    pipe.execute_command("HSET", keys[i], *args)
                    given.append(len(args) // 2)
                added = pipe.execute()
                self._check_new(keys[start : start + size], given, added)
        except redis.RedisError as exc:
            raise ServerError(f"Redis at {mask_uri(self.address)} refused the rows ({self._reason(exc)})") from None
        self._rows += len(keys)

    def update(self, rows: pa.Table) -> None:
        """Each row's hash replaced in place by ``REPLACE_IF_STORED`` (EVALSHA), pipelined in ``redis_batch_size``
        rows: one round trip per pipeline, each key replaced atomically, a key not stored left absent."""
        import redis

        codec = self._written()
        key = self.update_key_for(rows, codec.schema)
        if key in codec.nested:
            raise DataError(f"key column {key!r} holds structs or lists; a Redis key needs a flat value")
        if not rows.num_rows:
            return
        batch = rows.combine_chunks().to_batches()[0]
        texts = codec.texts(batch)
        keys = self._keys(batch, texts)
        if self._replace is None:
            self._replace = self.client.register_script(REPLACE_IF_STORED)
        size = self._batch_rows()
        pipe = self.client.pipeline(transaction=False)
        try:
            for start in range(0, len(keys), size):
                for i in range(start, min(start + size, len(keys))):
                    self._replace(keys=[keys[i]], args=_hash_fields(codec.fields, texts, i), client=pipe)
                pipe.execute()
        except redis.RedisError as exc:
            raise ServerError(f"Redis at {mask_uri(self.address)} refused the update ({self._reason(exc)})") from None

    def _check_new(self, keys: list[bytes], given: list[int], added: list[int]) -> None:
        """HSET answers how many fields it added: fewer than given means the key held a row already."""
        for key, want, got in zip(keys, given, added, strict=True):
            if got != want:
                value = key[len(self.prefix):].decode("utf-8", "replace")
                raise DataError(f"key column {self.settings.key_column!r} holds {value!r} more than once; Redis "
                                "keeps one hash per key (use a unique key column, or --key)")

    def write(self, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> None:
        self.clear()  # write replaces; after the runner's own clear() this is a no-op
        self._prepare(schema)
        for batch in batches:
            self._insert(batch)

    def append(self, batch: pa.RecordBatch) -> None:
        self._insert(batch)

    # -- reading ---------------------------------------------------------------------------------
    def _written(self) -> _Codec:
        if self._codec is None:
            raise self.nothing_written()
        return self._codec

    def _sorted_keys(self) -> list[bytes]:
        """The run's row keys, each once, in key order (SCAN lists them in hash-table order, maybe twice)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        codec = self._written()
        found = list(set(self.client.scan_iter(match=_glob_escaped(self.settings.scratch_name) + ":*",
                                               count=SCAN_COUNT)))
        if not found:
            return []
        start = len(self.prefix)
        texts = pa.array([k[start:] for k in found], pa.binary())
        key = self.settings.key_column
        if key and key in codec.schema.names and key not in codec.nested:
            order = codec.table([key], [texts]).column(0)
        else:
            order = texts.cast(pa.string()).cast(pa.int64(), safe=False)
        return [found[i] for i in pc.sort_indices(order).to_pylist()]

    def _fetch(self, keys: Sequence[bytes], names: Sequence[str]) -> list[list[bytes | None]]:
        """HMGET of ``names`` for every key, pipelined; the values column by column."""
        fields = [n.encode() for n in names]
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.execute_command("HMGET", key, *fields)
        rows = pipe.execute()
        return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in names]

    def scan(self, columns: Sequence[str] | None = None, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        codec = self._written()
        check_columns(codec.schema, columns)
        names = list(columns) if columns is not None else codec.schema.names
        keys = self._sorted_keys()
        step = min(batch_rows, self._batch_rows()) if batch_rows > 0 else self._batch_rows()
        for start in range(0, len(keys), step):
            chunk = keys[start : start + step]
            yield from codec.table(names, self._fetch(chunk, names)).to_batches()

    def read(self, columns: Sequence[str] | None = None, where: Predicate | None = None) -> pa.Table:
        import pyarrow as pa

        if where is not None:
            raise UnsupportedOperation(self.why_unsupported("filter"))
        codec = self._written()
        check_columns(codec.schema, columns)
        batches = list(self.scan(columns))
        schema = pa.schema([codec.schema.field(n) for n in columns]) if columns is not None else codec.schema
        return pa.Table.from_batches(batches, schema=schema)

    def take(self, positions: Sequence[int]) -> pa.Table:
        codec = self._written()
        if self._ordered is None:
            self._ordered = self._sorted_keys()
        keys = self._ordered
        if any(p < 0 or p >= len(keys) for p in positions):
            raise IndexError(f"redis: positions outside 0..{len(keys) - 1}")
        names = codec.schema.names
        return codec.table(names, self._fetch([keys[p] for p in positions], names))

    def lookup(self, key: Any) -> pa.Table:

        column = self.lookup_key_column()
        codec = self._written()
        if column not in codec.schema.names:
            raise DataError(f"redis: no column {column!r} to look up")
        try:
            text = codec.key_text(column, key)
        except (ValueError, TypeError, OverflowError):  # pyarrow's ArrowInvalid and ArrowTypeError are these
            return codec.schema.empty_table()  # a value the key column cannot hold is no row's key
        row = self.client.execute_command("HMGET", self.prefix + text, *codec.fields)
        if all(v is None for v in row):
            return codec.schema.empty_table()
        return codec.row(row)

    def why_unsupported(self, op: str) -> str:
        if op == "filter":
            return ("redis has no query on hash fields (that needs the RediSearch module); a filter would be a full "
                    "read filtered here, so it is not offered")
        return super().why_unsupported(op)

    # -- size ------------------------------------------------------------------------------------
    def size_bytes(self) -> int:
        """MEMORY USAGE of the run's keys (sampled beyond ``SIZE_SAMPLE_KEYS``) plus the schema's hash."""
        client = self.client
        sample: list[bytes] = []
        for key in client.scan_iter(match=_glob_escaped(self.settings.scratch_name) + ":*", count=SCAN_COUNT):
            sample.append(key)
            if len(sample) >= SIZE_SAMPLE_KEYS:
                break
        pipe = client.pipeline(transaction=False)
        for key in sample:
            pipe.memory_usage(key, samples=0)
        used = [u or 0 for u in pipe.execute()]
        total = sum(used) if len(sample) >= self._rows or not sample else sum(used) * self._rows // len(sample)
        return int(total + (client.memory_usage(self.schema_key, samples=0) or 0))

    def size_source(self) -> str:
        return f"server: MEMORY USAGE of the run's keys (sampled above {SIZE_SAMPLE_KEYS:,} keys)"

