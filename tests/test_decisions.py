"""The decisions log stays reachable from the code: every pointer names an entry that exists, every
entry records what was compared and its figures, and no comment cites a name a reader cannot look up."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOG = (ROOT / "docs" / "decisions.md").read_text(encoding="utf-8")
SKIPPED_DIRS = {".git", ".venv", "build", "dist", "results", "__pycache__", ".pytest_cache", ".ruff_cache"}

POINTER = re.compile(r"docs/decisions\.md,\s*'([^']+)'")
# Internal names of the people or runs that measured something: a reader has no way to look them up.
UNTRACEABLE = re.compile(r"\bhelper-\d+\b|\bthe last suite run\b|\bmeasured today\b", re.IGNORECASE)


def _sources() -> Iterator[Path]:
    """The project's Python files and README, wherever they sit in the tree."""
    yield ROOT / "README.md"
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info")]
        yield from (Path(folder) / f for f in files if f.endswith(".py"))


def _one_line(text: str) -> str:
    """``text`` with line breaks, comment markers and indentation between words collapsed, so that a
    pointer wrapped over several docstring or comment lines reads as one."""
    return re.sub(r"\s*\n\s*(#\s*)?", " ", text)


def _entry_titles() -> set[str]:
    """The entries' titles, without the part in parentheses that names the code."""
    titles = set()
    for heading in re.findall(r"^### (.+)$", LOG, flags=re.MULTILINE):
        titles.add(re.sub(r"\s*\(`[^)]*\)\s*$", "", heading).strip())
    return titles


def _pointers() -> list[tuple[str, str]]:
    return [(path.relative_to(ROOT).as_posix(), title)
            for path in _sources()
            for title in POINTER.findall(_one_line(path.read_text(encoding="utf-8")))]


def test_the_code_points_to_the_decisions_log() -> None:
    files = {path for path, _ in _pointers()}
    assert {"backends/csv.py", "backends/parquet.py", "backends/duckdb.py", "backends/mongo.py"} <= files


@pytest.mark.parametrize(("path", "title"), _pointers())
def test_a_pointer_names_an_entry_of_the_log(path: str, title: str) -> None:
    assert title in _entry_titles(), f"{path} points to '{title}', which docs/decisions.md has no entry for"


@pytest.mark.parametrize("entry", re.split(r"^(?=### )", LOG, flags=re.MULTILINE)[1:],
                         ids=lambda entry: entry.splitlines()[0][4:60])
def test_an_entry_says_what_was_chosen_against_what_and_its_figures(entry: str) -> None:
    assert "**Decision.**" in entry
    assert "**Compared" in entry
    assert "Figures" in entry or "figures" in entry, "give the figures, or say they were not recorded"


def test_no_comment_cites_a_name_a_reader_cannot_look_up() -> None:
    this_file = Path(__file__).resolve()
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in _sources() if path.resolve() != this_file
        for match in UNTRACEABLE.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not found, found
