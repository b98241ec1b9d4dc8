"""How the steps of many clients at once read: the saturation knee, the report's table and its notes.

``bench.load`` runs the steps and marks the knee with ``mark_knee``; ``bench.table`` shows them with
``load_table`` and ``load_footnotes``.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from storeadvise.bench.results import OK

if TYPE_CHECKING:
    from storeadvise.bench.table import PlainTable

KNEE_P99_GROWTH = 1.5
KNEE_THROUGHPUT_GROWTH = 0.2
"""The saturation knee: the first step (more clients than the one before) where p99 grew more than
``KNEE_P99_GROWTH`` times while throughput grew less than ``KNEE_THROUGHPUT_GROWTH`` (20%): more
clients only queue."""


def mark_knee(steps: list[dict[str, Any]]) -> int | None:
    """Mark the saturation knee among one backend's steps (in order of clients): the first step whose
    p99 grew more than ``KNEE_P99_GROWTH`` times over the step before while its throughput grew less
    than ``KNEE_THROUGHPUT_GROWTH``. Returns its client count, or None when no step qualifies."""
    measured = [s for s in steps
                if s.get("status") == OK and s.get("throughput") and (s.get("latency") or {}).get("p99")]
    for before, step in itertools.pairwise(measured):
        p99_growth = step["latency"]["p99"] / before["latency"]["p99"]
        throughput_growth = step["throughput"] / before["throughput"] - 1
        if p99_growth > KNEE_P99_GROWTH and throughput_growth < KNEE_THROUGHPUT_GROWTH:
            step["knee"] = True
            return step["clients"]
    return None


def load_table(steps: list[dict[str, Any]]) -> PlainTable:
    """One row per backend and client count: throughput, latency percentiles, errors, writes read back."""
    from storeadvise.bench.table import DASH, PlainTable
    from storeadvise.formatting import fmt_time

    paced = any(s.get("target_rate") for s in steps)

    def when(seconds: float | None) -> str:
        return DASH if seconds is None else fmt_time(seconds)

    rows = []
    for s in steps:
        latency, actual = s.get("latency") or {}, s.get("latency_from_actual_start") or {}
        writes, updates = s.get("writes") or {}, s.get("updates") or {}
        status = "knee ◆" if s.get("knee") else ""
        if s.get("status") != OK:
            status = f"{s.get('status')} (below)"
        rows.append([
            s["backend"], s["mix"], str(s["clients"]),
            DASH if s.get("throughput") is None else f"{s['throughput']:,.0f}",
            when(latency.get("p50")), when(latency.get("p99")), when(latency.get("p999")),
            *([when(actual.get("p99"))] if paced else []),
            f"{s.get('errors', 0)}/{s.get('timeouts', 0)}" if "errors" in s else DASH,
            f"{writes.get('read_back', 0) + updates.get('read_back', 0)}/"
            f"{writes.get('acknowledged', 0) + updates.get('rows', 0)}" if writes else DASH,
            status,
        ])
    return PlainTable(
        title="many clients at once",
        head=["backend", "mix", "clients", "req/s", "p50", "p99", "p99.9",
              *(["p99 sent"] if paced else []), "err/timeout", "writes kept", ""],
        numeric=[False, False, True, True, True, True, True, *([True] if paced else []), True, True, False],
        rows=rows,
    )


def load_footnotes(steps: list[dict[str, Any]]) -> list[str]:
    """What the load table's columns mean, the mixes run, and which figures measure contention."""
    paced = [s for s in steps if s.get("target_rate")]
    notes = [
        "many clients: each client is its own process with its own connection; req/s: requests per second of "
        "all clients together; p50/p99/p99.9 merged over the clients (HdrHistogram)"
        + (", measured from each request's intended start at the target rate (queueing included); "
           "'p99 sent' from the moment it was sent" if paced else ", clients flat out")
        + "; writes kept: acknowledged new rows found in the store at the end, and rows updated in place that hold "
        "their last acknowledged update, of all of them.",
        f"knee ◆: the first step whose p99 grew more than {KNEE_P99_GROWTH:g}x over the step before while "
        f"requests/s grew less than {KNEE_THROUGHPUT_GROWTH:.0%}: more clients only queue.",
    ]
    mixes = {s["mix"]: s.get("distribution") for s in steps}
    from storeadvise.bench.mixes import MIXES

    notes += [f"mix {name}: {MIXES[name].description if name in MIXES else name}, keys {dist}"
              for name, dist in mixes.items()]
    notes += list(dict.fromkeys(f"{s['backend']}: {s['contention']}" for s in steps
                                if s.get("contention") and s["clients"] > 1))
    notes += list(dict.fromkeys(f"{s['backend']}: {s['updates_as']}" for s in steps if s.get("updates_as")))
    notes += [f"{s['backend']} with {s['clients']} client{'s' * (s['clients'] > 1)}: {s['status']}: {s['reason']}"
              for s in steps if s.get("status") != OK]
    return notes
