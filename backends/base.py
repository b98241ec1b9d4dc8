"""The one interface every storage backend implements (think YCSB's DB binding).

A backend stores a dataset and answers the operations it declares in ``supports``. It never times
itself: only ``bench.runner`` holds a clock. An operation a backend cannot do raises
``UnsupportedOperation`` and is reported as such, never faked.

Life cycle, as the runner drives it::

    backend = Backend(settings)          # cheap, no I/O
    backend.open()                       # connect / create scratch folder; BackendUnavailable if not
    backend.clear(); backend.write(schema, batches)   # repeated per timed write
    backend.read(...), scan(...), lookup(key), take(positions), append(batch), deliver(batch), update(rows),
    time_travel()
    backend.size_bytes()
    backend.cleanup()                    # remove every scratch file, table, collection, topic; close

Operation names (the ``supports`` vocabulary) and how each drives these methods: the table
``backends.operations.OPERATIONS``.
"""

from __future__ import annotations

import abc
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from storeadvise.errors import BackendUnavailable, DataError, UnsupportedOperation, UsageError

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc

    from storeadvise.backends.services import Service, ServiceStatus
COMPARISONS: tuple[str, ...] = ("==", "!=", "<", "<=", ">", ">=")


def quote_identifier(name: str) -> str:
    """A column or table name as an SQL identifier (double quotes, inner quotes doubled), so any name
    a dataset carries is safe in SQLite, DuckDB and standard SQL."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """A string as an SQL string literal (single quotes, inner quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Predicate:
    """A comparison of one column with one value: the filtered-read workload's ``where``."""

    column: str
    op: str
    value: Any

    def __post_init__(self) -> None:
        if self.op not in COMPARISONS:
            raise UsageError(f"unknown comparison {self.op!r}; use one of {', '.join(COMPARISONS)}")

    def to_arrow(self, data_type: pa.DataType | None = None) -> pc.Expression:
        """The predicate as a pyarrow compute expression (for dataset filters). Given the column's
        ``data_type``, the value is a scalar of that type: pyarrow would otherwise take a Python int
        for an int64 and cast a uint64 column to it, which fails above 2^63."""
        import pyarrow.compute as pc

        col = pc.field(self.column)
        value = self.typed_value(data_type)
        return {
            "==": col == value,
            "!=": col != value,
            "<": col < value,
            "<=": col <= value,
            ">": col > value,
            ">=": col >= value,
        }[self.op]

    def typed_value(self, data_type: pa.DataType | None) -> Any:
        """The value as a pyarrow scalar of the column's (value) type when it is one, else as given
        (a float compared with an int column stays a float)."""
        import pyarrow as pa

        value = self.value
        if data_type is not None:
            if pa.types.is_dictionary(data_type):
                data_type = data_type.value_type
            try:
                return pa.scalar(value, data_type)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, OverflowError):
                return value
        if isinstance(value, int) and not isinstance(value, bool) and value > 2**63 - 1:
            return pa.scalar(value, pa.uint64())
        return value

    def to_sql(self) -> tuple[str, tuple[Any, ...]]:
        """A parameterised SQL condition and its parameters."""
        return f"{quote_identifier(self.column)} {'=' if self.op == '==' else self.op} ?", (self.value,)

    def to_mongo(self) -> dict[str, Any]:
        """A MongoDB query document."""
        ops = {"==": "$eq", "!=": "$ne", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}
        return {self.column: {ops[self.op]: self.value}}

    def __str__(self) -> str:
        return f"{self.column} {self.op} {self.value!r}"


@dataclass(frozen=True)
class TypeLoss:
    """How a column does not survive a round trip unchanged, as a backend's type mapping documents it."""

    reason: str
    """In a sentence, for reports: "stored as JSON text", "sub-millisecond digits truncated"."""
    transform: Callable[[pa.Array], pa.Array]
    """The written values as the backend gives them back (compare the returned column with this)."""


