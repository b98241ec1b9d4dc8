"""`storeadvise bench` with server backends, as a user runs it: embedded servers gone afterwards,
a user's own servers left exactly as they were apart from what they held before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from storeadvise.backends import REGISTRY

pytestmark = pytest.mark.server


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(cmdline)
    return found


def _children_of(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry.name))
    return children


def test_bench_starts_and_stops_the_embedded_servers(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOREADVISE_")}
    result = subprocess.run(
        [sys.executable, "-m", "storeadvise.cli", "bench", "--sample", "tabular", "--rows", "300",
         "-b", "mongo,kafka,csv", "--repeat", "1", "--warmup", "0", "--lookups", "10", "-o", str(out),
         "--scratch-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    run = json.loads(out.read_text())
    servers = {b["backend"]: b["server"] for b in run["backends"] if b["server"]}
    assert servers["mongo"]["embedded"] and servers["kafka"]["embedded"]
    assert all(b["status"] == "ok" and not b["verification"]["flagged"] for b in run["backends"])
    assert _processes_mentioning(str(tmp_path)) == []  # no server of this run survives it
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # scratch (server data too) removed


def test_users_own_servers_keep_their_data_and_lose_the_scratch(mongo_server, kafka_server, tmp_path: Path) -> None:
    import pymongo
    from kafka.admin import KafkaAdminClient, NewTopic

    client = pymongo.MongoClient(mongo_server.address, serverSelectionTimeoutMS=5000)
    client["users_own"]["things"].insert_one({"keep": True})
    admin = KafkaAdminClient(bootstrap_servers=kafka_server.address)
    admin.create_topics([NewTopic("users_own_topic", num_partitions=1, replication_factor=1)])
    try:
        import storeadvise

        run = storeadvise.benchmark(
            sample="nested", rows=300, backends=["mongo", "kafka"], repeat=1, warmup=0, lookups=10,
            options={"mongo_uri": mongo_server.address, "kafka_bootstrap": kafka_server.address},
            out=tmp_path / "run.json",
        )
        assert all(b.status == "ok" for b in run.backends), [(b.backend, b.reason) for b in run.backends]
        assert not any(b.server["embedded"] for b in run.backends)
        assert not [n for n in client.list_database_names() if n.startswith("storeadvise_")]
        assert not [t for t in admin.list_topics() if t.startswith("storeadvise_")]
        assert client["users_own"]["things"].count_documents({"keep": True}) == 1
        assert "users_own_topic" in admin.list_topics()
    finally:
        client.drop_database("users_own")
        admin.delete_topics(["users_own_topic"])
        client.close()
        admin.close()


@pytest.mark.parametrize("command", ["bench", "recommend"])
def test_no_secret_of_any_declared_service_is_printed_or_saved(command: str, tmp_path: Path) -> None:
    """Every declared service gets a credential-bearing address (half by option, half by environment
    variable), its secret options and variables are set, and none of it may reach stdout, stderr or
    the run file, whatever the client libraries say about the unreachable servers."""
    from storeadvise.backends.services import declared_services

    env = {k: v for k, v in os.environ.items() if not k.startswith("STOREADVISE_")}
    args: list[str] = []
    secrets: list[str] = []
    for n, service in enumerate(declared_services().values()):
        secret = f"hunter2-{service.name}-Secret"
        secrets.append(secret)
        plain = service.launch(tmp_path / "launch", 1).address  # port 1: nothing answers there
        scheme, sep, rest = plain.rpartition("://")
        address = f"{scheme}{sep}alice:{secret}@{rest}"
        if n % 2:
            env[service.env_var] = address
        else:
            args += [service.cli_option, address]
        for name in service.secret_environment:
            env[name] = f"{secret}-{name}"
            secrets.append(env[name])
    # the backend that needs each service: its own, or parquet in a bucket for an object-storage location
    users = {s.name: s.name if s.name in REGISTRY else "parquet" for s in declared_services().values()}
    names = ",".join(["csv", *users.values()])
    if command == "bench":
        args = ["bench", "--sample", "tabular", "--rows", "200", "-b", names, "--repeat", "1", "--warmup", "0",
                "--location", "s3://storeadvise-secret-test/x",
                "-O", "kafka_sasl_plain_password=hunter2-option-Secret", "-o", str(tmp_path / "run.json"), *args]
    else:
        args = ["recommend", "--modality", "tabular", "--purpose", "online", "--bench", "--bench-rows", "200",
                "--bench-backends", names, *args]
    secrets.append("hunter2-option-Secret")
    result = subprocess.run(
        [sys.executable, "-m", "storeadvise.cli", *args],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )  # fmt: skip
    # bench: partial, the unreachable servers' backends were skipped; recommend: the advice stands, its
    # evidence says what it could not measure, and the exit code that the evidence is partial
    assert result.returncode == 6, result.stderr
    saved = list(tmp_path.glob("run.json")) + list(tmp_path.glob("results/*.json"))
    assert len(saved) == 1, result.stderr
    everything = result.stdout + result.stderr + saved[0].read_text()
    assert [s for s in secrets if s in everything] == []
    run = json.loads(saved[0].read_text())
    statuses = {b["backend"]: (b["status"], b["reason"]) for b in run["backends"]}
    for service in declared_services().values():
        if command == "recommend" and service.name not in REGISTRY:
            continue  # recommend has no --location: no backend of its run needs the object store
        assert statuses[users[service.name]][0] == "skipped" and "alice:***@" in statuses[users[service.name]][1]
        assert run["settings"]["servers"][service.name]["address"].count("alice:***@") == 1


def _wait_for_saved_backends(out: Path, proc: subprocess.Popen, count: int) -> None:
    """Until the run file, rewritten after every backend, lists ``count`` backends."""
    import time

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if len(json.loads(out.read_text())["backends"]) >= count:
                return
        except (OSError, ValueError, KeyError):
            pass  # not written yet, or caught mid-write
        time.sleep(0.05)
    raise AssertionError(f"the run did not save {count} backend(s); it exited with {proc.poll()}")


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_an_interrupted_run_stops_its_servers_and_keeps_what_it_measured(signame: str, tmp_path: Path) -> None:
    import signal

    out = tmp_path / "run.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOREADVISE_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "storeadvise.cli", "bench", "--sample", "tabular", "--rows", "20000",
         "-b", "csv,mongo,kafka", "--scratch-dir", str(tmp_path), "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
        # A shell's background jobs inherit SIGINT ignored, and Python keeps an inherited ignore.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # csv is measured and saved once both servers answer; the interrupt then lands in mongo's turn.
    _wait_for_saved_backends(out, proc, 1)
    assert len(_children_of(proc.pid)) >= 2, "the embedded servers are not running"
    proc.send_signal(getattr(signal, signame))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "storeadvise: interrupted"
    assert "Traceback" not in err
    assert _processes_mentioning(str(tmp_path / "storeadvise-")) == []
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]
    run = json.loads(out.read_text())
    assert run["settings"]["interrupted"] is True
    assert run["backends"][0]["backend"] == "csv" and run["backends"][0]["status"] == "ok"
    assert run["backends"][-1]["reason"] == "interrupted"
