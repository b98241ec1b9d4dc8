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
