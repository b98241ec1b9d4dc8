"""Stopping a run on Ctrl-C or SIGTERM even when a library swallows the KeyboardInterrupt.

Some libraries turn an interrupt that arrives inside their C code into their own exception (DuckDB
raises an ``InterruptException``, an ``Exception``), which the runner would record as a failed
operation and carry on. The CLI's handler therefore also sets ``STOP``, and the runner checks it
between runs and operations.
"""

from __future__ import annotations

import threading

STOP = threading.Event()


def request_stop(signum: int, frame: object) -> None:
    """Signal handler: remember the request, then interrupt whatever is running."""
    STOP.set()
    raise KeyboardInterrupt


def check_stop() -> None:
    """Raise ``KeyboardInterrupt`` if a stop was requested (called between measured runs)."""
    if STOP.is_set():
        raise KeyboardInterrupt
