"""Render a finished benchmark run: terminal table, Markdown, CSV, JSON or a self-contained HTML page.

One exporter per format behind one signature (hyperfine's ``Exporter``). The text formats share the
table built once by ``bench.table``; they differ only in syntax. Exporters never compute statistics.
rich is imported only when a terminal table is drawn.

A run with a ``baseline`` adds the comparison of ``bench.compare`` to its report; ``render_runs`` shows
several runs side by side. Both refuse runs of different datasets unless ``compare_anyway``.
"""

from __future__ import annotations

import csv
import html
import io
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storeadvise.bench.compare import Comparison, compare_runs, comparison_record, side_by_side, with_baseline
from storeadvise.bench.export import render_pytest_benchmark
from storeadvise.bench.matrix import Matrix, MatrixColumn
from storeadvise.bench.results import Run, run_to_json
from storeadvise.bench.table import (
    PlainTable,
    Report,
    Section,
    build_report,
)
from storeadvise.errors import UsageError
from storeadvise.formatting import markdown_table, markdown_text, number, printable

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.table import Table

PLAIN_WIDTH = 120
"""Width of the plain-text table when no terminal says otherwise (a CI log has no width)."""


def _exporter(fmt: str) -> Callable[..., str]:
    exporter = EXPORTERS.get(fmt) or TOOL_EXPORTERS.get(fmt)
    if exporter is None:
        raise UsageError(f"unknown report format {fmt!r}; choose from {', '.join(OUTPUT_FORMATS)}")
    return exporter


def _baseline_comparison(run: Run, baseline: Run | None, compare_anyway: bool) -> Comparison | None:
    return None if baseline is None else compare_runs([baseline, run], compare_anyway=compare_anyway)


def render(
    run: Run,
    fmt: str = "table",
    *,
    baseline: Run | None = None,
    compare_anyway: bool = False,
    color: bool | None = None,
    width: int | None = None,
    details: bool = False,
) -> str:
    """The run as text in ``fmt``; ``color`` (table only) defaults to whether stdout is a terminal.

    Every format starts with the one-screen matrix. The terminal table adds the per-operation tables
    with ``details`` (always with a ``baseline``, whose comparison they hold); the file formats
    (markdown, csv, json, html) always carry them. With ``baseline``, each measurement's change against
    it is added (``DataError`` when the two runs measured different datasets, unless ``compare_anyway``).
    """
    exporter = _exporter(fmt)
    comparison = _baseline_comparison(run, baseline, compare_anyway)
    return exporter(run, comparison=comparison, color=color, width=width, details=details)


def render_runs(
    runs: list[Run], fmt: str = "table", *, compare_anyway: bool = False, color: bool | None = None,
    width: int | None = None,
) -> str:
    """Several runs of the same dataset side by side, each later run's change to the first."""
    _exporter(fmt)
    if fmt in TOOL_EXPORTERS:
        raise UsageError(f"--format {fmt} writes one run: export each run file, then compare them with that tool "
                         "(pytest-benchmark compare A.json B.json)")
    comparison = compare_runs(runs, compare_anyway=compare_anyway)
    if fmt == "json":
        import json

        return json.dumps(comparison_record(comparison), indent=2, default=str) + "\n"
    if fmt == "csv":
        return _plain_tables_csv(side_by_side(comparison).tables[:1])
    if fmt == "html":
        return _html(side_by_side(comparison), runs=comparison.runs)
    return REPORT_EXPORTERS[fmt](side_by_side(comparison), color=color, width=width)


def write_report(
    run: Run | list[Run],
    path: str | os.PathLike[str],
    fmt: str = "markdown",
    *,
    baseline: Run | None = None,
    compare_anyway: bool = False,
    force: bool = False,
    inputs: Iterable[str | os.PathLike[str] | None] = (),
) -> Path:
    """Write the run (or several runs side by side) rendered in ``fmt`` (without colour) to the file
    ``path``, atomically.

    An existing file is replaced only with ``force``; ``inputs`` (the run files it was loaded from) never are.
    """
    from storeadvise.outputs import prepare_output, write_text_atomically

    prepare_output(path, force=force, inputs=inputs, option="-o")
    if isinstance(run, list):
        text = render_runs(run, fmt, compare_anyway=compare_anyway, color=False)
    else:
        # A file is read later and in full: it carries the per-operation tables in every format.
        text = render(run, fmt, baseline=baseline, compare_anyway=compare_anyway, color=False, details=True)
    return write_text_atomically(path, text)


