"""Exporters of a finished run: every format shows every backend and op, the best row, the ratios,
the reasons of rows that did not run, and loud warnings for a backend whose round trip failed."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from storeadvise.bench.report import CSV_COLUMNS, FORMATS, print_run, render
from storeadvise.bench.results import (
    FAILED,
    OK,
    SKIPPED,
    UNSUPPORTED,
    BackendRun,
    ColumnFidelity,
    Measurement,
    Run,
    Stats,
    Verification,
    load_run,
    run_from_dict,
    save_run,
)
from storeadvise.errors import UsageError

ANSI = re.compile(r"\x1b\[")
ROWS = 10_000
ARROW = 2_000_000


def stats(median: float, spread: float = 0.1) -> Stats:
    return Stats.of([median * (1 - spread), median, median * (1 + spread)])


def throughput(backend: str, op: str, median: float, **extra) -> Measurement:
    return Measurement(
        backend=backend, op=op, stats=stats(median), rows=ROWS, arrow_bytes=ARROW,
        rows_per_s=ROWS / median, mb_per_s=ARROW / 1e6 / median, peak_memory_bytes=5_000_000, **extra,
    )


def latency(backend: str, p50: float) -> Measurement:
    calls = [p50 * f for f in (0.8, 0.9, 1.0, 1.0, 1.0, 1.1, 1.5, 3.0)]
    return Measurement(backend=backend, op="lookup", stats=Stats.of(calls), rows=1, latency=True)


def ok_verification(rows: int = ROWS) -> Verification:
    return Verification(rows_written=rows, rows_read=rows, checksum_match=True)


def make_run(medians: dict[str, float] | None = None, run_id: str = "r1") -> Run:
    """parquet (best), csv (no lookup: unsupported), sqlite, jsonl (flagged, and fastest on read),
    mongo (server backend), kafka (skipped as a whole)."""
    m = {"parquet": 0.010, "csv": 0.080, "sqlite": 0.040, "jsonl": 0.005, "mongo": 0.200}
    m.update(medians or {})
    backends = [
        BackendRun(
            "parquet", verification=ok_verification(),
            measurements=[
                throughput("parquet", "write", 0.020, bytes_at_rest=500_000, size_ratio=0.25),
                throughput("parquet", "read", m["parquet"]),
                latency("parquet", 0.002),
            ],
        ),
        BackendRun(
            "csv",
            verification=Verification(
                ROWS, ROWS, True,
                columns=[ColumnFidelity("ts", "timestamp[us, tz=UTC]", "string", "converted", "to ISO text")],
            ),
            measurements=[
                throughput("csv", "write", 0.100, bytes_at_rest=3_000_000, size_ratio=1.5),
                throughput("csv", "read", m["csv"]),
                Measurement("csv", "lookup", status=UNSUPPORTED, reason="csv has no keyed access",
                            latency=True),
            ],
        ),
        BackendRun(
            "sqlite", verification=ok_verification(),
            measurements=[
                throughput("sqlite", "write", 0.060, bytes_at_rest=2_500_000, size_ratio=1.25),
                throughput("sqlite", "read", m["sqlite"]),
                latency("sqlite", 0.0001),
                Measurement("sqlite", "append", status=FAILED, reason="database is locked"),
            ],
        ),
        BackendRun(
            "jsonl",
            verification=Verification(ROWS, ROWS - 12, False, flagged=True, message="12 rows lost"),
            measurements=[
                throughput("jsonl", "write", 0.030, bytes_at_rest=4_000_000, size_ratio=2.0),
                throughput("jsonl", "read", m["jsonl"]),
            ],
        ),
        BackendRun(
            "mongo", verification=ok_verification(),
            server={"product": "SecantusDB", "version": "8.2.11", "protocol": "MongoDB wire protocol",
                    "embedded": True, "address": "127.0.0.1:27017"},
            measurements=[
                throughput("mongo", "write", 0.300, bytes_at_rest=1_000_000, size_ratio=0.5),
                throughput("mongo", "read", m["mongo"]),
                latency("mongo", 0.0005),
            ],
        ),
        BackendRun("kafka", status=SKIPPED, reason="no Kafka broker: install storeadvise[embedded]"),
        BackendRun("duckdb", status=FAILED, reason="could not open the database file",
                   measurements=[Measurement("duckdb", "write", status=FAILED, reason="could not open")]),
    ]
    return Run(
        run_id=run_id, started_at="2025-01-02T03:04:05+00:00", finished_at="2025-01-02T03:05:00+00:00",
        environment={"python": "3.12.3", "os": "Linux 6.1", "cpu_count": 2},
        dataset={"name": "sample:tabular", "rows": ROWS, "arrow_bytes": ARROW, "modality": "tabular"},
        settings={"repeat": 3, "warmup": 1, "max_time": 10.0, "file_reads": "warm (page cache)"},
        backends=backends,
    )


def plain(run: Run, **kw) -> str:
    return render(run, "table", color=False, width=200, details=True, **kw)


def section_lines(text: str, op: str) -> list[str]:
    """The lines of one op's table in the plain output (from its title to the next blank line)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split(" (")[0].strip() == op)
    out = []
    for line in lines[start + 1:]:
        if not line.strip():
            if len(out) > 2:
                break
            continue
        out.append(line)
    return out


