"""Comparing runs: another dataset is refused (or, forced, warned about), what only one run holds is
listed, each change is judged against both runs' noise, --fail-above fails CI, several runs side by side."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import storeadvise
from storeadvise.bench.compare import FASTER, NO_SPREAD, SLOWER, WITHIN_NOISE, compare_runs, verdict
from storeadvise.bench.datasets import DataFingerprint, load_dataset, sample_dataset, write_sample
from storeadvise.bench.report import render, render_runs
from storeadvise.bench.results import Run, Stats, load_run, save_run
from storeadvise.cli import cli
from storeadvise.errors import DataError, Regression
from storeadvise.formatting import fmt_change

TINY = {"backends": ["csv", "parquet"], "ops": "write,read,scan", "repeat": 5, "warmup": 1, "max_time": 2.0,
        "save": False}


def _invoke(args: list[str]):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two runs of the same tiny benchmark, one of twice the rows, one of another kind of data."""
    folder = tmp_path_factory.mktemp("runs")
    # The first benchmark of a process pays its first calls (imports, thread pools); each CLI run pays
    # them alike, so the runs compared here come after one that is thrown away.
    storeadvise.benchmark(sample="tabular", rows=2_000, **TINY)
    made = {
        "first": storeadvise.benchmark(sample="tabular", rows=2_000, **TINY),
        "rerun": storeadvise.benchmark(sample="tabular", rows=2_000, **TINY),
        "double": storeadvise.benchmark(sample="tabular", rows=4_000, **TINY),
        "nested": storeadvise.benchmark(sample="nested", rows=2_000, **TINY),
        "other_seed": storeadvise.benchmark(sample="tabular", rows=2_000, seed=1, **TINY),
    }
    return {name: save_run(run, folder / f"{name}.json") for name, run in made.items()}


# -- the dataset fingerprint ---------------------------------------------------------------------------
def test_the_fingerprint_is_of_the_data_not_of_its_file_or_batches(tmp_path: Path) -> None:
    generated = sample_dataset("tabular", 3_000)
    rebatched = sample_dataset("tabular", 3_000, batch_rows=700)
    path = write_sample("tabular", 3_000, tmp_path / "t.parquet")
    from_file = load_dataset(path)
    prints = [DataFingerprint.of(d.profile.to_dict()) for d in (generated, rebatched, from_file)]
    assert prints[0].content and prints[0] == prints[1]
    assert prints[2].content == prints[0].content and prints[2].rows == 3_000
    assert from_file.profile.fingerprint["size"] == path.stat().st_size  # the FILE's fingerprint is apart
    other = DataFingerprint.of(sample_dataset("tabular", 3_000, seed=1).profile.to_dict())
    assert prints[0].differences(other) == ["content (same rows and schema, different values)"]


def test_a_run_file_records_the_data_fingerprint(runs: dict[str, Path]) -> None:
    saved = json.loads(runs["first"].read_text())["dataset"]["data_fingerprint"]
    assert saved["rows"] == 2_000 and len(saved["content"]) == 32 and "duckdb" in saved["content_method"]
    assert ["id", "int64"] in saved["schema"]


# -- refusing another dataset ----------------------------------------------------------------------------
@pytest.mark.parametrize(("other", "named"), [
    ("double", "rows 2,000 vs 4,000"),
    ("nested", "schema ("),
    ("other_seed", "content (same rows and schema, different values)"),
])
def test_a_baseline_of_another_dataset_is_refused_in_one_line(runs: dict[str, Path], other: str, named: str) -> None:
    result = _invoke(["report", str(runs[other]), "--baseline", str(runs["first"])])
    assert result.exit_code == DataError.exit_code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("storeadvise: error:") and named in lines[0]
    assert "--force" in lines[0] and not result.stdout
    with pytest.raises(DataError, match="different datasets"):
        render(load_run(runs[other]), "markdown", baseline=load_run(runs["first"]))


def test_force_compares_anyway_with_a_loud_warning_above_the_table(runs: dict[str, Path]) -> None:
    result = _invoke(["report", str(runs["double"]), "--baseline", str(runs["first"]), "--force"])
    assert result.exit_code == 0, result.output
    assert "WARNING" in result.stderr and "rows 2,000 vs 4,000" in result.stderr
    warning = result.stdout.index("WARNING")
    assert warning < result.stdout.index("vs baseline") and warning < result.stdout.index("write")


