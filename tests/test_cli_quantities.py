"""Every command reads sizes, counts and latencies with the one parser in ``units``, and every error the
command line reports (its own or click's) is one ``storeadvise: error:`` line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import storeadvise
from storeadvise.bench.api import open_dataset
from storeadvise.cli import cli
from storeadvise.errors import UsageError

COUNT_MISTAKE = "expected a count like 20000, 10k or 1.5M"


def _invoke(*args: str):
    return CliRunner().invoke(cli, list(args), prog_name="storeadvise", catch_exceptions=False)


def _one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("storeadvise: error: ")
    return lines[0].removeprefix("storeadvise: error: ")


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["bench", "--sample", "tabular", "--rows", "ten"], "--rows"),
        (["bench", "--sample", "tabular", "--lookups", "ten"], "--lookups"),
        (["sample", "tabular", "--rows", "ten", "-o", "x.csv"], "--rows"),
        (["recommend", "-m", "tabular", "-p", "online", "--rows", "ten"], "--rows"),
        (["recommend", "-m", "tabular", "-p", "online", "--bench", "--bench-rows", "ten"], "--bench-rows"),
    ],
)
def test_a_bad_count_reads_the_same_on_every_command(args: list[str], option: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = _invoke(*args)
    assert result.exit_code == UsageError.exit_code
    assert _one_error_line(result) == f"{option} 'ten': {COUNT_MISTAKE}"
    assert list(tmp_path.iterdir()) == []


def test_sample_takes_rows_as_a_quantity(tmp_path: Path) -> None:
    out = tmp_path / "s.jsonl"
    result = _invoke("sample", "tabular", "--rows", "1.5k", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == 1500


def test_bench_takes_rows_lookups_and_memory_limit_as_quantities(tmp_path: Path) -> None:
    result = _invoke("bench", "--sample", "tabular", "--rows", "2k", "--lookups", "0.01k", "--memory-limit", "1GiB",
                     "-b", "parquet", "--ops", "write,lookup", "--repeat", "1", "--warmup", "0", "--no-save",
                     "-f", "json")
    assert result.exit_code == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["dataset"]["rows"] == 2000
    assert (run["settings"]["memory_limit"], run["settings"]["lookups"]) == (2**30, 10)


def test_recommend_reads_quantities_as_the_api_does() -> None:
    result = _invoke("recommend", "-m", "tabular", "-p", "online", "--rows", "10k", "--size", "2TB",
                     "--latency", "500us", "--format", "json")
    assert result.exit_code == 0, result.stderr
    advice = storeadvise.recommend(modality="tabular", purpose="online", rows="10k", size="2TB", latency="500us")
    assert json.loads(result.stdout) == advice.to_dict()
    inputs = advice.to_dict()["inputs"]
    assert (inputs["rows"]["value"], inputs["size"]["value"], inputs["latency"]["value"]) == (10_000, 2 * 10**12, 0.5)


def test_the_python_api_takes_the_same_quantities() -> None:
    dataset = open_dataset(sample="tabular", rows="1k")
    assert dataset.profile.rows == 1000
    with pytest.raises(UsageError, match=re.escape(f"--rows 'ten': {COUNT_MISTAKE}")):
        storeadvise.sample_dataset("tabular", "ten")
    with pytest.raises(UsageError, match="--lookups 0: expected a count"):
        storeadvise.benchmark(sample="tabular", rows=10, lookups=0, save=False)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--bogus"], "No such option '--bogus'; see 'storeadvise --help'"),
        (["nosuch"], "No such command 'nosuch'; see 'storeadvise --help'"),
        (["sample"], "Missing argument 'KIND'; see 'storeadvise sample --help'"),
        (["report", "x.json", "--format", "xml"], "Invalid value for '-f' / '--format': 'xml' is not one of"),
        (["bench", "--repeat", "x"], "Invalid value for '--repeat': 'x' is not a valid integer"),
    ],
)
def test_click_errors_follow_the_same_style(args: list[str], expected: str) -> None:
    result = _invoke(*args)
    assert result.exit_code == 2
    assert _one_error_line(result).startswith(expected)
