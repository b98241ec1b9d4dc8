"""Shared fixtures. Server backends run against the embedded servers, started once per session
the same way `storeadvise bench` starts them (or against STOREADVISE_MONGO_URI /
STOREADVISE_KAFKA_BOOTSTRAP when those are set)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def server_options(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Backend options (mongo_uri, kafka_bootstrap, ...) pointing at running servers."""
    from storeadvise.backends.services import Services

    scratch = tmp_path_factory.mktemp("servers")
    with Services({"mongo", "kafka"}, options={}, scratch_dir=scratch) as options:
        yield options


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    path = tmp_path / "scratch"
    path.mkdir()
    return path


@pytest.fixture(autouse=True)
def _no_user_server_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's own server by accident, except through the fixture."""
    for name in ("STOREADVISE_DEBUG",):
        monkeypatch.delenv(name, raising=False)
    os.environ.setdefault("COLUMNS", "200")
