"""What the runner tells a display while it runs: each event's text, where the run stands and, once an
operation is done, its measurement. The runner never prints; ``bench.progress`` shows these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from storeadvise.bench.results import OK, Measurement
from storeadvise.formatting import fmt_time

EventCallback = Callable[[str, str, str], None]
"""``on_event(backend, op, message)``: progress for a display; the runner never prints. Each message is
a ``Progress``: the text, plus where the run stands and, once an operation is done, its measurement."""


@dataclass(frozen=True)
class RunPosition:
    """Where a run stands when it sends an event."""

    backend_index: int  # 1-based: the backend being measured, of backend_count
    backend_count: int
    ops_done: int  # (backend, operation) pairs finished, of ops_total
    ops_total: int
    elapsed: float  # seconds since the run started
    budget_left: float  # the time budget of the operations not done yet: at most max_time each


class Progress(str):
    """An event's message: the text a display that only wants text shows, with the run's ``position``.

    ``finished`` marks the end of a (backend, operation) pair, whose ``measurement`` is attached, or of
    a backend that ended without one (skipped or failed as a whole; ``measurement`` is None); the text
    is then a one-line summary ("12.3 ms median, n=5", "skipped: cannot reach ...")."""

    position: RunPosition
    measurement: Measurement | None
    finished: bool

    def __new__(cls, text: str, position: RunPosition, measurement: Measurement | None = None,
                finished: bool = False) -> Progress:
        event = super().__new__(cls, text)
        event.position, event.measurement, event.finished = position, measurement, finished
        return event

    def retold(self, text: str) -> Progress:
        """The same event with another text (a scaling sweep prefixes the size)."""
        return Progress(text, self.position, self.measurement, self.finished)


def retell(message: str, text: str) -> str:
    """``text`` in place of ``message``, keeping what a ``Progress`` carries."""
    return message.retold(text) if isinstance(message, Progress) else text


def summary(m: Measurement) -> str:
    """A finished measurement in a few words: "12.3 ms median, n=5", "unsupported: why"."""
    if m.status != OK or m.stats is None:
        return f"{m.status}: {m.reason}" if m.reason else m.status
    if m.latency:
        return f"{fmt_time(m.stats.p50)} p50 per call, {m.stats.n} calls"
    return f"{fmt_time(m.stats.median)} median, n={m.stats.n}"
