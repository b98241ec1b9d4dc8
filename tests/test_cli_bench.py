"""`storeadvise bench` from the command line: bad input gives one clear line and leaves nothing behind."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from storeadvise.cli import cli


def _invoke(args: list[str]):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


BAD_FILES = {
    "empty.csv": b"",
    "header_only.csv": b"id,name,score\n",
    "ragged.csv": b"id,name\n1,a\n2,b,extra\n3,c\n",
    "scalar.json": b"42\n",
    "numbers.json": b"[1, 2, 3]\n",
    "broken.json": b'[{"a": 1}, {"a": \n',
    "data.xyz": b"id\n1\n",
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_is_one_line_and_changes_nothing(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / name
    path.write_bytes(BAD_FILES[name])
    before, mtime = _digest(path), path.stat().st_mtime_ns
    result = _invoke(["bench", str(path), "--backends", "csv", "--repeat", "1"])
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("storeadvise: error:"), result.stderr
    assert name in lines[0]
    assert "Traceback" not in result.output + result.stderr
    assert _digest(path) == before and path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no results/, no scratch


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["bench", "missing.csv"], "missing.csv"),
        (["bench", "--sample", "tabular", "--rows", "0"], "--rows"),
        (["bench", "--sample", "tabular", "--rows", "-5"], "--rows"),
        (["bench", "--sample", "pictures", "--rows", "10"], "pictures"),
        (["bench", "--sample", "tabular", "--rows", "10", "--backends", "csv,oracle"], "oracle"),
        (["bench", "--sample", "tabular", "--rows", "10", "--ops", "write,teleport"], "teleport"),
        (["bench", "--sample", "tabular", "--rows", "10", "--purpose", "fun"], "fun"),
        (["bench", "x.csv", "--sample", "tabular"], "not both"),
        (["bench", "--sample", "tabular", "--rows", "10", "--memory-limit", "lots"], "--memory-limit"),
        (["bench", "--sample", "tabular", "--rows", "10", "-O", "novalue"], "KEY=VALUE"),
        (["report", "nothing.json"], "nothing.json"),
    ],
)
def test_usage_errors(args: list[str], needle: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = _invoke(args)
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "results").exists()


def test_an_input_format_without_a_data_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = _invoke(["bench", "--sample", "tabular", "--rows", "10", "--input-format", "xls", "-b", "csv",
                      "--ops", "write", "--repeat", "1", "-f", "json"])
    assert result.exit_code == 2, result.stderr
    assert "--input-format 'xls' describes a data file; none was given (samples need none)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "results").exists()


def test_report_rejects_a_file_that_is_not_a_run(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"hello": 1}))
    result = _invoke(["report", str(path)])
    assert result.exit_code != 0
    assert "not a storeadvise run file" in result.stderr


def test_debug_shows_the_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    from storeadvise.errors import UsageError

    with pytest.raises(UsageError):
        CliRunner().invoke(cli, ["--debug", "bench", "--sample", "tabular", "--rows", "0"], catch_exceptions=False)