def test_an_old_run_file_without_a_fingerprint_loads_as_unknown(runs: dict[str, Path], tmp_path: Path) -> None:
    data = json.loads(runs["first"].read_text())
    del data["dataset"]["data_fingerprint"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data))
    assert DataFingerprint.of(load_run(old).dataset).content is None
    text = render(load_run(runs["rerun"]), "markdown", baseline=load_run(old))
    assert "not compared" in text and "same rows and schema" in text
    data["dataset"]["rows"] = 4_000  # what an old file does record still refuses another dataset
    old.write_text(json.dumps(data))
    with pytest.raises(DataError, match="rows 4,000 vs 2,000"):
        render(load_run(runs["rerun"]), "markdown", baseline=load_run(old))


# -- what only one run holds ----------------------------------------------------------------------------
def test_backends_and_operations_in_one_run_only_are_listed(runs: dict[str, Path], tmp_path: Path) -> None:
    data = json.loads(runs["rerun"].read_text())
    data["backends"] = [b for b in data["backends"] if b["backend"] != "csv"]  # no csv at all
    data["backends"][0]["measurements"] = [m for m in data["backends"][0]["measurements"] if m["op"] != "scan"]
    fewer = tmp_path / "fewer.json"
    fewer.write_text(json.dumps(data))
    comparison = compare_runs([load_run(runs["first"]), load_run(fewer)])
    first_id = load_run(runs["first"]).run_id
    assert comparison.only_in == [("backend csv", first_id), ("parquet scan", first_id)]
    text = render(load_run(fewer), "table", baseline=load_run(runs["first"]), width=200)
    assert "present in some runs only" in text and "backend csv" in text and "parquet scan" in text


