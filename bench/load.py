"""Many clients at once: N client processes against one store, a mixed workload, paced or flat out.

The runner's clock for many clients (``bench.runner`` holds the clock for one): after the runner has
written the dataset, each step of ``--clients 1,2,4`` starts that many client processes (spawned, not
forked: Lance and the servers' client libraries are not fork-safe), each opening its own backend, and
so its own connection, from the run's ``BackendSettings``. Readers share the written rows; each writer
stores new rows in a key range of its own. The requests come from a ``bench.mixes.Mix``.

Pacing: with ``target_rate`` (requests per second, all clients together) each client has a schedule,
one request every ``clients / target_rate`` seconds, and a request's latency runs from the moment it
was *due* (its intended start), as well as from the moment it was sent: a store that stalls makes
the schedule fall behind, and the queueing delay shows in the first figure only (the "coordinated
omission" HdrHistogram's ``recordValueWithExpectedInterval`` and the OpenMessaging Benchmark correct
for). Without a target rate the clients run flat out and throughput is the result; both figures are
then the same. Latencies are recorded in HdrHistogram (``hdrhistogram``, its Python port) per client
and merged.

Nothing lost: every new row a backend acknowledged (the call returned) is looked for at the end in the
stored keys, and every row a client updated in place is read back by key and must hold the values of the
last update the client saw acknowledged for it (an update that failed leaves its row unchecked until the
client's next acknowledged update of it); a missing row or a stale one fails the step, and with it the
run's exit code.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from storeadvise.bench.load_table import mark_knee
from storeadvise.bench.mixes import (
    SCAN_ROWS,
    UPDATES,
    UPDATES_AS_INSERTS,
    WRITES,
    KeyChooser,
    Mix,
    draw_kinds,
    updates_in_place,
)
from storeadvise.bench.results import FAILED, OK, SKIPPED, UNSUPPORTED
from storeadvise.bench.verify import holds_row
from storeadvise.bench.workloads import row_for_key
from storeadvise.errors import UsageError
from storeadvise.signals import check_stop

if TYPE_CHECKING:
    import pyarrow as pa
    from hdrh.histogram import HdrHistogram

    from storeadvise.backends.base import Backend
    from storeadvise.backends.operations import WorkloadPlan

LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS = 1, 3_600_000_000, 3
"""The histograms' range: 1 µs to an hour, three significant digits (HdrHistogram's usual setting)."""
PERCENTILES = {"p50": 50.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}
MAX_CLIENTS = 256
WRITES_PER_CLIENT = 100_000
"""The size of each client's key range in a step; a client that used it up stops writing (counted as
errors). Ranges stay within 32-bit keys for a few steps of up to ``MAX_CLIENTS`` clients."""
FIRST_LOAD_ROUND = 1_000_000
"""New keys of the load start this far from the dataset's (``WorkloadPlan.new_rows`` rounds): clear
of ``append``'s and ``write_one``'s, which may run on the same store before."""
READY_TIMEOUT_S = 300.0
"""How long clients may take to start and connect before the step fails (spawned interpreters import
pyarrow and a client library each; on a busy 2-core machine, seconds each)."""
CONTENTION = ("contention, not a server: the client processes share one embedded database file; the figures "
              "measure its locking, not a server's concurrency")


@dataclass(frozen=True)
class LoadConfig:
    """What ``--clients`` runs on every backend after its write."""

    clients: tuple[int, ...]
    mix: Mix
    duration: float | None = 5.0
    """Seconds each step's clients run (None: ``operations`` decides)."""
    operations: int | None = None
    """Requests per client per step (None: ``duration`` decides; with both, whichever comes first)."""
    target_rate: float | None = None
    """Requests per second of all clients together; None runs flat out."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.duration is None and self.operations is None:
            raise UsageError("a load step needs --duration or --operations")
        if self.duration is not None and not (isinstance(self.duration, (int, float)) and self.duration > 0):
            raise UsageError(f"--duration must be a positive number of seconds, not {self.duration!r}")
        if self.operations is not None and (isinstance(self.operations, bool) or not isinstance(self.operations, int)
                                            or self.operations < 1):
            raise UsageError(f"--operations must be a positive integer, not {self.operations!r}")
        if self.target_rate is not None and (isinstance(self.target_rate, bool)
                                             or not isinstance(self.target_rate, (int, float))
                                             or not self.target_rate > 0):
            raise UsageError(f"--target-rate must be a positive number of requests per second, "
                             f"not {self.target_rate!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"clients": list(self.clients), "mix": self.mix.to_dict(), "duration": self.duration,
                "operations": self.operations, "target_rate": self.target_rate}


def parse_clients(value: str | int | Sequence[int]) -> tuple[int, ...]:
    """``"1,2,4,8"``, ``4`` or ``[1, 2]`` as client counts; a ``UsageError`` for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        items: list[Any] = [value]
    elif isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise UsageError(f"--clients takes client counts such as 4 or 1,2,4,8, not {value!r}")
    counts: list[int] = []
    for item in items:
        try:
            number = int(item) if not isinstance(item, bool) and str(item).strip().isdigit() else None
        except ValueError:
            number = None
        if number is None or not 1 <= number <= MAX_CLIENTS:
            raise UsageError(f"--clients {value}: each count must be a whole number from 1 to {MAX_CLIENTS}, "
                             f"not {item!r}")
        counts.append(number)
    return tuple(dict.fromkeys(counts))


