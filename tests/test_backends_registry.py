"""The backend registry is the modules of the backends folder: a new backend is one module."""

from __future__ import annotations

from pathlib import Path

import pytest

from storeadvise.backends import DEFAULT_BACKENDS, REGISTRY, _discover, backend_class


def test_every_backend_module_is_registered_under_its_own_name() -> None:
    assert {"csv", "jsonl", "parquet", "arrow", "sqlite", "duckdb", "mongo", "kafka"} <= set(REGISTRY)
    assert list(REGISTRY)[: len(DEFAULT_BACKENDS)] == list(DEFAULT_BACKENDS)
    for name in REGISTRY:
        cls = backend_class(name)
        assert cls.name == name
        assert cls.__module__ == f"storeadvise.backends.{name}"


def test_a_module_defining_a_class_named_after_it_is_a_backend_and_helpers_are_not(tmp_path: Path) -> None:
    (tmp_path / "redis.py").write_text("class RedisBackend(Backend):\n    name = 'redis'\n", encoding="utf-8")
    (tmp_path / "files_index.py").write_text("class FilesIndexBackend(Backend):\n    pass\n", encoding="utf-8")
    (tmp_path / "textcolumns.py").write_text("def to_text(column):\n    return column\n", encoding="utf-8")
    (tmp_path / "_helpers.py").write_text("class _HelpersBackend(Backend):\n    pass\n", encoding="utf-8")
    (tmp_path / "csv.py").write_text("class CsvBackend(FileBackend):\n    pass\n", encoding="utf-8")
    assert _discover(tmp_path) == {
        "csv": "storeadvise.backends.csv:CsvBackend",
        "files_index": "storeadvise.backends.files_index:FilesIndexBackend",
        "redis": "storeadvise.backends.redis:RedisBackend",
    }


def test_a_backend_whose_library_is_missing_stops_no_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from storeadvise.backends import REGISTRY, runnable_here
    from storeadvise.backends.services import declared_services
    from storeadvise.bench.listing import list_backends

    monkeypatch.setitem(REGISTRY, "broken", "storeadvise.backends.no_such_module:BrokenBackend")
    assert {"mongo", "kafka", "s3"} <= set(declared_services())  # the broken one stops none of them
    assert next(row for row in list_backends() if row["name"] == "broken")["available"] is False
    runnable, why_not = runnable_here(["csv", "broken"])
    assert runnable == ["csv"] and "cannot import" in why_not["broken"]


def test_a_backend_is_also_chosen_by_the_other_names_it_declares() -> None:
    from storeadvise.backends import parse_backend_names
    from storeadvise.errors import UsageError

    assert parse_backend_names("csv, JSON,ndjson,jsonl") == ["csv", "jsonl"]
    with pytest.raises(UsageError, match="unknown backend 'xml'"):
        parse_backend_names("xml")
