"""Cache state: whether a read finds the stored data in memory, and how a cold read is arranged.

The labels every read-like measurement carries (``Measurement.cache``):

- ``warm``: what the read needs is in memory already (the OS page cache holds files just written or
  read; a database connection or a server holds its own cache);
- ``cold``: it comes from the disk: no page of the stored files is in the page cache and no other cache
  (a database connection's, an embedded server's) holds the data;
- ``lukewarm`` (ClickBench's word): the page cache was emptied but the backend's own cache was kept;
- ``unknown``: your own server, whose cache storeadvise can neither drop nor see.

A cold run is arranged outside the timer, before every run of a throughput operation (warm-ups
included), by ``ColdReads``:

1. the backend's own cache goes: a database connection is closed (``Backend.release_cache``), an
   embedded server is restarted on the same data folder (``Services.restart``);
2. every stored file is fsynced (the kernel keeps dirty pages), then ``posix_fadvise(DONTNEED)`` asks
   it to drop the file's pages (no root needed, unlike ``/proc/sys/vm/drop_caches``);
3. residency is checked with ``mincore`` on a fresh mapping of each file. Pages that stay resident
   (a tmpfs scratch folder, where the page cache *is* the storage, or pages a process keeps mapped)
   mean the eviction failed: the figure is labelled warm with the reason, never passed off as cold.

Latency operations (many calls, each timed alone) drop the backend's own cache once, before the
first call, and the page cache before every call: files are then cold, a database or an embedded
server lukewarm. Restarting SecantusDB takes about 3 s (docs/decisions.md, 'Cold reads: servers
restarted before every run, latency calls lukewarm'), too long to do before each of hundreds of calls.
"""

from __future__ import annotations

import ctypes
import functools
import mmap
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from storeadvise.errors import UsageError

if TYPE_CHECKING:
    from storeadvise.backends.base import Backend

WARM = "warm"
COLD = "cold"
LUKEWARM = "lukewarm"
UNKNOWN = "unknown"

CHOICES: dict[str, tuple[str, ...]] = {"warm": (WARM,), "cold": (COLD,), "both": (WARM, COLD)}
"""``--cache`` values and the cache states each measures a read-like operation in, in order."""
DEFAULT = "warm"
WHY_DEFAULT = (
    "warm by default: repeated reads (training epochs, exploring, a service's lookups) find recently "
    "used data in memory, and a cold run restarts servers and needs the scratch folder on a disk"
)
MAX_RESIDENT_SHARE = 0.02
"""Share of the stored pages that may stay in the page cache for a run to count as cold: a little room
for pages a running server reads back between the eviction and the check (none did after a SecantusDB
restart, docs/decisions.md, 'Cold reads: servers restarted before every run, latency calls lukewarm');
more is an eviction that did not work."""

_RANK = {WARM: 0, UNKNOWN: 1, LUKEWARM: 2, COLD: 3}


def cache_states(choice: str) -> tuple[str, ...]:
    """The cache states ``--cache choice`` measures each read-like operation in; ``UsageError`` if it
    names none."""
    states = CHOICES.get(choice) if isinstance(choice, str) else None
    if states is None:
        raise UsageError(f"--cache {choice!r} is not a choice; use one of {', '.join(CHOICES)}")
    return states


@dataclass(frozen=True)
class CacheState:
    """The state a run of an operation started in, and why it is not the state asked for."""

    label: str
    reason: str = ""


# -- page-cache mechanics --------------------------------------------------------------------------------
@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library with ``mmap``, ``munmap`` and ``mincore`` typed for ctypes; None where it has none."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_ubyte)]
    except (OSError, AttributeError):
        return None
    return libc


def can_evict() -> bool:
    """Whether this system can evict files from the page cache and check it (Linux: fadvise, mincore)."""
    return sys.platform.startswith("linux") and hasattr(os, "posix_fadvise") and _libc() is not None


