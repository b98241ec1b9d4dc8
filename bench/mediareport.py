"""The comparison a folder of media items is judged by, one row per layout: a table of the report.

Per layout: items/s and MB/s of a shuffled epoch (and of a decoded one, when measured), the online
pattern's fetch of one item by id (p50, p99), a training batch taken at random positions (p99), the
emulated accelerators (utilisation at N, whether that keeps up, the largest N kept 90 % busy), bytes at
rest and what the layout adds over the files' own bytes, and the round trip's verdict. It reads a
finished ``Run`` and computes no statistics of its own (``bench.feeding`` and the runner did).
"""

from __future__ import annotations

from typing import Any

from storeadvise.bench.results import OK, BackendRun, Measurement, Run
from storeadvise.bench.table import PlainTable
from storeadvise.formatting import fmt_bytes, fmt_count, fmt_time

HEAD = ("layout", "shuffle/s", "MB/s", "decode/s", "id p50", "id p99", "batch p99", "busy", "max N", "at rest",
        "/files")
"""Items per second of a shuffled and of a decoded epoch, MB/s of the shuffled one, one item by id (p50,
p99), one batch of random positions (p99), the accelerators' utilisation at N (ok: kept busy), the
largest N kept busy, bytes at rest and their ratio to the files' own bytes. The round trip has its own
table above."""


def _ok(entry: BackendRun, op: str) -> Measurement | None:
    return next((m for m in entry.measurements if m.op == op and m.status == OK and m.stats is not None), None)


def _why(entry: BackendRun, op: str) -> str:
    """Why there is no figure, as the matrix says it: n/a (unsupported), skipped, failed, or - (not run)."""
    m = next((m for m in entry.measurements if m.op == op), None)
    return "-" if m is None else "n/a" if m.status == "unsupported" else m.status


def _feed(entry: BackendRun) -> tuple[str, str]:
    m = _ok(entry, "feed")
    if m is None:
        return _why(entry, "feed"), "-"
    e = m.extra
    verdict = "ok" if e.get("keeps_up") else "starved"
    return f"{e['utilisation']:.0%} of {e['accelerators']} {verdict}", str(e.get("largest_kept_busy", "-"))


def row(entry: BackendRun) -> list[str]:
    """One layout's figures as text."""
    if entry.status != OK and not entry.measurements:
        return [entry.backend, f"{entry.status}: {entry.reason}"] + [""] * (len(HEAD) - 2)
    shuffle, decode, lookup, take, write = (_ok(entry, op) for op in ("shuffle", "decode", "lookup", "take", "write"))
    busy, largest = _feed(entry)
    over = write.extra.get("over_files") if write else None
    return [
        entry.backend,
        fmt_count(round(shuffle.rows_per_s)) if shuffle and shuffle.rows_per_s else _why(entry, "shuffle"),
        f"{shuffle.mb_per_s:,.0f}" if shuffle and shuffle.mb_per_s else "-",
        fmt_count(round(decode.rows_per_s)) if decode and decode.rows_per_s else _why(entry, "decode"),
        fmt_time(lookup.stats.p50) if lookup else _why(entry, "lookup"),
        fmt_time(lookup.stats.p99) if lookup else _why(entry, "lookup"),
        fmt_time(take.stats.p99) if take else _why(entry, "take"),
        busy, largest,
        fmt_bytes(write.bytes_at_rest) if write and write.bytes_at_rest is not None else "-",
        f"{over:.3f}x" if over else "-",
    ]


def media_table(run: Run) -> PlainTable | None:
    """The comparison as one of the report's plain tables (every format renders it), or None for a run
    over ordinary rows."""
    items: dict[str, Any] | None = run.dataset.get("items")
    if not items:
        return None
    title = (f"media: {items['items']:,} items of {run.dataset.get('modality')}, {fmt_bytes(items['bytes'])} "
             f"(size p50 {fmt_bytes(items['size_p50'])}, p95 {fmt_bytes(items['size_p95'])})")
    numeric = [False] + [True] * 6 + [False, True, True, True]
    return PlainTable(title, list(HEAD), numeric, [row(entry) for entry in run.backends])


def media_note(run: Run) -> str | None:
    """What the media table's columns mean, with this run's step time, batch size and reader threads."""
    if not run.dataset.get("items"):
        return None
    note = ("media: shuffle/s, decode/s: items per second of a shuffled epoch, read and decoded; id: one item "
            "fetched by id; batch: one take of random positions; /files: bytes at rest over the files' own")
    feed = next((m.extra for b in run.backends for m in b.measurements if m.op == "feed" and m.extra.get("step_time")),
                None)
    if feed:
        note += (f"; busy: emulated compute over wall time at N accelerators ({fmt_time(feed['step_time'])} per "
                 f"step, batches of {feed['batch_size']}, {feed['workers']} reader threads each), ok at 90% or "
                 "more (MLPerf Storage); max N: the most accelerators this store kept busy on this machine")
    return note + "."
