"""The comparison table, built once from a finished ``Run`` (hyperfine's ``markup.rs`` idea).

Every exporter in ``bench.report`` reads the ``Report`` built here, so the terminal table, Markdown,
CSV and HTML show the same rows, the same "× best" ratios and the same warnings; they differ only in
syntax. Nothing here measures or computes statistics: the only arithmetic is ratios to the best row
of an operation; numbers are written by ``storeadvise.formatting``. The table is about one run:
comparing runs is ``bench.compare``, which adds its tables to a report built here.

Keys read from the run, beyond the dataclass fields (all optional; a missing key is left out):

- ``run.dataset``: ``name``, ``rows``, ``arrow_bytes``, ``modality``, ``columns`` (``name``, ``type``), ``notes``
- ``run.settings``: ``repeat``, ``warmup``, ``lookups``, ``file_reads`` (a sentence: warm or cold page cache),
  ``cache`` (warm | cold | both), ``fsync`` (bool), ``purpose`` (the score's purpose, or None)
- ``run.environment``: ``python``, ``platform``, ``cpu``
- ``BackendRun.server``: ``product``, ``version``, ``protocol``, ``embedded``, ``address``
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import TYPE_CHECKING, Any

from storeadvise.bench.results import OK, UNSUPPORTED, BackendRun, Measurement, Run
from storeadvise.formatting import (
    DASH,
    fmt_bytes,
    fmt_count,
    fmt_plain,
    fmt_ratio,
    fmt_time,
    format_quantity,
    number,
    printable,
)

if TYPE_CHECKING:
    from storeadvise.bench.matrix import Matrix

BEST_MARK = "★"
UNTRUSTED_MARK = "!"
SINGLE_RUN_MARK = "¹"
NO_WARMUP_MARK = "°"
WARNING_MARK = "†"
NOT_DURABLE_MARK = "~"
SINGLE_RUN_FOOTNOTE = (f"n: counted runs ({SINGLE_RUN_MARK} = one run: no spread, and no warm-up where the "
                       "budget was spent on it; rerun with a larger --max-time for a steadier figure).")
NO_WARMUP_FOOTNOTE = f"{NO_WARMUP_MARK} = counted with no warm-up run before it: the first run paid any start-up cost."
WARNING_FOOTNOTE = f"{WARNING_MARK} = a warning about this figure, listed under the table."
NOT_DURABLE_FOOTNOTE = (f"{NOT_DURABLE_MARK} = not durable: the written data was not yet on stable storage when the "
                        "write returned (no fsync); durable writes carry no mark.")
FLAG_MARK = "✗"
GOOD_MARK = "✓"

UNTRUSTED_FOOTNOTE = (
    f"{UNTRUSTED_MARK} this backend failed its round-trip check (see round-trip verification): "
    "its numbers are not trustworthy and it is never ranked best."
)


# -- the model ---------------------------------------------------------------------------------------
@dataclass
class Entry:
    """One (backend, op) cell of the run with the ratios the table needs; raw values, no text."""

    measurement: Measurement
    untrusted: bool = False  # the backend's round trip was flagged
    best: bool = False
    ratio_to_best: float | None = None
    cache: str | None = None
    """The cache state this entry is shown under, when its measurement has none: an operation a
    backend does not support is recorded once, and shown in every cache state the others were measured in."""

    @property
    def ok(self) -> bool:
        return self.measurement.status == OK and self.median is not None

    @property
    def median(self) -> float | None:
        stats = self.measurement.stats
        return number(stats.median) if stats is not None else None

    @property
    def group(self) -> tuple[str, str | None]:
        op, cache = group_key(self.measurement)
        return op, cache if cache is not None else self.cache

    @property
    def single_run(self) -> bool:
        """One counted run of a throughput operation: no spread (a latency op counts calls instead)."""
        stats = self.measurement.stats
        return self.ok and stats is not None and stats.n == 1 and not self.measurement.latency

    @property
    def unwarmed(self) -> bool:
        """Counted with no warm-up run before it (the runner records ``warmup_runs``)."""
        return self.ok and self.measurement.extra.get("warmup_runs") == 0

    @property
    def not_durable(self) -> bool:
        return self.measurement.durable is False

    @property
    def status_text(self) -> str:
        m = self.measurement
        if m.status == OK and self.median is None:
            return "failed: no timings recorded"
        return f"{m.status}: {m.reason}" if m.reason else m.status


def group_key(m: Measurement) -> tuple[str, str | None]:
    """What one figure is compared within: its operation and its cache state (with ``--cache both``
    a read-like operation is measured twice, warm and cold, and the two are never ranked together)."""
    return m.op, m.cache


def group_title(op: str, cache: str | None) -> str:
    """An operation's name, with its cache state unless that is warm (the usual case, said in the header)."""
    return op if cache in (None, "warm") else f"{op} ({cache})"


