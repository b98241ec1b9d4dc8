"""Faults, injected for real into `storeadvise bench` run as a user runs it (a subprocess): a server
killed while it is written to, a full scratch disk, an unwritable run file, SIGINT and SIGTERM in
every phase, and a SIGKILL followed by a new run.

The tests follow the run through its progress line (the CLI shows it when stderr is a terminal, so
it gets a pseudo-terminal here) and act when a phase begins: no fixed sleeps.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from storeadvise import scratch

pytestmark = pytest.mark.server

PHASE_TIMEOUT = 60.0
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOREADVISE_")}
    env["COLUMNS"] = "200"
    return env


class _Bench:
    """`storeadvise bench ARGS` in a subprocess whose stderr is a pseudo-terminal, read by a thread."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        master, terminal = pty.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "storeadvise.cli", "bench", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal, env=_env(), cwd=cwd,
            # A shell's background jobs inherit SIGINT ignored, and Python keeps an inherited ignore.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
        os.close(terminal)
        self._master = master
        self._text = ""
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # the terminal closed: the process and its children are gone
                chunk = b""
            with self._changed:
                self._text += _ANSI.sub("", chunk.decode("utf-8", errors="replace"))
                self._changed.notify_all()
            if not chunk:
                return

    def wait_for(self, pattern: str) -> None:
        """Until the progress line shows ``pattern`` (a regular expression)."""
        found = re.compile(pattern)
        with self._changed:
            ok = self._changed.wait_for(
                lambda: found.search(self._text) or not self._reader.is_alive(), timeout=PHASE_TIMEOUT
            )
        assert ok and found.search(self._text), f"never saw {pattern!r}; exit {self.proc.poll()}: {self._text[-2000:]}"

    def finish(self, timeout: float = 90) -> tuple[int, str, str]:
        out, _ = self.proc.communicate(timeout=timeout)
        self._reader.join(timeout=10)
        os.close(self._master)
        return self.proc.returncode, out.decode(errors="replace"), self._text


def _children(pid: int) -> list[int]:
    """Live child processes of ``pid`` (the embedded servers of a run)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _until_gone(pids: list[int], timeout: float = 20) -> list[int]:
    """The processes still alive once ``timeout`` is spent or all are gone."""
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


def _one_line(reason: str) -> bool:
    return bool(reason) and "\n" not in reason and "Traceback" not in reason


# -- SIGINT and SIGTERM in each phase ------------------------------------------------------------------
PHASES = {
    "server start-up": r"starting servers",
    "a write": r"mongo write (warm-up|run)",
    "an operation": r"kafka read (warm-up|run)",
    "verification": r"mongo verify verifying",
}


@pytest.mark.slow
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("phase", list(PHASES))
def test_a_signal_in_any_phase_stops_the_servers_saves_the_run_and_leaves_no_scratch(
    phase: str, signame: str, tmp_path: Path
) -> None:
    scratch_dir = tmp_path / "scratch"
    scratch_dir.mkdir()
    out = tmp_path / "run.json"
    bench = _Bench(["--sample", "tabular", "--rows", "20000", "-b", "csv,mongo,kafka", "--ops", "write,read",
                    "--repeat", "1", "--scratch-dir", str(scratch_dir), "-o", str(out)], tmp_path)  # fmt: skip
    bench.wait_for(PHASES[phase])
    servers = _children(bench.proc.pid)
    if phase == "server start-up":  # a server has been spawned; the run waits for it to answer
        deadline = time.monotonic() + PHASE_TIMEOUT
        while not servers and bench.proc.poll() is None and time.monotonic() < deadline:
            servers = _children(bench.proc.pid)
        assert servers, "no embedded server was started"
    bench.proc.send_signal(getattr(signal, signame))
    code, _, err = bench.finish()

    assert code == 130, err[-2000:]
    assert "storeadvise: interrupted" in err and "Traceback" not in err
    assert _until_gone(servers) == []
    assert list(scratch_dir.iterdir()) == []
    run = json.loads(out.read_text())
    assert run["settings"]["interrupted"] is True
    if phase == "server start-up":
        assert run["backends"] == [] and "servers" not in run["settings"]
    else:
        assert run["backends"][0]["backend"] == "csv" and run["backends"][0]["status"] == "ok"


# -- SIGKILL, then a new run -----------------------------------------------------------------------------
@pytest.mark.slow
def test_after_a_sigkill_the_servers_die_and_the_next_run_sweeps_the_scratch(tmp_path: Path) -> None:
    scratch_dir = tmp_path / "scratch"
    scratch_dir.mkdir()
    bench = _Bench(["--sample", "tabular", "--rows", "20000", "-b", "mongo,kafka", "--ops", "write",
                    "--scratch-dir", str(scratch_dir), "--no-save"], tmp_path)  # fmt: skip
    bench.wait_for(r"mongo write (warm-up|run)")
    servers = _children(bench.proc.pid)
    assert len(servers) == 2
    bench.proc.send_signal(signal.SIGKILL)  # no handler, no finally, no atexit
    bench.finish()

    assert _until_gone(servers) == []  # PR_SET_PDEATHSIG stopped them
    (left,) = scratch_dir.iterdir()
    assert scratch.owner_of(left)["pid"] == bench.proc.pid
    assert list(left.glob("servers/storeadvise-mongo-*/mongo-*"))  # the embedded server's data is there too
    assert sum(p.stat().st_size for p in left.rglob("*") if p.is_file()) > 0

    done = subprocess.run(
        [sys.executable, "-m", "storeadvise.cli", "bench", "--sample", "tabular", "--rows", "200", "-b", "csv",
         "--repeat", "1", "--scratch-dir", str(scratch_dir), "--no-save"],
        capture_output=True, text=True, timeout=120, env=_env(), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert list(scratch_dir.iterdir()) == []


# -- a server killed while it is written to -------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("service", ["mongo", "kafka"])
def test_a_server_killed_mid_write_fails_that_backend_in_one_line_and_the_others_complete(
    service: str, tmp_path: Path
) -> None:
    from storeadvise.backends.services import Services

    servers = Services([service], {}, scratch_dir=tmp_path / "server")
    with servers as statuses:
        address = statuses[service].address
        assert address, statuses[service].unavailable
        (server,) = servers.pids
        out = tmp_path / "run.json"
        bench = _Bench(["--sample", "tabular", "--rows", "20000", "-b", f"{service},csv", "--repeat", "1",
                        "--ops", "write,read,scan", "-O", "kafka_timeout_s=3", statuses[service].service.cli_option,
                        address, "-o", str(out)], tmp_path)  # fmt: skip
        bench.wait_for(rf"{service} write (warm-up|run)")
        os.killpg(server, signal.SIGKILL)
        _, _, err = bench.finish()

    assert "Traceback" not in err
    run = json.loads(out.read_text())
    killed, other = run["backends"]
    problems = [killed["reason"]] if killed["status"] != "ok" else []
    problems += [m["reason"] for m in killed["measurements"] if m["status"] == "failed"]
    assert problems and all(_one_line(reason) for reason in problems), killed
    assert killed["status"] in ("failed", "skipped") or killed["measurements"][0]["status"] == "failed"
    assert other["backend"] == "csv" and other["status"] == "ok" and not other["verification"]["flagged"]
    assert all(m["status"] == "ok" for m in other["measurements"])


# -- a full scratch disk ---------------------------------------------------------------------------------
FULL_DISK_RUNNER = """
import json, os, resource, signal, subprocess, sys
how, scratch, args = sys.argv[1], sys.argv[2], sys.argv[3:]
if how == "tmpfs":
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "storeadvise-test", scratch], check=True)
else:  # a file may not grow past 256 kB: writes fail with EFBIG instead of the signal that would kill us
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))
done = subprocess.run([sys.executable, "-m", "storeadvise.cli", "bench", "--scratch-dir", scratch, *args],
                      capture_output=True, text=True)
