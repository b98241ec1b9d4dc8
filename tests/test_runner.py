"""The harness end to end on the file backends: measurements, verification, saved run files."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

import storeadvise
from storeadvise.backends.operations import TAKE_ROWS
from storeadvise.bench.results import FAILED, OK, SCHEMA_VERSION, SKIPPED, UNSUPPORTED, load_run
from storeadvise.modalities import SAMPLE_KINDS

FILE_BACKENDS = ["csv", "jsonl", "parquet", "arrow", "sqlite", "duckdb"]


@pytest.fixture(scope="module")
def tabular_run(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("run") / "run.json"
    run = storeadvise.benchmark(
        sample="tabular", rows=3_000, backends=FILE_BACKENDS, repeat=2, warmup=0, lookups=15, max_time=5, out=out
    )
    return run, out


def test_every_backend_runs_every_supported_op(tabular_run) -> None:
    """Each supported operation is timed over its runs (or calls) and counts what one run moved."""
    run, _ = tabular_run
    assert [b.backend for b in run.backends] == FILE_BACKENDS
    rows_per_run = {
        "write": 3_000, "read": 3_000, "scan": 3_000, "first_batch": 3_000, "project": 3_000,
        "append": run.settings["plan"]["append_rows"],
        "update": run.settings["plan"]["append_rows"],  # 1% of the rows, as many as an append (distinct keys)
        "lookup": 1, "write_one": 1, "take": TAKE_ROWS,
    }
    for b in run.backends:
        assert b.status == OK, (b.backend, b.reason)
        by_op = {m.op: m for m in b.measurements}
        for op in run.settings["ops"]:
            m = by_op[op]
            if op not in b.description["supports"]:
                assert m.status == UNSUPPORTED and m.reason and m.stats is None
                continue
            assert m.status == OK, (b.backend, op, m.reason)
            runs = m.extra["calls"] if m.latency else 2  # repeat=2
            assert m.stats.n == runs or "budget was spent" in m.extra.get("note", ""), (b.backend, op, m.extra)
            if op == "filter":
                assert 0 < m.rows < 3_000, (b.backend, m.rows)
            else:
                assert m.rows == rows_per_run[op], (b.backend, op, m.rows)
            assert m.rows_per_s == pytest.approx(m.rows / m.stats.median)
            if not m.latency:
                assert m.arrow_bytes > 0 and m.mb_per_s == pytest.approx(m.arrow_bytes / m.stats.median / 1e6)
        assert by_op["project"].arrow_bytes < by_op["read"].arrow_bytes, b.backend
        assert by_op["lookup"].extra["calls"] == run.settings["plan"]["lookup_keys"] - 5  # after 5 warm-up calls


def test_round_trip_verified_and_numbers_present(tabular_run) -> None:
    run, _ = tabular_run
    for b in run.backends:
        assert b.verification is not None and not b.verification.flagged, (b.backend, b.verification)
        assert b.verification.rows_read == 3_000
        write = next(m for m in b.measurements if m.op == "write")
        assert write.bytes_at_rest and write.bytes_at_rest > 0 and write.size_ratio
        assert write.rows == 3_000 and write.rows_per_s and write.mb_per_s


def test_lookups_find_their_rows_and_appends_land(tabular_run) -> None:
    run, _ = tabular_run
    for b in run.backends:
        by_op = {m.op: m for m in b.measurements}
        lookup = by_op["lookup"]
        if lookup.status == OK:
            assert lookup.extra["misses"] == 0 and lookup.latency and lookup.stats.p99 >= lookup.stats.p50
        append = by_op["append"]
        assert append.status == OK, (b.backend, append.reason)
        assert append.extra["rows_after_append"] == 3_000 + append.extra["rows_appended_total"]


def test_run_file_is_saved_and_loads(tabular_run) -> None:
    run, out = tabular_run
    again = load_run(out)
    assert again.run_id == run.run_id and len(again.backends) == len(run.backends)
    assert again.environment["libraries"]["pyarrow"]
    assert again.dataset["rows"] == 3_000


def test_duckdb_can_query_run_files(tabular_run) -> None:
    import duckdb

    _, out = tabular_run
    rows = duckdb.sql(f"SELECT schema_version, run_id FROM read_json_auto('{out}')").fetchall()
    assert rows and rows[0][0] == SCHEMA_VERSION


@pytest.mark.parametrize("kind", SAMPLE_KINDS)
def test_round_trip_for_every_modality(kind: str, tmp_path: Path) -> None:
    run = storeadvise.benchmark(
        sample=kind, rows=500, backends=FILE_BACKENDS, ops="write", repeat=1, warmup=0, out=tmp_path / "r.json"
    )
    for b in run.backends:
        assert b.status == OK, (kind, b.backend, b.reason)
        assert b.verification and not b.verification.flagged, (kind, b.backend, b.verification.message)


def test_a_whole_dataset_read_is_skipped_above_the_memory_limit_and_the_scan_verifies(tmp_path: Path) -> None:
    run = storeadvise.benchmark(
        sample="tabular", rows=2_000, backends=["parquet"], ops="write,read,scan", repeat=1, warmup=0,
        memory_limit=10_000, out=tmp_path / "r.json",
    )
    (backend,) = run.backends
    by_op = {m.op: m for m in backend.measurements}
    assert by_op["read"].status == SKIPPED and "exceeds the memory limit" in by_op["read"].reason
    assert by_op["scan"].status == OK and by_op["scan"].rows == 2_000
    assert backend.verification and backend.verification.rows_read == 2_000 and not backend.verification.flagged


def test_a_new_operation_is_one_table_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An operation added to the table (and declared by a backend) is selected, driven, counted and
    reported with no other change: the runner has no per-operation code."""
    from storeadvise.backends.operations import OPERATIONS, Operation, consume
    from storeadvise.backends.parquet import ParquetBackend

    head = Operation(
        "head", "read the first 100 rows", latency=False, mutates=False,
        inputs=lambda plan: itertools.repeat(100), run=lambda backend, n: backend.read().slice(0, n),
        count=lambda n, result: consume(result),
    )
    monkeypatch.setitem(OPERATIONS, "head", head)
    monkeypatch.setattr(ParquetBackend, "supports", ParquetBackend.supports | {"head"})
    run = storeadvise.benchmark(
        sample="tabular", rows=500, backends=["parquet", "csv"], ops="write,head", repeat=2, warmup=0,
        out=tmp_path / "r.json",
    )
    parquet, csv = ({m.op: m for m in b.measurements} for b in run.backends)
    assert parquet["head"].status == OK and parquet["head"].rows == 100 and parquet["head"].stats is not None
    assert csv["head"].status == UNSUPPORTED