@dataclass
class Column:
    key: str
    title: str
    numeric: bool = True


@dataclass
class Row:
    """A rendered row: one text per column, plus what the exporters style differently."""

    backend: str
    cells: dict[str, str]
    entry: Entry


@dataclass
class Section:
    """One operation: its columns (only those some row fills) and its rows, best first."""

    op: str
    latency: bool
    columns: list[Column]
    rows: list[Row]
    cache: str | None = None

    @property
    def title(self) -> str:
        name = group_title(self.op, self.cache)
        return f"{name} (latency per call)" if self.latency else name


@dataclass
class VerificationLine:
    backend: str
    text: str
    flagged: bool
    verified: bool


@dataclass
class PlainTable:
    """A table with no per-row styling (the scaling sweep): a title, headings and text cells."""

    title: str
    head: list[str]
    numeric: list[bool]
    rows: list[list[str]]


@dataclass
class Report:
    title: str
    header: list[tuple[str, str]]
    sections: list[Section]
    verification: list[VerificationLine]
    not_run: list[tuple[str, str]]  # backends skipped/failed as a whole: (name, "skipped: reason")
    footnotes: list[str] = field(default_factory=list)
    tables: list[PlainTable] = field(default_factory=list)
    matrix: Matrix | None = None  # the one-screen summary, shown before the sections
    warnings: list[str] = field(default_factory=list)  # "† backend op: text", one per figure's warning
    entries: list[Entry] = field(default_factory=list)  # every figure, raw (for the formats that list them all)


# -- building ----------------------------------------------------------------------------------------
def _in_every_cache_state(entries: list[Entry]) -> list[Entry]:
    """Each entry without a cache state (unsupported, skipped) of an operation that others measured in
    cache states, once per state: "n/a" under "scan" and "scan (cold)" alike, never a group of its own."""
    states: dict[str, list[str]] = {}
    for e in entries:
        if e.measurement.cache is not None:
            states.setdefault(e.measurement.op, [])
            if e.measurement.cache not in states[e.measurement.op]:
                states[e.measurement.op].append(e.measurement.cache)
    spread: list[Entry] = []
    for e in entries:
        if e.measurement.cache is None and e.measurement.op in states:
            spread += [replace(e, cache=state) for state in states[e.measurement.op]]
        else:
            spread.append(e)
    return spread


def build_entries(run: Run) -> list[Entry]:
    """Every measurement of the backends that ran, with its ratio to the best.

    The best of an (op, cache state) is the lowest median among trusted, successful rows; a flagged backend keeps
    its ratio (marked untrusted) but is never the best nor the reference.
    """
    entries: list[Entry] = []
    for b in run.backends:
        if b.status != OK:
            continue
        untrusted = bool(b.verification is not None and b.verification.flagged)
        for m in b.measurements:
            entries.append(Entry(measurement=m, untrusted=untrusted))
    entries = _in_every_cache_state(entries)
    for group in groups(entries):
        ranked = [e for e in entries if e.group == group and e.ok]
        trusted = [e for e in ranked if not e.untrusted]
        if not trusted:
            continue
        best = min(trusted, key=lambda e: e.median)
        best.best = True
        if best.median > 0:
            for e in ranked:
                e.ratio_to_best = e.median / best.median
    return entries


def groups(entries: list[Entry]) -> list[tuple[str, str | None]]:
    """The (operation, cache state) pairs of ``entries``, in run order."""
    return list(dict.fromkeys(e.group for e in entries))


