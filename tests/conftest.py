"""Shared fixtures.

Every service a backend declares gets a session fixture named ``<service>_server`` (``mongo_server``,
``kafka_server``): the ``ServiceStatus`` of its server, started the same way `storeadvise bench` starts
it (or the user's own, named by the service's environment variable such as STOREADVISE_MONGO_URI). A
server that cannot be had fails every test that needs it with the reason: CI never skips them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from storeadvise.backends.services import Service, Services, ServiceStatus, declared_services


def _server_fixture(service: Service) -> Callable[..., Iterator[ServiceStatus]]:
    @pytest.fixture(scope="session", name=f"{service.name}_server")
    def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceStatus]:
        scratch = tmp_path_factory.mktemp(f"{service.name}-server")
        with Services([service], options={}, scratch_dir=scratch) as statuses:
            status = statuses[service.name]
            if status.unavailable or not status.address:
                pytest.fail(
                    f"the server tests need {service.label} (or your own {service.product} in {service.env_var}), "
                    f"and they never skip: {status.unavailable or service.no_address}",
                    pytrace=False,
                )
            yield status

    return server


for _service in declared_services().values():
    globals()[f"{_service.name}_server"] = _server_fixture(_service)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    path = tmp_path / "scratch"
    path.mkdir()
    return path


@pytest.fixture(autouse=True)
def _no_user_server_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's own server by accident, except through the ``<service>_server``
    fixtures (session-scoped, so they read the environment before this removes it), nor ``--debug``."""
    for name in ("STOREADVISE_DEBUG", *(s.env_var for s in declared_services().values())):
        monkeypatch.delenv(name, raising=False)
    os.environ.setdefault("COLUMNS", "200")


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths every ``os.fsync`` call of the test flushes."""
    calls: list[str] = []
    real = os.fsync

    def recording(fd: int) -> None:
        calls.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", recording)
    return calls
