"""What a benchmark run produced, as plain data: statistics, measurements, verification, the run.

No clock and no I/O except saving and loading run files. The runner fills these in; exporters in
``bench.report`` only read them. A run file is one JSON document (``schema_version`` first), which
DuckDB can query directly: ``SELECT * FROM read_json_auto('results/*.json')``.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storeadvise.errors import DataError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

SCHEMA_VERSION = 3
"""2 added ``complete`` and ``problems`` (derived from the rest, so a version-1 file loads the same);
3 added ``load`` (the steps of ``--clients``; empty in older files, which load the same)."""

# Status of one (backend, operation) cell.
OK = "ok"
UNSUPPORTED = "unsupported"  # the backend declares it cannot do this operation
SKIPPED = "skipped"  # could not run here (server unreachable, memory limit, no key column ...)
FAILED = "failed"  # it was attempted and raised


@dataclass
class Stats:
    """Summary of a list of durations in seconds (pytest-benchmark's ``Stats``, trimmed)."""

    n: int
    median: float
    mean: float
    min: float
    max: float
    iqr: float
    stdev: float
    p50: float
    p95: float
    p99: float
    # The quartiles and what lies beyond them, as pytest-benchmark records them (its export needs
    # them, and the durations themselves are not kept). None in run files written before they were.
    q1: float | None = None
    q3: float | None = None
    ld15iqr: float | None = None  # the lowest duration within 1.5 IQR below q1
    hd15iqr: float | None = None  # the highest duration within 1.5 IQR above q3
    iqr_outliers: int | None = None  # durations beyond those 1.5 IQR fences
    stddev_outliers: int | None = None  # durations more than one standard deviation from the mean

    @classmethod
    def of(cls, durations: list[float]) -> Stats:
        if not durations:
            raise ValueError("no durations to summarise")
        values = sorted(durations)
        # Percentile cut points interpolated linearly between the sorted values (the "inclusive"
        # method, numpy's default); one duration is every percentile of itself.
        cuts = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99

        def percentile(p: int) -> float:
            return cuts[p - 1]

        q1, q3 = percentile(25), percentile(75)
        mean = statistics.fmean(values)
        stdev = statistics.stdev(values) if len(values) > 1 else 0.0
        # Interpolated quartiles of repeated values can miss them by a rounding error (0.007 vs
        # 0.007000000000000001): the fences allow for that, or equal timings would be outliers.
        slack = 1e-9 * abs(q3)
        low, high = q1 - 1.5 * (q3 - q1) - slack, q3 + 1.5 * (q3 - q1) + slack
        inside = [v for v in values if low <= v <= high]
        return cls(
            n=len(values),
            median=statistics.median(values),
            mean=mean,
            min=values[0],
            max=values[-1],
            iqr=q3 - q1,
            stdev=stdev,
            p50=percentile(50),
            p95=percentile(95),
            p99=percentile(99),
            q1=q1,
            q3=q3,
            ld15iqr=inside[0],
            hd15iqr=inside[-1],
            iqr_outliers=len(values) - len(inside),
            stddev_outliers=sum(1 for v in values if v < mean - stdev or v > mean + stdev),
        )


@dataclass
class ColumnFidelity:
    """How one column came back: ``kept``, ``converted`` (to ``detail``) or ``lost``."""

    column: str
    original_type: str
    returned_type: str | None
    status: str  # kept | converted | lost
    detail: str = ""
    documented: bool = True  # False: the change is not in the backend's documented mapping


@dataclass
class Verification:
    """The round-trip check of one backend, done outside the timer."""

    rows_written: int
    rows_read: int
    checksum_match: bool  # content checksum over the columns the backend preserves
    columns: list[ColumnFidelity] = field(default_factory=list)
    flagged: bool = False  # True: rows lost or values changed beyond the documented mapping
    message: str = ""
    items: str | None = None
    """For a folder of media items: the per-item check (a hash of every item, a shuffled epoch's
    reads against the written items), when it was made."""

    @property
    def summary(self) -> str:
        if self.flagged:
            return f"FAILED: {self.message}" if self.message else "FAILED"
        changed = [c for c in self.columns if c.status != "kept"]
        if not changed:
            return "ok"
        # "ok" beside "lost" would read as a contradiction: say whose word the loss is within
        lead = "ok as documented: " if any(c.status == "lost" for c in changed) else "ok, "
        return lead + "; ".join(f"{c.column} {c.status}" + (f" ({c.detail})" if c.detail else "") for c in changed)


@dataclass
class Measurement:
    """One operation of one backend."""

    backend: str
    op: str
    status: str = OK
    reason: str = ""  # why unsupported / skipped / failed
    stats: Stats | None = None  # per repeat (throughput ops) or per call (latency ops)
    rows: int = 0  # rows the operation touched per repeat (per call for latency ops)
    arrow_bytes: int = 0  # Arrow in-memory size of what one repeat touched
    rows_per_s: float | None = None
    mb_per_s: float | None = None
    peak_memory_bytes: int | None = None
    """The largest growth of this process's resident memory during one run, warm-ups included
    (throughput ops), or over the timed calls (latency ops): its resident high-water mark minus its
    resident size just before; the operation's first run starts after Arrow's pool returned what it
    keeps (``bench.probes.PeakMemory``). 0 means measured and no growth; None means not measured (the
    platform has no resettable high-water mark)."""
    bytes_at_rest: int | None = None  # write ops: size stored
    size_ratio: float | None = None  # bytes at rest / Arrow in-memory size
    latency: bool = False  # True: stats are per call and p50/p95/p99 matter
    extra: dict[str, Any] = field(default_factory=dict)
    """Facts beside the figures. The runner fills ``warmup_runs`` (runs or calls not counted; 0 means
    the figure rests on unwarmed runs), ``warmup_seconds`` (their timings), ``wall_seconds``, ``calls``
    (latency ops), ``note``, and for a backend whose server storeadvise started,
    ``server_peak_memory_bytes`` (the server process's resident high-water growth during the same
    runs, None where it cannot be read) and ``server_rss_bytes`` (its resident size afterwards)."""
    cache: str | None = None
    """Read-like ops: the state of the caches the runs started in, ``warm`` | ``cold`` | ``lukewarm`` |
    ``unknown`` (``bench.cache``); why it is not the state asked for in ``extra["cache_reason"]``."""
    durable: bool | None = None
    """Write-like ops: the stored data was on stable storage when the call returned (``Backend.durability``)."""
    warnings: list[str] = field(default_factory=list)
    """One-line warnings about the figure (the first run much slower than the rest, as hyperfine warns)."""
    requests: int | None = None
    """On object storage: the requests one more, untimed run (one call of a latency op) made, counted at
    the server (``Backend.request_log``); None where nothing counts them (``extra["traffic_source"]`` says
    why) or the data is not on object storage."""
    bytes_sent: int | None = None
    """On object storage: the bytes that run uploaded (request bodies)."""
    bytes_received: int | None = None
    """On object storage: the object bytes that run downloaded (ranges and whole objects)."""


@dataclass
class BackendRun:
    """Everything about one backend in a run."""

    backend: str
    status: str = OK  # ok | skipped | failed
    reason: str = ""
    description: dict[str, Any] = field(default_factory=dict)
    server: dict[str, Any] | None = None
    verification: Verification | None = None
    measurements: list[Measurement] = field(default_factory=list)


@dataclass
class Run:
    """A whole benchmark run: environment, dataset, settings, backends."""

    run_id: str
    started_at: str
    finished_at: str = ""
    schema_version: int = SCHEMA_VERSION
    environment: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    backends: list[BackendRun] = field(default_factory=list)
    scaling: list[dict[str, Any]] = field(default_factory=list)  # filled by a --scale sweep
    load: list[dict[str, Any]] = field(default_factory=list)
    """Filled by ``--clients``: one entry per backend and client count (``bench.load``; results/README.md)."""

    def measurements(self) -> list[Measurement]:
        return [m for b in self.backends for m in b.measurements]

    @property
    def problems(self) -> list[str]:
        """Why the run does not hold everything it was asked for, one sentence each; empty when complete.

        An interruption, a backend skipped (unreachable server, missing package) or failed, a backend
        never reached, an operation that failed. An unsupported operation is not a problem, nor a store
        that cannot hold the table (e.g. decimals wider than its own): they are properties of the
        store, reported as such.
        """
        problems = ["interrupted before it finished"] if self.settings.get("interrupted") else []
        for b in self.backends:
            if b.status == UNSUPPORTED:
                continue
            if b.status != OK:
                problems.append(f"{b.backend} {b.status}: {b.reason}" if b.reason else f"{b.backend} {b.status}")
                continue
            problems += [f"{b.backend} {m.op} {m.status}: {m.reason}" for m in b.measurements if m.status == FAILED]
        problems += [f"{s['backend']} load with {s['clients']} clients failed: {s['reason']}"
                     for s in self.load if s.get("status") == FAILED]
        return problems + [f"{name} not run" for name in self.not_reached()]

    def not_reached(self) -> list[str]:
        """Backends the run was asked for but never came to (it was interrupted first)."""
        reached = {b.backend for b in self.backends}
        return [name for name in self.settings.get("backends", []) if name not in reached]

    @property
    def complete(self) -> bool:
        """True when nothing was skipped, failed or interrupted (see ``problems``)."""
        return not self.problems

    def ops(self) -> list[str]:
        """Operation names in the order they were run."""
        return list(dict.fromkeys(m.op for m in self.measurements()))

    def to_arrow(self) -> pa.Table:
        """One row per backend × operation × cache state (``bench.tidy.MEASUREMENT_COLUMNS``): the
        figures, their labels and their place in the summary matrix. The same rows as the
        ``measurements`` view of ``storeadvise history --query``."""
        from storeadvise.bench.tidy import measurements_table

        return measurements_table([self])

    def to_pandas(self) -> pd.DataFrame:
        """``to_arrow()`` as a pandas DataFrame; an error saying what to install without pandas."""
        from storeadvise.frames import pandas_frame

        return pandas_frame(self.to_arrow())

    def _repr_html_(self) -> str:
        """Jupyter's view of a run: the summary matrix and the round-trip verification."""
        from storeadvise.bench.tidy import run_html

        return run_html(self)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {"schema_version": data.pop("schema_version"), "complete": self.complete, "problems": self.problems,
                **data}


DERIVED_KEYS = ("complete", "problems", "matrix")
"""Top-level keys of a run document computed from the rest (``matrix``: the summary the JSON report
adds); a loaded run recomputes them, never trusts them as stored."""


def run_from_dict(data: dict[str, Any]) -> Run:
    """Rebuild a ``Run`` from its JSON form; ``DataError`` if it is not a storeadvise run."""
    if not isinstance(data, dict) or "schema_version" not in data or "backends" not in data:
        raise DataError("not a storeadvise run file (no schema_version / backends)")
    if data["schema_version"] > SCHEMA_VERSION:
        raise DataError(
            f"run file has schema_version {data['schema_version']}, newer than this storeadvise "
            f"understands ({SCHEMA_VERSION}); upgrade storeadvise"
        )
    backends = []
    for b in data["backends"]:
        ver = b.get("verification")
        verification = None
        if ver:
            verification = Verification(
                **{**ver, "columns": [ColumnFidelity(**c) for c in ver.get("columns", [])]}
            )
        measurements = [
            Measurement(**{**m, "stats": Stats(**m["stats"]) if m.get("stats") else None})
            for m in b.get("measurements", [])
        ]
        backends.append(BackendRun(**{**b, "verification": verification, "measurements": measurements}))
    fields = {k: v for k, v in data.items() if k not in ("backends", *DERIVED_KEYS)}
    return Run(**fields, backends=backends)


def _finite(value: Any) -> Any:
    """NaN/inf become null: JSON has no NaN, and DuckDB or jq reject a file that contains one."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def run_to_json(run: Run, indent: int | None = 2) -> str:
    """The run as strict JSON (the run-file format)."""
    return json.dumps(_finite(run.to_dict()), indent=indent, default=str, allow_nan=False)


def save_run(run: Run, path: Path) -> Path:
    """Write the run atomically (a crash mid-write never leaves half a file), with the user's umask.

    It replaces ``path``: whether it may is decided once, up front, by ``outputs.prepare_output``
    (a run file is rewritten after every backend)."""
    from storeadvise.outputs import write_text_atomically

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomically(path, run_to_json(run) + "\n")


def load_run(path: str | Path) -> Run:
    """Load a saved run file; ``DataError`` with one clear sentence when it cannot."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such run file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a JSON run file ({exc})") from None
    try:
        return run_from_dict(data)
    except (TypeError, AttributeError, KeyError) as exc:
        raise DataError(f"{path}: run file does not match schema_version {SCHEMA_VERSION} ({exc})") from None
