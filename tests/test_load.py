"""Many clients at once (``bench --clients``): mixes, key choice, the knee, nothing lost, pacing.

The store tests run real client processes against the embedded servers of the session fixtures and a
real SQLite file; nothing is faked.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections import Counter

import numpy as np
import pytest
from click.testing import CliRunner

import storeadvise
from storeadvise.backends.services import ServiceStatus
from storeadvise.bench.load import LoadConfig, parse_clients
from storeadvise.bench.load_table import mark_knee
from storeadvise.bench.mixes import MIXES, UPDATES, UPDATES_AS_INSERTS, WRITES, KeyChooser, choose_mix, draw_kinds
from storeadvise.bench.results import run_from_dict
from storeadvise.cli import cli
from storeadvise.errors import UsageError


# -- mixes and key choice --------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(MIXES))
def test_each_mix_draws_its_kinds_in_its_proportions(name: str) -> None:
    mix = MIXES[name]
    drawn = Counter(draw_kinds(mix, 20_000, np.random.default_rng(1)))
    assert set(drawn) == set(mix.kinds)
    for kind, share in mix.shares.items():
        assert abs(drawn[kind] / 20_000 - share) < 0.015, (kind, drawn)


def test_a_read_ratio_is_a_mix_of_reads_and_updates() -> None:
    mix = choose_mix(read_ratio=0.8)
    assert mix.shares == pytest.approx({"read": 0.8, "update": 0.2})
    assert choose_mix(read_ratio=0).kinds == ["update"]
    assert choose_mix(read_ratio=1).needs() == ["lookup"]
    assert choose_mix("a", distribution="uniform").distribution == "uniform"


def test_updates_are_in_place_where_the_backend_can_and_labelled_inserts_where_it_cannot() -> None:
    mix = MIXES["F"]
    assert mix.needs({"lookup", "update", "write_one"}) == ["lookup", "update"]
    assert mix.needs({"lookup", "write_one"}) == ["lookup", "write_one"]
    assert mix.updates_as_inserts({"lookup", "write_one"}) and not mix.updates_as_inserts({"lookup", "update"})
    assert not MIXES["D"].updates_as_inserts({"lookup", "write_one"})  # inserts are inserts
    assert MIXES["A"].missing({"lookup"}) == "mix A needs update (or write_one), which the backend does not support"


def test_zipfian_keys_are_skewed_and_shared_uniform_keys_are_not() -> None:
    def top_share(distribution: str) -> float:
        chooser = KeyChooser(10_000, distribution, seed=3, client=0)
        counts = Counter(chooser.next_rank() for _ in range(20_000))
        return counts.most_common(1)[0][1] / 20_000

    assert top_share("zipfian") > 0.05  # theta 0.99 over 10k keys: the hottest key draws ~10%
    assert top_share("uniform") < 0.005
    # Every client shares the hot keys (one permutation per run), each with its own draws.
    choosers = [KeyChooser(10_000, "zipfian", seed=3, client=c) for c in (0, 1)]
    draws = [[chooser.next_rank() for _ in range(5_000)] for chooser in choosers]
    assert draws[0] != draws[1]
    assert Counter(draws[0]).most_common(1)[0][0] == Counter(draws[1]).most_common(1)[0][0]


def test_latest_reads_the_clients_newest_rows_first() -> None:
    chooser = KeyChooser(1_000, "latest", seed=0, client=0)
    picks = Counter(chooser.pick(list(range(1_000)), own=["new1", "new2"]) for _ in range(5_000))
    assert picks.most_common(1)[0][0] == "new2"
    assert picks["new1"] > picks[500]


# -- the knee --------------------------------------------------------------------------------------
def _steps(points: list[tuple[int, float, float]]) -> list[dict]:
    return [{"clients": c, "status": "ok", "throughput": t, "latency": {"p99": p}, "knee": False}
            for c, t, p in points]


def test_the_knee_is_the_first_step_where_p99_grows_and_throughput_does_not() -> None:
    steps = _steps([(1, 1000, 0.001), (2, 1900, 0.0012), (4, 2100, 0.003), (8, 2150, 0.009)])
    assert mark_knee(steps) == 4
    assert [s["knee"] for s in steps] == [False, False, True, False]


def test_no_knee_while_throughput_keeps_growing_or_latency_stays_flat() -> None:
    assert mark_knee(_steps([(1, 1000, 0.001), (2, 1900, 0.003), (4, 3500, 0.009)])) is None  # still scaling
    assert mark_knee(_steps([(1, 1000, 0.001), (2, 1000, 0.0014)])) is None  # saturated, but p99 grew 1.4x only
    failed = _steps([(1, 1000, 0.001), (2, 1000, 0.01)])
    failed[1]["status"] = "failed"
    assert mark_knee(failed) is None


# -- bad flags -------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, says", [
    (["--mix", "B"], "--mix describes many clients at once; give --clients too"),
    (["--clients", "0"], "--clients 0: each count must be a whole number from 1 to 256"),
    (["--clients", "1,two"], "not 'two'"),
    (["--clients", "2", "--mix", "Z"], "unknown mix 'Z'; choose from A, B, C, D, E, F, stream"),
    (["--clients", "2", "--mix", "A", "--read-ratio", "0.5"], "give either --mix or --read-ratio"),
    (["--clients", "2", "--read-ratio", "1.5"], "--read-ratio must be a number from 0 to 1"),
    (["--clients", "2", "--target-rate", "-5"], "--target-rate must be a positive number"),
    (["--clients", "2", "--operations", "0"], "--operations must be a positive integer"),
])
def test_bad_load_flags_are_one_line_errors(args: list[str], says: str) -> None:
    result = CliRunner().invoke(cli, ["bench", "--sample", "tabular", "--rows", "100", "-b", "sqlite", "--no-save",
                                       *args], catch_exceptions=False)
    assert result.exit_code == UsageError.exit_code, result.output
    assert says in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_load_settings_are_checked_in_the_api_too() -> None:
    with pytest.raises(UsageError, match="--duration or --operations"):
        LoadConfig(clients=(1,), mix=MIXES["B"], duration=None, operations=None)
    assert parse_clients("1,2,4,2") == (1, 2, 4)
    assert parse_clients(3) == (3,)


# -- real stores -----------------------------------------------------------------------------------
def _options(status: ServiceStatus | None) -> dict:
    return {} if status is None else {status.service.address_option: status.address}


def _load(backend: str, status: ServiceStatus | None = None, **kw) -> list[dict]:
    run = storeadvise.benchmark(sample="tabular", rows=2_000, backends=[backend], save=False,
                                options=_options(status), **kw)
    assert run.backends[0].status == "ok", run.backends[0].reason
    return run.load


def _nothing_lost(step: dict, clients: int, per_client: int) -> None:
    """Every request answered; every acknowledged new row stored, every row updated in place (the
    update kinds where the backend updates, ``updates_as`` unset) holding its last acknowledged update."""
    assert step["status"] == "ok", step["reason"]
    assert step["requests"] == clients * per_client and step["errors"] == step["timeouts"] == 0
    in_place = [k for k in UPDATES if step["updates_as"] is None]
    new_rows = sum(step["requests_by_kind"].get(k, 0) for k in WRITES if k not in in_place)
    updated = sum(step["requests_by_kind"].get(k, 0) for k in in_place)
    writes, updates = step["writes"], step["updates"]
    assert new_rows + updated > 0
    assert writes["acknowledged"] == new_rows and writes["read_back"] == new_rows and writes["lost"] == 0
    # Each client's warm-up update is acknowledged too; a key updated twice is checked once, for its last value.
    assert (updates["rows"] > 0) == (updated > 0) and updates["rows"] <= updated + clients
    assert updates["read_back"] == updates["rows"] and updates["stale"] == 0
    assert len(step["per_client"]) == clients


@pytest.mark.slow
def test_four_sqlite_clients_lose_no_write_and_are_labelled_contention() -> None:
    (step,) = _load("sqlite", clients=4, mix="A", operations=60)
    _nothing_lost(step, 4, 60)
    assert step["contention"].startswith("contention, not a server")


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.parametrize("name", ["mongo", "postgres", "redis"])
def test_four_server_clients_lose_no_write(name: str, request: pytest.FixtureRequest) -> None:
    status = request.getfixturevalue(f"{name}_server")
    (step,) = _load(name, status, clients=4, mix="A", operations=60)
    _nothing_lost(step, 4, 60)
    assert step["contention"] is None


@pytest.mark.slow
@pytest.mark.parametrize("name", [
    "sqlite", pytest.param("redis", marks=pytest.mark.server), pytest.param("postgres", marks=pytest.mark.server),
    pytest.param("mongo", marks=pytest.mark.server),
])
def test_two_clients_update_rows_in_place_and_each_holds_its_last_update(name: str,
                                                                        request: pytest.FixtureRequest) -> None:
    """Mix A: half the requests update a stored row (no new row is written), each client in its own
    share of the keys; at the end every updated row is read back holding the last values acknowledged."""
    status = None if name == "sqlite" else request.getfixturevalue(f"{name}_server")
    (step,) = _load(name, status, clients=2, mix="A", operations=80)
    assert step["updates_as"] is None
    _nothing_lost(step, 2, 80)
    assert step["writes"]["acknowledged"] == 0
    assert step["updates"]["rows"] > 10


@pytest.mark.slow
@pytest.mark.server
def test_four_kafka_producers_lose_no_message_and_reads_are_unsupported(kafka_server: ServiceStatus) -> None:
    (step,) = _load("kafka", kafka_server, clients=4, read_ratio=0, operations=60)
    assert step["updates_as"] == UPDATES_AS_INSERTS
    _nothing_lost(step, 4, 60)
    (refused,) = _load("kafka", kafka_server, clients=4, mix="B", operations=10)
    assert refused["status"] == "unsupported" and "needs lookup" in refused["reason"]
    assert "--mix stream" in refused["reason"]


@pytest.mark.slow
@pytest.mark.server
def test_kafka_clients_producing_and_consuming_at_once_lose_no_record(kafka_server: ServiceStatus) -> None:
    (step,) = _load("kafka", kafka_server, clients=4, mix="stream", operations=15)
    _nothing_lost(step, 4, 15)
    assert step["requests_by_kind"] == {"deliver": 60}
    assert step["latency"]["p50"] > 0


@pytest.mark.slow
@pytest.mark.server
def test_a_stalled_server_shows_in_latency_from_the_intended_start(redis_server: ServiceStatus) -> None:
    """The embedded Redis is stopped (SIGSTOP) as the paced clients start and continued once their whole
    schedule is due: every request but each client's first is late, and only the latency from the
    intended start carries the wait."""
    assert redis_server.pid, "the stall needs the embedded redis-server's process"
    clients, rate, operations = 2, 200.0, 40
    schedule = operations * clients / rate  # seconds until each client's last request is due
    release = threading.Event()

    def stall(backend: str, op: str, message: str) -> None:
        if op == "load" and message.endswith("clients running"):
            os.kill(redis_server.pid, signal.SIGSTOP)
            # Continued once every request is due, whatever the machine's speed: the assert below holds
            # for any stall longer than a few of the schedule's 10 ms intervals.
            threading.Timer(schedule, release.set).start()
            threading.Thread(target=resume).start()

    def resume() -> None:
        release.wait()
        os.kill(redis_server.pid, signal.SIGCONT)

    try:
        run = storeadvise.benchmark(sample="tabular", rows=500, backends=["redis"], save=False,
                                    options=_options(redis_server), clients=clients, mix="C",
                                    target_rate=rate, operations=operations, on_event=stall)
    finally:
        release.set()
        os.kill(redis_server.pid, signal.SIGCONT)
    (step,) = run.load
    assert step["status"] == "ok", step["reason"]
    intended, actual = step["latency"], step["latency_from_actual_start"]
    assert intended["count"] == actual["count"] == clients * operations
    assert intended["p50"] > 10 * actual["p50"]
    assert intended["mean"] > actual["mean"]


# -- results, report, API --------------------------------------------------------------------------
@pytest.mark.slow
def test_a_sweep_is_saved_reported_and_loaded(tmp_path) -> None:
    out = tmp_path / "run.json"
    result = CliRunner().invoke(cli, ["bench", "--sample", "tabular", "--rows", "500", "-b", "sqlite",
                                       "--clients", "1,2", "--mix", "B", "--operations", "30", "-o", str(out),
                                       "-q", "--format", "markdown"])
    assert result.exit_code == 0, result.output
    assert "many clients at once" in result.output and "| sqlite | B | 2 |" in result.output
    saved = json.loads(out.read_text())
    assert saved["schema_version"] == 3
    assert [s["clients"] for s in saved["load"]] == [1, 2]
    assert saved["settings"]["load"]["mix"]["name"] == "B"
    assert run_from_dict(saved).load == saved["load"]
    for s in saved["load"]:
        assert s["per_client"] and all(c["p99"] is not None for c in s["per_client"])
        assert s["latency"]["p999"] >= s["latency"]["p99"] >= s["latency"]["p50"] > 0


def test_a_stale_or_missing_update_is_reported_and_fails_the_step(tmp_path) -> None:
    """The end-of-step check reads each updated row back: a row that does not hold the client's last
    acknowledged update (here: an update that never reached the store) is stale and fails the step;
    the row holding it passes."""
    from storeadvise.backends.base import BackendSettings
    from storeadvise.backends.sqlite import SqliteBackend
    from storeadvise.bench.datasets import sample_dataset
    from storeadvise.bench.load import ClientJob, _new_histogram, _summarise, check_updates
    from storeadvise.bench.workloads import row_for_key

    data = sample_dataset("tabular", 200)
    key = data.profile.key_column
    settings = BackendSettings(run_id="stale", scratch_dir=tmp_path, key_column=key)
    backend = SqliteBackend(settings)
    backend.open()
    try:
        backend.write(data.schema, data.batches())
        template = data.sample_rows(50, seed=1)
        keys = backend.read(columns=[key]).column(key).to_pylist()[:3]
        job = ClientJob("sqlite", {"run_id": "stale", "scratch_dir": tmp_path, "key_column": key, "options": {},
                                   "fsync": False}, None, backend.attachment(), 0, 1, 0, MIXES["A"], keys, template,
                        0, None, 10, None, 0)
        backend.update(row_for_key(template, key, keys[0], 7))
        backend.update(row_for_key(template, key, keys[1], 8))
        acknowledged = [(keys[0], 7), (keys[1], 9)]  # keys[1]'s last acknowledged update never arrived
        assert check_updates(job, acknowledged) == {"rows": 2, "read_back": 1, "stale": 1, "example_stale": keys[1]}
        assert check_updates(job, [(keys[2] + 10**9, 7)])["stale"] == 1  # a row that is gone is stale too
        empty = _new_histogram().encode()
        report = {"client": 0, "elapsed": 1.0, "requests": {"update": 2}, "errors": 0, "timeouts": 0, "misses": 0,
                  "first_error": "", "written": [], "updated": acknowledged, "intended": empty, "actual": empty}
        entry = _summarise({"status": "ok", "reason": ""}, {0: report}, job)
        assert entry["status"] == "failed"
        stale = f"1 of 2 updated rows do not hold their last acknowledged update (e.g. key {keys[1]!r})"
        assert stale in entry["reason"]
    finally:
        backend.cleanup()


def test_a_run_file_from_before_load_still_loads() -> None:
    old = {"schema_version": 2, "run_id": "x", "started_at": "2026-01-01T00:00:00+00:00", "backends": []}
    assert run_from_dict(old).load == []



# -- advisor evidence ------------------------------------------------------------------------------
def _step(backend: str, clients: int, throughput: float, p99: float, contention: bool = False) -> dict:
    return {"backend": backend, "clients": clients, "mix": "B", "status": "ok", "reason": "", "throughput": throughput,
            "latency": {"p99": p99}, "contention": "contention, not a server" if contention else None}


def test_online_advice_for_many_readers_says_what_several_clients_measured() -> None:
    from storeadvise.advisor.evidence import apply_evidence
    from storeadvise.bench.results import BackendRun, Measurement, Run, Stats

    advice = storeadvise.recommend(modality="tabular", purpose="online", readers="many")
    first = advice.recommendations[0].option
    other = next(r.option for r in advice.recommendations[1:] if r.backend)
    run = Run(run_id="r", started_at="", backends=[
        BackendRun(name, measurements=[Measurement(name, "lookup", stats=Stats.of([0.001]), latency=True)])
        for name in (first, other)])
    run.load = [_step(first, 1, 1000, 0.001), _step(other, 1, 900, 0.001),
                _step(first, 4, 1200, 0.050), _step(other, 4, 3000, 0.004)]
    evidence = apply_evidence(advice, run).evidence
    assert evidence.concurrency.startswith("With 4 client processes at once (mix B")
    assert f"The best p99 there is {other}'s, not the rules' first choice {first}'s." in evidence.concurrency
    assert [s["clients"] for s in evidence.load] == [1, 1, 4, 4]
    run.load = [_step(first, 4, 3000, 0.004), _step(other, 4, 1200, 0.050)]
    assert "It agrees with the first choice" in apply_evidence(advice, run).evidence.concurrency


@pytest.mark.slow
def test_recommend_bench_with_many_readers_measures_several_clients(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the run file is saved under ./results
    result = CliRunner().invoke(cli, ["recommend", "-m", "tabular", "-p", "online", "--readers", "many", "--bench",
                                      "--bench-backends", "sqlite", "--bench-rows", "500", "--format", "json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    evidence = json.loads(result.stdout)["evidence"]
    steps = [(s["backend"], s["clients"], s["mix"]) for s in evidence["load"]]
    assert steps == [("sqlite", 1, "B"), ("sqlite", 4, "B")]
    assert "With 4 client processes at once" in evidence["concurrency"]


def test_the_sweep_chart_plots_throughput_and_p99_against_clients_with_the_knee() -> None:
    from storeadvise.bench.charts import load_chart
    from storeadvise.bench.results import Run

    run = Run(run_id="r", started_at="")
    assert load_chart([run]) is None
    run.load = [_step("redis", 1, 1000, 0.001), {**_step("redis", 2, 1100, 0.004), "knee": True}]
    spec = load_chart([run]).spec
    values = {(p["clients"], p["panel"]): (p["value"], p["knee"]) for p in spec["data"]["values"]}
    assert values[(2, "p99 seconds")] == (0.004, True) and values[(1, "requests/s")] == (1000, False)
    assert spec["spec"]["layer"][1]["transform"] == [{"filter": "datum.knee"}]


@pytest.mark.slow
def test_duckdb_serves_one_client_and_a_second_process_is_unsupported_not_a_failure() -> None:
    """DuckDB lets one process at a time open its file: a property of the store, so the run is complete."""
    run = storeadvise.benchmark(sample="tabular", rows=2_000, backends=["duckdb"], save=False, clients="1,2",
                                mix="A", operations=20)
    one, two = run.load
    _nothing_lost(one, 1, 20)
    assert two["status"] == "unsupported" and "lets 1 process at a time open its store" in two["reason"]
    assert run.complete, run.problems