def resident_pages(path: Path) -> tuple[int, int] | None:
    """(pages of ``path`` in the page cache, pages of the file), from ``mincore`` on a new read-only
    mapping, which touches no page; None where the system cannot tell (``can_evict``)."""
    libc = _libc()
    if libc is None or not can_evict():
        return None
    size = os.path.getsize(path)
    pages = -(-size // mmap.PAGESIZE)
    if pages == 0:
        return 0, 0
    fd = os.open(path, os.O_RDONLY)
    try:
        address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if address is None or address == ctypes.c_void_p(-1).value:
            raise OSError(ctypes.get_errno(), f"cannot map {path}")
        try:
            vector = (ctypes.c_ubyte * pages)()
            if libc.mincore(address, size, vector) != 0:
                raise OSError(ctypes.get_errno(), f"mincore failed on {path}")
            return sum(byte & 1 for byte in bytes(vector)), pages
        finally:
            libc.munmap(address, size)
    finally:
        os.close(fd)


def evict(path: Path) -> None:
    """Ask the kernel to drop ``path``'s pages from the page cache: fsync first, since dirty pages are
    not dropped."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def files_under(roots: Iterable[Path]) -> list[Path]:
    """Every regular file at or under each of ``roots`` (a root may be a file or a folder)."""
    files: list[Path] = []
    for root in roots:
        candidates = [root] if root.is_file() else sorted(root.rglob("*"))
        files += [p for p in candidates if p.is_file() and not p.is_symlink()]
    return files


@dataclass(frozen=True)
class Eviction:
    """What an eviction of stored files left in the page cache."""

    files: int
    pages: int
    resident: int
    fullest: str = ""
    """The file with the most pages left resident, when any are."""
    unchecked: bool = False
    """True where residency cannot be checked (no ``mincore``)."""

    @property
    def worked(self) -> bool:
        return not self.unchecked and self.resident <= MAX_RESIDENT_SHARE * self.pages

    @property
    def reason(self) -> str:
        """Why it did not work, in a sentence."""
        if self.unchecked:
            return "this system cannot evict files from the page cache or check it (Linux only)"
        return (f"{self.resident} of {self.pages} pages stayed in the page cache (most in {self.fullest}); "
                "a file some process keeps mapped, or a scratch folder on tmpfs?")


def evict_files(roots: Iterable[Path]) -> Eviction:
    """Evict every file under ``roots`` from the page cache, then count the pages still resident."""
    files = files_under(roots)
    if not can_evict():
        return Eviction(len(files), 0, 0, unchecked=True)
    for path in files:
        try:
            evict(path)
        except FileNotFoundError:  # a server's temporary file, gone meanwhile
            continue
    pages = resident = most = 0
    fullest = ""
    for path in files:
        try:
            counted = resident_pages(path)
        except FileNotFoundError:
            continue
        if counted is None:
            return Eviction(len(files), 0, 0, unchecked=True)
        pages += counted[1]
        resident += counted[0]
        if counted[0] > most:
            most, fullest = counted[0], path.name
    return Eviction(len(files), pages, resident, fullest)


# -- cold runs of one backend ----------------------------------------------------------------------------
def make_cold(backend: Backend, restart: Callable[[str], None] | None, *, drop_own_cache: bool = True) -> CacheState:
    """Bring ``backend``'s stored data as close to cold as this run can (see the module docstring) and
    say which state it reached. ``restart`` restarts an embedded server by service name."""
    service, status = backend.service, backend.settings.service
    if service is not None:
        if status is None or not status.embedded:
            return CacheState(UNKNOWN, "server cache unknown: your server's own cache cannot be dropped or seen")
        if status.data_dir is None:
            return CacheState(WARM, f"the embedded {service.embedded_product} keeps its data in memory only: "
                                    "there is nothing colder to read from")
    own_dropped = not backend.own_cache
    if backend.own_cache and drop_own_cache:
        if service is None:
            backend.release_cache()
            own_dropped = True
        elif restart is not None:
            restart(service.name)
            backend.reconnect()
            own_dropped = True
    eviction = evict_files(backend.stored_files())
    if not eviction.worked:
        return CacheState(WARM, f"eviction failed: {eviction.reason} Use --scratch-dir on a disk")
    if not own_dropped:
        return CacheState(LUKEWARM, f"the page cache was emptied, {backend.name}'s own cache kept")
    return CacheState(COLD)


class ColdReads:
    """The set-up hook of one operation's cold runs: ``self()`` before each run (or latency call) makes
    the backend's data cold, and ``state`` is the warmest state any run started in, which labels the
    figure. With ``per_call`` (latency operations), the backend's own cache is dropped before the first
    call only."""

    def __init__(self, backend: Backend, restart: Callable[[str], None] | None, *, per_call: bool = False) -> None:
        self.backend = backend
        self.restart = restart
        self.per_call = per_call
        self.states: list[CacheState] = []

    def __call__(self) -> None:
        drop = not (self.per_call and self.states)
        self.states.append(make_cold(self.backend, self.restart, drop_own_cache=drop))

    @property
    def state(self) -> CacheState:
        if not self.states:
            return CacheState(COLD)
        return min(self.states, key=lambda s: _RANK[s.label])
