"""Cache states and durability: a cold read starts from files evicted from the page cache (or says
that eviction failed), databases and embedded servers drop their own caches, ``--fsync`` syncs inside
the write, and sizes at rest say where they come from. Nothing here is judged by timing."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

import storeadvise
from storeadvise.backends import backend_class
from storeadvise.backends._sqlfile import SqlFileBackend
from storeadvise.backends.base import Backend, BackendSettings
from storeadvise.backends.services import Services, ServiceStatus
from storeadvise.bench import cache
from storeadvise.bench.results import OK
from storeadvise.errors import UsageError

FILE_FORMATS = ["csv", "jsonl", "parquet", "arrow"]
BIG_ROWS = 60_000
"""Rows of the tabular sample whose CSV file is several MB (so eviction has real work to do)."""


def _filesystem(path: Path) -> str:
    """The type of the file system holding ``path`` (``ext4``, ``tmpfs``), from /proc/self/mounts."""
    best, kind = "", ""
    target = str(path.resolve())
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            _, mount_point, fs_type, *_ = line.split()
            mount_point = mount_point.replace("\\040", " ")
            inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
            if inside and len(mount_point) >= len(best):
                best, kind = mount_point, fs_type
    return kind


@pytest.fixture
def tmpfs_dir() -> Iterator[Path]:
    """A folder on tmpfs, where the page cache is the storage and nothing can be evicted."""
    if not Path("/dev/shm").is_dir() or _filesystem(Path("/dev/shm")) != "tmpfs":
        pytest.skip("no tmpfs at /dev/shm on this system")
    folder = Path(tempfile.mkdtemp(prefix="storeadvise-test-", dir="/dev/shm"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def evictions(monkeypatch: pytest.MonkeyPatch) -> list[cache.Eviction]:
    """Every eviction a run does, with what its residency check found."""
    seen: list[cache.Eviction] = []
    real = cache.evict_files

    def recording(roots):
        result = real(roots)
        seen.append(result)
        return result

    monkeypatch.setattr(cache, "evict_files", recording)
    return seen


# -- the page-cache mechanics ------------------------------------------------------------------------
def test_evicting_a_file_drops_its_pages_or_says_it_could_not(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(8 * 2**20))
    path.read_bytes()  # every page in the page cache
    resident, pages = cache.resident_pages(path)
    assert pages == 8 * 2**20 // os.sysconf("SC_PAGE_SIZE") and resident > pages // 2

    eviction = cache.evict_files([tmp_path])
    if _filesystem(tmp_path) == "tmpfs":
        assert not eviction.worked and "tmpfs" in eviction.reason
        return
    assert eviction.files == 1 and eviction.pages == pages and eviction.worked, eviction
    assert cache.resident_pages(path)[0] <= cache.MAX_RESIDENT_SHARE * pages


def test_eviction_on_tmpfs_fails_and_says_so(tmpfs_dir: Path) -> None:
    path = tmpfs_dir / "data.bin"
    path.write_bytes(os.urandom(2**20))
    eviction = cache.evict_files([tmpfs_dir])
    assert not eviction.worked and eviction.resident == eviction.pages > 0
    assert "data.bin" in eviction.reason


def test_where_files_cannot_be_evicted_a_cold_run_is_labelled_warm(
    scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = _backend("csv", scratch, fsync=False)
    table = pa.table({"id": [1, 2, 3]})
    backend.write(table.schema, table.to_batches())
    monkeypatch.setattr(cache, "can_evict", lambda: False)
    state = cache.make_cold(backend, restart=None)
    assert state.label == "warm" and "cannot evict files from the page cache" in state.reason


def test_the_cache_choice_is_checked_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--cache 'lukewarm' is not a choice; use one of warm, cold, both"):
        storeadvise.benchmark(sample="tabular", rows=100, backends="csv", cache="lukewarm", save=False)
    with pytest.raises(UsageError, match="fsync must be True or False"):
        storeadvise.benchmark(sample="tabular", rows=100, backends="csv", fsync="yes", save=False)


# -- cold runs on files and embedded databases --------------------------------------------------------
@pytest.fixture(scope="module")
def both_run(tmp_path_factory: pytest.TempPathFactory):
    """csv, parquet, sqlite measured warm and cold, with every eviction and connection release recorded."""
    scratch = tmp_path_factory.mktemp("cold-scratch")
    seen: list[cache.Eviction] = []
    released: list[str] = []
    real_evict, real_release = cache.evict_files, SqlFileBackend.release_cache

    def recording(roots):
        seen.append(real_evict(roots))
        return seen[-1]

    def counting(self):
        released.append(self.name)
        real_release(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cache, "evict_files", recording)
        patch.setattr(SqlFileBackend, "release_cache", counting)
        run = storeadvise.benchmark(
            sample="tabular", rows=BIG_ROWS, backends=["csv", "parquet", "sqlite"], ops="write,read,scan,lookup",
            cache="both", repeat=2, warmup=1, lookups=12, max_time=30, save=False, scratch_dir=scratch,
        )
    return run, seen, released, scratch


def test_each_read_like_operation_is_measured_warm_and_cold(both_run) -> None:
    run, _, _, scratch = both_run
    assert run.settings["cache"] == "both" and run.settings["fsync"] is False
    failed = _filesystem(scratch) == "tmpfs"
    for b in run.backends:
        assert b.status == OK, (b.backend, b.reason)
        states = [(m.op, m.cache) for m in b.measurements]
        write = next(m for m in b.measurements if m.op == "write")
        assert write.cache is None and states.count(("write", None)) == 1
        for op in ("read", "scan"):
            cold = [m for m in b.measurements if m.op == op and m.cache != "warm"]
            assert [m.op for m in b.measurements].count(op) == 2 and len(cold) == 1, (b.backend, states)
            if failed:
                assert cold[0].cache == "warm" and "eviction failed" in cold[0].extra["cache_reason"]
            else:
                assert cold[0].cache == "cold" and "cache_reason" not in cold[0].extra, (b.backend, cold[0].extra)
        lookup = [m.cache for m in b.measurements if m.op == "lookup"]
        # files have no cache of their own: every call starts cold; a database keeps its connection's
        # page cache between calls, so its lookups are lukewarm
        if not failed:
            assert lookup == ["warm", "lukewarm" if b.backend == "sqlite" else "cold"], (b.backend, lookup)


def test_cold_runs_start_from_files_evicted_from_the_page_cache(both_run) -> None:
    run, seen, released, scratch = both_run
    cold_runs = sum(
        m.stats.n + m.extra.get("warmup_runs", 0) if not m.latency else m.extra["calls"]
        for m in run.measurements() if m.op != "write" and m.cache != "warm"
    )
    assert len(seen) >= cold_runs > 0
    page = os.sysconf("SC_PAGE_SIZE")
    assert max(e.pages for e in seen) * page > 4 * 2**20  # the CSV file: several MB
    if _filesystem(scratch) == "tmpfs":
        assert not any(e.worked for e in seen)
    else:
        assert all(e.worked for e in seen), [e for e in seen if not e.worked]
    # SQLite's connection (and its page cache) is closed before every cold read run, and once for the lookups
    sqlite_runs = sum(m.stats.n + m.extra.get("warmup_runs", 0)
                      for b in run.backends if b.backend == "sqlite"
                      for m in b.measurements if m.cache != "warm" and not m.latency and m.op != "write")
    assert released.count("sqlite") >= sqlite_runs + 1


def test_a_failed_eviction_labels_the_figure_warm_with_the_reason(tmpfs_dir: Path) -> None:
    run = storeadvise.benchmark(sample="tabular", rows=2_000, backends="parquet", ops="write,read", cache="cold",
                                repeat=1, warmup=0, save=False, scratch_dir=tmpfs_dir)
    read = next(m for m in run.measurements() if m.op == "read")
    assert read.status == OK and read.cache == "warm"
    assert read.extra["cache_reason"].startswith("eviction failed: ")
    assert "Use --scratch-dir on a disk" in read.extra["cache_reason"]


# -- durability ---------------------------------------------------------------------------------------
def _backend(name: str, scratch: Path, fsync: bool) -> Backend:
    backend = backend_class(name)(BackendSettings(run_id="t1", scratch_dir=scratch, key_column="id", fsync=fsync))
    backend.open()
    return backend


@pytest.mark.parametrize("name", FILE_FORMATS)
@pytest.mark.parametrize("fsync", [False, True], ids=["default", "fsync"])
def test_file_backends_fsync_their_files_inside_write_and_append_only_when_asked(
    name: str, fsync: bool, scratch: Path, fsynced: list[str]
) -> None:
    backend = _backend(name, scratch, fsync)
    table = pa.table({"id": list(range(1_000)), "name": [f"n{i}" for i in range(1_000)]})
    backend.write(table.schema, table.to_batches())
    after_write = list(fsynced)
    stored = {str(p.resolve()) for p in backend.location.iterdir()}
    backend.append(table.slice(0, 10).to_batches()[0])
    assert backend.durability().durable is fsync
    if not fsync:
        assert fsynced == [] and "not fsynced" in backend.durability().guarantee
        return
    assert stored <= set(after_write), stored - set(after_write)  # every file, inside the write
    assert str(backend.location.resolve()) in after_write and str(scratch.resolve()) in after_write
    appended = fsynced[len(after_write):]
    changed = backend.parts()[-1]  # the part grown in place, or the new one
    assert str(changed.resolve()) in appended
    assert (str(backend.location.resolve()) in appended) is (len(backend.parts()) > 1)  # a new name in the folder


@pytest.mark.parametrize("fsync", [False, True], ids=["default", "fsync"])
def test_sqlite_syncs_every_commit_only_with_fsync(fsync: bool, scratch: Path) -> None:
    backend = _backend("sqlite", scratch, fsync)
    table = pa.table({"id": [1, 2]})
    backend.write(table.schema, table.to_batches())
    assert backend._connect().execute("PRAGMA synchronous").fetchone()[0] == (2 if fsync else 1)  # FULL, NORMAL
    assert backend.durability().durable is fsync
    with sqlite3.connect(backend.path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    backend.cleanup()


def test_every_write_like_measurement_says_whether_it_was_durable(tmp_path: Path) -> None:
    run = storeadvise.benchmark(sample="tabular", rows=2_000, backends=["csv", "sqlite", "duckdb"],
                                ops="write,read,append,write_one", fsync=True, repeat=1, warmup=0, save=False,
                                scratch_dir=tmp_path)
    assert run.settings["fsync"] is True
    for b in run.backends:
        assert "durability" in b.description
        for m in b.measurements:
            if m.status != OK:
                continue
            assert m.durable is (True if m.op in ("write", "append", "write_one") else None), (b.backend, m.op)
    sqlite_write = next(m for b in run.backends if b.backend == "sqlite" for m in b.measurements if m.op == "write")
    assert "the -wal file not counted" in sqlite_write.extra["size_source"]


# -- servers ------------------------------------------------------------------------------------------
@pytest.mark.server
def test_an_embedded_server_is_restarted_before_a_cold_read_and_keeps_its_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    restarts: list[tuple[str, list[int], list[int], int]] = []
    real = Services.restart

    def recording(self: Services, name: str) -> None:
        before = list(self.pids)
        real(self, name)
        restarts.append((name, before, list(self.pids), self.starts(name)))

    monkeypatch.setattr(Services, "restart", recording)
    from storeadvise.backends.mongo import MongoBackend

    reconnects: list[int] = []
    real_reconnect = MongoBackend.reconnect
    monkeypatch.setattr(MongoBackend, "reconnect", lambda self: (reconnects.append(1), real_reconnect(self)))
    run = storeadvise.benchmark(sample="tabular", rows=2_000, backends=["mongo", "kafka"], ops="write,read,lookup",
                                cache="cold", fsync=True, repeat=1, warmup=0, lookups=12, save=False,
                                scratch_dir=tmp_path)
    mongo, kafka = run.backends
    assert mongo.status == OK and kafka.status == OK, (mongo.reason, kafka.reason)
    read = next(m for m in mongo.measurements if m.op == "read")
    assert read.status == OK and read.cache == "cold", read.extra
    assert read.rows == 2_000 and mongo.verification is not None and not mongo.verification.flagged
    lookup = next(m for m in mongo.measurements if m.op == "lookup")
    assert lookup.status == OK and lookup.cache == "lukewarm"
    assert [r[0] for r in restarts] == ["mongo", "mongo"]  # one per cold read run, one before the lookups
    assert all(before != after for _, before, after, _ in restarts) and restarts[-1][3] == 3
    assert len(reconnects) == len(restarts)  # the client finds the server back before the timer starts
    write = next(m for m in mongo.measurements if m.op == "write")
    assert write.durable is True and "j=true" in mongo.description["durability"]
    assert write.extra["size_source"].startswith("server: collStats") and write.bytes_at_rest > 0
    # the embedded Kafka broker keeps its data in memory: no colder state, and it says so
    kafka_read = next(m for m in kafka.measurements if m.op == "read")
    assert kafka_read.cache == "warm" and "in memory only" in kafka_read.extra["cache_reason"]
    kafka_write = next(m for m in kafka.measurements if m.op == "write")
    assert kafka_write.durable is False and kafka_write.extra["size_source"]


@pytest.mark.server
def test_a_users_server_cache_is_unknown_and_it_is_never_restarted(
    mongo_server: ServiceStatus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Services, name: str) -> None:
        raise AssertionError("a user's server must never be restarted")

    monkeypatch.setattr(Services, "restart", refuse)
    run = storeadvise.benchmark(sample="tabular", rows=1_000, backends="mongo", ops="write,read", cache="cold",
                                repeat=1, warmup=0, save=False, scratch_dir=tmp_path,
                                options={"mongo_uri": mongo_server.address})
    read = next(m for m in run.measurements() if m.op == "read")
    assert read.status == OK and read.cache == "unknown"
    assert read.extra["cache_reason"].startswith("server cache unknown")
    write = next(m for m in run.measurements() if m.op == "write")
    assert write.durable is False


def test_a_scaling_sweep_keeps_warm_and_cold_reads_apart() -> None:
    from storeadvise.bench.results import BackendRun, Measurement, Run, Stats
    from storeadvise.bench.sweeps import scaling_summary

    def run_of(rows: int, warm: float, cold: float) -> Run:
        measurements = [Measurement("csv", "read", stats=Stats.of([seconds]), rows=rows, cache=state)
                        for state, seconds in (("warm", warm), ("cold", cold))]
        return Run(run_id=str(rows), started_at="", dataset={"rows": rows},
                   backends=[BackendRun("csv", measurements=measurements)])

    summary = scaling_summary([run_of(1_000, 0.01, 0.05), run_of(4_000, 0.04, 0.2)])
    curves = {entry["cache"]: [p["seconds"] for p in entry["points"]] for entry in summary}
    assert curves == {"warm": [0.01, 0.04], "cold": [0.05, 0.2]}


@pytest.mark.server
@pytest.mark.parametrize("fsync", [False, True], ids=["default", "fsync"])
def test_mongo_waits_for_the_journal_and_kafka_for_every_replica_only_with_fsync(
    fsync: bool, mongo_server: ServiceStatus, scratch: Path
) -> None:
    from storeadvise.backends.kafka import KafkaBackend
    from storeadvise.backends.mongo import MongoBackend

    settings = BackendSettings(run_id=f"fs{int(fsync)}", scratch_dir=scratch, key_column="id", service=mongo_server,
                               fsync=fsync)
    mongo = MongoBackend(settings)
    mongo.open()
    try:
        assert bool(mongo.collection.write_concern.document.get("j")) is fsync
        assert mongo.durability().durable is fsync
    finally:
        mongo.cleanup()
    kafka = KafkaBackend(BackendSettings(run_id="fs", scratch_dir=scratch, fsync=fsync))
    assert kafka._producer_config()["acks"] == ("all" if fsync else 1)
    assert kafka.durability().durable is False  # Kafka itself never fsyncs before acknowledging