def server_label(server: dict[str, Any]) -> str:
    """E.g. "SecantusDB 8.2.11 (MongoDB wire protocol), embedded"."""
    name = " ".join(str(server[k]) for k in ("product", "version") if server.get(k)) or "unknown server"
    if server.get("protocol"):
        name += f" ({server['protocol']})"
    if server.get("embedded"):
        return f"{name}, embedded"
    return f"{name}, at {server['address']}" if server.get("address") else name


def dataset_line(ds: dict[str, Any]) -> str:
    """E.g. "sample:tabular, 50,000 rows, 12.3 MB in Arrow, tabular"."""
    parts = [str(ds["name"])] if ds.get("name") else []
    if number(ds.get("rows")) is not None:
        parts.append(f"{format_quantity(ds['rows'], 'rows')} rows")
    if number(ds.get("arrow_bytes")) is not None:
        parts.append(f"{fmt_bytes(ds['arrow_bytes'])} in Arrow")
    if ds.get("modality"):
        parts.append(str(ds["modality"]))
    return ", ".join(parts)


COLUMNS_LINE_CHARS = 200
"""A dataset's columns are listed by name and type up to this length (two lines of a terminal); a wider
table gets counts per type."""


def _columns_line(columns: list[dict[str, Any]]) -> str:
    """The column types the reader inferred (or was given): "id int64, zip string, ..." when that fits
    one line, else "19 columns: 7 string, 5 int64, ..." (each column's type is in the run file)."""
    from collections import Counter

    if not columns:
        return ""
    listed = ", ".join(f"{c.get('name')} {c.get('type')}" for c in columns)
    if len(listed) <= COLUMNS_LINE_CHARS:
        return listed
    counts = Counter(str(c.get("type")) for c in columns).most_common()
    return (f"{len(columns)} columns: " + ", ".join(f"{n} {t}" for t, n in counts)
            + "; each column's type: the run file's dataset.columns")


def _timing_line(settings: dict[str, Any]) -> str:
    timing = []
    if settings.get("repeat") is not None:
        timing.append(f"up to {settings['repeat']} counted runs")
    if settings.get("warmup") is not None:
        timing.append(f"{settings['warmup']} warm-up")
    if settings.get("max_time") is not None:
        timing.append(f"{settings['max_time']:g} s budget per operation")
    if settings.get("file_reads"):
        timing.append(f"file reads {settings['file_reads']}")
    return ", ".join(timing)


def _machine_line(env: dict[str, Any]) -> str:
    machine = [str(env[k]) for k in ("os", "cpu") if env.get(k)]
    if env.get("cpu_count"):
        machine.append(f"{env['cpu_count']} CPUs")
    if env.get("python"):
        machine.insert(0, f"Python {env['python']}")
    return ", ".join(machine)


def _filter_line(plan: dict[str, Any], ops: list[str]) -> str:
    """The filtered read's predicate and the share of the sampled rows it selects (what rows/s counts)."""
    if "filter" not in ops or not plan.get("predicate"):
        return ""
    share = number(plan.get("predicate_share"))
    return plan["predicate"] + (f", selects {share:.1%} of the sampled rows" if share is not None else "")


CACHE_SETTINGS = {
    "warm": "warm: each read follows the write, so files come from the page cache and servers from their own "
            "memory (what a program re-reading data it has just written sees)",
    "cold": "cold: before each read the files are evicted from the page cache and embedded servers restarted; "
            "lukewarm where only the OS cache could be dropped, unknown on your own server",
    "both": "warm and cold: each read-like operation is measured both ways; cold figures are labelled (cold)",
}
"""The header's sentence for each ``--cache`` choice."""


def _cache_line(settings: dict[str, Any], entries: list[Entry]) -> str:
    """Which cache state the run asked for and what that means, and the states its figures ended in."""
    asked = settings.get("cache")
    states = sorted({e.measurement.cache for e in entries if e.ok and e.measurement.cache})
    if asked is None and not states:
        return ""
    line = CACHE_SETTINGS.get(asked, str(asked)) if asked is not None else "not recorded"
    return f"{line}; figures: {', '.join(states)}" if states else line