def row_of(text: str, op: str, backend: str) -> str:
    return next(line for line in section_lines(text, op) if line.split()[0] == backend)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_names_every_backend_and_op(fmt: str) -> None:
    run = make_run()
    text = render(run, fmt, color=False, width=200)
    for backend in ("parquet", "csv", "sqlite", "jsonl", "mongo", "kafka", "duckdb"):
        assert backend in text
    for op in ("write", "read", "lookup", "append"):
        assert op in text


def test_plain_table_marks_best_and_ratios() -> None:
    text = plain(make_run())
    assert not ANSI.search(text)
    best = row_of(text, "read", "parquet")
    assert "1.00× ★" in best
    # sqlite read median 40 ms vs best 10 ms -> 4.00×; csv 80 ms -> 8.00×
    assert "4.00×" in row_of(text, "read", "sqlite")
    assert "8.00×" in row_of(text, "read", "csv")
    assert "40.0 ms" in row_of(text, "read", "sqlite")
    # write: best is parquet at 20 ms, bytes at rest and ratio to Arrow shown
    write = row_of(text, "write", "parquet")
    assert "1.00× ★" in write and "500 kB" in write and "0.25×" in write


def test_flagged_backend_is_loud_and_never_best() -> None:
    text = plain(make_run())
    # jsonl is the fastest reader (5 ms) but lost rows: marked, not best, ratio < 1 carries "!"
    row = row_of(text, "read", "jsonl")
    assert "5.00 ms!" in row and "0.50×!" in row and "★" not in row
    assert "! round trip failed" in row
    assert "✗ FAILED: 12 rows lost" in text
    assert "numbers are not trustworthy" in text  # the footnote
    md = render(make_run(), "markdown")
    assert "**✗ FAILED: 12 rows lost" in md
    html = render(make_run(), "html")
    assert "✗ FAILED: 12 rows lost" in html and 'class="untrusted"' in html


def test_rows_that_did_not_run_show_reason_and_no_number() -> None:
    run = make_run()
    for fmt in ("table", "markdown", "html"):
        text = render(run, fmt, color=False, width=200, details=True)
        assert "unsupported: csv has no keyed access" in text
        assert "failed: database is locked" in text
        assert "skipped: no Kafka broker: install storeadvise[embedded]" in text
    text = plain(run)
    for op, backend in (("lookup", "csv"), ("append", "sqlite")):
        row = row_of(text, op, backend)
        assert not re.search(r"\d", row.replace("storeadvise", "")), row
    # backends that did not run appear once, in the "not run" list, not in any op table
    assert text.count("kafka") == 1 and text.count("duckdb") == 1
    assert "failed: could not open the database file" in text
    md = render(run, "markdown")
    assert "| csv |" in md and re.search(r"\| csv \|[ |]*unsupported: csv has no keyed access \|", md)


