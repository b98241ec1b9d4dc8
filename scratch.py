"""Scratch folders: created marked with the process that owns them, and swept once that process is gone.

A run's files, embedded servers' data and logs live in scratch folders named ``storeadvise-...`` in the
system's temporary folder (or ``--scratch-dir``). The owner removes its folder on every way out it
can see (a normal end, an error, Ctrl-C, SIGTERM); a SIGKILL or a power cut gives it no chance, so
every folder carries a marker file naming its owner (process id, the process's start time and the
boot it belongs to, so that a recycled process id is not taken for the owner) and the next run sweeps
the folders whose owner is no longer running.

A folder is only ever swept when its name has the prefix, it is a real folder of this user (not a
link) and it holds a marker this module wrote: nothing else in the temporary folder is touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

PREFIX = "storeadvise-"
MARKER = ".storeadvise-owner"
"""The marker file in every scratch folder: JSON with the owner's ``pid``, ``started`` and ``boot``."""


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def _boot_id() -> str | None:
    text = _read("/proc/sys/kernel/random/boot_id")
    return text.strip() if text else None


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, field 22 of ``/proc/<pid>/stat``), or
    None where there is no ``/proc`` or no such process. Together with the pid it names one process:
    a pid reused later has a later start."""
    text = _read(f"/proc/{pid}/stat")
    if not text:
        return None
    fields = text.rsplit(")", 1)[-1].split()  # the command name in parentheses may hold spaces
    return fields[19] if len(fields) > 19 else None


def _owner() -> dict[str, Any]:
    pid = os.getpid()
    return {"pid": pid, "started": process_start(pid), "boot": _boot_id()}


def owner_alive(owner: dict[str, Any]) -> bool:
    """Whether the process a marker names is still running (when unsure, it is taken to be)."""
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return True
    boot = _boot_id()
    if owner.get("boot") and boot and owner["boot"] != boot:
        return False  # written before this machine last started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, under another user
    started = owner.get("started")
    now = process_start(pid)
    return not (started and now and started != now)


def mark(folder: Path) -> Path:
    """Mark ``folder`` as this process's scratch (the marker appears whole or not at all)."""
    folder = Path(folder)
    fd, tmp = tempfile.mkstemp(prefix=".owner-", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(_owner(), fh)
    os.replace(tmp, folder / MARKER)
    return folder


def create(label: str, root: Path | None = None) -> Path:
    """A new marked scratch folder ``storeadvise-<label>-XXXX`` in ``root`` (default: the system's
    temporary folder), owned by this process."""
    return mark(Path(tempfile.mkdtemp(prefix=f"{PREFIX}{label}-", dir=root)))


def remove(folder: Path) -> None:
    """Remove a scratch folder and everything in it; quiet when it is already gone."""
    shutil.rmtree(folder, ignore_errors=True)


def owner_of(folder: Path) -> dict[str, Any] | None:
    """The owner a scratch folder's marker names; None when ``folder`` is not one of ours."""
    folder = Path(folder)
    if not folder.name.startswith(PREFIX) or folder.is_symlink() or not folder.is_dir():
        return None
    marker = folder / MARKER
    with contextlib.suppress(OSError):
        if folder.stat().st_uid != os.getuid() or marker.is_symlink():
            return None
    try:
        owner = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return owner if isinstance(owner, dict) and isinstance(owner.get("pid"), int) else None


def sweep(root: Path | None = None) -> list[Path]:
    """Remove the scratch folders in ``root`` (default: the system's temporary folder) whose owner is
    no longer running; the folders removed. Folders without our marker are never touched."""
    root = Path(root) if root is not None else Path(tempfile.gettempdir())
    removed: list[Path] = []
    try:
        candidates = [p for p in root.iterdir() if p.name.startswith(PREFIX)]
    except OSError:
        return removed
    for folder in candidates:
        owner = owner_of(folder)
        if owner is not None and not owner_alive(owner):
            remove(folder)
            removed.append(folder)
    return removed