def _durability_line(settings: dict[str, Any], entries: list[Entry]) -> str:
    if settings.get("fsync"):
        return "--fsync: file backends fsync what they wrote inside the timed write, like the databases commit"
    if "fsync" in settings or any(e.not_durable for e in entries):
        return (f"file backends do not fsync their writes ({NOT_DURABLE_MARK} = not durable); "
                "--fsync compares them with the databases like for like")
    return ""


def _header(run: Run, entries: list[Entry]) -> list[tuple[str, str]]:
    settings = run.settings
    lines = [
        ("dataset", dataset_line(run.dataset)),
        ("columns", _columns_line(run.dataset.get("columns") or [])),
        *(("input", str(note)) for note in run.dataset.get("notes") or []),
        ("run", f"{run.run_id}, {run.started_at}" if run.started_at else run.run_id),
        ("timing", _timing_line(settings)),
        ("cache", _cache_line(settings, entries)),
        ("durability", _durability_line(settings, entries)),
        ("purpose", str(settings.get("purpose") or "")),
        ("source", str(settings.get("source") or "")),
        ("filter", _filter_line(settings.get("plan") or {}, run.ops())),
    ]
    if number(settings.get("process_peak_rss_bytes")) is not None:
        lines.append(("memory", f"peak resident {fmt_bytes(settings['process_peak_rss_bytes'])} for the whole run"))
    lines.append(("environment", _machine_line(run.environment)))
    header = [(label, text) for label, text in lines if text]
    for b in run.backends:
        if b.server:
            header.append((f"{b.backend} server", server_label(b.server)))
    return header


def _columns(latency: bool, entries: list[Entry]) -> list[Column]:
    if latency:
        columns = [Column("p50", "p50"), Column("p95", "p95"), Column("p99", "p99"), Column("n", "calls")]
    else:
        columns = [Column("median", "median"), Column("iqr", "IQR"), Column("n", "n")]
    columns += [
        Column("cache", "cache"),
        Column("durable", "durable"),
        Column("best", "× best"),
        Column("rows_per_s", "rows/s"),
        Column("mb_per_s", "MB/s"),
        Column("peak", "peak mem"),
        Column("at_rest", "at rest"),
        Column("size_ratio", "÷ Arrow"),
        Column("requests", "requests"),
        Column("bytes_sent", "sent"),
        Column("bytes_received", "received"),
    ]
    raw = {
        "requests": lambda m: m.requests,
        "bytes_sent": lambda m: m.bytes_sent,
        "bytes_received": lambda m: m.bytes_received,
        "rows_per_s": lambda m: m.rows_per_s,
        "mb_per_s": lambda m: m.mb_per_s,
        "peak": lambda m: m.peak_memory_bytes,
        "at_rest": lambda m: m.bytes_at_rest,
        "size_ratio": lambda m: m.size_ratio,
        "cache": lambda m: 0 if m.cache is not None else None,
        "durable": lambda m: 0 if m.durable is not None else None,
    }
    # Drop an optional column no successful row fills (no "at rest" column for a read, no "cache"
    # column for a run that did not record one).
    columns = [
        c for c in columns
        if c.key not in raw or any(e.ok and number(raw[c.key](e.measurement)) is not None for e in entries)
    ]
    if any(e.untrusted or not e.ok for e in entries):
        columns.append(Column("note", "note", numeric=False))
    return columns


