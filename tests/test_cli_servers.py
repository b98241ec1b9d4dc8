"""`storeadvise bench` with server backends, as a user runs it: embedded servers gone afterwards,
a user's own servers left exactly as they were apart from what they held before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_users_own_servers_keep_their_data_and_lose_the_scratch(server_options: dict, tmp_path: Path) -> None:
    import pymongo
    from kafka.admin import KafkaAdminClient, NewTopic

    client = pymongo.MongoClient(server_options["mongo_uri"], serverSelectionTimeoutMS=5000)
    client["users_own"]["things"].insert_one({"keep": True})
    admin = KafkaAdminClient(bootstrap_servers=server_options["kafka_bootstrap"])
    admin.create_topics([NewTopic("users_own_topic", num_partitions=1, replication_factor=1)])
    try:
        import storeadvise

        run = storeadvise.benchmark(
            sample="nested", rows=300, backends=["mongo", "kafka"], repeat=1, warmup=0, lookups=10,
            options={"mongo_uri": server_options["mongo_uri"], "kafka_bootstrap": server_options["kafka_bootstrap"]},
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


def test_a_password_in_the_uri_is_never_printed_or_saved(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    secret = "hunter2-secret"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOREADVISE_")}
    env["STOREADVISE_MONGO_URI"] = f"mongodb://alice:{secret}@127.0.0.1:1/?serverSelectionTimeoutMS=500"
    result = subprocess.run(
        [sys.executable, "-m", "storeadvise.cli", "bench", "--sample", "tabular", "--rows", "200",
         "-b", "mongo,csv", "--repeat", "1", "--warmup", "0", "-o", str(out)],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )
    assert result.returncode == 6, result.stderr  # partial: the unreachable server's backend was skipped
    assert secret not in result.stdout + result.stderr
    assert secret not in out.read_text()
    mongo = next(b for b in json.loads(out.read_text())["backends"] if b["backend"] == "mongo")
    assert mongo["status"] == "skipped" and "alice:***@" in mongo["reason"]


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_an_interrupted_run_stops_its_servers_and_keeps_what_it_measured(signame: str, tmp_path: Path) -> None:
    import signal
    import time

    out = tmp_path / "run.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOREADVISE_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "storeadvise.cli", "bench", "--sample", "tabular", "--rows", "20000",
         "-b", "csv,mongo,kafka", "--scratch-dir", str(tmp_path), "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
        # A shell's background jobs inherit SIGINT ignored, and Python keeps an inherited ignore.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while len(_children_of(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)  # until both embedded servers run
    assert len(_children_of(proc.pid)) >= 2, "the embedded servers did not start"
    time.sleep(2)
    proc.send_signal(getattr(signal, signame))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "storeadvise: interrupted"
    assert "Traceback" not in err
    assert _processes_mentioning(str(tmp_path / "storeadvise-")) == []
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]
    run = json.loads(out.read_text())
    assert run["settings"]["interrupted"] is True
    assert run["backends"][-1]["reason"] == "interrupted"