def test_latency_op_shows_percentiles() -> None:
    text = plain(make_run())
    lines = section_lines(text, "lookup")
    assert all(h in lines[0] for h in ("p50", "p95", "p99")) and "median" not in lines[0]
    # sqlite 100 µs is best; mongo 500 µs -> 5.00×
    assert "1.00× ★" in row_of(text, "lookup", "sqlite")
    assert "5.00×" in row_of(text, "lookup", "mongo")
    assert "100 µs" in row_of(text, "lookup", "sqlite")


def test_header_has_dataset_settings_and_server() -> None:
    text = plain(make_run())
    assert "sample:tabular, 10,000 rows, 2.00 MB in Arrow, tabular" in text
    assert "up to 3 counted runs, 1 warm-up, 10 s budget per operation, file reads warm (page cache)" in text
    assert "SecantusDB 8.2.11 (MongoDB wire protocol), embedded" in text
    assert "r1" in text and "2025-01-02" in text


def test_csv_is_raw_and_complete() -> None:
    run = make_run()
    rows = list(csv.DictReader(io.StringIO(render(run, "csv"))))
    measured = sum(len(b.measurements) for b in run.backends if b.status == OK)
    assert len(rows) == measured + 2  # + the skipped kafka and the failed duckdb, once each
    assert list(rows[0]) == list(CSV_COLUMNS)
    by = {(r["backend"], r["op"]): r for r in rows}
    assert float(by[("sqlite", "read")]["median_s"]) == pytest.approx(0.040)
    assert float(by[("sqlite", "read")]["ratio_to_best"]) == pytest.approx(4.0)
    assert by[("parquet", "read")]["best"] == "true"
    assert int(by[("parquet", "write")]["bytes_at_rest"]) == 500_000
    assert by[("jsonl", "read")]["trusted"] == "false"
    assert by[("csv", "lookup")]["status"] == UNSUPPORTED and by[("csv", "lookup")]["median_s"] == ""
    assert by[("kafka", "")]["status"] == SKIPPED and "no Kafka broker" in by[("kafka", "")]["reason"]


def test_json_round_trips_and_has_no_nan() -> None:
    run = make_run()
    run.backends[0].measurements[0].mb_per_s = float("nan")
    text = render(run, "json")
    data = json.loads(text)  # strict JSON would fail on NaN tokens
    assert "NaN" not in text and data["backends"][0]["measurements"][0]["mb_per_s"] is None
    back = run_from_dict(data)
    assert [b.backend for b in back.backends] == [b.backend for b in run.backends]
    assert back.backends[2].measurements[1].stats.median == pytest.approx(0.040)
    assert plain(back) == plain(run)  # the NaN cell renders as "–", like a missing value
    assert "–" in row_of(plain(run), "write", "parquet")


def change_of(text: str, backend: str, op: str) -> str:
    return next(line for line in section_lines(text, "vs baseline") if line.split()[:2] == [backend, op])


def test_baseline_adds_the_comparison_to_the_runs_report() -> None:
    old = make_run({"sqlite": 0.050}, run_id="r0")
    old.backends = [b for b in old.backends if b.backend != "mongo"]
    text = plain(make_run(), baseline=old)
    assert "1.25× faster" in change_of(text, "sqlite", "read")  # 40 ms now vs 50 ms before, spreads apart
    assert "within noise (+0%)" in change_of(text, "parquet", "read")  # unchanged
    assert "baseline" in text and "r0" in text
    rows = {(r["backend"], r["op"]): r for r in csv.DictReader(io.StringIO(render(make_run(), "csv",
                                                                                   baseline=old)))}
    assert float(rows[("sqlite", "read")]["baseline_ratio"]) == pytest.approx(0.8)
    assert rows[("sqlite", "read")]["baseline_verdict"] == "faster"
    assert rows[("mongo", "read")]["baseline_ratio"] == ""
    slower = plain(make_run({"sqlite": 0.070}), baseline=old)
    assert "1.40× slower" in change_of(slower, "sqlite", "read")


def test_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="table, markdown, csv, json, html"):
        render(make_run(), "yaml")


def test_saved_run_renders(tmp_path) -> None:
    run = make_run()
    run.backends[1].measurements[0].size_ratio = float("inf")
    path = save_run(run, tmp_path / "results" / "r1.json")
    loaded = load_run(path)
    assert loaded.backends[1].measurements[0].size_ratio is None  # strict JSON: inf saved as null
    for fmt in FORMATS:
        assert "parquet" in render(loaded, fmt, color=False)


