"""Stopping a run on Ctrl-C or SIGTERM even when a library swallows the KeyboardInterrupt.

Some libraries turn an interrupt that arrives inside their C code into their own exception (DuckDB
raises an ``InterruptException``, an ``Exception``), which the runner would record as a failed
operation and carry on. The CLI's handler therefore also sets ``STOP``, and the runner checks it
between runs and operations.

A ``KeyboardInterrupt`` raised at an arbitrary point can leave a lock held for ever: interrupted while
it held the ``logging`` module's lock (in kafka-python, or in the handler ``fork`` runs for it), the
CLI hung, its Kafka client's network thread waiting for that lock. Such stretches (starting the
embedded servers) run inside ``interrupts_deferred``: a stop requested meanwhile is raised at the
next ``check_stop`` or when the block ends.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

STOP = threading.Event()
_deferring = 0  # how many interrupts_deferred blocks the main thread is in (signal handlers run there)


def request_stop(signum: int, frame: object) -> None:
    """Signal handler: remember the request, then interrupt whatever is running (unless deferred)."""
    STOP.set()
    if not _deferring:
        raise KeyboardInterrupt


def check_stop() -> None:
    """Raise ``KeyboardInterrupt`` if a stop was requested (called between measured runs)."""
    if STOP.is_set():
        raise KeyboardInterrupt


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Within the block a stop request is only recorded; it is raised by ``check_stop`` or when the
    block ends. For stretches that call ``check_stop`` often or end soon: Ctrl-C waits for them."""
    global _deferring
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
    check_stop()