def fsync_paths(paths: Iterable[Path]) -> None:
    """Flush each file or folder to stable storage. A file just created needs its folder flushed too,
    or after a crash its bytes may be on disk with no name pointing to them."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclass(frozen=True)
class Durability:
    """What a backend's write (and append) guarantees once the call returns."""

    durable: bool
    """True when the stored data was on stable storage (it survives a power loss) when the call returned."""
    guarantee: str
    """What survives what, in a sentence, for reports."""


NOT_FSYNCED = Durability(
    False,
    "not fsynced: the files are in the OS page cache when the write returns, and the OS writes them to disk "
    "later (Linux within about 30 s); an application crash loses nothing, a power loss or OS crash before then can",
)
FSYNCED = Durability(True, "every written file and its folder are fsynced before the write returns (--fsync)")


@dataclass
class BackendSettings:
    """What a backend needs to know about this run; options come from the CLI or the API."""

    run_id: str
    scratch_dir: Path
    key_column: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    service: ServiceStatus | None = None
    """For a server backend: its server's address, whether storeadvise started it, and why it is
    unavailable (``backends.services.Services`` resolves it)."""
    fsync: bool = False
    """Make every write durable before it returns (``--fsync``): files and their folder fsynced, SQLite
    ``synchronous=FULL``, MongoDB ``j=true``, Kafka ``acks=all`` (see each backend's ``durability``)."""

    @property
    def scratch_name(self) -> str:
        """The prefix of every database, table, collection and topic this run creates."""
        return f"storeadvise_{self.run_id}"


