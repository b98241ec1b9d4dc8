"""Services: embedded servers start, answer, and never outlive the run; addresses resolve; URIs mask."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from storeadvise import scratch
from storeadvise.backends import services as services_module
from storeadvise.backends.kafka import SERVICE as KAFKA
from storeadvise.backends.mongo import SERVICE as MONGO
from storeadvise.backends.services import Launch, Services, declared_services

server = pytest.mark.server


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _server_children() -> list[int]:
    """Live processes whose parent is this process and that look like one of our servers."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and (b"secantus" in cmdline or b"tansu" in cmdline) and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


@server
def test_starts_both_servers_that_answer_and_leave_nothing_behind(tmp_path: Path) -> None:
    import pymongo
    from kafka import KafkaAdminClient

    before = set(_server_children())  # the session's shared servers, when other tests started them
    services = Services({"mongo", "kafka"}, options={"other": 1}, scratch_dir=tmp_path)
    with services as statuses:
        assert list(statuses) == ["mongo", "kafka"]
        assert statuses["mongo"].embedded and statuses["kafka"].embedded
        assert statuses["mongo"].unavailable is None and statuses["kafka"].unavailable is None
        assert statuses["mongo"].version and statuses["kafka"].version
        client = pymongo.MongoClient(statuses["mongo"].address, serverSelectionTimeoutMS=5000)
        assert client.admin.command("ping")["ok"] == 1
        assert client.admin.command("hello").get("setName") == "secantus"
        client.close()
        admin = KafkaAdminClient(bootstrap_servers=statuses["kafka"].address, bootstrap_timeout_ms=5000)
        assert isinstance(admin.list_topics(), list)
        admin.close()
        pids = services.pids
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        assert sorted(set(_server_children()) - before) == sorted(pids)
        folders = sorted(tmp_path.glob("storeadvise-*"))  # one marked scratch folder per server
        assert [f.name.split("-")[1] for f in folders] == ["kafka", "mongo"]
        assert all(scratch.owner_of(f)["pid"] == os.getpid() for f in folders)
        assert list(tmp_path.glob("storeadvise-mongo-*/mongo-*"))  # SecantusDB's data
    assert not any(_alive(p) for p in pids)
    assert set(_server_children()) - before == set()
    assert list(tmp_path.iterdir()) == []


@server
def test_servers_stop_when_the_block_raises(tmp_path: Path) -> None:
    services = Services({"kafka"}, options={}, scratch_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt), services:
        pids = services.pids
        assert pids
        raise KeyboardInterrupt
    assert not any(_alive(p) for p in pids)


@server
@pytest.mark.slow
def test_servers_die_with_a_killed_parent(tmp_path: Path) -> None:
    """Every embedded server, including one run as another user when we are root (PostgreSQL), dies
    with a parent killed by SIGKILL, and whatever its clean-stop handler would do."""
    names = list(declared_services())
    script = (
        "import sys, time; from pathlib import Path; from storeadvise.backends.services import Services\n"
        "s = Services(sys.argv[2:], {}, Path(sys.argv[1]))\n"
        "statuses = s.__enter__(); print(*[x.unavailable for x in statuses.values()], sep='|', flush=True)\n"
        "print(*s.pids, flush=True); time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script, str(tmp_path), *names], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "|".join(["None"] * len(names))
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == len(names) and all(_alive(p) for p in pids)
        parent.send_signal(signal.SIGKILL)  # no __exit__, no atexit: only the death signal is left
        parent.wait(timeout=10)
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p for p in pids if _alive(p)]
        # Their data stays behind, marked with the dead owner, until the next Services on the folder.
        left = sorted(tmp_path.glob("storeadvise-*")) + sorted(Path(tempfile.gettempdir()).glob("storeadvise-*"))
        left = [f for f in left if (scratch.owner_of(f) or {}).get("pid") == parent.pid]
        assert len(left) >= len(names)
        with Services([], {}, tmp_path):
            pass
        assert list(tmp_path.iterdir()) == [] and not any(f.exists() for f in left)
    finally:
        parent.kill()
        parent.wait()