# -- one client, in its own process ------------------------------------------------------------------
@dataclass
class ClientJob:
    """Everything a client process needs, picklable: it rebuilds its backend from these."""

    backend: str
    settings: dict[str, Any]
    """``BackendSettings`` fields other than the service."""
    service: dict[str, Any] | None
    """``ServiceStatus`` fields other than the ``Service`` declaration (looked up again in the client)."""
    attachment: dict[str, Any]
    """What the runner's backend stored, as ``Backend.attach`` takes it."""
    client: int
    clients: int
    step: int
    mix: Mix
    keys: list[Any]
    template: pa.Table
    key_offset: int
    duration: float | None
    operations: int | None
    interval: float | None
    """Seconds between two of this client's scheduled requests (None: flat out)."""
    seed: int


def attached_backend(job: ClientJob) -> Backend:
    """A new instance of the job's backend, with its own connection, serving what the runner's stored."""
    from storeadvise.backends import backend_class
    from storeadvise.backends.base import BackendSettings
    from storeadvise.backends.services import ServiceStatus

    cls = backend_class(job.backend)
    settings = BackendSettings(**job.settings)
    if job.service is not None:
        service = cls.needs_service(settings.options)
        settings.service = ServiceStatus(service=service, **job.service)
    backend = cls(settings)
    backend.open()
    backend.attach(job.attachment)
    return backend


def _new_histogram() -> HdrHistogram:
    from hdrh.histogram import HdrHistogram

    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def _record(histogram: HdrHistogram, seconds: float) -> None:
    histogram.record_value(min(max(round(seconds * 1e6), LOWEST_US), HIGHEST_US))


def is_timeout(exc: BaseException) -> bool:
    """Whether a failed request timed out (a client library's timeout, or SQLite's busy timeout ending
    in "database is locked") rather than failed otherwise."""
    text = f"{type(exc).__name__} {exc}".lower()
    return isinstance(exc, TimeoutError) or "timeout" in text or "timed out" in text or "locked" in text