def _cells(entry: Entry) -> dict[str, str]:
    m = entry.measurement
    if not entry.ok:
        # Never a number for a row that did not run: its reason only.
        return {"note": entry.status_text}
    s = m.stats
    mark = UNTRUSTED_MARK if entry.untrusted else ""
    warned = WARNING_MARK if m.warnings else ""
    cells = {
        "median": fmt_time(s.median) + mark + warned,
        # One timing has no spread: a "0 s" IQR would claim a steady figure that was never checked.
        "iqr": fmt_time(s.iqr) if s.n > 1 else DASH,
        "n": f"{s.n}{SINGLE_RUN_MARK if entry.single_run else ''}{NO_WARMUP_MARK if entry.unwarmed else ''}",
        "cache": m.cache or DASH,
        "durable": DASH if m.durable is None else ("yes" if m.durable else f"no {NOT_DURABLE_MARK}"),
        "p50": fmt_time(s.p50) + mark + warned,
        "p95": fmt_time(s.p95) + mark,
        "p99": fmt_time(s.p99) + mark,
        "best": fmt_ratio(entry.ratio_to_best) + (f" {BEST_MARK}" if entry.best else mark),
        "rows_per_s": fmt_count(m.rows_per_s) + (mark if number(m.rows_per_s) is not None else ""),
        "mb_per_s": fmt_plain(m.mb_per_s) + (mark if number(m.mb_per_s) is not None else ""),
        "peak": fmt_bytes(m.peak_memory_bytes),
        "at_rest": fmt_bytes(m.bytes_at_rest),
        "size_ratio": fmt_ratio(m.size_ratio),
        "requests": DASH if m.requests is None else f"{m.requests:,}",  # a count, never a rounded one
        "bytes_sent": fmt_bytes(m.bytes_sent),
        "bytes_received": fmt_bytes(m.bytes_received),
        "note": f"{UNTRUSTED_MARK} round trip failed" if entry.untrusted else "",
    }
    return cells


def _latency(entries: list[Entry]) -> bool:
    return any(e.measurement.latency for e in entries)


def _verification_line(b: BackendRun) -> VerificationLine:
    v = b.verification
    if v is None:
        return VerificationLine(b.backend, f"{DASH} not verified", False, False)
    counts = f"{format_quantity(v.rows_written, 'rows')} rows written, {format_quantity(v.rows_read, 'rows')} read"
    mark = FLAG_MARK if v.flagged else GOOD_MARK
    return VerificationLine(b.backend, f"{mark} {v.summary} ({counts})", v.flagged, True)


def unsupported_everywhere(entries: list[Entry]) -> list[tuple[str, str | None]]:
    """The (operation, cache state) pairs no backend of the run supports: one line, not a table (a
    table of "unsupported" rows says nothing)."""
    return [g for g in groups(entries) if all(e.measurement.status == UNSUPPORTED for e in entries if e.group == g)]


def _sections(entries: list[Entry]) -> list[Section]:
    """One section per (operation, cache state), fastest first."""
    sections: list[Section] = []
    left_out = unsupported_everywhere(entries)
    for group in groups(entries):
        if group in left_out:
            continue
        op_entries = [e for e in entries if e.group == group]
        # Fastest first; rows that did not run keep their run order at the end.
        op_entries.sort(key=lambda e: (not e.ok, e.median if e.ok else 0.0))
        latency = _latency(op_entries)
        rows = [Row(e.measurement.backend, _cells(e), e) for e in op_entries]
        sections.append(Section(group[0], latency, _columns(latency, op_entries), rows, group[1]))
    return sections


def _mark_footnotes(entries: list[Entry]) -> list[str]:
    """One line for each mark some figure of the run carries."""
    shown = [e for e in entries if e.ok]
    marks = (
        (UNTRUSTED_FOOTNOTE, lambda e: e.untrusted),
        (SINGLE_RUN_FOOTNOTE, lambda e: e.single_run),
        (NO_WARMUP_FOOTNOTE, lambda e: e.unwarmed),
        (WARNING_FOOTNOTE, lambda e: bool(e.measurement.warnings)),
        (NOT_DURABLE_FOOTNOTE, lambda e: e.not_durable),
    )
    return [note for note, carries in marks if any(carries(e) for e in shown)]


def _warning_lines(entries: list[Entry]) -> list[str]:
    return [
        f"{WARNING_MARK} {e.measurement.backend} {group_title(*e.group)}: {warning}"
        for e in entries if e.ok for warning in e.measurement.warnings
    ]


