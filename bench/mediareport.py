"""The comparison a folder of media items is judged by, one row per layout, below the run's matrix.

Per layout: items/s and MB/s of a shuffled epoch (and of a decoded one, when measured), the online
pattern's fetch of one item by id (p50, p99), a training batch taken at random positions (p99), the
emulated accelerators (utilisation at N, whether that keeps up, the largest N kept 90 % busy), bytes at
rest and what the layout adds over the files' own bytes, and the round trip's verdict. It reads a
finished ``Run`` and computes no statistics of its own (``bench.feeding`` and the runner did).
"""

from __future__ import annotations

from typing import Any

from storeadvise.bench.results import OK, BackendRun, Measurement, Run
from storeadvise.formatting import fmt_bytes, fmt_count, fmt_time

HEAD = ("layout", "shuffled items/s", "MB/s", "decoded items/s", "by id p50", "by id p99", "batch p99",
        "accelerators busy", "largest N", "at rest", "over files", "verified")


def _ok(entry: BackendRun, op: str) -> Measurement | None:
    return next((m for m in entry.measurements if m.op == op and m.status == OK and m.stats is not None), None)


def _why(entry: BackendRun, op: str) -> str:
    m = next((m for m in entry.measurements if m.op == op), None)
    return "-" if m is None else m.status


def _feed(entry: BackendRun) -> tuple[str, str]:
    m = _ok(entry, "feed")
    if m is None:
        return _why(entry, "feed"), "-"
    e = m.extra
    verdict = "keeps up" if e.get("keeps_up") else "starves"
    return f"{e['utilisation']:.0%} of {e['accelerators']} ({verdict})", str(e.get("largest_kept_busy", "-"))


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
        entry.verification.summary if entry.verification else "-",
    ]


def media_rows(run: Run) -> list[list[str]] | None:
    """The comparison's rows, or None for a run that is not over a folder of items."""
    if not run.dataset.get("items"):
        return None
    return [row(entry) for entry in run.backends]


def media_summary(run: Run) -> str | None:
    """The comparison as an aligned text table with its heading, or None for a run over ordinary rows."""
    rows = media_rows(run)
    if rows is None:
        return None
    items: dict[str, Any] = run.dataset["items"]
    feed = next((m.extra for b in run.backends for m in b.measurements if m.op == "feed" and m.extra.get("step_time")),
                None)
    lines = [f"\nmedia: {items['items']:,} items of {run.dataset.get('modality')}, {fmt_bytes(items['bytes'])} "
             f"(size p50 {fmt_bytes(items['size_p50'])}, p95 {fmt_bytes(items['size_p95'])})"]
    if feed:
        lines.append(f"accelerators: {fmt_time(feed['step_time'])} per step, batches of {feed['batch_size']}, "
                     f"{feed['workers']} reader threads each; kept busy = at least 90% utilisation (MLPerf Storage)")
    widths = [max(len(str(r[i])) for r in [list(HEAD), *rows]) for i in range(len(HEAD))]
    for values in [list(HEAD), *rows]:
        lines.append("  ".join(str(v).ljust(w) for v, w in zip(values, widths, strict=True)).rstrip())
    return "\n".join(lines) + "\n"