def print_run(run: Run | list[Run], *, console: Console | None = None, baseline: Run | None = None,
              compare_anyway: bool = False, details: bool = False) -> None:
    """Print the comparison table (or several runs side by side): rich on a terminal, plain aligned text
    when piped; the per-operation tables after the matrix with ``details`` (see ``render``)."""
    from rich.console import Console

    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=_plain_width(None), highlight=False, emoji=False)
    if isinstance(run, list):
        report = side_by_side(compare_runs(run, compare_anyway=compare_anyway))
    else:
        report = _report(run, _baseline_comparison(run, baseline, compare_anyway))
    _print_all(console, _rich_renderables(report, details or baseline is not None))


def _report(run: Run, comparison: Comparison | None) -> Report:
    report = build_report(run)
    return report if comparison is None else with_baseline(report, comparison)


def _print_all(console: Console, renderables: list[RenderableType]) -> None:
    """Print, widening the console for a table that cannot fit: a long line beats a cropped number."""
    for renderable in renderables:
        needed = console.measure(renderable, options=console.options.update_width(10_000)).minimum
        if needed <= console.width:
            console.print(renderable)
            continue
        width = console.width
        try:
            console.width = needed
            console.print(renderable)
        finally:
            console.width = width


# -- table (rich, or plain text through rich without a colour system) --------------------------------
def _plain_width(width: int | None) -> int:
    """The given width, else $COLUMNS (as rich would), else PLAIN_WIDTH."""
    if width:
        return width
    try:
        return max(int(os.environ.get("COLUMNS", "")), 60)
    except ValueError:
        return PLAIN_WIDTH


def _render_table(run: Run, *, comparison: Comparison | None, color: bool | None, width: int | None,
                  details: bool = False) -> str:
    return _table_text(_report(run, comparison), color=color, width=width, details=details or comparison is not None)


def _table_text(report: Report, *, color: bool | None, width: int | None, details: bool = True) -> str:
    from rich.console import Console

    if color is None:
        color = sys.stdout.isatty()
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=_plain_width(width),
        force_terminal=color,
        color_system="standard" if color else None,
        no_color=not color,
        highlight=False,
        emoji=False,
        legacy_windows=False,
    )
    _print_all(console, _rich_renderables(report, details))
    text = buffer.getvalue()
    # rich pads cells with trailing spaces; a log reads better without them.
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def _rich_renderables(report: Report, details: bool) -> list[RenderableType]:
    from rich.table import Table
    from rich.text import Text

    out: list[RenderableType] = [Text(report.title, style="bold")]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for label, value in report.header:
        grid.add_row(Text(label), Text(value))
    out.append(grid)
    if report.matrix is not None:
        out.append(_rich_matrix(report.matrix))
        out.extend(Text(note, style="dim") for note in report.matrix.notes)
    out.extend(Text(line, style="yellow") for line in report.warnings)
    if details:
        out.extend(_rich_section(section) for section in report.sections)
    if report.verification:
        out.append(_rich_list("round-trip verification", ("backend", "result"), [
            ((line.backend, line.text), "bold red" if line.flagged else ("green" if line.verified else "yellow"))
            for line in report.verification
        ]))
    out.extend(_rich_plain(plain) for plain in report.tables)
    if report.not_run:
        out.append(_rich_list("not run", ("backend", "reason"), [(row, "yellow") for row in report.not_run]))
    out.extend(Text(note, style="dim") for note in report.footnotes)
    if report.sections and not details:
        out.append(Text(f"{DETAILS_HINT}", style="dim"))
    return out


PLAIN_FIGURE_CHARS = 12
"""A cell this short is a figure (or a word such as "ok"): its column never gets narrower than it."""


def _rich_plain(plain: PlainTable) -> Table:
    """One of the report's plain tables. A column is never narrower than its widest figure, so a narrow
    terminal folds a long reason onto more lines instead of cutting a number to "2,5…"."""
    from rich.cells import cell_len

    table = _rich_table(plain.title)
    for i, (heading, numeric) in enumerate(zip(plain.head, plain.numeric, strict=True)):
        figures = [cell_len(cells[i]) for cells in plain.rows if cell_len(cells[i]) <= PLAIN_FIGURE_CHARS]
        widest = max([*figures, *(cell_len(word) for word in heading.split())])
        table.add_column(heading, justify="right" if numeric else "left", overflow="fold", min_width=widest)
    for cells in plain.rows:
        table.add_row(*cells)
    return table