def test_missing_server_is_a_skipped_row_not_a_crash(tmp_path: Path) -> None:
    run = storeadvise.benchmark(
        sample="tabular", rows=200, backends=["csv", "mongo"], ops="write,read", repeat=1, warmup=0,
        options={"mongo_uri": "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500"}, out=tmp_path / "r.json",
    )
    status = {b.backend: b for b in run.backends}
    assert status["csv"].status == OK
    assert status["mongo"].status in (SKIPPED, FAILED)
    assert "127.0.0.1:1" in status["mongo"].reason or "reach" in status["mongo"].reason


def test_purpose_picks_operations(tmp_path: Path) -> None:
    run = storeadvise.benchmark(
        sample="tabular", rows=300, backends=["parquet"], purpose="online", repeat=1, warmup=0, lookups=10,
        out=tmp_path / "r.json",
    )
    assert run.settings["ops"] == ["write", "lookup", "write_one", "stream_latency"]
    ops = {m.op: m.status for m in run.backends[0].measurements}
    assert ops["stream_latency"] == UNSUPPORTED


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_a_users_file_with_nulls_timestamps_and_unicode(suffix: str, tmp_path: Path) -> None:
    import hashlib

    from storeadvise.bench.datasets import load_dataset, write_sample

    path = write_sample("tabular", 1_500, tmp_path / f"mine{suffix}", seed=7)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    profile = load_dataset(path).profile
    kinds = {c.kind for c in profile.columns}
    assert {"timestamp", "string", "bool"} <= kinds and any(c.null_count for c in profile.columns)
    run = storeadvise.benchmark(path, backends=FILE_BACKENDS, repeat=1, warmup=0, lookups=10, out=tmp_path / "r.json")
    assert run.dataset["name"] == path.name and run.dataset["rows"] == 1_500
    for b in run.backends:
        assert b.status == OK and b.verification and not b.verification.flagged, (b.backend, b.reason)
        assert all(m.status in (OK, UNSUPPORTED) for m in b.measurements), [(m.op, m.reason) for m in b.measurements]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, "r.json"])


