"""Bytes quoted from a user's file (column names, values, file names) never reach the terminal as control
characters: errors, tables, reports in every format and advice show them escaped."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import storeadvise
from storeadvise.bench.results import BackendRun, ColumnFidelity, Measurement, Run, Stats, Verification
from storeadvise.cli import cli
from storeadvise.formatting import printable

HOSTILE = "\x1b]0;pwned\x07"
"""Sets the terminal's title (OSC 0 ... BEL): harmless here, but the same path carries any escape."""
SHOWN = "\\x1b]0;pwned\\x07"
SHOWN_IN_MARKDOWN = SHOWN.replace("\\", "\\\\")  # Markdown escapes the backslash; it renders as SHOWN
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _invoke(args: list[str]):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def _no_raw_controls(text: str) -> None:
    assert not CONTROL.search(text), repr(CONTROL.search(text).group())


@pytest.fixture
def hostile_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A CSV whose file name and first (unique, so key) column name carry an escape sequence."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / f"data{HOSTILE}.csv"
    path.write_text(f"{HOSTILE},v\n1,a\n2,b\n3,c\n", encoding="utf-8")
    return path


def test_printable_escapes_controls_and_keeps_the_rest() -> None:
    assert printable(HOSTILE) == SHOWN
    assert printable("a\x9b31mb\x7fc\u202ed") == "a\\x9b31mb\\x7fc\\u202ed"
    assert printable("line\n\tnext") == "line\n\tnext"
    assert printable("line\n\tnext", keep="") == "line\\x0a\\x09next"
    text = "é 日本 ★ × ÷ – µs"
    assert printable(text) == text


def test_an_error_quoting_a_column_name_is_escaped(hostile_csv: Path) -> None:
    result = _invoke(["bench", str(hostile_csv), "--key", "nope", "-b", "csv"])
    assert result.exit_code == 2
    _no_raw_controls(result.stderr)
    assert result.stderr.count("\n") == 1  # one line, whatever the message quoted
    assert f"the columns are {SHOWN}, v" in result.stderr


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "html", "json"])
def test_a_benchmark_of_a_hostile_file_prints_it_escaped(fmt: str, hostile_csv: Path) -> None:
    result = _invoke(["bench", str(hostile_csv), "-b", "csv", "--ops", "write,read", "--repeat", "1",
                      "--warmup", "0", "-f", fmt])
    assert result.exit_code == 0, result.stderr
    _no_raw_controls(result.stdout + result.stderr)
    if fmt == "json":
        assert json.loads(result.stdout)["dataset"]["name"] == hostile_csv.name  # escaped by json, not changed
    elif fmt != "csv":  # the CSV export has no dataset line
        assert f"data{SHOWN_IN_MARKDOWN if fmt == 'markdown' else SHOWN}.csv" in result.stdout


def _hostile_run() -> Run:
    stats = Stats.of([0.01, 0.02])
    column = ColumnFidelity(HOSTILE, "int64", "string", "converted", detail=f"to {HOSTILE}")
    return Run(
        run_id="r1",
        started_at="2026-01-01T00:00:00+00:00",
        dataset={"name": f"x{HOSTILE}.csv", "rows": 3},
        settings={"backends": ["csv", "mongo"]},
        backends=[
            BackendRun("csv", verification=Verification(3, 3, True, columns=[column]),
                       measurements=[Measurement("csv", "write", stats=stats),
                                     Measurement("csv", "read", status="failed", reason=f"bad value {HOSTILE}")]),
            BackendRun("mongo", status="skipped", reason=f"cannot reach \x9b31m{HOSTILE}"),
        ],
    )


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "html", "json"])
def test_every_report_format_escapes_what_the_run_quotes(fmt: str) -> None:
    text = storeadvise.render(_hostile_run(), fmt, color=False)
    _no_raw_controls(text)
    if fmt != "json":
        assert (SHOWN_IN_MARKDOWN if fmt == "markdown" else SHOWN) in text


def test_a_colour_table_keeps_its_own_codes_and_escapes_the_runs() -> None:
    text = storeadvise.render(_hostile_run(), "table", color=True)
    assert "\x1b[" in text  # rich's colours
    assert "\x1b]" not in text and "\x07" not in text and "\x9b" not in text
    assert SHOWN in text


@pytest.mark.parametrize("fmt", ["text", "markdown", "table", "json"])
def test_advice_on_a_hostile_file_prints_its_column_names_escaped(fmt: str, hostile_csv: Path) -> None:
    result = _invoke(["recommend", "--data", str(hostile_csv), "--purpose", "online", "--format", fmt])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "\x1b]" not in out and "\x07" not in out
    if fmt == "json":
        assert f"key column {HOSTILE}." in json.loads(out)["notes"][0]  # escaped by json, the value kept
    else:
        assert f"key column {SHOWN}" in out
        if fmt != "table":  # rich's own colour codes are the only escapes in a terminal table
            _no_raw_controls(out)


@pytest.mark.parametrize("args", [["rules"], ["rules", "--format", "table"], ["rules", "--format", "markdown"],
                                  ["rules", "EVIL1"]])
def test_a_rules_file_cannot_send_escape_sequences(args: list[str], tmp_path: Path) -> None:
    rules = tmp_path / "evil.toml"
    rules.write_text('[[rules]]\nid = "EVIL1"\ntitle = "pwned \\u001b]0;pwned\\u0007 [bold]x[/bold]"\n'
                     'when = { purpose = "batch" }\nthen.duckdb = { score = 1, reason = "Ours." }\n', encoding="utf-8")
    result = CliRunner().invoke(cli, [*args, "--rules", str(rules)])
    assert result.exit_code == 0, result.output
    assert "\x1b]0;" not in result.output and "\x07" not in result.output
    assert "x1b]0;pwned" in result.output  # escaped (Markdown escapes the backslash once more)