# -- the noise verdict ------------------------------------------------------------------------------------
def _stats(median: float, spread: float = 0.02, n: int = 5) -> Stats:
    return Stats.of([median * (1 + spread * (i - n // 2) / max(n // 2, 1)) for i in range(n)])


def test_the_verdict_needs_a_change_beyond_both_spreads() -> None:
    assert verdict(_stats(0.010), _stats(0.015)) == SLOWER
    assert verdict(_stats(0.015), _stats(0.010)) == FASTER
    assert verdict(_stats(0.010), _stats(0.0103)) == WITHIN_NOISE  # under the floor
    assert verdict(_stats(0.010, spread=0.5), _stats(0.015, spread=0.5)) == WITHIN_NOISE  # spreads overlap
    assert verdict(_stats(0.001), _stats(0.0015)) == WITHIN_NOISE  # half a millisecond more: shifted, noise
    assert verdict(_stats(0.001), _stats(0.0015), latency=True) == SLOWER  # per call: not shifted
    assert verdict(_stats(0.010, n=1), _stats(0.030)) == NO_SPREAD
    assert verdict(_stats(0.010), _stats(0.030, n=1)) == NO_SPREAD


def test_ratios_read_as_a_factor_of_at_least_one() -> None:
    assert fmt_change(1.34) == "1.34× slower"
    assert fmt_change(0.5) == "2.00× faster"
    assert fmt_change(0.97) == "1.03× faster"
    assert fmt_change(1.0) == "1.00×"


def _interleaved_reruns(count: int = 5) -> tuple[Run, Run]:
    """Two runs of the same tiny benchmark, each timing of one taken between two of the other: one
    counted run per benchmark call, the calls alternating, each run's timings gathered into its stats.

    Sequential reruns on a loaded shared machine differ by up to 4x with tight spreads (docs/decisions.md,
    'Comparing runs: a change beyond noise when the whiskers of both runs part'); alternating puts the
    machine's load on both alike, so any verdict but "within noise" would blame the backend for it."""
    calls = [storeadvise.benchmark(sample="tabular", rows=2_000, **{**TINY, "repeat": 1}) for _ in range(2 * count)]
    runs = []
    for share in (calls[0::2], calls[1::2]):
        run = copy.deepcopy(share[0])
        for m in run.measurements():
            m.stats = Stats.of([next(x for x in r.measurements() if (x.backend, x.op) == (m.backend, m.op)).stats.median
                                for r in share])
        runs.append(run)
    return runs[0], runs[1]


def test_an_unchanged_backend_is_never_called_faster(runs: dict[str, Path]) -> None:
    first = load_run(runs["first"])
    itself = compare_runs([first, first]).changes(1).values()
    assert {change.text for change in itself} == {"within noise (+0%)"}
    one, other = _interleaved_reruns()
    for pair in ([one, other], [other, one]):
        changes = compare_runs(pair).changes(1)
        assert len(changes) == 6 and all(change.reference.n == 5 for change in changes.values())
        assert all(change.verdict == WITHIN_NOISE for change in changes.values()), {
            key: (change.ratio, change.verdict) for key, change in changes.items()}


# -- failing CI -------------------------------------------------------------------------------------------
def _with_parquet_read(source: Path, target: Path, timings: list[float]) -> Path:
    """A copy of a run file whose Parquet read took ``timings``: a figure whose spread the test knows."""
    data = json.loads(source.read_text())
    for b in data["backends"]:
        for m in b["measurements"]:
            if (b["backend"], m["op"]) == ("parquet", "read"):
                m["stats"] = vars(Stats.of(timings))
    target.write_text(json.dumps(data))
    return target


def test_fail_above_exits_with_its_code_and_names_what_is_slower(runs: dict[str, Path], tmp_path: Path) -> None:
    steady = [0.010, 0.0101, 0.0102, 0.0103, 0.0104]
    before = _with_parquet_read(runs["first"], tmp_path / "before.json", steady)
    slower = _with_parquet_read(runs["first"], tmp_path / "slower.json", [t * 3 for t in steady])
    result = _invoke(["report", str(slower), "--baseline", str(before), "--fail-above", "1.10"])
    assert result.exit_code == Regression.exit_code == 8, result.output
    assert "parquet read 3.00× slower" in result.stderr and "csv" not in result.stderr
    assert "3.00× slower" in result.stdout  # the table is shown first
    [regression] = storeadvise.compare_runs([load_run(before), load_run(slower)]).regressions(1.10)
    assert regression.key == ("parquet", "read", "warm") and regression.ratio == pytest.approx(3.0)
    noisy = _with_parquet_read(runs["first"], tmp_path / "noisy.json", [0.010, 0.011, 0.030, 0.031, 0.032])
    assert _invoke(["report", str(noisy), "--baseline", str(before), "--fail-above", "1.10"]).exit_code == 0
    same = _invoke(["report", str(runs["first"]), "--baseline", str(runs["first"]), "--fail-above", "1.10"])
    assert same.exit_code == 0, same.output
    alone = _invoke(["report", str(runs["first"]), "--fail-above", "1.10"])
    assert alone.exit_code == 2 and "--baseline" in alone.stderr


# -- several runs side by side ------------------------------------------------------------------------------
def test_several_runs_side_by_side_with_ratios_to_the_first(runs: dict[str, Path]) -> None:
    paths = [runs["first"], runs["rerun"], runs["first"]]
    result = _invoke(["report", *map(str, paths)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    head = next(line for line in lines if "run 3 vs run 1" in line)
    assert head.split()[:6] == ["backend", "op", "run", "1", "run", "2"]
    parquet_read = next(line for line in lines if line.split()[:2] == ["parquet", "read"])
    assert parquet_read.rstrip().endswith("within noise (+0%)")  # run 3 is run 1
    record = json.loads(render_runs([load_run(p) for p in paths], "json"))
    assert len(record["measurements"]) == 6 and all(len(m["medians"]) == 3 for m in record["measurements"])
    refused = _invoke(["report", str(runs["first"]), str(runs["rerun"]), str(runs["double"])])
    assert refused.exit_code == DataError.exit_code and "rows 2,000 vs 4,000" in refused.stderr


def test_runs_made_with_different_settings_are_compared_with_a_warning_naming_them() -> None:
    from storeadvise.bench.compare import compare_runs
    from storeadvise.bench.results import Run

    dataset = {"name": "t", "rows": 10, "data_fingerprint": {"rows": 10, "schema": [], "content": "ab"}}
    at = "2026-11-30T00:00:00+00:00"
    plain = Run(run_id="a", started_at=at, dataset=dataset, settings={"fsync": False, "cache": "warm"})
    durable = Run(run_id="b", started_at=at, dataset=dataset, settings={"fsync": True, "cache": "warm"})
    warnings = compare_runs([plain, durable]).warnings
    assert len(warnings) == 1 and "--fsync" in warnings[0] and "a: False" in warnings[0]
    assert compare_runs([plain, plain]).warnings == []