def test_a_stop_request_ends_the_run_even_if_a_library_swallowed_the_interrupt(tmp_path: Path) -> None:
    from storeadvise.signals import STOP

    STOP.set()  # what the CLI's signal handler leaves behind when DuckDB turns Ctrl-C into its own error
    try:
        with pytest.raises(KeyboardInterrupt):
            storeadvise.benchmark(sample="tabular", rows=200, backends=["csv", "parquet"], repeat=1, warmup=0,
                              out=tmp_path / "r.json")
    finally:
        STOP.clear()
    saved = load_run(tmp_path / "r.json")
    assert saved.settings["interrupted"] is True
    assert [(b.backend, b.reason) for b in saved.backends] == [("csv", "interrupted")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_a_run_records_the_version_of_every_declared_library_but_the_tools() -> None:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    from storeadvise.bench.probes import TOOLS, recorded_libraries

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["embedded"]
    names = {d.split(">")[0].split("=")[0].split(";")[0].split("[")[0].strip() for d in declared} - TOOLS
    assert names <= set(recorded_libraries())
    assert not TOOLS & set(recorded_libraries())


class _NativePanic(BaseException):
    """What a panic inside native code looks like to Python (pyo3's ``PanicException`` derives from
    ``BaseException``, not ``Exception``)."""


def test_a_backend_raising_a_base_exception_fails_alone_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storeadvise.backends.arrow import ArrowBackend
    from storeadvise.backends.duckdb import DuckdbBackend
    from storeadvise.backends.parquet import ParquetBackend

    def panic(self, *args, **kwargs):
        raise _NativePanic("called `Result::unwrap()` on an `Err` value")

    monkeypatch.setattr(ParquetBackend, "open", panic)  # the backend's own boundary
    monkeypatch.setattr(ArrowBackend, "lookup", panic)  # one operation's boundary
    monkeypatch.setattr(DuckdbBackend, "describe", panic)  # setting the backend up, before its boundary
    run = storeadvise.benchmark(sample="tabular", rows=300, backends=["csv", "parquet", "arrow", "duckdb", "sqlite"],
                                ops="write,read,lookup", repeat=1, warmup=0, lookups=5, out=tmp_path / "r.json")
    saved = load_run(tmp_path / "r.json")
    assert [b.backend for b in saved.backends] == ["csv", "parquet", "arrow", "duckdb", "sqlite"]
    by_name = {b.backend: b for b in saved.backends}
    for failed in ("parquet", "duckdb"):
        assert by_name[failed].status == FAILED and "_NativePanic" in by_name[failed].reason
    arrow_ops = {m.op: m for m in by_name["arrow"].measurements}
    assert arrow_ops["lookup"].status == FAILED and arrow_ops["read"].status == OK
    assert by_name["csv"].status == OK and by_name["sqlite"].status == OK
    assert run.backends[-1].status == OK


def test_an_interrupt_a_library_turned_into_its_own_error_still_stops_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What DuckDB does with Ctrl-C in a query: the signal handler has set the stop request, and the
    library raises an ordinary error. Here it happens in the last step of the last backend (its
    verification), after which nothing else would look at the request: the boundary must stop."""
    from storeadvise.backends.parquet import ParquetBackend
    from storeadvise.signals import STOP

    def interrupted_scan(self, *args, **kwargs):
        STOP.set()
        raise RuntimeError("INTERRUPT Error: Interrupted!")

    monkeypatch.setattr(ParquetBackend, "scan", interrupted_scan)
    try:
        with pytest.raises(KeyboardInterrupt):
            storeadvise.benchmark(sample="tabular", rows=200, backends=["csv", "parquet"], ops="write",
                                  repeat=1, warmup=0, out=tmp_path / "r.json")
    finally:
        STOP.clear()
    saved = load_run(tmp_path / "r.json")
    assert saved.settings["interrupted"] is True
    assert [(b.backend, b.status) for b in saved.backends] == [("csv", OK), ("parquet", FAILED)]
    assert saved.backends[-1].reason == "interrupted"


def test_a_stop_requested_inside_a_deferred_library_call_is_raised_when_the_call_returns() -> None:
    import signal

    from storeadvise.signals import STOP, interrupts_deferred, request_stop

    finished = []
    try:
        with pytest.raises(KeyboardInterrupt), interrupts_deferred():
            request_stop(signal.SIGTERM, None)  # the handler, as a signal in the middle of the call runs it
            finished.append("the library call")
        assert finished == ["the library call"]
        with pytest.raises(KeyboardInterrupt):
            request_stop(signal.SIGTERM, None)  # outside the block it interrupts at once
    finally:
        STOP.clear()