def test_saved_run_without_nan_renders_identically(tmp_path) -> None:
    path = save_run(make_run(), tmp_path / "r1.json")
    loaded = load_run(path)
    for fmt in FORMATS:
        assert render(loaded, fmt, color=False, width=200) == render(make_run(), fmt, color=False, width=200)


def test_color_table_uses_ansi_and_print_run_plain_when_piped() -> None:
    from rich.console import Console

    assert ANSI.search(render(make_run(), "table", color=True, width=200))
    buffer = io.StringIO()
    print_run(make_run(), console=Console(file=buffer, width=200), details=True)
    out = buffer.getvalue()
    assert not ANSI.search(out) and "1.00× ★" in out and "✗ FAILED: 12 rows lost" in out


def test_empty_run_renders() -> None:
    run = Run(run_id="empty", started_at="")
    for fmt in FORMATS:
        text = render(run, fmt, color=False)
        assert "empty" in text if fmt != "csv" else text.splitlines() == [",".join(CSV_COLUMNS)]


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_an_operation_no_backend_supports_gets_one_line_not_a_table(fmt: str) -> None:
    run = Run(run_id="u1", started_at="2026-11-30T00:00:00+00:00",
              dataset={"name": "t", "rows": ROWS, "arrow_bytes": ARROW})
    for name in ("csv", "parquet"):
        b = BackendRun(backend=name, verification=ok_verification())
        b.measurements = [throughput(name, "write", 0.01),
                          Measurement(backend=name, op="stream_latency", latency=True, status=UNSUPPORTED,
                                      reason=f"{name} is not a stream")]
        run.backends.append(b)
    text = render(run, fmt, color=False)
    assert "is not a stream" not in text
    assert "Not supported by any backend of this run: stream_latency." in text


@pytest.mark.parametrize("fmt", ["table", "markdown", "html"])
def test_how_many_runs_a_figure_rests_on_is_shown_and_one_run_is_marked(fmt: str) -> None:
    run = Run(run_id="n1", started_at="2026-11-30T00:00:00+00:00",
              dataset={"name": "t", "rows": ROWS, "arrow_bytes": ARROW})
    single = Measurement(backend="mongo", op="write", stats=Stats.of([2.5]), rows=ROWS, arrow_bytes=ARROW)
    several = throughput("parquet", "write", 0.01)
    for m in (single, several):
        run.backends.append(BackendRun(backend=m.backend, measurements=[m], verification=ok_verification()))
    text = render(run, fmt, color=False, width=200, details=True)
    assert "1¹" in text and "n: counted runs" in text
    if fmt != "html":
        mongo_row = next(line for line in text.splitlines() if "mongo" in line and "2.50 s" in line)
        cells = [c.strip() for c in re.split(r"\s{2,}|\|", mongo_row) if c.strip()]
        assert cells[1:4] == ["2.50 s", "–", "1¹"]  # one run: no claim of a zero spread
        parquet_row = next(line for line in text.splitlines() if "parquet" in line and "10.0 ms" in line)
        assert "¹" not in parquet_row and f" {several.stats.n} " in parquet_row


def test_a_plain_table_on_a_narrow_terminal_folds_reasons_and_never_cuts_a_figure() -> None:
    from rich.console import Console

    from storeadvise.bench.report import _rich_plain
    from storeadvise.bench.table import PlainTable

    head = ["layout", "shuffle/s", "MB/s", "id p50", "id p99", "batch p99", "busy", "at rest", "/files"]
    figures = ["files_index", "27.0k", "2,577", "221 µs", "570 µs", "1.99 ms", "96% of 1 ok", "1.90 GB", "1.000x"]
    reason = ["duckdb", "failed: interrupted before its shuffle could finish"] + [""] * (len(head) - 2)
    plain = PlainTable("media", head, [False] + [True] * 5 + [False, True, True], [figures, reason])
    console = Console(width=100, record=True, color_system=None)
    console.print(_rich_plain(plain))
    text = console.export_text()
    assert "…" not in text
    assert all(cell in text for cell in figures)
