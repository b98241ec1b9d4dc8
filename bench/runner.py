"""The runner: the only place in storeadvise that holds a clock (with ``bench.load``, which it calls for
many clients at once: each client process times its own requests).

For each backend it writes the dataset, verifies the round trip (outside the timer), then runs each
selected operation: warm-up runs that are not counted, then counted runs until ``repeat`` runs or the
operation's time budget is spent. Latency operations (lookup, take, write_one, stream_latency) are timed
per call over many calls. Every measurement records rows/s, MB/s of the Arrow in-memory size and the
peak resident-memory growth of the operation. The run is saved after every backend, so a crash or a
Ctrl-C keeps what was measured (hyperfine does the same).

A backend that cannot run (missing package, unreachable server) becomes a "skipped: why" entry and
the others go on; an operation that raises becomes "failed: why" for that cell only.

How many runs a figure rests on is ``bench.timing``'s; what a display is told, ``bench.events``'.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import statistics
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storeadvise import scratch as scratch_folders
from storeadvise.backends import backend_class
from storeadvise.backends.base import Backend, BackendSettings
from storeadvise.backends.masking import mask_secrets, remember_secrets
from storeadvise.backends.operations import OPERATIONS, Operation, Tally, WorkloadPlan
from storeadvise.bench import cache
from storeadvise.bench.events import EventCallback, Progress, RunPosition, summary
from storeadvise.bench.probes import PeakMemory, environment, peak_rss_bytes, rss_bytes, total_memory_bytes
from storeadvise.bench.results import (
    FAILED,
    OK,
    SKIPPED,
    UNSUPPORTED,
    BackendRun,
    Measurement,
    Run,
    Stats,
    Verification,
    save_run,
)
from storeadvise.bench.timing import (
    LATENCY_WARMUP_CALLS,
    MIN_LATENCY_CALLS,
    Runs,
    budget_spent,
    first_run_warning,
    throughput,
)
from storeadvise.bench.verify import verify_round_trip
from storeadvise.bench.workloads import plan_workload
from storeadvise.errors import BackendUnavailable, DataError, StoreAdviseError, UnsupportedOperation
from storeadvise.formatting import fmt_bytes
from storeadvise.signals import check_stop

if TYPE_CHECKING:
    import pyarrow as pa

    from storeadvise.backends.services import ServiceStatus
    from storeadvise.bench.datasets import Dataset
    from storeadvise.bench.feeding import LoaderSettings
    from storeadvise.bench.load import LoadConfig

MEMORY_SHARE = 0.5
"""Default ``memory_limit``: this share of the machine's memory."""

STOPS = (KeyboardInterrupt, SystemExit, GeneratorExit)
"""What ends a run when raised inside a backend: Ctrl-C, SIGTERM and the stop request (both raise
``KeyboardInterrupt``), an exit, a generator being closed. Anything else a backend raises, including a
``BaseException`` from native code (pyo3's ``PanicException`` when polars panics), fails that backend
or operation only."""

@dataclass
class Variant:
    """A backend run with its own options, shown under its own label: ``parquet[zstd-3]``.

    Plain runs use the backend name as the label and no extra options; the codec sweep is a list
    of variants of the same backends.
    """

    backend: str
    label: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.label = self.label or self.backend


@dataclass
class BenchConfig:
    """How to run: which backends and operations, how often, with which backend options."""

    backends: list[str | Variant]
    ops: list[str]
    purpose: str | None = None  # the purpose that chose the ops (the table's score covers its ops)
    repeat: int = 5
    warmup: int = 1
    lookups: int = 200
    max_time: float = 5.0  # seconds per operation, after which counting stops (at least one counted run)
    memory_limit: int | None = None  # bytes; `read` (everything in memory) is skipped above it
    options: dict[str, Any] = field(default_factory=dict)
    scratch_root: Path | None = None
    seed: int = 0
    unavailable: dict[str, str] = field(default_factory=dict)
    """Default backends left out because they cannot run here (name -> why); not asked for, so not a
    problem of the run, but shown with it."""
    cache: str = cache.DEFAULT
    """The cache states read-like operations are measured in: ``warm``, ``cold`` or ``both`` (``bench.cache``)."""
    fsync: bool = False
    """Every write durable before it returns (``BackendSettings.fsync``)."""
    loader: LoaderSettings | None = None
    """How training reads (``shuffle``, ``decode``, ``feed``): batch size, workers, accelerators, step time."""
    load: LoadConfig | None = None
    """Many clients at once after each backend's write (``--clients``, ``bench.load``), or None."""

    def effective_memory_limit(self) -> int:
        if self.memory_limit is not None:
            return self.memory_limit
        return int((total_memory_bytes() or 8 * 2**30) * MEMORY_SHARE)