class Backend(abc.ABC):
    """One storage option behind the harness's small interface."""

    name: ClassVar[str]
    """Registry key, module name and CLI name: one word everywhere."""
    kind: ClassVar[str] = "file"
    """``file`` (a file on disk), ``database`` (embedded database file) or ``server``."""
    supports: ClassVar[frozenset[str]] = frozenset()
    """Names from ``backends.operations.OPERATIONS`` that this backend really performs."""
    aliases: ClassVar[tuple[str, ...]] = ()
    """Other names ``--backends`` accepts for this backend (``json`` for JSON Lines)."""
    sweep_variants: ClassVar[dict[str, dict[str, Any]]] = {}
    """Codec and layout variants that ``bench --sweep`` compares: label -> the backend options it sets."""
    type_mapping: ClassVar[dict[str, str]] = {}
    """What each Arrow type family becomes at rest (documentation, shown by ``storeadvise backends``)."""
    service: ClassVar[Service | None] = None
    """The server this backend needs, declared beside the backend (a ``backends.services.Service``);
    the run resolves it and passes its status as ``settings.service``."""
    write_guarantees: ClassVar[tuple[Durability, Durability]] = (NOT_FSYNCED, FSYNCED)
    """What a write guarantees when it returns: as configured by default, and when it syncs (``--fsync``);
    ``durability`` picks the one in effect."""
    keeps_row_order: ClassVar[bool] = True
    """Whether reads return the rows in the order they were written (then appended). False for the table
    formats, whose writers may interleave the batches of one write; the round-trip verification does not
    depend on row order."""
    processes_at_once: ClassVar[int | None] = None
    """How many processes may open the store at once (None: any number); ``--clients`` above it is
    unsupported, not a failure (DuckDB: one process at a time opens a database file for writing)."""
    own_cache: ClassVar[bool] = False
    """Whether the stored data is also cached outside the OS page cache: in this process (a database
    connection's page cache or buffer pool, let go by ``release_cache``) or in its server's memory. A
    cold read must drop that cache too (``bench.cache``)."""

    def __init__(self, settings: BackendSettings) -> None:
        self.settings = settings

    # -- availability and life cycle -------------------------------------------------------------
    @classmethod
    def needs_service(cls, options: Mapping[str, Any] | None) -> Service | None:
        """The server a run of this backend with ``options`` needs: its own (``service``) by default; a file
        backend needs the bucket's server when the options give an object-storage location."""
        return cls.service

    @classmethod
    def available(cls, settings: BackendSettings | None = None) -> tuple[bool, str]:
        """Whether this backend can run here, and why not (cheap: no connection attempts)."""
        service = cls.needs_service(settings.options if settings is not None else None)
        if service is not None:
            return service.availability(
                settings.service if settings is not None else None, settings.options if settings is not None else None
            )
        return True, "ok"

    def open(self) -> None:  # noqa: B027 - optional hook
        """Connect or prepare; raise ``BackendUnavailable`` with a reason when it cannot."""

    def attachment(self) -> dict[str, Any]:
        """What another instance of this backend, in another process, needs in order to serve what this
        one stored (picklable; ``attach`` takes it): the state ``write`` keeps in memory. Nothing for a
        store that keeps its schema itself (an embedded database file)."""
        return {}

    def attach(self, attachment: Mapping[str, Any]) -> None:  # noqa: B027 - optional hook
        """After ``open``: serve what another instance stored (its ``attachment``), writing nothing, as one
        of many clients of the same data does."""

    @property
    def address(self) -> str:
        """The address of this backend's server; ``BackendUnavailable`` when the run has none."""
        status = self.settings.service
        if status is not None and status.address:
            return status.address
        if status is not None and status.unavailable:
            raise BackendUnavailable(status.unavailable)
        raise BackendUnavailable(self.service.no_address if self.service else f"{self.name} uses no server")

    @property
    def location(self) -> Path:
        """This backend's own scratch folder (file backends keep their files here)."""
        return self.settings.scratch_dir / self.name

    def clear(self) -> None:
        """Remove stored data so that the next ``write`` starts empty (not timed)."""
        shutil.rmtree(self.location, ignore_errors=True)

    def cleanup(self) -> None:
        """Remove everything this backend created and close connections; safe to call twice."""
        self.clear()

    def server_info(self) -> dict[str, Any] | None:
        """For server backends: which server answered (product, version, embedded or not)."""
        return None

    # -- where the data is, and what a write guarantees ---------------------------------------------
    def stored_files(self) -> list[Path]:
        """The files and folders holding what this backend stored, whose pages a cold read evicts from
        the page cache: the backend's own folder, or for a server the data folder of the embedded server
        storeadvise started (none for your server, or a server that keeps its data in memory)."""
        status = self.settings.service
        if self.service is not None:
            return [status.data_dir] if status is not None and status.embedded and status.data_dir else []
        return [self.location] if self.location.exists() else []

    def release_cache(self) -> None:  # noqa: B027 - optional hook
        """Let go of the stored data this process holds besides the OS page cache (close a database
        connection and its page cache), so that the next read starts from the files (not timed)."""

    def reconnect(self) -> None:  # noqa: B027 - optional hook
        """After this backend's embedded server was restarted: connect again now, outside the timer, so
        that the next timed call does not pay for finding the server back (not timed)."""

    def durability(self) -> Durability:
        """What a write guarantees when it returns: the second of ``write_guarantees`` when ``syncs``."""
        return self.write_guarantees[self.syncs()]

    def syncs(self) -> bool:
        """Whether writes wait for stable storage: ``--fsync`` (file backends fsync inside ``write``
        and ``append``; others configure their engine or server)."""
        return self.settings.fsync

    def size_source(self) -> str:
        """Where ``size_bytes`` comes from, for reports."""
        return "files: the sizes of the stored files"

    # -- operations ------------------------------------------------------------------------------
    def write(self, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> None:
        """Store the whole dataset, consuming the batch stream once."""
        raise UnsupportedOperation(f"{self.name} cannot write")

    def read(self, columns: Sequence[str] | None = None, where: Predicate | None = None) -> pa.Table:
        """Read everything (or the given columns / matching rows) into one Arrow table."""
        raise UnsupportedOperation(f"{self.name} cannot read")

    def scan(self, columns: Sequence[str] | None = None, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        """Iterate over the stored rows in record batches, holding one batch at a time."""
        raise UnsupportedOperation(f"{self.name} cannot scan in batches")

    def lookup(self, key: Any) -> pa.Table:
        """The rows whose key column equals ``key``."""
        raise UnsupportedOperation(f"{self.name} has no keyed access")

    def lookup_key_column(self) -> str:
        """The column a ``lookup`` matches; a ``UsageError`` when the run names none, because the user
        fixes it with an option (``--key``), whatever the backend."""
        if not self.settings.key_column:
            raise UsageError(f"{self.name}: a lookup needs a key column; name one (for example --key id)")
        return self.settings.key_column

    def update_key_for(self, rows: pa.Table, stored: pa.Schema) -> str:
        """The key column an ``update`` matches stored rows by (the run's ``--key``), after checking that
        ``rows`` carry the stored columns in their order (a ``DataError`` otherwise)."""
        from storeadvise.backends._selection import check_columns

        key = self.lookup_key_column()
        check_columns(stored, [key])
        if rows.schema.names != stored.names:
            raise DataError(f"{self.name}: updated rows have columns {', '.join(rows.schema.names)}, "
                            f"but the stored table has {', '.join(stored.names)}")
        return key

    def take(self, positions: Sequence[int]) -> pa.Table:
        """The rows at these positions (0 is the first row written), in the order asked."""
        raise UnsupportedOperation(f"{self.name} has no access to rows by position")

    def append(self, batch: pa.RecordBatch) -> None:
        """Add rows to what is stored."""
        raise UnsupportedOperation(f"{self.name} cannot append")

    def update(self, rows: pa.Table) -> None:
        """Replace the stored rows whose key is one of ``rows``' keys by ``rows``, in place (one commit).
        ``rows`` hold one row per key; a key no stored row has is not inserted (its row is ignored)."""
        raise UnsupportedOperation(f"{self.name} cannot update rows in place")

    def time_travel(self) -> pa.Table:
        """Read the whole table as it was before the latest commit."""
        raise UnsupportedOperation(f"{self.name} keeps no earlier versions")

    def deliver(self, batch: pa.RecordBatch) -> None:
        """Send one record through the stream and return once it has been received back."""
        raise UnsupportedOperation(f"{self.name} is not a stream")

    def size_bytes(self) -> int:
        """Bytes at rest of what is stored now."""
        return sum(p.stat().st_size for p in self.location.rglob("*") if p.is_file())

    def nothing_written(self) -> DataError:
        """The error of a read, scan or lookup before this backend stored anything."""
        return DataError(f"{self.name}: nothing has been written yet; write the dataset first")

    def request_log(self) -> Any:
        """What counts the object-storage requests of a call (a context manager whose ``record()`` gives
        ``requests``, ``bytes_sent``, ``bytes_received``, ``by_method`` and ``source``), a sentence saying
        why nothing can count them, or None for a backend that makes no such requests."""
        return None

    def refuses(self, schema: pa.Schema) -> str | None:
        """Why this backend cannot store a table of ``schema`` at all (a media layout given ordinary rows;
        its ``write`` raises ``UnsupportedOperation`` with it), or None."""
        return None

    def refusal(self, schema: pa.Schema) -> str | None:
        """``refuses(schema)``, worked out once per schema object: the write operation asks inside every
        timed write, and walking a wide schema's types costs milliseconds."""
        cached = getattr(self, "_refusal", None)
        if cached is None or cached[0] is not schema:
            cached = self._refusal = (schema, self.refuses(schema))
        return cached[1]

    def why_unsupported(self, op: str) -> str:
        """One sentence shown in the table for an operation not in ``supports`` (override to explain)."""
        return f"{self.name} does not support {op}"

    def type_loss(self, field: pa.Field) -> TypeLoss | None:
        """If this backend's type mapping documents that ``field`` does not survive a round trip
        unchanged, how it changes; None means it must come back identical."""
        return None

    def describe(self) -> dict[str, Any]:
        """Name, kind, supported operations and type mapping, for listings and saved results."""
        from storeadvise.backends.operations import operations_of

        return {
            "name": self.name,
            "kind": self.kind,
            "aliases": list(self.aliases),
            "supports": operations_of(self),
            "sweep_variants": list(self.sweep_variants),
            "type_mapping": dict(self.type_mapping),
            "durability": self.durability().guarantee,
        }