def test_given_addresses_are_used_instead_of_starting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOREADVISE_MONGO_URI", "mongodb://from-env.invalid:27017/")
    monkeypatch.setenv("STOREADVISE_KAFKA_BOOTSTRAP", "from-env.invalid:9092")
    services = Services({"mongo", "kafka"}, {"kafka_bootstrap": "given.invalid:9092"}, scratch_dir=tmp_path)
    with services as statuses:
        assert statuses["mongo"].address == "mongodb://from-env.invalid:27017/"
        assert statuses["kafka"].address == "given.invalid:9092"  # the option beats the environment
        assert not statuses["mongo"].embedded and not statuses["kafka"].embedded
        assert services.pids == []


def test_missing_embedded_package_is_a_reason_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STOREADVISE_MONGO_URI", raising=False)
    real_find_spec = services_module.importlib.util.find_spec
    monkeypatch.setattr(
        services_module.importlib.util, "find_spec", lambda name: None if name == "secantus" else real_find_spec(name)
    )
    assert MONGO.availability(None, {}) == (False, MONGO.not_installed)
    assert MONGO.availability(None, {"mongo_uri": "mongodb://u:pw@h/"}) == (True, "uses mongodb://u:***@h/")
    with Services({"mongo"}, {}, scratch_dir=tmp_path) as statuses:
        assert statuses["mongo"].unavailable == MONGO.not_installed
        assert "pip install 'storeadvise[embedded]'" in statuses["mongo"].unavailable
        assert "--mongo-uri" in statuses["mongo"].unavailable
        assert statuses["mongo"].address is None
        assert MONGO.availability(statuses["mongo"], {}) == (False, MONGO.not_installed)


def test_a_server_dying_at_start_up_reports_its_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STOREADVISE_KAFKA_BOOTSTRAP", raising=False)

    def broken(scratch: Path, port: int) -> Launch:
        return Launch([sys.executable, "-c", "import sys; print('port already in use'); sys.exit(3)"], "127.0.0.1:1")

    with Services([dataclasses.replace(KAFKA, launch=broken)], {}, scratch_dir=tmp_path, start_timeout=10) as statuses:
        reason = statuses["kafka"].unavailable
    assert reason.startswith("embedded Kafka (Tansu) exited at start-up (code 3)")
    assert "port already in use" in reason


def test_every_server_backend_declares_its_service() -> None:
    from storeadvise.backends import REGISTRY, backend_class

    services = declared_services()
    assert services["mongo"] is MONGO and services["kafka"] is KAFKA
    from storeadvise.backends._objectstore import SERVICE as OBJECT_STORE

    server_backends = [name for name in REGISTRY if backend_class(name).kind == "server"]
    # each service once (gridfs is served by mongo's), then the server of an object-storage location, which file
    # backends need only with --location
    once = list(dict.fromkeys(backend_class(name).service for name in server_backends))
    assert [*once, OBJECT_STORE] == list(services.values())
    assert (MONGO.cli_option, MONGO.env_var) == ("--mongo-uri", "STOREADVISE_MONGO_URI")
    assert (KAFKA.cli_option, KAFKA.env_var) == ("--kafka-bootstrap", "STOREADVISE_KAFKA_BOOTSTRAP")


def test_unknown_service_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown service"):
        Services({"no-such-server"}, {}, scratch_dir=tmp_path)


@pytest.mark.parametrize("command", ["bench", "recommend"])
def test_every_declared_service_has_its_address_option(command: str) -> None:
    from click.testing import CliRunner

    from storeadvise.cli import cli

    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    for service in declared_services().values():
        assert f"{service.cli_option} {service.metavar}" in result.output
        assert service.env_var in result.output