DETAILS_HINT = "Per-operation tables (median, IQR, n, cache, rows/s, MB/s, peak memory, sizes): --details."


def _matrix_heading(column: MatrixColumn) -> str:
    """An operation's name over as many short lines as it has words (so 8 operations fit 100 columns),
    with its cache state under it unless warm."""
    lines = column.op.split("_")
    if column.cache not in (None, "warm"):
        lines.append(f"({column.cache})")
    return "\n".join(lines)


MATRIX_TITLE = "summary: × best per operation"


def _rich_matrix(matrix: Matrix) -> Table:
    from rich.cells import cell_len
    from rich.text import Text

    table = _rich_table(MATRIX_TITLE)
    # One space of padding, on the right only: 8 operations of 8 backends fit 100 columns.
    table.padding = (0, 1, 0, 0)
    texts = [[row.backend, row.score_text, *(cell.text for cell in row.cells)] for row in matrix.rows]
    headings = ["backend", "score", *(_matrix_heading(c) for c in matrix.columns)]
    for i, heading in enumerate(headings):
        # Never cropped: a column is as wide as its widest cell (the console widens rather than crop).
        widest = max([cell_len(cells[i]) for cells in texts] + [cell_len(line) for line in heading.split("\n")])
        table.add_column(heading, justify="left" if i == 0 else "right", no_wrap=True, min_width=widest)
    for row in matrix.rows:
        cells = [Text(row.backend), Text(row.score_text)]
        cells += [Text(cell.text, style="bold green" if cell.entry is not None and cell.entry.best else "")
                  for cell in row.cells]
        table.add_row(*cells, style="bold red" if row.untrusted else "")
    return table


def _rich_table(title: str) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    return Table(title=Text(title, style="bold"), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)


def _rich_list(title: str, head: tuple[str, str], rows: list[tuple[tuple[str, str], str]]) -> Table:
    """A two-column table of a name and a sentence (verification results, backends not run)."""
    from rich.text import Text

    table = _rich_table(title)
    table.add_column(head[0], no_wrap=True)
    table.add_column(head[1], overflow="fold")
    for (name, text), style in rows:
        table.add_row(Text(name), Text(text), style=style)
    return table


def _row_style(entry: Any) -> str:
    if not entry.ok:
        return "red" if entry.measurement.status == "failed" else "yellow"
    if entry.untrusted:
        return "bold red"
    return "bold green" if entry.best else ""


def _rich_section(section: Section) -> Table:
    from rich.cells import cell_len
    from rich.text import Text

    table = _rich_table(section.title)
    # Numbers are never cropped: each numeric column is at least as wide as its widest cell.
    table.add_column("backend", no_wrap=True, min_width=max(cell_len(r.backend) for r in section.rows))
    for column in section.columns:
        if column.numeric:
            widest = max(cell_len(r.cells.get(column.key, "")) for r in section.rows)
            table.add_column(column.title, justify="right", no_wrap=True, min_width=max(widest, cell_len(column.title)))
        else:
            table.add_column(column.title, overflow="fold", ratio=1, min_width=20)
    for row in section.rows:
        cells = [Text(row.backend)] + [Text(row.cells.get(c.key, "")) for c in section.columns]
        table.add_row(*cells, style=_row_style(row.entry))
    return table


# -- markdown ----------------------------------------------------------------------------------------
def _render_markdown(run: Run, *, comparison: Comparison | None, color: bool | None, width: int | None,
                     details: bool = True) -> str:
    return _markdown(_report(run, comparison))