class _Client:
    """One client's requests against its own backend; only the loop in ``run`` holds the clock."""

    def __init__(self, job: ClientJob) -> None:
        import numpy as np

        from storeadvise.backends.operations import OPERATIONS, WorkloadPlan

        self.job = job
        self.backend = attached_backend(job)
        self.ops = OPERATIONS
        self.plan = WorkloadPlan(job.settings["key_column"], template=job.template, key_offset=job.key_offset)
        self.chooser = KeyChooser(len(job.keys), job.mix.distribution, job.seed, job.client)
        self._rng = np.random.default_rng([job.seed, job.client, 1])
        self.own: list[Any] = []  # keys this client wrote and the store acknowledged, oldest first
        self._writes = 0
        # Updates in place go to a share of the stored keys no other client of the step updates.
        self.in_place = updates_in_place(self.backend.supports) and any(k in UPDATES for k in job.mix.kinds)
        self.mine = own_keys(job.keys, job.client, job.clients) if self.in_place else []
        self.update_chooser = (KeyChooser(len(self.mine), job.mix.distribution, job.seed, job.client)
                               if self.mine else None)
        self.updated: dict[Any, int] = {}  # key -> the template row its last acknowledged update wrote
        self._updates = 0
        self._first_round = FIRST_LOAD_ROUND + (job.step * MAX_CLIENTS + job.client) * WRITES_PER_CLIENT

    def warm(self) -> None:
        """One uncounted call of each operation the mix makes, before the clock starts: a lazily opened
        connection, producer or stream listener opens here. A warm-up write takes the last key of the
        client's range, which its counted writes do not reach."""
        needs = self.job.mix.needs(self.backend.supports)
        if "lookup" in needs:
            self.ops["lookup"].call_counted(self.backend, self.job.keys[0])
        if "update" in needs and self.update_chooser is not None:
            given = self._update_input()
            self.ops["update"].call(self.backend, given[1])
            self._acknowledged("update", given)
        for op in ("write_one", "stream_latency"):
            if op in needs:
                self.ops[op].call(self.backend, self.plan.new_rows(1, self._first_round + WRITES_PER_CLIENT - 1))

    def _kinds(self) -> Iterator[str]:
        while True:
            yield from draw_kinds(self.job.mix, 1024, self._rng)

    def _input(self, kind: str) -> Any:
        """What the request needs, made before its clock starts: a key, a new row, positions."""
        if kind == "scan":
            start = self.chooser.next_rank()
            length = int(self._rng.integers(1, SCAN_ROWS + 1))
            return list(range(start, min(start + length, len(self.job.keys))))
        if kind in UPDATES and self.in_place:
            return self._update_input()
        key = self.chooser.pick(self.job.keys, self.own) if kind in ("read", "rmw") else None
        if kind not in WRITES:
            return key
        if self._writes >= WRITES_PER_CLIENT - 1:
            raise UsageError(f"client {self.job.client} used up its {WRITES_PER_CLIENT - 1} new keys")
        self._writes += 1
        return key, self.plan.new_rows(1, self._first_round + self._writes - 1)

    def _update_input(self) -> tuple[Any, pa.Table, int]:
        """A key of this client's share, the row an update writes over it and that row's template index."""
        if self.update_chooser is None:
            raise UsageError(f"client {self.job.client} has no stored key of its own to update "
                             f"({len(self.job.keys)} keys shared by {self.job.clients} clients)")
        key = self.update_chooser.pick(self.mine, [])
        self._updates += 1
        index = self.job.client + self._updates  # the next template row: each update of a key changes it
        return key, row_for_key(self.job.template, self.job.settings["key_column"], key, index), index

    def _acknowledged(self, kind: str, given: Any) -> None:
        """Remember what the store acknowledged: the new row's key, or the updated key's last values."""
        if kind in UPDATES and self.in_place:
            self.updated[given[0]] = given[2]
        elif kind in WRITES:
            key_column = self.job.settings["key_column"]
            self.own.append(given[1].column(key_column)[0].as_py() if key_column else None)

    def _request(self, kind: str, given: Any) -> bool:
        """One request; False when a read did not find its row."""
        if kind == "scan":
            return self.ops["take"].call_counted(self.backend, given)[1].rows == len(given)
        if kind == "read":
            return self.ops["lookup"].call_counted(self.backend, given)[1].rows > 0
        key, row = given[:2]
        if kind == "deliver":
            self.ops["stream_latency"].call(self.backend, row)
            return True
        found = True
        if kind == "rmw":
            found = self.ops["lookup"].call_counted(self.backend, key)[1].rows > 0
        self.ops["update" if kind in UPDATES and self.in_place else "write_one"].call(self.backend, row)
        return found

    def run(self, go_at: float) -> dict[str, Any]:
        """Requests until the duration or the count is reached, paced when the job has an interval."""
        job = self.job
        intended_h, actual_h = _new_histogram(), _new_histogram()
        counts: Counter[str] = Counter()
        errors = timeouts = misses = 0
        first_error = ""
        kinds = self._kinds()
        t0 = go_at
        for i in itertools.count():
            if job.operations is not None and i >= job.operations:
                break
            due = t0 + i * job.interval if job.interval else None
            now = time.perf_counter()
            if job.duration is not None and max(now, due or now) - t0 >= job.duration:
                break
            kind = next(kinds)
            try:
                given = self._input(kind)
            except UsageError as exc:
                errors, first_error = errors + 1, first_error or str(exc)
                continue
            if due is not None and due > now:
                time.sleep(due - now)  # the schedule: the next request is not due yet
            start = time.perf_counter()
            try:
                found = self._request(kind, given)
            except Exception as exc:  # a failed request is counted, and the client goes on
                if kind in UPDATES and self.in_place:
                    self.updated.pop(given[0], None)  # its row may hold either value now: not checked
                timeouts, errors = timeouts + is_timeout(exc), errors + (not is_timeout(exc))
                first_error = first_error or _first_line(exc)
                continue
            end = time.perf_counter()
            _record(actual_h, end - start)
            _record(intended_h, end - (due if due is not None else start))
            counts[kind] += 1
            misses += not found
            self._acknowledged(kind, given)
        elapsed = time.perf_counter() - t0
        return {"client": job.client, "elapsed": elapsed, "requests": dict(counts), "errors": errors,
                "timeouts": timeouts, "misses": misses, "first_error": first_error,
                "intended": intended_h.encode(), "actual": actual_h.encode(), "written": self.own,
                "updated": list(self.updated.items())}

    def close(self) -> None:
        """Let go of the connection (not ``cleanup``: the store's data belongs to the run)."""
        with contextlib.suppress(Exception):
            self.backend.release_cache()


