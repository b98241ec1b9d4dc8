"""``--format pytest-benchmark``: JSON that ``pytest-benchmark compare`` reads, with the run's figures."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from storeadvise.bench.export import benchmark_stats
from storeadvise.bench.results import BackendRun, Measurement, Run, Stats, Verification, save_run
from storeadvise.cli import cli

ROWS = 5_000
PYTEST_BENCHMARK = Path(sys.executable).with_name("pytest-benchmark")


def figure(backend: str, op: str, durations: list[float], **fields) -> Measurement:
    return Measurement(backend=backend, op=op, stats=Stats.of(durations), rows=ROWS, **fields)


def hand_run() -> Run:
    parquet = BackendRun("parquet", verification=Verification(ROWS, ROWS, True), measurements=[
        figure("parquet", "write", [0.020, 0.021, 0.022, 0.019, 0.090]),
        figure("parquet", "read", [0.004, 0.005, 0.0045], cache="warm"),
        figure("parquet", "read", [0.011, 0.012, 0.013], cache="cold"),
    ])
    csv = BackendRun("csv", verification=Verification(ROWS, ROWS, True), measurements=[
        figure("csv", "write", [0.05, 0.06, 0.055]), figure("csv", "read", [0.03, 0.031, 0.032], cache="warm"),
        Measurement("csv", "lookup", status="failed", reason="boom"),
    ])
    return Run(run_id="x1", started_at="2026-11-30T12:00:00+00:00",
               environment={"storeadvise": "0.1.0", "python": "3.11.2", "os": "Linux 6.1", "cpu": "test cpu",
                            "git_revision": "abcdef0123"},
               dataset={"name": "t", "rows": ROWS}, settings={"repeat": 5}, backends=[parquet, csv])


def compare(*files: Path) -> str:
    done = subprocess.run([str(PYTEST_BENCHMARK), "compare", *map(str, files)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    # compare skips a file it cannot read with only a warning: the benchmarks must be in its table.
    assert "Failed to load" not in done.stdout + done.stderr
    return done.stdout


def test_pytest_benchmark_compare_reads_the_export(tmp_path: Path) -> None:
    save_run(hand_run(), tmp_path / "run.json")
    out = tmp_path / "pb.json"
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "run.json"), "-f", "pytest-benchmark", "-o", str(out)])
    assert result.exit_code == 0, result.output
    table = compare(out)
    for name in ("write[parquet]", "write[csv]", "read[parquet]", "read[csv]", "read[parquet-cold]"):
        assert name in table
    assert "benchmark 'read (cold)': 1 tests" in table and "benchmark 'write': 2 tests" in table
    assert "lookup" not in table  # a failed operation has no figures
    # The median of parquet's warm read (4.5 ms) as compare prints it, in ms.
    row = next(line for line in table.splitlines() if line.startswith("read[parquet] "))
    assert "4.5000" in row
    document = json.loads(out.read_text())
    assert document["commit_info"]["id"] == "abcdef0123" and document["datetime"] == "2026-11-30T12:00:00+00:00"
    assert document["machine_info"]["system"] == "Linux" and document["machine_info"]["release"] == "6.1"


def test_the_stats_are_pytest_benchmarks_fields_from_the_recorded_figures() -> None:
    durations = [0.020, 0.021, 0.022, 0.019, 0.090]
    stats, estimated = benchmark_stats(Stats.of(durations))
    assert estimated == []
    assert stats["median"] == statistics.median(durations) and stats["rounds"] == 5
    assert stats["min"] == 0.019 and stats["max"] == 0.090
    assert stats["stddev"] == pytest.approx(statistics.stdev(durations))
    assert stats["q3"] - stats["q1"] == pytest.approx(stats["iqr"])
    # 0.090 is beyond both fences: one IQR outlier and one beyond a standard deviation.
    assert (stats["iqr_outliers"], stats["stddev_outliers"], stats["outliers"]) == (1, 1, "1;1")
    assert stats["hd15iqr"] == 0.022 and stats["ld15iqr"] == 0.019
    assert stats["ops"] == pytest.approx(1 / statistics.fmean(durations))
    assert stats["total"] == pytest.approx(sum(durations))


@pytest.mark.parametrize("durations, outliers", [
    # Quartiles interpolated a rounding error above 0.007: the three equal timings are inside, the
    # other two beyond a zero IQR.
    ([0.0063, 0.007, 0.0077, 0.007, 0.007], 2),
    ([0.1] * 4, 0), ([0.3], 0), ([0.1, 0.2], 0), ([0.001, 0.002, 0.003, 5.0], 1),
])
def test_equal_timings_are_not_outliers_and_the_fences_hold_the_median(durations: list[float], outliers: int) -> None:
    stats = Stats.of(durations)
    assert stats.ld15iqr <= stats.median <= stats.hd15iqr
    assert stats.iqr_outliers == outliers
    assert outliers == sum(1 for d in durations if d < stats.ld15iqr or d > stats.hd15iqr)


def test_a_run_file_without_quartiles_gets_estimates_and_says_so() -> None:
    old = Stats(n=3, median=0.01, mean=0.01, min=0.009, max=0.012, iqr=0.002, stdev=0.001, p50=0.01, p95=0.012,
                p99=0.012)
    stats, estimated = benchmark_stats(old)
    assert set(estimated) == {"q1", "q3", "ld15iqr", "hd15iqr", "iqr_outliers", "stddev_outliers"}
    assert (stats["q1"], stats["q3"]) == (pytest.approx(0.009), pytest.approx(0.011))


def test_several_runs_cannot_be_one_export(tmp_path: Path) -> None:
    for name in ("a", "b"):
        save_run(hand_run(), tmp_path / f"{name}.json")
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
                                      "-f", "pytest-benchmark"])
    assert result.exit_code == 2
    assert "writes one run" in result.output


@pytest.mark.slow
def test_bench_writes_the_export_of_a_real_run(tmp_path: Path) -> None:
    out = tmp_path / "pb.json"
    result = CliRunner().invoke(cli, ["bench", "--sample", "tabular", "--rows", "2000", "-b", "parquet,arrow",
                                      "--ops", "write,read", "--repeat", "3", "--max-time", "2", "--no-save", "-q",
                                      "-f", "pytest-benchmark"])
    assert result.exit_code == 0, result.output
    out.write_text(result.stdout)
    document = json.loads(result.stdout)
    names = sorted(b["name"] for b in document["benchmarks"])
    assert names == ["read[arrow]", "read[parquet]", "write[arrow]", "write[parquet]"]
    assert all(b["extra_info"]["estimated"] == [] for b in document["benchmarks"])
    table = compare(out)
    assert "read[arrow]" in table and "write[parquet]" in table