def _markdown(report: Report, **_unused: Any) -> str:
    md = markdown_text
    lines = [f"# {md(report.title)}", ""]
    lines += [f"- **{md(label)}**: {md(value)}" for label, value in report.header]
    if report.matrix is not None:
        head, rows = _matrix_rows(report.matrix)
        lines += ["", "## summary", ""]
        lines += markdown_table(head, rows, [False] + [True] * (len(head) - 1))
        lines.append("")
        lines += [f"{md(note)}  " for note in report.matrix.notes + report.warnings]
    for section in report.sections:
        lines += ["", f"## {md(section.title)}", ""]
        rows = []
        for row in section.rows:
            name = f"**{row.backend}**" if row.entry.best else row.backend
            rows.append([name] + [row.cells.get(c.key, "") for c in section.columns])
        lines += markdown_table(
            ["backend"] + [c.title for c in section.columns],
            rows,
            [False] + [c.numeric for c in section.columns],
        )
    if report.verification:
        lines += ["", "## round-trip verification", ""]
        rows = [[v.backend, f"**{v.text}**" if v.flagged else v.text] for v in report.verification]
        lines += markdown_table(["backend", "result"], rows)
    for plain in report.tables:
        lines += ["", f"## {md(plain.title)}", ""]
        lines += markdown_table(plain.head, plain.rows, plain.numeric)
    if report.not_run:
        lines += ["", "## not run", ""]
        lines += [f"- **{md(name)}**: {md(reason)}" for name, reason in report.not_run]
    if report.footnotes:
        lines.append("")
        lines += [f"{md(note)}  " for note in report.footnotes]
    return "\n".join(lines) + "\n"


def _matrix_rows(matrix: Matrix) -> tuple[list[str], list[list[str]]]:
    """The matrix as a heading and text rows, for the formats whose tables are text cells."""
    head = ["backend", "score", *(c.title for c in matrix.columns)]
    return head, [[row.backend, row.score_text, *(cell.text for cell in row.cells)] for row in matrix.rows]


# -- csv ---------------------------------------------------------------------------------------------
CSV_COLUMNS: tuple[str, ...] = (
    "backend", "op", "status", "reason", "trusted", "best", "ratio_to_best", "baseline_ratio", "baseline_verdict",
    "latency",
    "n", "median_s", "mean_s", "min_s", "max_s", "iqr_s", "stdev_s", "p50_s", "p95_s", "p99_s",
    "rows", "arrow_bytes", "rows_per_s", "mb_per_s", "peak_memory_bytes", "bytes_at_rest", "size_ratio",
    "verification", "cache", "durable", "single_run", "no_warmup", "warnings", "score", "score_ratio", "in_score",
)


def _raw(value: Any) -> Any:
    """A number as it is, or empty for missing/NaN (csv has no null)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return value
    result = number(value)
    return "" if result is None else repr(result)


def _printable_row(row: dict[str, Any]) -> dict[str, Any]:
    """Text cells ``printable`` (a CSV is often read on a terminal); numbers as they are."""
    return {key: printable(value) if isinstance(value, str) else value for key, value in row.items()}


def _csv_value(value: Any) -> Any:
    """A tidy row's value as a CSV cell: a list of warnings joined, missing values empty."""
    if isinstance(value, list):
        return "; ".join(value)
    return "" if value is None else value if isinstance(value, str) else _raw(value)


def _render_csv(run: Run, *, comparison: Comparison | None, color: bool | None, width: int | None,
                details: bool = True) -> str:
    """The tidy rows of ``bench.tidy`` (every figure with its labels and its part in the matrix), and
    the change against a baseline."""
    from storeadvise.bench.tidy import measurement_rows

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    changes = comparison.changes(1) if comparison is not None else {}
    for row in measurement_rows(run):
        # Matched as bench.compare matches figures: runs before cache states were recorded read warm.
        change = changes.get((row["backend"], row.get("op"), row.get("cache") or "warm"))
        cells = {name: _csv_value(row.get(name)) for name in CSV_COLUMNS}
        cells.update(baseline_ratio=_raw(change.ratio if change else None),
                     baseline_verdict=change.verdict if change else "")
        writer.writerow(_printable_row(cells))
    return buffer.getvalue()