def client_main(job: ClientJob, results: Any, go: Any, abort: Any) -> None:
    """A client process: open, say ready, wait for the start, run, report (every outcome is reported)."""
    try:
        client = _Client(job)
        client.warm()
    except BaseException as exc:  # reported to the parent, which fails the step with it
        results.put({"client": job.client, "failed": _first_line(exc)})
        return
    results.put({"client": job.client, "ready": True})
    go.wait()
    if abort.is_set():
        client.close()
        return
    try:
        outcome = client.run(go_at=time.perf_counter())
    except BaseException as exc:
        outcome = {"client": job.client, "failed": _first_line(exc)}
    client.close()
    results.put(outcome)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


# -- one step, in the runner's process ----------------------------------------------------------------
@dataclass
class _Step:
    """The processes of one step and what they reported."""

    processes: list[Any]
    results: Any
    reports: dict[int, dict[str, Any]] = field(default_factory=dict)

    def _settled(self, client: int, wanted: Callable[[dict[str, Any]], bool]) -> bool:
        report = self.reports.get(client)
        return report is not None and (wanted(report) or "failed" in report)

    def collect(self, wanted: Callable[[dict[str, Any]], bool], deadline: float | None) -> None:
        """Reports until every client has sent one that ``wanted`` accepts (or failed), a client died
        without one, or the deadline passed."""
        clients = range(len(self.processes))
        dead_before: set[int] = set()
        while not all(self._settled(c, wanted) for c in clients):
            check_stop()
            try:
                report = self.results.get(timeout=1.0)
            except queue.Empty:
                dead = {c for c in clients if not self.processes[c].is_alive() and not self._settled(c, wanted)}
                # Found dead twice, a second apart, with nothing in the queue: no report is coming.
                for client in dead & dead_before:
                    code = self.processes[client].exitcode
                    self.reports[client] = {"client": client, "failed": f"client process exited ({code})"}
                dead_before = dead
                if deadline is not None and time.monotonic() > deadline:
                    for client in clients:
                        if not self._settled(client, wanted):
                            self.reports[client] = {"client": client, "failed": "no answer in time"}
                    return
                continue
            self.reports[report["client"]] = report

    def failures(self) -> list[str]:
        return [f"client {c}: {r['failed']}" for c, r in sorted(self.reports.items()) if "failed" in r]

    def stop(self) -> None:
        """Wait for the clients to exit; end the ones (started here) that do not."""
        for process in self.processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()