def build_report(run: Run) -> Report:
    """The whole comparison of the run's backends, ready for any text syntax."""
    from storeadvise.bench.matrix import build_matrix  # it builds on this module's entries

    entries = build_entries(run)
    sections = _sections(entries)
    left_out = unsupported_everywhere(entries)

    verification = [_verification_line(b) for b in run.backends if b.status == OK]
    not_run = [(b.backend, f"{b.status}: {b.reason}" if b.reason else b.status) for b in run.backends if b.status != OK]
    not_run += [(name, f"not available here: {why}") for name, why in run.settings.get("unavailable", {}).items()]

    footnotes = []
    if left_out:
        footnotes.append(f"Not supported by any backend of this run: {', '.join(group_title(*g) for g in left_out)}.")
    footnotes += _mark_footnotes(entries)
    if sections:
        footnotes.append(
            f"× best: median ÷ the best median of that operation in the same cache state ({BEST_MARK} = best); "
            "latency operations compare p50 and list p95/p99 per call."
        )
    tables = []
    if run.scaling:
        tables.append(_scaling_table(run.scaling))
        footnotes.append(
            "growth k: the fitted exponent of time ~ rows^k; 1 is linear, below 1 fixed costs dominate, "
            "above 1 each row costs more as data grows (latency ops: p50 per call)."
        )
    _add_media(run, tables, footnotes)
    if run.load:
        from storeadvise.bench.load_table import load_footnotes, load_table

        tables.append(load_table(run.load))
        footnotes += load_footnotes(run.load)
    not_run += [(name, "not run: the run was stopped first") for name in run.not_reached()]
    header = _header(run, entries)
    if run.settings.get("interrupted"):
        header.insert(0, ("interrupted", "stopped before it finished (Ctrl-C or SIGTERM); what it measured is shown"))
    title = f"storeadvise run {run.run_id}"
    problems = len(run.problems)
    if problems:
        # In the first line, where nobody can miss it: this is not the whole comparison asked for. Each
        # problem is shown where it happened (an operation's row, "not run", the header).
        title += f" (PARTIAL: {problems} problem{'s' if problems > 1 else ''})"
    report = Report(
        title=title,
        header=header,
        sections=sections,
        verification=verification,
        not_run=not_run,
        footnotes=footnotes,
        tables=tables,
        matrix=build_matrix(run, entries) if sections else None,
        warnings=_warning_lines(entries),
        entries=entries,
    )
    return _printable(report)


def _printable(item: Any) -> Any:
    """``item`` with every text in it made ``printable``: column names, values, paths and error messages
    quoted from the user's file reach every exporter already escaped. Entries hold the run's raw data,
    which exporters read for numbers and flags, never print."""
    if isinstance(item, str):
        return printable(item)
    if isinstance(item, Entry):
        return item
    if is_dataclass(item) and not isinstance(item, type):
        return replace(item, **{f.name: _printable(getattr(item, f.name)) for f in fields(item)})
    if isinstance(item, (list, tuple)):
        return type(item)(_printable(x) for x in item)
    if isinstance(item, dict):
        return {_printable(k): _printable(v) for k, v in item.items()}
    return item


def _add_media(run: Run, tables: list[PlainTable], footnotes: list[str]) -> None:
    """A folder of media items' comparison (``bench.mediareport``) and what its columns mean."""
    from storeadvise.bench.mediareport import media_note, media_table

    table = media_table(run)
    if table is not None:
        tables.append(table)
        footnotes += [note for note in (media_note(run),) if note]


def _scaling_table(scaling: list[dict[str, Any]]) -> PlainTable:
    """Per backend and operation: time per row (or p50 per call) at each size, and the growth exponent."""
    sizes = sorted({p["rows"] for entry in scaling for p in entry["points"]})
    rows = []
    for entry in sorted(scaling, key=lambda e: (e["op"], e["backend"])):
        at = {p["rows"]: p for p in entry["points"]}
        cells = []
        for size in sizes:
            point = at.get(size)
            if point is None:
                cells.append(DASH)
            elif entry.get("latency"):
                cells.append(fmt_time(point["seconds"]) + " /call")
            else:
                cells.append(fmt_time(point["per_row_s"]) + " /row")
        exponent = entry.get("exponent")
        rows.append([entry["op"], entry["backend"], *cells, DASH if exponent is None else f"{exponent:.2f}"])
    return PlainTable(
        title="scaling",
        head=["op", "backend", *[f"{format_quantity(size, 'rows')} rows" for size in sizes], "growth k"],
        numeric=[False, False, *[True] * len(sizes), True],
        rows=rows,
    )
