"""A run that is not all it was asked to be says so: in its exit code, at the top of its run file, in the
first line of its report and on the ``Run`` the API returns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import storeadvise
from storeadvise.bench.results import FAILED, OK, UNSUPPORTED, BackendRun, Measurement, Run, load_run
from storeadvise.cli import cli
from storeadvise.errors import PartialRun
from storeadvise.signals import STOP

UNREACHABLE_MONGO = "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300&connectTimeoutMS=300"
QUICK = ["--sample", "tabular", "--rows", "200", "--ops", "write,read", "--repeat", "1", "--warmup", "0"]


def _invoke(args: list[str]):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def _check_partial(result, out: Path, problem: str) -> None:
    assert result.exit_code == PartialRun.exit_code == 6, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"storeadvise: error: partial run: {problem}")
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert list(saved)[:3] == ["schema_version", "complete", "problems"]
    assert saved["complete"] is False and saved["problems"][0].startswith(problem), saved["problems"]
    report = _invoke(["report", str(out)])
    assert report.exit_code == 0
    assert "PARTIAL: 1 problem" in report.stdout.splitlines()[0]
    markdown = _invoke(["report", str(out), "--format", "markdown"])
    assert "PARTIAL" in markdown.stdout.splitlines()[0]


def test_a_backend_whose_server_cannot_be_reached_makes_the_run_partial(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    result = _invoke(["bench", *QUICK, "-b", "csv,mongo", "--mongo-uri", UNREACHABLE_MONGO, "--out", str(out)])
    _check_partial(result, out, "mongo skipped: cannot reach")
    assert "csv" in result.stdout  # what did run is still shown


def test_a_failing_backend_makes_the_run_partial(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    result = _invoke(["bench", *QUICK, "-b", "csv,parquet", "-O", "parquet_compression=bogus", "--out", str(out)])
    _check_partial(result, out, "parquet failed: write failed: unknown parquet_compression")


def test_a_complete_run_exits_zero_and_says_so(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    # sqlite cannot stream_latency: an unsupported cell is a property of the store, not a problem.
    result = _invoke(["bench", "--sample", "tabular", "--rows", "200", "--ops", "write,stream_latency",
                      "--repeat", "1", "--warmup", "0", "-b", "sqlite", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert saved["complete"] is True and saved["problems"] == []
    assert [m["status"] for m in saved["backends"][0]["measurements"]] == [OK, UNSUPPORTED]
    assert "PARTIAL" not in result.stdout


def test_the_api_returns_the_run_with_complete_and_problems(tmp_path: Path) -> None:
    run = storeadvise.benchmark(sample="tabular", rows=100, backends=["csv", "mongo"], ops="write", repeat=1,
                                warmup=0, options={"mongo_uri": UNREACHABLE_MONGO}, out=tmp_path / "r.json")
    assert run.complete is False
    assert len(run.problems) == 1 and run.problems[0].startswith("mongo skipped")
    assert [b.status for b in run.backends] == [OK, "skipped"]


def test_problems_are_derived_from_the_run() -> None:
    run = Run(run_id="r", started_at="", settings={"backends": ["csv", "parquet", "jsonl"]})
    run.backends = [
        BackendRun("csv", measurements=[Measurement("csv", "write"), Measurement("csv", "lookup", status=FAILED,
                                                                                 reason="3 of 10 lookups missed")]),
        BackendRun("parquet", measurements=[Measurement("parquet", "stream_latency", status=UNSUPPORTED)]),
    ]
    assert run.problems == ["csv lookup failed: 3 of 10 lookups missed", "jsonl not run"]
    run.backends[0].measurements.pop()
    run.settings["backends"].pop()
    assert run.complete and run.to_dict()["complete"] is True


@pytest.mark.server
def test_a_stop_during_server_start_up_leaves_an_interrupted_run_file(tmp_path: Path) -> None:
    events: list[str] = []

    def stop_when_servers_start(backend: str, op: str, message: str) -> None:
        events.append(message)
        if message == "starting servers":
            STOP.set()  # what the CLI's Ctrl-C handler sets; the start-up wait checks it

    out = tmp_path / "r.json"
    try:
        with pytest.raises(KeyboardInterrupt):
            storeadvise.benchmark(sample="tabular", rows=100, backends=["csv", "mongo"], repeat=1, warmup=0,
                                  out=out, scratch_dir=tmp_path, on_event=stop_when_servers_start)
    finally:
        STOP.clear()
    assert events[-1] == "starting servers"
    saved = load_run(out)
    assert saved.settings["interrupted"] is True and saved.backends == []
    assert not saved.complete
    assert saved.problems == ["interrupted before it finished", "csv not run", "mongo not run"]
    assert json.loads(out.read_text(encoding="utf-8"))["complete"] is False
    lines = storeadvise.render(saved, "markdown").splitlines()
    assert "PARTIAL: 3 problems" in lines[0]
    assert "- **interrupted**: stopped before it finished" in lines[2]
    assert "- **mongo**: not run: the run was stopped first" in lines
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # the half-started server's data is gone too