def run_step(backend: Backend, plan: WorkloadPlan, keys: list[Any], config: LoadConfig, clients: int, step: int,
             on_started: Callable[[], None] | None = None) -> dict[str, Any]:
    """One step: ``clients`` processes run ``config.mix`` against ``backend``'s stored data."""
    import multiprocessing

    entry = _entry(backend, config, clients)
    ctx = multiprocessing.get_context("spawn")
    results, go, abort = ctx.Queue(), ctx.Event(), ctx.Event()
    interval = clients / config.target_rate if config.target_rate else None
    settings = backend.settings
    service = settings.service
    base = {"run_id": settings.run_id, "scratch_dir": settings.scratch_dir, "key_column": settings.key_column,
            "options": dict(settings.options), "fsync": settings.fsync}
    status = None if service is None else {k: getattr(service, k) for k in
                                           ("address", "embedded", "version", "unavailable", "data_dir", "pid")}
    attachment = backend.attachment()
    jobs = [ClientJob(backend.name, base, status, attachment, c, clients, step, config.mix, keys, plan.template,
                      plan.key_offset, config.duration, config.operations, interval, config.seed)
            for c in range(clients)]
    if backend.kind == "database":
        backend.release_cache()  # this process holds no connection (and no lock) on the file while they run
    run = _Step([ctx.Process(target=client_main, args=(job, results, go, abort), daemon=True) for job in jobs], results)
    try:
        for process in run.processes:
            process.start()
        run.collect(lambda r: "ready" in r, time.monotonic() + READY_TIMEOUT_S)
        failed = run.failures()
        if failed:
            abort.set()
            go.set()
            entry.update(status=FAILED, reason=f"{len(failed)} of {clients} clients could not start: {failed[0]}")
            return entry
        run.reports.clear()
        go.set()
        if on_started is not None:
            on_started()
        run.collect(lambda r: "elapsed" in r, None)
    finally:
        abort.set()
        go.set()
        run.stop()
    return _summarise(entry, run.reports, jobs[0])


def _entry(backend: Backend, config: LoadConfig, clients: int) -> dict[str, Any]:
    return {"backend": backend.name, "clients": clients, "mix": config.mix.name,
            "distribution": config.mix.distribution, "target_rate": config.target_rate, "status": OK, "reason": "",
            "contention": CONTENTION if backend.kind == "database" else None,
            "updates_as": UPDATES_AS_INSERTS if config.mix.updates_as_inserts(backend.supports)
            and not config.mix.missing(backend.supports) else None,
            "knee": False}


def _summarise(entry: dict[str, Any], reports: dict[int, dict[str, Any]], job: ClientJob) -> dict[str, Any]:
    """Merge the clients' reports into the step's figures and check that no acknowledged write is lost."""
    from hdrh.histogram import HdrHistogram

    done = [r for _, r in sorted(reports.items()) if "elapsed" in r]
    failed = [f"client {c}: {r['failed']}" for c, r in sorted(reports.items()) if "failed" in r]
    merged = {"intended": _new_histogram(), "actual": _new_histogram()}
    per_client = []
    for report in done:
        histograms = {name: HdrHistogram.decode(report[name]) for name in merged}
        for name, histogram in histograms.items():
            merged[name].add(histogram)
        per_client.append({"client": report["client"], "requests": sum(report["requests"].values()),
                           "errors": report["errors"], "timeouts": report["timeouts"], "misses": report["misses"],
                           "first_error": report["first_error"], "seconds": round(report["elapsed"], 3),
                           **{k: v for k, v in latency_summary(histograms["intended"]).items() if k != "count"}})
    requests: Counter[str] = Counter()
    for report in done:
        requests.update(report["requests"])
    total = sum(requests.values())
    elapsed = max((r["elapsed"] for r in done), default=0.0)
    entry.update(
        seconds=round(elapsed, 3), requests=total, requests_by_kind=dict(requests),
        throughput=total / elapsed if elapsed > 0 else None,
        errors=sum(r["errors"] for r in done), timeouts=sum(r["timeouts"] for r in done),
        misses=sum(r["misses"] for r in done),
        latency=latency_summary(merged["intended"]), latency_from_actual_start=latency_summary(merged["actual"]),
        per_client=per_client,
    )
    written = [key for r in done for key in r["written"]]
    entry["writes"] = check_writes(job, written)
    problems = failed + ([f"{entry['writes']['lost']} of {len(written)} acknowledged writes are not stored "
                          f"(e.g. key {entry['writes']['example_lost']!r})"] if entry["writes"]["lost"] else [])
    updates = entry["updates"] = check_updates(job, [tuple(pair) for r in done for pair in r["updated"]])
    if updates["stale"]:
        problems.append(f"{updates['stale']} of {updates['rows']} updated rows do not hold their last acknowledged "
                        f"update (e.g. key {updates['example_stale']!r})")
    if entry["misses"]:
        problems.append(f"{entry['misses']} reads did not find their stored row")
    if problems:
        entry.update(status=FAILED, reason="; ".join(problems))
    return entry


