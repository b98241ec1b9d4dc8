"""Progress while a benchmark runs: one plain line per finished backend and operation when stderr is not
a terminal, a live display on one, nothing with --quiet; the runner only sends events."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import storeadvise
from storeadvise.bench.events import Progress
from storeadvise.bench.progress import ProgressDisplay
from storeadvise.cli import cli

OPS = ("write", "read", "lookup", "stream_latency")
BENCH = ["bench", "--sample", "tabular", "--rows", "1000", "-b", "csv,parquet", "--ops", ",".join(OPS),
         "--repeat", "2", "--warmup", "0", "--lookups", "20", "--no-save"]
LINE = re.compile(r"^(csv|parquet) (write|read|lookup|stream_latency): (.+) \(([12])/2 backends, [\d.]+ (µs|ms|s)\)$")


def _invoke(args: list[str]):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def _progress_lines(stderr: str) -> list[re.Match[str]]:
    return [match for line in stderr.splitlines() if (match := LINE.match(line))]


def test_piped_progress_is_one_line_per_finished_backend_and_operation() -> None:
    result = _invoke(BENCH)
    assert result.exit_code == 0, result.output
    lines = _progress_lines(result.stderr)
    assert [(m[1], m[2]) for m in lines] == [(b, op) for b in ("csv", "parquet") for op in OPS]
    assert [m[4] for m in lines] == ["1"] * 4 + ["2"] * 4
    by_op = {(m[1], m[2]): m[3] for m in lines}
    assert by_op[("parquet", "read")].endswith("median, n=2")
    assert re.fullmatch(r".+ p50 per call, \d+ calls", by_op[("parquet", "lookup")])
    assert by_op[("csv", "stream_latency")].startswith("unsupported: ")
    assert "\x1b[" not in result.stderr  # plain text: no live display where there is no terminal


def test_quiet_prints_no_progress() -> None:
    result = _invoke([*BENCH, "--quiet"])
    assert result.exit_code == 0, result.output
    assert not _progress_lines(result.stderr) and "backends," not in result.stderr
    assert "parquet" in result.stdout  # the table itself is still printed


def test_recommend_bench_shows_the_same_progress_and_quiet_silences_it(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the advisor saves its run under results/
    args = ["recommend", "-m", "tabular", "-p", "exploration", "--bench", "--bench-rows", "500",
            "--bench-backends", "csv,parquet"]
    shown = _invoke(args)
    quiet = _invoke([*args, "-q"])
    assert shown.exit_code == 0 and quiet.exit_code == 0, shown.output + quiet.output
    assert re.search(r"^parquet read: .* median, n=\d \(2/2 backends, ", shown.stderr, re.M), shown.stderr
    assert "backends," not in quiet.stderr


def test_a_skipped_backend_gets_its_line() -> None:
    result = _invoke([*BENCH[:5], "-b", "csv,mongo", "--ops", "write", "--repeat", "1", "--warmup", "0",
                      "--no-save", "--mongo-uri", "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=300"])
    assert result.exit_code == 6, result.output
    assert re.search(r"^mongo: skipped: .* \(2/2 backends, ", result.stderr, re.M), result.stderr


def test_the_runner_sends_each_finished_measurement_with_where_the_run_stands() -> None:
    events: list[tuple[str, str, str]] = []
    run = storeadvise.benchmark(sample="tabular", rows=1000, backends=["csv", "parquet"], ops="write,read",
                                repeat=2, warmup=0, save=False, on_event=lambda *event: events.append(event))
    assert all(isinstance(message, Progress) for _, _, message in events)  # a str for a caller that wants text
    finished = [message for _, _, message in events if message.finished]
    assert [m.measurement for m in finished] == run.measurements()
    assert [m.position.ops_done for m in finished] == [1, 2, 3, 4]
    assert [m.position.backend_index for m in finished] == [1, 1, 2, 2]
    assert {m.position.ops_total for m in finished} == {4} and {m.position.backend_count for m in finished} == {2}
    budgets = [m.position.budget_left for m in finished]
    assert budgets == sorted(budgets, reverse=True) and budgets[-1] == 0
    assert any(message == "warm-up" or message.startswith("run ") for _, _, message in events)


def test_on_a_terminal_the_display_tracks_backends_and_operations() -> None:
    with ProgressDisplay(terminal=True) as display:
        storeadvise.benchmark(sample="tabular", rows=1000, backends=["csv", "parquet"], ops="write,read",
                              repeat=2, warmup=0, save=False, on_event=display)
        [task] = display.live.tasks
    assert task.completed == task.total == 4
    assert task.description.startswith("[2/2] [bold]parquet")
    assert task.fields["done"] == "4/4 operations" and task.fields["left"].endswith("budget left")