def _plain_tables_csv(tables: list[PlainTable]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for table in tables:
        writer.writerow(table.head)
        writer.writerows(table.rows)
    return buffer.getvalue()


# -- json --------------------------------------------------------------------------------------------
def _render_json(run: Run, *, comparison: Comparison | None, color: bool | None, width: int | None,
                 details: bool = True) -> str:
    """The run file's document (every measurement with its labels), plus the matrix under ``matrix``
    (a key ``load_run`` recomputes rather than reads)."""
    import json

    document = json.loads(run_to_json(run))
    matrix = build_report(run).matrix
    if matrix is not None:
        document["matrix"] = matrix.to_dict()
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


# -- html --------------------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em;color:#222;max-width:72em}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.best td{font-weight:bold;color:#1a7f37}
tr.untrusted td{color:#b3261e;font-weight:bold}
tr.notok td{color:#8a6d00}
.flagged{color:#b3261e;font-weight:bold}
dl.header{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}
dl.header dt{font-weight:bold}
dl.header dd{margin:0}
.foot{color:#555;font-size:.9em}
figure.chart{margin:1em 0 2em}
"""


def _html_table(head: list[tuple[str, bool]], rows: list[tuple[str, list[str]]]) -> str:
    cls = lambda numeric: ' class="n"' if numeric else ""  # noqa: E731
    out = ["<table><thead><tr>"]
    out += [f"<th{cls(n)}>{html.escape(h)}</th>" for h, n in head]
    out.append("</tr></thead><tbody>")
    for row_class, cells in rows:
        out.append(f'<tr class="{row_class}">' if row_class else "<tr>")
        out += [f"<td{cls(n)}>{html.escape(c)}</td>" for (_, n), c in zip(head, cells, strict=True)]
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _render_html(run: Run, *, comparison: Comparison | None, color: bool | None, width: int | None,
                 details: bool = True) -> str:
    # With a baseline the charts put both runs side by side, the baseline first, as the tables do.
    return _html(_report(run, comparison), runs=comparison.runs if comparison is not None else [run])


def _html(report: Report, *, runs: list[Run] | None = None, **_unused: Any) -> str:
    """The report as one HTML page; with ``runs``, the charts of ``bench.charts`` after the header."""
    from storeadvise.bench.charts import charts, html_figures

    title = html.escape(report.title)
    body = [f"<h1>{title}</h1>", '<dl class="header">']
    body += [f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in report.header]
    body.append("</dl>")
    body.append(html_figures(charts(runs or [])))
    if report.matrix is not None:
        head, rows = _matrix_rows(report.matrix)
        body.append("<h2>summary</h2>")
        classes = ["untrusted" if r.untrusted else "" for r in report.matrix.rows]
        body.append(_html_table([(h, i > 0) for i, h in enumerate(head)], list(zip(classes, rows, strict=True))))
        body += [f'<p class="foot">{html.escape(note)}</p>' for note in report.matrix.notes + report.warnings]
    for section in report.sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        head = [("backend", False)] + [(c.title, c.numeric) for c in section.columns]
        rows = []
        for row in section.rows:
            e = row.entry
            row_class = "notok" if not e.ok else "untrusted" if e.untrusted else "best" if e.best else ""
            rows.append((row_class, [row.backend] + [row.cells.get(c.key, "") for c in section.columns]))
        body.append(_html_table(head, rows))
    if report.verification:
        body.append("<h2>round-trip verification</h2>")
        rows = [("untrusted" if v.flagged else "", [v.backend, v.text]) for v in report.verification]
        body.append(_html_table([("backend", False), ("result", False)], rows))
    for plain in report.tables:
        body.append(f"<h2>{html.escape(plain.title)}</h2>")
        body.append(_html_table(list(zip(plain.head, plain.numeric, strict=True)), [("", row) for row in plain.rows]))
    if report.not_run:
        body.append("<h2>not run</h2><ul>")
        body += [f"<li><b>{html.escape(n)}</b>: {html.escape(r)}</li>" for n, r in report.not_run]
        body.append("</ul>")
    body += [f'<p class="foot">{html.escape(note)}</p>' for note in report.footnotes]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


EXPORTERS: dict[str, Callable[..., str]] = {
    "table": _render_table,
    "markdown": _render_markdown,
    "csv": _render_csv,
    "json": _render_json,
    "html": _render_html,
}
FORMATS: tuple[str, ...] = tuple(EXPORTERS)
REPORT_EXPORTERS: dict[str, Callable[..., str]] = {"table": _table_text, "markdown": _markdown, "html": _html}
"""The formats that draw a built ``Report`` (several runs side by side use these)."""
"""The formats a run can be rendered in."""
TOOL_EXPORTERS: dict[str, Callable[..., str]] = {"pytest-benchmark": render_pytest_benchmark}
"""Formats another tool reads (not a report: only what that tool understands); one run each."""
OUTPUT_FORMATS: tuple[str, ...] = FORMATS + tuple(TOOL_EXPORTERS)
"""Every ``--format`` of ``bench`` and ``report``."""
