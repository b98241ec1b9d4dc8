"""The one-screen summary: backends × operations with "× best", the marks every figure carries in every
format, and ClickBench's score per backend, on hand-built runs (no benchmark needed) and from `bench`."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from storeadvise.backends.operations import OPERATIONS
from storeadvise.bench.matrix import PENALTY_FACTOR, SHIFT_S, build_matrix
from storeadvise.bench.report import FORMATS, render
from storeadvise.bench.results import (
    UNSUPPORTED,
    BackendRun,
    Measurement,
    Run,
    Stats,
    Verification,
    run_from_dict,
)
from storeadvise.bench.table import build_entries, build_report
from storeadvise.cli import cli

ROWS = 10_000
SUMMARY_TITLE = "summary: × best per operation"


def section_at(text: str, op: str) -> int:
    """Where the per-operation table of ``op`` starts in a terminal table."""
    found = re.search(rf"^{op}\s*$", text, re.MULTILINE)
    return found.start() if found else -1


def figure(backend: str, op: str, median: float, n: int = 3, **fields) -> Measurement:
    spread = [median * 0.9, median, median * 1.1, median, median][:n] if n > 1 else [median]
    return Measurement(backend=backend, op=op, stats=Stats.of(spread), rows=ROWS, arrow_bytes=ROWS * 100,
                       rows_per_s=ROWS / median, **fields)


def backend(name: str, *measurements: Measurement, flagged: bool = False) -> BackendRun:
    verification = Verification(ROWS, ROWS if not flagged else ROWS - 1, not flagged, flagged=flagged,
                                message="1 row lost" if flagged else "")
    return BackendRun(name, verification=verification, measurements=list(measurements))


def hand_run(*backends: BackendRun, **settings) -> Run:
    return Run(run_id="m1", started_at="2026-11-30T00:00:00+00:00",
               dataset={"name": "t", "rows": ROWS, "arrow_bytes": ROWS * 100},
               settings={"repeat": 3, "warmup": 1, "lookups": 200, **settings}, backends=list(backends))


def matrix_of(run: Run):
    return build_matrix(run, build_entries(run))


def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


# -- the score ---------------------------------------------------------------------------------------
def test_score_is_the_geometric_mean_of_shifted_ratios() -> None:
    run = hand_run(
        backend("a", figure("a", "write", 0.020), figure("a", "read", 0.100)),
        backend("b", figure("b", "write", 0.050), figure("b", "read", 0.040)),
    )
    scores = {row.backend: row.score for row in matrix_of(run).rows}
    shifted = lambda t, best: (SHIFT_S + t) / (SHIFT_S + best)  # noqa: E731
    assert scores["a"] == pytest.approx(geomean([shifted(0.020, 0.020), shifted(0.100, 0.040)]))
    assert scores["b"] == pytest.approx(geomean([shifted(0.050, 0.020), shifted(0.040, 0.040)]))
    # b: sqrt(60/30 * 1) = 1.414; a: sqrt(1 * 110/50) = 1.483; lower first
    assert [row.backend for row in matrix_of(run).rows] == ["b", "a"]


def test_the_purpose_chooses_the_scored_operations_and_the_notes_say_which() -> None:
    run = hand_run(
        backend("a", figure("a", "write", 0.010), figure("a", "lookup", 0.001, latency=True)),
        backend("b", figure("b", "write", 0.500), figure("b", "lookup", 0.0001, latency=True)),
        purpose="online",
    )
    matrix = matrix_of(run)
    assert matrix.score_ops == ["write", "lookup"]  # online measures write_one and lookup; write_one not run
    run.settings["purpose"] = "exploration"  # write and read: only write was measured
    matrix = matrix_of(run)
    assert matrix.score_ops == ["write"]
    assert "exploration purpose" in matrix.notes[0] and "over write (" in matrix.notes[0]
    assert {r.backend: r.score for r in matrix.rows}["b"] == pytest.approx((SHIFT_S + 0.5) / (SHIFT_S + 0.01))
    run.settings["purpose"] = None
    assert "every measured operation" in matrix_of(run).notes[0]


def test_an_unsupported_operation_scores_the_stated_penalty() -> None:
    run = hand_run(
        backend("a", figure("a", "write", 0.010), figure("a", "lookup", 0.002, latency=True)),
        backend("b", figure("b", "write", 0.030), figure("b", "lookup", 0.004, latency=True)),
        backend("c", figure("c", "write", 0.010),
                Measurement("c", "lookup", status=UNSUPPORTED, reason="no keyed access", latency=True)),
    )
    matrix = matrix_of(run)
    rows = {r.backend: r for r in matrix.rows}
    worst_lookup = (SHIFT_S + 0.004) / (SHIFT_S + 0.002)
    lookup = [c.title for c in matrix.columns].index("lookup")
    cell = rows["c"].cells[lookup]
    assert cell.penalised and cell.text == "n/a"
    assert cell.score_ratio == pytest.approx(PENALTY_FACTOR * worst_lookup)
    assert rows["c"].score == pytest.approx(geomean([1.0, PENALTY_FACTOR * worst_lookup]))
    assert any(note.startswith("penalty:") and f"{PENALTY_FACTOR:g} ×" in note for note in matrix.notes)
    # a backend that skipped the operation is scored the same way
    run.backends[2].measurements[1] = Measurement("c", "lookup", status="skipped", reason="server unreachable")
    assert {r.backend: r.score for r in matrix_of(run).rows}["c"] == pytest.approx(rows["c"].score)


def test_an_untrusted_backend_is_never_best_and_ranks_last() -> None:
    run = hand_run(
        backend("fast", figure("fast", "read", 0.001), flagged=True),
        backend("slow", figure("slow", "read", 0.100)),
    )
    matrix = matrix_of(run)
    assert [r.backend for r in matrix.rows] == ["slow", "fast"]
    fast = matrix.rows[1]
    assert fast.untrusted and "★" not in fast.cells[0].text and fast.cells[0].text.endswith("!")
    assert fast.score_text.endswith("!") and "★" in matrix.rows[0].cells[0].text


def test_cold_and_warm_figures_are_separate_columns_ranked_apart() -> None:
    run = hand_run(
        backend("a", figure("a", "scan", 0.010, cache="warm"), figure("a", "scan", 0.200, cache="cold")),
        backend("b", figure("b", "scan", 0.020, cache="warm"), figure("b", "scan", 0.100, cache="cold")),
        cache="both",
    )
    matrix = matrix_of(run)
    assert [c.title for c in matrix.columns] == ["scan", "scan (cold)"]
    cells = {r.backend: [c.text for c in r.cells] for r in matrix.rows}
    assert cells["a"] == ["1.0× ★", "2.0×"] and cells["b"] == ["2.0×", "1.0× ★"]


# -- the screen --------------------------------------------------------------------------------------
def eight_by_eight() -> Run:
    """Eight backends × eight operations, with every mark some figure can carry."""
    ops = ["write", "read", "scan", "project", "filter", "lookup", "append", "write_one"]  # one two-word op
    names = ["parquet", "sqlite", "duckdb", "arrow", "jsonl", "mongo", "kafka", "csv"]
    backends = []
    for i, name in enumerate(names):
        measurements = []
        for j, op in enumerate(ops):
            latency = OPERATIONS[op].latency
            fields = {"latency": latency, "durable": False if OPERATIONS[op].mutates else None,
                      "warnings": ["first run 9× slower than the median"] if (i + j) % 7 == 0 else []}
            # Mostly the runs asked for; some one-run figures (slow servers) and some cut short by the budget.
            n = 1 if name in ("mongo", "kafka") and j < 2 else (2 if (i * j) % 11 == 5 else 3)
            measurements.append(figure(name, op, 0.001 * (1 + i) ** 2.5 * (1 + j), n=n if not latency else 5,
                                       extra={"warmup_runs": 0 if name == "mongo" and j < 2 else 1}, **fields))
        backends.append(backend(name, *measurements, flagged=name == "jsonl"))
    return hand_run(*backends, lookups=5)


def matrix_lines(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(SUMMARY_TITLE))
    end = next(i for i in range(start + 3, len(lines)) if not lines[i].strip() or lines[i].startswith("score:"))
    return lines[start:end]


def test_eight_backends_by_eight_operations_fit_100_columns() -> None:
    text = render(eight_by_eight(), "table", color=False, width=100)
    lines = matrix_lines(text)
    assert len(lines) >= 2 + 3 + 8  # title, blank, headings (two lines for two-word ops), rule, 8 rows
    assert max(len(line) for line in lines) <= 100, "\n".join(lines)
    for name in ("parquet", "sqlite", "duckdb", "arrow", "jsonl", "mongo", "kafka", "csv"):
        assert any(line.split()[:1] == [name] for line in lines), name


def test_the_terminal_shows_the_matrix_first_and_the_tables_only_with_details() -> None:
    run = eight_by_eight()
    short = render(run, "table", color=False, width=100)
    assert section_at(short, "read") == -1 and "--details" in short
    full = render(run, "table", color=False, width=100, details=True)
    assert full.index(SUMMARY_TITLE) < section_at(full, "write") < section_at(full, "read")
    for fmt in ("markdown", "html"):
        text = render(run, fmt)
        assert text.index("summary") < text.index(">read<" if fmt == "html" else "## read")


# -- marks in every format ---------------------------------------------------------------------------
def marked_run() -> Run:
    return hand_run(
        backend("parquet", figure("parquet", "write", 0.010, durable=False),
                figure("parquet", "scan", 0.020, cache="warm"), figure("parquet", "scan", 0.300, cache="cold")),
        backend("mongo", figure("mongo", "write", 2.5, n=1, durable=True, extra={"warmup_runs": 0},
                                warnings=["first run 12× slower than the rest"]),
                figure("mongo", "scan", 0.040, cache="warm"), figure("mongo", "scan", 0.500, cache="lukewarm")),
        cache="both", fsync=False,
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_run_no_warmup_warnings_cache_and_durability_are_labelled_in_every_format(fmt: str) -> None:
    run = marked_run()
    text = render(run, fmt, color=False, width=200)
    if fmt == "csv":
        rows = {(r["backend"], r["op"], r["cache"]): r for r in csv.DictReader(io.StringIO(text))}
        write = rows[("mongo", "write", "")]
        assert (write["n"], write["single_run"], write["no_warmup"], write["durable"]) == ("1", "true", "true", "true")
        assert write["warnings"] == "first run 12× slower than the rest"
        assert rows[("parquet", "write", "")]["durable"] == "false"
        assert {k[2] for k in rows if k[1] == "scan"} == {"warm", "cold", "lukewarm"}
        assert rows[("parquet", "scan", "cold")]["in_score"] == "true" and rows[("parquet", "scan", "cold")]["score"]
        return
    if fmt == "json":
        data = json.loads(text)
        cell = next(r for r in data["matrix"]["rows"] if r["backend"] == "mongo")["cells"]["write"]
        assert cell["n"] == 1 and cell["single_run"] and cell["no_warmup"] and cell["durable"] is True
        assert cell["warnings"] == ["first run 12× slower than the rest"]
        assert data["matrix"]["columns"] == ["write", "scan", "scan (cold)", "scan (lukewarm)"]
        assert run_from_dict(data).backends[1].measurements[0].warnings == cell["warnings"]
        return
    # text formats: the matrix cell carries the marks, the warning is written out, cache states head columns
    assert re.search(r"(15|25)0×¹°†", text), text  # mongo write: 250×, one run, no warm-up, a warning
    assert "1.0× ★~" in text  # parquet write: best, not durable
    assert "† mongo write: first run 12× slower than the rest" in text
    assert "(cold)" in text and "(lukewarm)" in text
    assert "warm and cold" in text  # the header says which cache state the run used
    assert "do not fsync" in text
    full = render(run, fmt, color=False, width=200, details=True)
    assert "1¹°" in full and "no ~" in full and "yes" in full and "lukewarm" in full


def test_a_file_from_write_report_carries_the_details(tmp_path: Path) -> None:
    from storeadvise.bench.report import write_report

    path = write_report(marked_run(), tmp_path / "r.txt", "table")
    text = path.read_text(encoding="utf-8")
    assert SUMMARY_TITLE in text and section_at(text, "write") > text.index(SUMMARY_TITLE)


def test_the_matrix_key_of_the_json_report_is_not_part_of_the_run() -> None:
    data = json.loads(render(marked_run(), "json"))
    assert "matrix" in data
    assert render(run_from_dict(data), "markdown") == render(marked_run(), "markdown")


def test_the_report_model_has_one_matrix_per_run_with_sections() -> None:
    assert build_report(hand_run()).matrix is None  # nothing measured: nothing to summarise
    assert build_report(marked_run()).matrix is not None


# -- from the command line ---------------------------------------------------------------------------
def test_bench_prints_the_matrix_first_and_details_on_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["bench", "--sample", "tabular", "--rows", "300", "-b", "csv,parquet", "--ops", "write,read",
            "--repeat", "1", "--warmup", "0", "--no-save", "--purpose", "exploration"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.index(SUMMARY_TITLE) < out.index("round-trip verification")
    assert section_at(out, "read") == -1 and "exploration purpose" in out
    detailed = CliRunner().invoke(cli, [*args, "--details"], catch_exceptions=False).stdout
    assert detailed.index(SUMMARY_TITLE) < section_at(detailed, "write") < section_at(detailed, "read")


def test_a_read_measured_in_another_cache_state_is_not_penalised_as_missing() -> None:
    run = hand_run(
        backend("parquet", figure("parquet", "write", 0.010), figure("parquet", "scan", 0.100, cache="cold")),
        backend("mongo", figure("mongo", "write", 0.010), figure("mongo", "scan", 0.100, cache="lukewarm")),
        backend("kafka", figure("kafka", "write", 0.010),
                Measurement("kafka", "scan", status=UNSUPPORTED, reason="not a table", cache="cold")),
        cache="cold",
    )
    matrix = matrix_of(run)
    scores = {r.backend: r.score for r in matrix.rows}
    # parquet and mongo were each the only figure of their cache state: 1.0 everywhere
    assert scores["parquet"] == pytest.approx(1.0) and scores["mongo"] == pytest.approx(1.0)
    kafka = next(r for r in matrix.rows if r.backend == "kafka")
    penalised = [c for c in kafka.cells if c.penalised]
    assert len(penalised) == 1 and penalised[0].text == "n/a"  # its unsupported scan, once
    assert scores["kafka"] == pytest.approx(geomean([1.0, PENALTY_FACTOR]))


def test_a_baseline_comparison_shows_the_tables_that_hold_it() -> None:
    run = marked_run()
    text = render(run, "table", color=False, width=200, baseline=marked_run())
    assert "vs baseline" in text and section_at(text, "write") > text.index(SUMMARY_TITLE)


@pytest.mark.parametrize("states", [("warm",), ("warm", "cold")])
def test_an_operation_one_backend_cannot_do_is_na_in_every_cache_state_not_unsupported_everywhere(
        states: tuple[str, ...]) -> None:
    # An unsupported operation is recorded once, without a cache state; the others carry theirs.
    run = hand_run(
        backend("parquet", *(figure("parquet", "project", 0.01, cache=state) for state in states)),
        backend("kafka", Measurement("kafka", "project", status=UNSUPPORTED, reason="no columns")),
    )
    matrix = matrix_of(run)
    assert [c.title for c in matrix.columns] == [("project" if s == "warm" else f"project ({s})") for s in states]
    kafka = next(row for row in matrix.rows if row.backend == "kafka")
    assert [cell.text for cell in kafka.cells] == ["n/a"] * len(states)
    assert not any("Not supported by any backend" in note for note in build_report(run).footnotes)


def test_one_run_has_no_spread_in_csv_either() -> None:
    run = hand_run(backend("a", figure("a", "write", 0.5, n=1)), backend("b", figure("b", "write", 0.2, n=3)))
    rows = {row["backend"]: row for row in csv.DictReader(io.StringIO(render(run, "csv")))}
    assert rows["a"]["iqr_s"] == "" and rows["a"]["stdev_s"] == "" and rows["a"]["median_s"] != ""
    assert float(rows["b"]["iqr_s"]) > 0
