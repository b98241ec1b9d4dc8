"""What the runner records besides time: peak memory of an operation, and the machine it ran on."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

RECORDED_EXTRAS = ("embedded", "dev")
"""Besides the core dependencies, the versions of these extras' packages are recorded (the embedded
servers, and the second clients the tests and the perf suite compare with)."""
TOOLS = frozenset({"pytest", "pytest-benchmark", "ruff", "hypothesis", "tomli"})
"""Declared packages that store and measure nothing: not recorded."""


def recorded_libraries() -> list[str]:
    """The distributions whose versions a run records: every package storeadvise declares (pyproject.toml
    is the one list, so a new backend's client is recorded once it is declared), less the tools."""
    import re

    try:
        requirements = metadata.requires("storeadvise") or []
    except metadata.PackageNotFoundError:
        return []
    names: list[str] = []
    for requirement in requirements:
        name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]
        extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)", requirement)
        if (extra is None or extra.group(1) in RECORDED_EXTRAS) and name not in TOOLS and name not in names:
            names.append(name)
    return names

# These run around every counted run, so they use raw os calls: through pathlib and str.splitlines a
# probe cost a few percent of a millisecond-scale operation, several times what it costs this way
# (docs/decisions.md, 'The peak-memory probe reads /proc through raw os calls').


def _read(path: str) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(fd, 8192)
    finally:
        os.close(fd)


def _status_kib(field: str, process: str = "self") -> int | None:
    data = _read(f"/proc/{process}/status")
    if data is None:
        return None
    at = data.find(field.encode() + b":")
    if at < 0:
        return None
    return int(data[at + len(field) + 1 : data.index(b"\n", at)].split()[0])


def rss_bytes(process: str = "self") -> int | None:
    """Resident size of this process (or of the process with id ``process``), None where unknown."""
    data = _read(f"/proc/{process}/statm")
    return None if data is None else int(data.split()[1]) * _PAGE


def _reset_high_water(process: str) -> bool:
    try:
        fd = os.open(f"/proc/{process}/clear_refs", os.O_WRONLY)
    except OSError:
        return False
    try:
        os.write(fd, b"5")
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def release_retained_memory() -> None:
    """Hand back the memory Arrow's pool keeps for reuse after it was freed: a run after a warm-up
    would otherwise reuse it and show no growth. Only once pyarrow is imported (this module never
    imports it). Not a garbage collection: one costs tens of milliseconds once pyarrow, polars and
    DuckDB are loaded, and the runner drops its reference to a run's result before the next run, so
    reference counting already frees it (docs/decisions.md, 'Peak memory: released once per
    operation, before its first run')."""
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None:
        pyarrow.default_memory_pool().release_unused()


class PeakMemory:
    """Peak resident-memory growth of a process during a ``with`` block, in bytes: its resident
    high-water mark at the end minus its resident size at the start.

    Linux resets the high-water mark (VmHWM) to the current resident size when "5" is written to
    /proc/<pid>/clear_refs, so the peak of each operation is measured on its own; the kernel updates
    the mark before it unmaps or discards pages, so a peak freed before the block ends still counts.
    Arrow's allocations do not pass through Python's allocator, so tracemalloc would miss them;
    resident memory sees everything. For this process the block starts from the memory the
    allocators retain handed back when ``release`` is True (``release_retained_memory``; outside any
    timer, in the block's entry). ``process`` is "self" or another process's id (an embedded server:
    nothing is released there). Where the mark cannot be reset or read (not Linux, another user's
    process), ``peak`` stays None rather than a misleading number. Allocators reuse pages they kept
    without growing the process, so the runner puts the consumed result's size under this figure
    (``Tally.held``).
    """

    high_water: int = 0
    """The largest absolute resident size of this process seen by any PeakMemory block, in bytes
    (the process's own VmHWM is reset by every block, so it is kept here)."""

    def __init__(self, process: str | int = "self", *, release: bool = True) -> None:
        self.process = str(process)
        self.release = release and self.process == "self"
        self.peak: int | None = None
        self._start: int | None = None

    def __enter__(self) -> PeakMemory:
        if self.release:
            release_retained_memory()
        if _reset_high_water(self.process):
            self._start = rss_bytes(self.process)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._start is None:
            return
        hwm = _status_kib("VmHWM", self.process)
        if hwm is not None:
            self.peak = max(0, hwm * 1024 - self._start)
            if self.process == "self":
                PeakMemory.high_water = max(PeakMemory.high_water, hwm * 1024)


def peak_rss_bytes() -> int | None:
    """The process's resident-memory high-water mark: the kernel's (since the last reset) or the
    largest one a ``PeakMemory`` block saw before resetting it, whichever is larger."""
    kib = _status_kib("VmHWM")
    if kib is None:
        return None
    return max(kib * 1024, PeakMemory.high_water)


def total_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_revision(folder: Path | None = None) -> dict[str, Any]:
    """The commit storeadvise runs from and whether its tracked files differ from it, when it runs
    from a git checkout (the package folder, or ``folder``, is the repository's top level); empty
    otherwise, and when git is missing or fails. An installed wheel has no checkout, and a checkout
    above a virtual environment is not storeadvise's, so only the package folder itself is asked."""
    import subprocess

    folder = Path(__file__).resolve().parent.parent if folder is None else folder
    if not (folder / ".git").exists():
        return {}

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10,
                                  check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    revision = git("rev-parse", "HEAD")
    if not revision:
        return {}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git_revision": revision, "git_dirty": None if status is None else bool(status)}


def environment() -> dict[str, Any]:
    """Versions and machine facts recorded with every run."""
    import sqlite3

    from storeadvise import __version__

    versions: dict[str, str | None] = {}
    for name in recorded_libraries():
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    versions["sqlite"] = sqlite3.sqlite_version
    return {
        "storeadvise": __version__,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_bytes": total_memory_bytes(),
        "libraries": versions,
        **git_revision(),
    }