def new_run_id() -> str:
    """Sortable and unique: UTC time plus a short random suffix."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def _backend_classes(variants: list[Variant]) -> tuple[dict[str, type[Backend] | None], dict[str, str]]:
    """Each variant's backend class (None where its client library is missing), and why not."""
    classes: dict[str, type[Backend] | None] = {}
    import_errors: dict[str, str] = {}
    for variant in variants:
        try:
            classes[variant.backend] = backend_class(variant.backend)
        except ImportError as exc:
            classes[variant.backend] = None
            import_errors[variant.backend] = f"cannot import its client library ({exc.name or exc})"
    return classes, import_errors


def _status(statuses: Mapping[str, ServiceStatus], cls: type[Backend] | None,
            options: Mapping[str, Any]) -> ServiceStatus | None:
    """The status of the server this backend needs with these options (its own, or its location's)."""
    service = cls.needs_service(options) if cls is not None else None
    return statuses.get(service.name) if service is not None else None


def _clean_up(backend: Backend, entry: BackendRun) -> None:
    """Remove what the backend created; a failure to do so is added to the entry's reason."""
    try:
        backend.cleanup()
    except STOPS:
        raise
    except BaseException as exc:
        entry.reason = (entry.reason + "; " if entry.reason else "") + f"cleanup failed: {_failure(exc)}"


def _plan_record(plan: WorkloadPlan) -> dict[str, Any]:
    """What the run file says about the workload's inputs."""
    return {
        "key_column": plan.key_column,
        "lookup_keys": len(plan.lookup_keys),
        "take_batches": len(plan.take_positions),
        "projection": plan.projection,
        "predicate": str(plan.predicate) if plan.predicate else None,
        "predicate_share": plan.predicate_share,
        "append_rows": plan.append_rows,
        "notes": plan.notes,
    }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _failure(exc: BaseException) -> str:
    """Why a backend or an operation failed, in one line; first, if a stop was requested (a library
    may have turned Ctrl-C or SIGTERM into an error of its own), the run stops instead."""
    check_stop()
    return str(exc) if isinstance(exc, StoreAdviseError) else _first_line(exc)


class _Source:
    """The dataset as the user would hold it before writing: in memory when it fits, else streamed."""

    def __init__(self, dataset: Dataset, memory_limit: int) -> None:
        self.dataset = dataset
        self.schema = dataset.schema
        # Writes are measured from memory (no generation or parsing in the timer) when a copy fits
        # with room to spare for the reads; otherwise the stream is written as it is produced.
        self.table: pa.Table | None = None
        if dataset.profile.arrow_bytes * 4 <= memory_limit:
            self.table = dataset.to_table()

    @property
    def streamed(self) -> bool:
        return self.table is None

    @property
    def rows(self) -> int:
        return self.dataset.profile.rows

    @property
    def nbytes(self) -> int:
        return self.dataset.profile.arrow_bytes

    def batches(self) -> Iterable[pa.RecordBatch]:
        if self.table is not None:
            return self.table.to_batches(max_chunksize=65_536)
        return self.dataset.batches()


