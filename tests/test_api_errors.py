"""Mistakes a Python API user can make raise ``UsageError`` (a ``StoreAdviseError``), never a bare
``TypeError`` / ``ValueError`` from deep inside, and nothing runs or is saved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import storeadvise
from storeadvise.errors import UsageError


@pytest.mark.parametrize(("arguments", "message"), [
    ({"max_time": "5"}, "--max-time must be a positive number of seconds"),
    ({"backends": ["csv", 3]}, "--backends takes comma-separated names or a list of strings"),
    ({"backends": 3}, "--backends takes comma-separated names or a list of strings"),
    ({"ops": 3}, "--ops takes comma-separated names or a list of strings"),
    ({"purpose": 3}, "--purpose must be a purpose's name"),
    ({"options": [1]}, "options must be a dict of backend settings"),
    ({"scale": 5}, "--scale 5: give at least two sizes"),
    ({"rows": "ten"}, "--rows 'ten': expected a count"),
    ({"lookups": 0}, "--lookups 0: expected a count"),
    ({"memory_limit": "lots"}, "--memory-limit 'lots': expected a size"),
])
def test_benchmark_argument_mistakes_are_usage_errors(arguments: dict[str, Any], message: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError) as info:
        storeadvise.benchmark(sample="tabular", **{"rows": 10, **arguments})
    assert str(info.value).startswith(message)
    assert list(tmp_path.iterdir()) == []