print(json.dumps({"code": done.returncode, "stderr": done.stderr, "left": os.listdir(scratch)}))
"""


def _full_disk() -> list[str]:
    """How to run a command with a full scratch disk: a 256 kB tmpfs mounted in a user namespace (no
    root needed where the kernel allows unprivileged user namespaces), else a 256 kB file size limit."""
    if shutil.which("unshare"):
        probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True)
        if probe.returncode == 0:
            return ["unshare", "--user", "--map-root-user", "--mount", sys.executable, "-c", FULL_DISK_RUNNER, "tmpfs"]
    return [sys.executable, "-c", FULL_DISK_RUNNER, "rlimit"]


def test_a_full_scratch_disk_fails_each_file_backend_in_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    scratch_dir = tmp_path / "scratch"
    scratch_dir.mkdir()
    out = tmp_path / "run.json"
    names = ["csv", "jsonl", "parquet", "sqlite", "arrow", "duckdb"]
    done = subprocess.run(
        [*_full_disk(), str(scratch_dir), "--sample", "tabular", "--rows", "20000", "-b", ",".join(names),
         "--ops", "write,read", "--repeat", "1", "-o", str(out)],
        capture_output=True, text=True, timeout=120, env=_env(), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert "Traceback" not in result["stderr"], result["stderr"]
    assert result["left"] == []  # the scratch folder went, on the full disk itself
    run = json.loads(out.read_text())
    assert [b["backend"] for b in run["backends"]] == names
    full = re.compile(r"(?i)no space|disk is full|too large|i/o error|could not write|errno 2[78]|error 2[78]")
    for backend in run["backends"]:
        assert backend["status"] == "failed" and _one_line(backend["reason"]), backend
        assert backend["reason"].startswith("write failed: ") and full.search(backend["reason"]), backend


# -- an unwritable run file ------------------------------------------------------------------------------
def test_an_unwritable_run_file_is_refused_before_any_backend_or_server_starts(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        folder = Path("/sys")  # permission bits do not stop root; sysfs refuses new files to everyone
    else:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o555)
    scratch_dir = tmp_path / "scratch"
    scratch_dir.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "storeadvise.cli", "bench", "--sample", "tabular", "--rows", "200",
         "-b", "csv,mongo,kafka", "--scratch-dir", str(scratch_dir), "-o", str(folder / "run.json")],
        capture_output=True, text=True, timeout=120, env=_env(), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("storeadvise: error: --out") and len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""
    assert list(scratch_dir.iterdir()) == []  # no backend ran and no server started: they would live here