class Runner:
    """Runs one configuration over one dataset and produces a ``Run``."""

    def __init__(
        self,
        dataset: Dataset,
        config: BenchConfig,
        *,
        out: Path | None = None,
        on_event: EventCallback | None = None,
        run_id: str | None = None,
    ) -> None:
        self.dataset = dataset
        self.config = config
        remember_secrets(config.options)  # whatever a library later repeats of them is masked
        self.out = out
        self._display = on_event
        self.run_id = run_id or new_run_id()
        self.memory_limit = config.effective_memory_limit()
        self._label = ""  # the label of the backend variant being measured
        self._last_read: pa.Table | None = None  # the latest timed read's result, verified once
        self._restart: Callable[[str], None] | None = None  # restarts an embedded server, by service name
        self._started = time.perf_counter()
        self._backend_index = 0
        self._ops_done = 0
        self._server_pid: int | None = None  # the embedded server of the backend being measured
        self._load_steps: list[dict[str, Any]] = []  # the steps of --clients of the backend just measured

    def _emit(self, backend: str, op: str, message: str, measurement: Measurement | None = None,
              finished: bool = False, may_hold_secrets: bool = True) -> None:
        """Tell the display (if any) what is happening and where the run stands. ``may_hold_secrets``
        False: the message is the runner's own words and numbers (a run's start), so the masking pass,
        which costs ~30 µs and would sit between every two counted runs, is skipped."""
        if self._display is None:
            return
        c = self.config
        total = len(c.backends) * len(c.ops)
        position = RunPosition(
            backend_index=max(self._backend_index, 1), backend_count=len(c.backends), ops_done=self._ops_done,
            ops_total=total, elapsed=time.perf_counter() - self._started,
            budget_left=max(total - self._ops_done, 0) * c.max_time,
        )
        text = mask_secrets(message) if may_hold_secrets else message
        self._display(backend, op, Progress(text, position, measurement, finished))

    def _finished(self, m: Measurement) -> None:
        self._ops_done += 1
        self._emit(m.backend, m.op, summary(m), measurement=m, finished=True)

    # -- the whole run ---------------------------------------------------------------------------
    def run(self) -> Run:
        from storeadvise.backends.services import Services

        self._started = time.perf_counter()
        profile = self.dataset.profile
        change = self.dataset.input_change()
        if change:
            raise DataError(f"{profile.source}: {change} since it was profiled; run again once it is complete")
        variants = [v if isinstance(v, Variant) else Variant(v) for v in self.config.backends]
        classes, import_errors = _backend_classes(variants)

        run = Run(
            run_id=self.run_id,
            started_at=_now(),
            environment=environment(),
            dataset=profile.to_dict(),
            settings=self._settings_record(),
        )
        # Scratch that a killed earlier run left behind goes first; this run's own is marked as its.
        scratch_folders.sweep(self.config.scratch_root)
        scratch = scratch_folders.create(self.run_id, root=self.config.scratch_root)
        try:
            source = _Source(self.dataset, self.memory_limit)
            run.settings["source"] = (
                "streamed from the generator/file (its cost is inside write times)"
                if source.streamed
                else "held in memory as Arrow before writing"
            )
            plan = plan_workload(
                self.dataset, self.config.ops, lookups=self.config.lookups, seed=self.config.seed, data=source,
                loader=self.config.loader,
            )
            run.settings["plan"] = _plan_record(plan)
            options = self.config.options
            needed = {s for v in variants if (cls := classes[v.backend]) is not None
                      and (s := cls.needs_service({**options, **v.options}))}
            self._emit("", "", "starting servers" if needed else "")
            services = Services(needed, options=self.config.options, scratch_dir=scratch / "servers")
            with services as statuses:
                self._restart = services.restart
                run.settings["servers"] = {name: status.to_dict() for name, status in statuses.items()}
                for index, variant in enumerate(variants, 1):
                    self._backend_index = index
                    cls = classes[variant.backend]
                    settings = BackendSettings(
                        run_id=self.run_id.replace("-", "_"),
                        scratch_dir=scratch,
                        key_column=plan.key_column,
                        options={**self.config.options, **variant.options},
                        service=_status(statuses, cls, {**options, **variant.options}),
                        fsync=self.config.fsync,
                    )
                    if cls is None:
                        entry = BackendRun(
                            backend=variant.label, status=SKIPPED, reason=import_errors[variant.backend]
                        )
                    else:
                        entry = self._run_variant(run, variant, cls, settings, source, plan)
                    run.backends.append(entry)
                    run.load += self._load_steps
                    self._load_steps = []
                    self._save(run)
                    self._backend_done(entry)
        except KeyboardInterrupt:
            # Wherever it lands (planning, server start-up, a backend), the saved run says it is partial.
            run.settings["interrupted"] = True
            raise
        finally:
            _note_input_change(run, self.dataset.input_change())
            run.finished_at = _now()
            run.settings["process_peak_rss_bytes"] = peak_rss_bytes()
            shutil.rmtree(scratch, ignore_errors=True)
            self._save(run)
        return run

    def _backend_done(self, entry: BackendRun) -> None:
        """The operations a backend did not reach count as done; a backend that ended without measuring
        anything says why."""
        self._ops_done = self._backend_index * len(self.config.ops)
        if entry.status != OK and not entry.measurements:
            self._emit(entry.backend, "", f"{entry.status}: {entry.reason}" if entry.reason else entry.status,
                       finished=True)

    def _run_variant(self, run: Run, variant: Variant, cls: type[Backend], settings: BackendSettings,
                     source: _Source, plan: WorkloadPlan) -> BackendRun:
        """One backend variant's entry; an interrupt marks the run and the variant before it goes on up."""
        self._label = variant.label
        try:
            entry = self._run_backend(cls, settings, source, plan)
        except KeyboardInterrupt:
            run.backends.append(BackendRun(backend=variant.label, status=FAILED, reason="interrupted"))
            run.settings["interrupted"] = True
            raise
        except STOPS:
            raise
        except BaseException as exc:  # from outside the backend's own boundary: its set-up
            entry = BackendRun(backend=variant.label, status=FAILED, reason=_failure(exc))
        if variant.options:
            entry.description["options"] = dict(variant.options)
        return entry

    def _settings_record(self) -> dict[str, Any]:
        from storeadvise.backends.masking import mask_options

        c = self.config
        return {
            "backends": [v.label if isinstance(v, Variant) else v for v in c.backends],
            "ops": c.ops,
            "purpose": c.purpose,
            "repeat": c.repeat,
            "warmup": c.warmup,
            "lookups": c.lookups,
            "max_time": c.max_time,
            "memory_limit": self.memory_limit,
            "cache": c.cache,
            "cache_note": cache.WHY_DEFAULT if c.cache == cache.DEFAULT else None,
            "fsync": c.fsync,
            "options": mask_options(c.options),
            "unavailable": dict(c.unavailable),
            **({"load": c.load.to_dict()} if c.load is not None else {}),
        }

    def _save(self, run: Run) -> None:
        mask_secrets(run)  # client libraries' error texts may repeat an address or a secret
        if self.out is not None:
            save_run(run, self.out)

    # -- one backend -----------------------------------------------------------------------------
    def _run_backend(
        self, cls: type[Backend], settings: BackendSettings, source: _Source, plan: WorkloadPlan
    ) -> BackendRun:
        name = self._label
        entry = BackendRun(backend=name)
        ok, why = cls.available(settings)  # a server backend's status says why its server cannot be had
        if not ok:
            entry.status, entry.reason = SKIPPED, why
            return entry
        backend = cls(settings)
        entry.description = backend.describe()
        self._server_pid = settings.service.pid if settings.service else None
        try:
            self._emit(name, "", "connecting")
            backend.open()
            entry.server = backend.server_info()
            self._measure_write(backend, plan, entry)
            if entry.status != OK:
                return entry
            self._measure_ops(backend, source, plan, entry)
            if self.config.load is not None:
                self._measure_load(backend, plan)
        except BackendUnavailable as exc:
            entry.status, entry.reason = SKIPPED, str(exc)
        except StoreAdviseError as exc:
            entry.status, entry.reason = FAILED, str(exc)
        except STOPS:
            raise
        except BaseException as exc:  # a backend failing is a result to report, not a crash of the run
            entry.status, entry.reason = FAILED, _failure(exc)
        finally:
            _clean_up(backend, entry)
        return entry

    def _measure_ops(self, backend: Backend, source: _Source, plan: WorkloadPlan, entry: BackendRun) -> None:
        """Every selected operation after the write, and the round trip verified once."""
        for name in self.config.ops:
            check_stop()
            op = OPERATIONS[name]
            if op.name == "write":
                continue
            if entry.verification is None and not op.whole_dataset:
                entry.verification = self._verified(backend, source, plan)
            for state in cache.cache_states(self.config.cache) if op.cache_sensitive else (None,):
                self._last_read = None
                m = self._measure(backend, op, plan, state)
                entry.measurements.append(m)
                self._finished(m)
                if entry.verification is None and self._last_read is not None:
                    # What the timed read returned is what a user gets: verify that, without reading again.
                    entry.verification = self._verified(backend, source, plan, self._last_read)
                self._last_read = None
                if m.status in (UNSUPPORTED, SKIPPED):  # the same in every cache state: said once, unlabelled
                    m.cache = None
                    break
        if entry.verification is None:
            entry.verification = self._verified(backend, source, plan)
        check_stop()

    def _verified(self, backend: Backend, source: _Source, plan: WorkloadPlan,
                  returned_table: pa.Table | None = None) -> Verification | None:
        """The round trip verified (before any mutation), and for a folder of items every item too."""
        verification = self._verify(backend, source, plan.scan_batch_rows, returned_table)
        if verification is not None and self.dataset.profile.items:
            self._verify_items(backend, source, plan, verification)
        return verification

    def _verify_items(self, backend: Backend, source: _Source, plan: WorkloadPlan, verification: Verification) -> None:
        """Every media item read back byte-identical, each exactly once: by a shuffled epoch where the
        backend takes positions, else by a scan (outside the timer)."""
        from storeadvise.bench.feeding import Epoch, LoaderSettings
        from storeadvise.bench.verify import item_differences, item_digests

        self._emit(self._label, "verify", "verifying every item")
        expected = item_digests(source.batches())
        how, got = "a scan", None
        if "take" in backend.supports:
            epoch = plan.epoch or Epoch.of(self.dataset.profile.rows, self.config.loader or LoaderSettings(),
                                           self.config.seed)
            try:
                how, got = "a shuffled epoch", item_digests(epoch.read(backend))
            except STOPS:
                raise
            except BaseException as exc:  # the shuffle's own cell says it failed; the items are still checked
                how = f"a scan (a shuffled epoch failed: {_failure(exc)})"
        if got is None:
            got = item_digests(backend.scan(batch_rows=plan.scan_batch_rows))
        problem = item_differences(expected, got)
        if problem:
            verification.flagged = True
            verification.message = "; ".join(filter(None, (verification.message, problem)))
        verification.items = problem or f"{sum(expected.values()):,} items byte-identical, each read once by {how}"

    def _measure_load(self, backend: Backend, plan: WorkloadPlan) -> None:
        """The steps of ``--clients`` against what the backend stored (``bench.load`` holds their clocks)."""
        from storeadvise.bench.load import run_load

        label = self._label
        steps = run_load(backend, plan, self.config.load, on_event=lambda text: self._emit(label, "load", text),
                         on_started=lambda n: self._emit(label, "load", f"{n} clients running"))
        for step in steps:
            step["backend"] = label
        self._load_steps.extend(steps)

    def _measure_write(self, backend: Backend, plan: WorkloadPlan, entry: BackendRun) -> None:
        """Write the dataset (counted when `write` is selected; always done, since reads need it)."""
        op = OPERATIONS["write"]
        timed = op.name in self.config.ops
        self._emit(self._label, op.name, "writing")
        try:
            if timed:
                m, _ = self._repeat_calls(backend, op, plan)
            else:
                data = next(op.inputs(plan))
                if op.reset:
                    op.reset(backend)
                op.call(backend, data)
                m = None
        except STOPS:
            raise
        except UnsupportedOperation as exc:  # the store cannot hold this table (``Backend.refuses``)
            self._not_written(entry, UNSUPPORTED, str(exc), str(exc), timed)
            return
        except BaseException as exc:
            reason = _failure(exc)
            self._not_written(entry, SKIPPED if isinstance(exc, BackendUnavailable) else FAILED,
                              f"write failed: {reason}", reason, timed)
            return
        if m is not None:
            profile = self.dataset.profile
            self._count_requests(backend, op, plan, m)
            m.bytes_at_rest = backend.size_bytes()
            m.extra["size_source"] = backend.size_source()
            _label_state(m, op, backend)
            m.size_ratio = m.bytes_at_rest / profile.arrow_bytes if profile.arrow_bytes else None
            if profile.items and profile.file_bytes:  # a folder of items: what the layout adds to the files
                m.extra["over_files"] = round(m.bytes_at_rest / profile.file_bytes, 4)
            throughput(m)
            entry.measurements.append(m)
            self._finished(m)

    def _not_written(self, entry: BackendRun, status: str, entry_reason: str, reason: str, timed: bool) -> None:
        """The backend ends here: its write was refused, skipped or failed (the write's cell says why)."""
        entry.status, entry.reason = status, entry_reason
        if timed:
            write_status = UNSUPPORTED if status == UNSUPPORTED else FAILED
            entry.measurements.append(Measurement(backend=self._label, op="write", status=write_status, reason=reason))
            self._finished(entry.measurements[-1])

    def _verify(self, backend: Backend, source: _Source, batch_rows: int, returned_table: pa.Table | None = None):
        self._emit(self._label, "verify", "verifying the round trip")
        if returned_table is not None:
            returned = returned_table.to_batches()
        elif "scan" in backend.supports:
            returned = backend.scan(batch_rows=batch_rows)
        elif "read" in backend.supports:
            returned = backend.read().to_batches()
        else:
            return None
        return verify_round_trip(source.schema, source.batches(), returned, backend)

    # -- one operation ---------------------------------------------------------------------------
    def _measure(self, backend: Backend, op: Operation, plan: WorkloadPlan, state: str | None = None) -> Measurement:
        """One operation; ``state`` is the cache state a read-like one is measured in (None for the others)."""
        m = Measurement(backend=self._label, op=op.name, latency=op.latency, cache=state)
        if not op.supported_by(backend):
            m.status, m.reason = UNSUPPORTED, backend.why_unsupported(op.name)
            return m
        skip = self._skip_reason(op, plan)
        if skip:
            m.status, m.reason = SKIPPED, skip
            return m
        self._emit(self._label, op.name, op.description if state != cache.COLD else f"{op.description} (cold)")
        cold = cache.ColdReads(backend, self._restart, per_call=op.latency) if state == cache.COLD else None
        try:
            if op.latency:
                m = self._latency(backend, op, plan, m, before_call=cold)
            else:
                m = self._throughput_op(backend, op, plan, m, before_run=cold)
            self._count_requests(backend, op, plan, m, cold)
            return m
        except UnsupportedOperation as exc:
            m.status, m.reason = UNSUPPORTED, str(exc)
        except STOPS:
            raise
        except BaseException as exc:
            m.status, m.reason = FAILED, _failure(exc)
        finally:
            _label_state(m, op, backend, cold)
        return m

    def _count_requests(self, backend: Backend, op: Operation, plan: WorkloadPlan, m: Measurement,
                        before: Callable[[], None] | None = None) -> None:
        """The object-storage requests and bytes of one more run (one call of a latency op), made after the
        timed ones and never timed: counting slows the server (``Backend.request_log``)."""
        log = backend.request_log() if m.status == OK else None
        if isinstance(log, str):
            m.extra["traffic_source"] = log
        if log is None or isinstance(log, str):
            return
        given = next(op.inputs(plan))
        if op.reset and not op.latency:
            op.reset(backend)
        if before:
            before()
        with log:
            op.call_counted(backend, given)
        record = log.record()
        m.requests, m.bytes_sent, m.bytes_received = record["requests"], record["bytes_sent"], record["bytes_received"]
        m.extra.update(requests_by_method=record["by_method"], traffic_source=record["source"])

    def _skip_reason(self, op: Operation, plan: WorkloadPlan) -> str | None:
        if op.whole_dataset and self.dataset.profile.arrow_bytes > self.memory_limit:
            return (
                f"the data ({fmt_bytes(self.dataset.profile.arrow_bytes)} as Arrow) exceeds the memory limit "
                f"({fmt_bytes(self.memory_limit)}); `scan` reads it in batches instead"
            )
        return op.skip(plan)

    def _throughput_op(self, backend: Backend, op: Operation, plan: WorkloadPlan, m: Measurement,
                       before_run: Callable[[], None] | None = None) -> Measurement:
        measured, tallies = self._repeat_calls(backend, op, plan, before_run)
        m.stats, m.peak_memory_bytes, m.extra = measured.stats, measured.peak_memory_bytes, measured.extra
        if op.figures is not None and m.stats is not None:
            m.extra.update(op.figures(plan, m.stats.median, self._timed(backend, op)))
        m.warnings = measured.warnings
        m.rows, m.arrow_bytes = measured.rows, measured.arrow_bytes
        if op.checks_row_count:
            added = sum(t.rows for t in tallies)
            m.extra["rows_appended_total"] = added
            expected = self.dataset.profile.rows + added
            stored = _count_rows(backend, plan.key_column)
            if stored is not None:
                m.extra["rows_after_append"] = stored
                if stored != expected:
                    m.status = FAILED
                    m.reason = f"after appending, {stored} rows are stored; expected {expected}"
        throughput(m)
        return m

    def _timed(self, backend: Backend, op: Operation) -> Callable[[Any], float]:
        """One call of ``op`` on a given input, its result counted, in seconds: for an operation's
        ``figures`` that need more runs than its measurement (the search over accelerators)."""
        def timed(given: Any) -> float:
            check_stop()
            t0 = time.perf_counter()
            op.call_counted(backend, given)
            return time.perf_counter() - t0
        return timed

    def _repeat_calls(self, backend: Backend, op: Operation, plan: WorkloadPlan,
                      before_run: Callable[[], None] | None = None) -> tuple[Measurement, list[Tally]]:
        """``op`` timed as whole runs by ``_repeat``: each run is one call and the counting of its result;
        its input is made, the previous result let go and ``before_run`` (a cold read's eviction) done
        before the clock starts. The measurement counts the last run's rows and bytes; the tallies of
        every run (warm-ups too) come with it."""
        inputs = op.inputs(plan)
        given: list[Any] = [None]
        tallies: list[Tally] = []

        def setup() -> None:
            self._last_read = None  # let the previous result go before the next call
            if op.reset:
                op.reset(backend)
            given[0] = next(inputs)
            if before_run:
                before_run()

        def call() -> None:
            result, tally = op.call_counted(backend, given[0])
            tallies.append(tally)
            if op.whole_dataset:
                self._last_read = result

        m = self._repeat(self._label, op.name, call, setup=setup)
        m.rows, m.arrow_bytes = tallies[-1].rows, tallies[-1].nbytes
        if m.peak_memory_bytes is not None:  # a consumed result was in memory, whatever resident memory says
            m.peak_memory_bytes = max(m.peak_memory_bytes, max(t.held for t in tallies))
        return m, tallies

    def _repeat(
        self, backend: str, op: str, call: Callable[[], None], setup: Callable[[], None] | None = None
    ) -> Measurement:
        """Warm-up runs, then counted runs until `repeat` runs or the time budget is spent (see
        ``budget_spent``: at least ``MIN_COUNTED_RUNS`` when a run takes under a tenth of it). ``setup``
        runs before every run, outside the timer (a write starts empty).

        A warm-up that alone takes longer than the budget is counted instead of thrown away: for an
        operation that slow, what a warm-up removes (first-call costs, cold caches) is small next to
        the run, and repeating it would multiply the wall time (a 200k-document MongoDB write takes
        tens of seconds). The measurement says so in its note.
        """
        c = self.config
        started = time.perf_counter()
        runs = Runs()
        first_counted = False
        while len(runs.durations) < c.repeat:
            check_stop()
            warming = len(runs.warmups) < c.warmup and not first_counted
            self._emit(backend, op, "warm-up" if warming else f"run {len(runs.durations) + 1}/{c.repeat}",
                       may_hold_secrets=False)
            if setup:
                setup()
            # Arrow's pool is released before the operation's first run only: released before every
            # run, a read would pay for fresh pages each time (docs/decisions.md, 'Peak memory:
            # released once per operation, before its first run').
            first = not runs.warmups and not runs.durations
            with PeakMemory(release=first) as mem, self._server_memory() as server:
                t0 = time.perf_counter()
                call()
                elapsed = time.perf_counter() - t0
            if warming and elapsed <= c.max_time:
                runs.warm_up(elapsed, mem, server)
                continue
            first_counted = first_counted or warming
            runs.count(elapsed, mem, server)
            if budget_spent(runs.durations, time.perf_counter() - started, c.max_time):
                break
        m = Measurement(backend=backend, op=op, stats=Stats.of(runs.durations))
        self._record_runs(m, runs)
        m.extra["wall_seconds"] = round(time.perf_counter() - started, 3)
        if first_counted:
            m.extra["note"] = f"one run, counted without a warm-up: it took longer than the {c.max_time:g} s budget"
        elif len(runs.durations) < c.repeat:
            m.extra["note"] = f"{len(runs.durations)} of {c.repeat} runs: the {c.max_time:g} s budget was spent"
        return m

    def _server_memory(self) -> contextlib.AbstractContextManager[PeakMemory | None]:
        """The embedded server's own peak memory during a run, when storeadvise started that server."""
        return PeakMemory(self._server_pid) if self._server_pid else contextlib.nullcontext()

    def _record_runs(self, m: Measurement, runs: Runs) -> None:
        """Peaks, warm-ups and the first-run warning of ``runs`` into ``m``."""
        m.peak_memory_bytes = runs.peak
        m.extra.update(warmup_runs=len(runs.warmups), warmup_seconds=[round(t, 6) for t in runs.warmups])
        if self._server_pid:
            m.extra["server_peak_memory_bytes"] = runs.server_peak
            m.extra["server_rss_bytes"] = rss_bytes(str(self._server_pid))
        # A latency figure rests on many calls and shows its tail (p95/p99): one slow first call is
        # part of that tail, not a reason to doubt the median.
        warning = None if m.latency else first_run_warning(runs.warmups, runs.durations)
        if warning:
            m.warnings.append(warning)

    def _latency(self, backend: Backend, op: Operation, plan: WorkloadPlan, m: Measurement,
                 before_call: Callable[[], None] | None = None) -> Measurement:
        """Many single calls, each timed on its own. A call's clock runs until its result is consumed
        (``consume``: in this process's memory), as a throughput run's does: a lookup's latency is
        that of having the row, not of being promised it. ``before_call`` (a cold read's eviction) runs
        before every call, warm-ups included, outside the clock."""
        prepare = before_call or (lambda: None)
        c = self.config
        calls = max(MIN_LATENCY_CALLS, c.lookups) + LATENCY_WARMUP_CALLS
        inputs = list(itertools.islice(op.inputs(plan), calls))
        runs = Runs()
        for item in inputs[:LATENCY_WARMUP_CALLS]:
            prepare()
            t0 = time.perf_counter()
            op.call_counted(backend, item)
            runs.warmups.append(time.perf_counter() - t0)
        moved: list[int] = []
        results: list[tuple[Any, Any]] = []
        started = time.perf_counter()
        with PeakMemory() as mem, self._server_memory() as server:
            for item in inputs[LATENCY_WARMUP_CALLS:] if len(inputs) > LATENCY_WARMUP_CALLS + 1 else inputs:
                prepare()
                t0 = time.perf_counter()
                result, tally = op.call_counted(backend, item)
                runs.durations.append(time.perf_counter() - t0)
                moved.append(tally.rows)
                check_stop()
                if op.answers:
                    results.append((item, result))
                if time.perf_counter() - started > c.max_time and len(runs.durations) >= MIN_LATENCY_CALLS:
                    break
        runs.add_peaks(mem, server)
        m.stats = Stats.of(runs.durations)
        # rows/s of a latency operation: rows per call (a batch for take, one row otherwise) over its median
        m.rows = max(1, round(statistics.median(moved))) if moved else 1
        m.extra = {"calls": len(runs.durations)}
        self._record_runs(m, runs)
        if len(runs.durations) < len(inputs) - LATENCY_WARMUP_CALLS:
            m.extra["note"] = f"{len(runs.durations)} calls: the {c.max_time:g} s budget was spent"
        if op.answers:
            misses = [item for item, result in results if not op.answers(plan, item, result)]
            m.extra["misses"] = len(misses)
            if misses:
                m.status = FAILED
                m.reason = (
                    f"{len(misses)} of {len(results)} {op.name}s did not return their row (e.g. key {misses[0]!r})"
                )
        throughput(m)
        return m


def _note_input_change(run: Run, change: str | None) -> None:
    """Mark the run when its input file changed while it ran: its writes, reads and verification may
    have seen different versions of the data."""
    if change:
        run.dataset["changed_during_run"] = True
        run.dataset.setdefault("notes", []).append(
            f"the input file {change} during the run: its numbers may mix two versions of the data")


def _label_state(m: Measurement, op: Operation, backend: Backend, cold: cache.ColdReads | None = None) -> None:
    """Label a cold measurement with the warmest state its runs started in, and any write-like one with
    its backend's durability (``Measurement.cache``, ``Measurement.durable``)."""
    if cold is not None and cold.states:
        state = cold.state
        m.cache = state.label
        if state.reason:
            m.extra["cache_reason"] = state.reason
    if op.mutates and m.status == OK:
        m.durable = backend.durability().durable


def _count_rows(backend: Backend, key_column: str | None) -> int | None:
    if "scan" in backend.supports:
        # Only the key column where the backend can project: counting should not cost a full read.
        columns = [key_column] if key_column and "project" in backend.supports else None
        return sum(b.num_rows for b in backend.scan(columns=columns))
    if "read" in backend.supports:
        return backend.read().num_rows
    return None