def latency_summary(histogram: HdrHistogram) -> dict[str, Any]:
    """Count, mean, max and ``PERCENTILES`` of a histogram of microseconds, in seconds (None when empty)."""
    count = histogram.get_total_count()
    if not count:
        return {"count": 0, **{name: None for name in ("mean", *PERCENTILES, "max")}}
    return {"count": count, "mean": histogram.get_mean_value() / 1e6,
            **{name: histogram.get_value_at_percentile(p) / 1e6 for name, p in PERCENTILES.items()},
            "max": histogram.get_max_value() / 1e6}


def check_writes(job: ClientJob, written: list[Any]) -> dict[str, Any]:
    """How many acknowledged writes are stored: every key a client wrote is looked for among the keys
    the store holds at the end, read by a new instance of the backend, as one more client would."""
    if not written:
        return {"acknowledged": 0, "read_back": 0, "lost": 0, "example_lost": None}
    reader = attached_backend(job)
    try:
        present = set(keys_in_store_order(reader))
    finally:
        with contextlib.suppress(Exception):
            reader.release_cache()
    lost = [key for key in written if key not in present]
    return {"acknowledged": len(written), "read_back": len(written) - len(lost), "lost": len(lost),
            "example_lost": lost[0] if lost else None}


def check_updates(job: ClientJob, updated: list[tuple[Any, int]]) -> dict[str, Any]:
    """Every row updated in place, read back by key by a new instance of the backend (as one more client
    would): stale when it is gone or does not hold the values of the last update acknowledged for it
    (``updated``: key -> the template row that update wrote, ``row_for_key``)."""
    if not updated:
        return {"rows": 0, "read_back": 0, "stale": 0, "example_stale": None}
    key_column = job.settings["key_column"]
    reader = attached_backend(job)
    try:
        stale = [key for key, index in updated
                 if not holds_row(reader, reader.lookup(key), row_for_key(job.template, key_column, key, index))]
    finally:
        with contextlib.suppress(Exception):
            reader.release_cache()
    return {"rows": len(updated), "read_back": len(updated) - len(stale), "stale": len(stale),
            "example_stale": stale[0] if stale else None}


def own_keys(keys: Sequence[Any], client: int, clients: int) -> list[Any]:
    """Client ``client``'s share of the stored keys (each key once, every ``clients``-th one): the rows it
    updates in place, which no other client of the step updates."""
    return list(dict.fromkeys(keys))[client::clients]


def run_load(backend: Backend, plan: WorkloadPlan, config: LoadConfig,
             on_event: Callable[[str], None] | None = None,
             on_started: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Every step of ``config`` against ``backend`` (which has stored the dataset): one entry per step,
    the knee marked; a mix the backend cannot run is one unsupported entry."""
    missing = config.mix.missing(backend.supports)
    if missing or not backend.settings.key_column:
        entry = _entry(backend, config, config.clients[0])
        entry.update(status=UNSUPPORTED if missing else SKIPPED,
                     reason=missing or "many clients need a key column (--key COLUMN)")
        return [entry]
    keys = keys_in_store_order(backend)
    steps = []
    for step, clients in enumerate(config.clients):
        check_stop()
        if backend.processes_at_once is not None and clients > backend.processes_at_once:
            entry = _entry(backend, config, clients)
            entry.update(status=UNSUPPORTED, reason=f"{backend.name} lets {backend.processes_at_once} process at a "
                                                    f"time open its store; {clients} clients need a server")
            steps.append(entry)
            continue
        if on_event is not None:
            on_event(f"{clients} client{'s' * (clients > 1)}, mix {config.mix.name}")
        started = (lambda clients=clients: on_started(clients)) if on_started is not None else None
        steps.append(run_step(backend, plan, keys, config, clients, step, on_started=started))
    mark_knee(steps)
    return steps


def keys_in_store_order(backend: Backend) -> list[Any]:
    """The stored keys in the order the store returns them (the order they were written, where it keeps
    one), read through its own scan, only the key column where it can project: what readers choose
    from, and where acknowledged writes are looked for at the end."""
    key = backend.settings.key_column
    columns = [key] if "project" in backend.supports else None
    if "scan" in backend.supports:
        batches: Any = backend.scan(columns=columns)
    else:
        batches = backend.read(columns=columns).to_batches()
    return [value for batch in batches for value in batch.column(batch.schema.get_field_index(key)).to_pylist()]
