"""Every kind of error has an exit code of its own, and the README's table documents each."""

from __future__ import annotations

import re
from pathlib import Path

import storeadvise.errors as errors
from storeadvise.cli import EXIT_INTERRUPTED

README = Path(__file__).resolve().parents[1] / "README.md"


def _kinds() -> list[type[errors.StoreAdviseError]]:
    return [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.StoreAdviseError)]


def test_each_error_kind_has_its_own_exit_code() -> None:
    codes = [kind.exit_code for kind in _kinds()]
    assert len(codes) == len(set(codes)), {kind.__name__: kind.exit_code for kind in _kinds()}
    assert EXIT_INTERRUPTED not in codes and 0 not in codes


def test_the_readme_documents_every_exit_code() -> None:
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", README.read_text(encoding="utf-8"), re.M)}
    assert {kind.exit_code for kind in _kinds()} | {0, EXIT_INTERRUPTED} == documented
