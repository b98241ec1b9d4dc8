"""Services: embedded servers start, answer, and never outlive the run; addresses resolve; URIs mask."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storeadvise.backends import services as services_module
from storeadvise.backends.services import Services, mask_uri

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
    with services as options:
        assert options["other"] == 1
        assert options["mongo_embedded"] is True and options["kafka_embedded"] is True
        assert "mongo_unavailable" not in options and "kafka_unavailable" not in options
        client = pymongo.MongoClient(options["mongo_uri"], serverSelectionTimeoutMS=5000)
        assert client.admin.command("ping")["ok"] == 1
        assert client.admin.command("hello").get("setName") == "secantus"
        client.close()
        admin = KafkaAdminClient(bootstrap_servers=options["kafka_bootstrap"], bootstrap_timeout_ms=5000)
        assert isinstance(admin.list_topics(), list)
        admin.close()
        pids = services.pids
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        assert sorted(set(_server_children()) - before) == sorted(pids)
        data_dirs = [p for p in tmp_path.iterdir() if p.is_dir() and p.name.startswith("mongo-")]
        assert data_dirs
    assert not any(_alive(p) for p in pids)
    assert set(_server_children()) - before == set()
    assert not any(d.exists() for d in data_dirs)


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
    script = (
        "import sys, time; from pathlib import Path; from storeadvise.backends.services import Services\n"
        "s = Services({'kafka', 'mongo'}, {}, Path(sys.argv[1]))\n"
        "s.__enter__(); print(*s.pids, flush=True); time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        parent.send_signal(signal.SIGKILL)  # no __exit__, no atexit: only the death signal is left
        parent.wait(timeout=10)
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(p) for p in pids)
    finally:
        parent.kill()
        parent.wait()


def test_given_addresses_are_used_instead_of_starting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOREADVISE_MONGO_URI", "mongodb://from-env.invalid:27017/")
    monkeypatch.setenv("STOREADVISE_KAFKA_BOOTSTRAP", "from-env.invalid:9092")
    services = Services({"mongo", "kafka"}, {"kafka_bootstrap": "given.invalid:9092"}, scratch_dir=tmp_path)
    with services as options:
        assert options["mongo_uri"] == "mongodb://from-env.invalid:27017/"
        assert options["kafka_bootstrap"] == "given.invalid:9092"  # the option beats the environment
        assert options["mongo_embedded"] is False and options["kafka_embedded"] is False
        assert services.pids == []


def test_missing_embedded_package_is_a_reason_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STOREADVISE_MONGO_URI", raising=False)
    real_find_spec = services_module.importlib.util.find_spec
    monkeypatch.setattr(
        services_module.importlib.util, "find_spec", lambda name: None if name == "secantus" else real_find_spec(name)
    )
    assert services_module.availability("mongo", {}) == (False, services_module.NOT_INSTALLED["mongo"])
    assert services_module.availability("mongo", {"mongo_uri": "mongodb://u:pw@h/"}) == (True, "uses mongodb://u:***@h/")
    with Services({"mongo"}, {}, scratch_dir=tmp_path) as options:
        assert options["mongo_unavailable"] == services_module.NOT_INSTALLED["mongo"]
        assert "pip install 'storeadvise[embedded]'" in options["mongo_unavailable"]
        assert "mongo_uri" not in options


def test_a_server_dying_at_start_up_reports_its_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STOREADVISE_KAFKA_BOOTSTRAP", raising=False)

    def broken(scratch: Path) -> services_module._Embedded:
        log = scratch / "broken.log"
        args = [sys.executable, "-c", "import sys; print('port already in use'); sys.exit(3)"]
        return services_module._Embedded("kafka", services_module._spawn(args, log), "127.0.0.1:1", log, None, None)

    monkeypatch.setitem(services_module._STARTERS, "kafka", broken)
    with Services({"kafka"}, {}, scratch_dir=tmp_path, start_timeout=10) as options:
        reason = options["kafka_unavailable"]
    assert "exited at start-up (code 3)" in reason
    assert "port already in use" in reason


def test_unknown_service_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown service"):
        Services({"redis"}, {}, scratch_dir=tmp_path)


@pytest.mark.parametrize(
    ("uri", "masked"),
    [
        ("mongodb://bob:hunter2@db.example:27017/x", "mongodb://bob:***@db.example:27017/x"),
        ("mongodb+srv://bob:p%40ss@cluster.example/?retryWrites=true", "mongodb+srv://bob:***@cluster.example/?retryWrites=true"),
        ("mongodb://a:1,b:2/db?authSource=admin&password=hunter2&w=1", "mongodb://a:1,b:2/db?authSource=admin&password=***&w=1"),
        ("mongodb://h/?tlsCertificateKeyFilePassword=hunter2", "mongodb://h/?tlsCertificateKeyFilePassword=***"),
        ("mongodb://bob@host:1/", "mongodb://bob@host:1/"),
        ("127.0.0.1:9092", "127.0.0.1:9092"),
    ],
)  # fmt: skip
def test_mask_uri_hides_passwords(uri: str, masked: str) -> None:
    assert mask_uri(uri) == masked
    assert "hunter2" not in mask_uri(uri)
