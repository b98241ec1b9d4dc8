"""Every command is documented: an example in its help, a mention in the README (sqlite-utils' habit)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from storeadvise.cli import COMMANDS, cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_help_has_an_example(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output
    assert f"storeadvise {name}" in result.output


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_readme_mentions_every_command(name: str) -> None:
    assert re.search(rf"storeadvise {name}\b", README), name


def test_quick_start_is_two_commands_and_ci_runs_the_test_one() -> None:
    block = README.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make demo", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_group_help_lists_every_command_without_importing_them() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert all(name in result.output for name in COMMANDS)


def _how_to_read() -> str:
    return README.split("## How to read the table", 1)[1].split("\n## ", 1)[0]


def test_every_mark_the_table_uses_is_explained() -> None:
    from storeadvise.bench import matrix, table
    from storeadvise.formatting import DASH

    marks = {name: getattr(table, name) for name in dir(table) if name.endswith("_MARK")}
    marks |= {f"matrix {status}": text for status, text in matrix.NOT_DONE.items()} | {"DASH": DASH}
    section = _how_to_read()
    assert len(marks) >= 9
    for name, mark in marks.items():
        assert f"**{mark}**" in section or f"`{mark}" in section, f"{name} ({mark}) is not explained"


def test_every_column_the_tables_can_show_is_explained() -> None:
    from storeadvise.bench.results import Measurement, Stats
    from storeadvise.bench.table import Entry, _columns

    full = Measurement("b", "write", stats=Stats.of([1.0, 2.0]), rows_per_s=1.0, mb_per_s=1.0,
                       peak_memory_bytes=1, bytes_at_rest=1, size_ratio=1.0, cache="warm", durable=True)
    entries = [Entry(full, untrusted=True), Entry(Measurement("c", "write", status="failed"))]
    titles = {c.title for latency in (False, True) for c in _columns(latency, entries)} - {"note"}
    section = _how_to_read()
    for title in titles | {"score"}:
        assert f"**{title}**" in section, f"column {title!r} is not explained"
