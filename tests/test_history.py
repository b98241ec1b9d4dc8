"""``storeadvise history``: saved runs listed, queried with SQL and followed over time; the git revision
recorded in a run's environment."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from storeadvise.bench.history import load_history
from storeadvise.bench.probes import git_revision
from storeadvise.bench.results import BackendRun, Measurement, Run, Stats, Verification, save_run
from storeadvise.bench.tidy import data_fingerprint
from storeadvise.cli import cli

ROWS = 1_000
DATA_A = "a1b2c3d4e5f6a7b8c9d0"
DATA_B = "ffee00112233445566"


def figure(backend: str, op: str, median: float, cache: str | None = None) -> Measurement:
    return Measurement(backend=backend, op=op, stats=Stats.of([median * 0.9, median, median * 1.1]), rows=ROWS,
                       rows_per_s=ROWS / median, cache=cache)


def saved_run(folder: Path, run_id: str, day: int, medians: dict[str, float], *, data: str = DATA_A,
              revision: str | None = "0123456789abcdef0123", cold: bool = False) -> Run:
    """A run of parquet and csv (write and read; with ``cold`` a cold read too), saved in ``folder``."""
    backends = []
    for name, median in medians.items():
        measurements = [figure(name, "write", median * 5), figure(name, "read", median, "warm")]
        if cold:
            measurements.append(figure(name, "read", median * 2, "cold"))
        backends.append(BackendRun(name, verification=Verification(ROWS, ROWS, True), measurements=measurements))
    environment = {"storeadvise": "0.1.0", "python": "3.11.2"}
    if revision:
        environment["git_revision"] = revision
    run = Run(run_id=run_id, started_at=f"2026-11-{day:02d}T10:00:00+00:00", environment=environment,
              dataset={"name": "sample:tabular", "rows": ROWS, "data_fingerprint": {"rows": ROWS, "content": data}},
              settings={"repeat": 3, "backends": list(medians)}, backends=backends)
    save_run(run, folder / f"{run_id}.json")
    return run


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """Three runs saved out of date order, a corrupt file, a foreign JSON file and a newer schema."""
    folder = tmp_path / "results"
    folder.mkdir()
    saved_run(folder, "r3", 27, {"parquet": 0.004, "csv": 0.05}, cold=True)
    saved_run(folder, "r1", 20, {"parquet": 0.002, "csv": 0.04})
    saved_run(folder, "r2", 24, {"parquet": 0.003}, data=DATA_B, revision=None)
    (folder / "broken.json").write_text('{"schema_version": 2, "backends": [', encoding="utf-8")
    (folder / "bench-perf.json").write_text(json.dumps({"benchmarks": [], "version": "5.1.0"}), encoding="utf-8")
    (folder / "future.json").write_text(json.dumps({"schema_version": 99, "backends": []}), encoding="utf-8")
    (folder / "notes.txt").write_text("not json at all", encoding="utf-8")
    return folder


def short_id(content: str) -> str:
    return data_fingerprint(Run("x", "", dataset={"data_fingerprint": {"rows": ROWS, "content": content}}))


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_history_lists_runs_oldest_first_with_dataset_backends_version_and_revision(results: Path) -> None:
    result = invoke("history", "--dir", str(results))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    rows = {run_id: next(line for line in lines if f" {run_id} " in line) for run_id in ("r1", "r2", "r3")}
    assert lines.index(rows["r1"]) < lines.index(rows["r2"]) < lines.index(rows["r3"])
    id_a, id_b = short_id(DATA_A), short_id(DATA_B)
    assert len(id_a) == 12 and id_a != id_b
    assert id_a in rows["r1"] and id_a in rows["r3"] and id_b in rows["r2"]
    assert "parquet, csv" in rows["r1"] and "parquet" in rows["r2"] and "csv" not in rows["r2"]
    assert "0.1.0" in rows["r1"] and "0123456789" in rows["r1"] and "0123456789a" not in rows["r1"]
    assert "2026-11-20 10:00" in rows["r1"]


def test_files_that_are_not_runs_are_listed_as_skipped_with_the_reason(results: Path) -> None:
    result = invoke("history", "--dir", str(results), "-f", "markdown")  # lines never wrapped
    assert result.exit_code == 0, result.output
    skipped = [line for line in result.output.splitlines() if line.startswith(f"skipped {results}")]
    assert len(skipped) == 3, skipped
    text = "\n".join(skipped)
    assert "broken.json: not a JSON run file" in text
    assert "bench-perf.json: not a storeadvise run file" in text
    assert "future.json: run file has schema_version 99" in text
    assert "notes.txt" not in result.output  # only *.json files are run files
    history = load_history(results)
    assert [run.run_id for run in history.runs] == ["r1", "r2", "r3"]
    assert sorted(path.name for path, _ in history.skipped) == ["bench-perf.json", "broken.json", "future.json"]


def test_query_runs_sql_over_the_runs_and_measurements_views(results: Path) -> None:
    result = invoke("history", "--dir", str(results), "-f", "json", "--query",
                    "SELECT run_id, count(*) AS n FROM measurements GROUP BY run_id ORDER BY run_id")
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)
    # r1: 2 backends × (write, read); r2: 1 × 2; r3: 2 × (write, warm read, cold read).
    assert counts == [{"run_id": "r1", "n": 4}, {"run_id": "r2", "n": 2}, {"run_id": "r3", "n": 6}]
    history = load_history(results)
    runs = history.query("SELECT run_id, data_fingerprint, backends, git_revision FROM runs ORDER BY started_at")
    assert runs.to_pylist()[1] == {"run_id": "r2", "data_fingerprint": short_id(DATA_B), "backends": ["parquet"],
                                   "git_revision": None}
    reads = history.query("SELECT cache, median_s FROM measurements WHERE run_id = 'r3' AND backend = 'csv' "
                          "AND op = 'read' ORDER BY cache").to_pylist()
    assert reads == [{"cache": "cold", "median_s": pytest.approx(0.1)}, {"cache": "warm", "median_s": 0.05}]


def test_one_backend_and_operation_over_time(results: Path) -> None:
    over = load_history(results).over_time("parquet", "read").to_pylist()
    assert [(row["run"], row["cache"], row["median_s"]) for row in over] == [
        ("r1", "warm", 0.002), ("r2", "warm", 0.003), ("r3", "cold", 0.008), ("r3", "warm", 0.004)]
    assert [row["dataset"] for row in over] == [short_id(DATA_A), short_id(DATA_B), short_id(DATA_A), short_id(DATA_A)]
    result = invoke("history", "--dir", str(results), "--backend", "parquet", "--op", "read", "-f", "csv")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split(",")[:3] == ["date", "run", "dataset"]
    assert [line.split(",")[1] for line in lines[1:]] == ["r1", "r2", "r3", "r3"]
    assert "skipped" not in result.stdout  # csv and json are for scripts: the skipped files go to stderr


def test_one_backend_over_time_is_drawn_as_a_chart_of_its_medians(results: Path, tmp_path: Path) -> None:
    from storeadvise.bench.charts import history_chart

    chart = history_chart(load_history(results).over_time("parquet", "read").to_pylist(), "parquet read over time")
    assert chart is not None
    figures = {(p["figure"], p["run"], p["median_s"]) for p in chart.spec["data"]["values"]}
    assert figures == {("parquet read", "r1", 0.002), ("parquet read", "r2", 0.003),
                       ("parquet read (cold)", "r3", 0.008), ("parquet read", "r3", 0.004)}
    svg = tmp_path / "parquet-read.svg"
    result = invoke("history", "--dir", str(results), "--backend", "parquet", "--op", "read", "--plot", str(svg))
    assert result.exit_code == 0, result.output
    assert svg.read_text().lstrip().startswith("<svg") and "<path" in svg.read_text()
    again = invoke("history", "--dir", str(results), "--backend", "parquet", "--op", "read", "--plot", str(svg))
    assert again.exit_code != 0 and "--force" in again.output  # never overwritten without --force
    alone = invoke("history", "--dir", str(results), "--plot", str(tmp_path / "x.svg"))
    assert alone.exit_code == 2 and "--backend" in alone.output


def test_dataset_prefix_keeps_the_runs_of_one_dataset(results: Path) -> None:
    history = load_history(results, dataset=short_id(DATA_A)[:6])
    assert [run.run_id for run in history.runs] == ["r1", "r3"]


@pytest.mark.parametrize("args, message", [
    (("--query", "SELECT nope FROM measurements"), "--query: "),
    (("--query", "SELECT 1", "--op", "read"), "--query is SQL over every run"),
    (("--dir", "missing-folder"), "no such folder of run files"),
])
def test_mistakes_are_one_line_and_exit_2(results: Path, args: tuple[str, ...], message: str) -> None:
    if "--dir" not in args:
        args = ("--dir", str(results), *args)
    result = invoke("history", *args)
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("storeadvise: error:")]
    assert len(errors) == 1 and message in errors[0], result.output
    assert "Traceback" not in result.output


def test_git_revision_is_recorded_from_a_checkout_and_absent_outside_one(tmp_path: Path) -> None:
    assert git_revision(tmp_path) == {}
    git = shutil.which("git")
    if git is None:
        pytest.fail("git is needed to check the recorded revision")
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "HOME": str(tmp_path), "PATH": str(Path(git).parent)}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "--allow-empty", "-m", "one"]):
        subprocess.run([git, "-C", str(checkout), *args], check=True, env=env)
    head = subprocess.run([git, "-C", str(checkout), "rev-parse", "HEAD"], check=True, env=env,
                          capture_output=True, text=True).stdout.strip()
    assert git_revision(checkout) == {"git_revision": head, "git_dirty": False}
