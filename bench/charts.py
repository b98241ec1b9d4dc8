"""Charts of finished runs as Vega-Lite specifications, drawn in the HTML report or saved as a picture.

One run, or several runs of the same dataset side by side (a colour per run): the time of each
operation (p50 with p95 and p99 whiskers), its throughput, the size at rest against the Arrow size,
the "× best" matrix as a heat map, the scaling sweep on log-log axes with its fitted exponent, and the
codec sweep as a speed-vs-size frontier. An axis is logarithmic where its values span a decade or more
(a linear axis draws a 10 ms read as one pixel beside a 4 s one).

The specifications are plain data built from the report model (``bench.table``, ``bench.matrix``);
``vl-convert`` (imported only when a chart is drawn) supplies the Vega JavaScript inlined in the page
and renders SVG or PNG without a browser (docs/decisions.md, 'Charts: Vega-Lite, its JavaScript
inlined from vl-convert').
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storeadvise.bench.results import Run
from storeadvise.bench.table import Entry, build_entries, build_report, group_title
from storeadvise.errors import UsageError
from storeadvise.formatting import fmt_bytes, fmt_count, fmt_plain, fmt_ratio, fmt_time, number

LOG_SPAN = 10.0
"""An axis whose largest value is at least this many times its smallest is drawn on a log scale."""

PLOT_FORMATS = ("png", "svg")
"""The picture formats of ``save_plot``, by the file's extension."""

WIDTH = 520
STATUS_COLOURS = {"best": "#1a7f37", "other": "#4a78b5", "untrusted": "#b3261e"}

SECONDS_LABEL = ("datum.value >= 1 ? format(datum.value, '~g') + ' s' : datum.value >= 1e-3 ? "
                 "format(datum.value * 1e3, '~g') + ' ms' : format(datum.value * 1e6, '~g') + ' µs'")
"""Axis labels in the units of the tables (an SI suffix would write a millisecond as "1m")."""
BYTES_LABEL = "format(datum.value, '~s') + 'B'"
SECONDS_AXIS = {"labelExpr": SECONDS_LABEL, "labelOverlap": "greedy"}
BYTES_AXIS = {"labelExpr": BYTES_LABEL, "labelOverlap": "greedy"}


@dataclass
class Chart:
    """One chart: an id for the page, a title and its Vega-Lite specification."""

    name: str
    title: str
    spec: dict[str, Any]


# -- data --------------------------------------------------------------------------------------------
def _labelled(runs: Sequence[Run]) -> list[tuple[str, Run]]:
    """Each run with what the charts call it: its id, or "baseline"/"this run" style labels for several."""
    from storeadvise.bench.compare import run_label

    if len(runs) == 1:
        return [(runs[0].run_id, runs[0])]
    return [(f"{run_label(i, len(runs))}: {run.run_id}", run) for i, run in enumerate(runs)]


def _status(entry: Entry) -> str:
    return "untrusted" if entry.untrusted else "best" if entry.best else "other"


def _figure(label: str, entry: Entry) -> dict[str, Any]:
    """One successful measurement as a chart row: raw numbers for the marks, table text for tooltips."""
    m = entry.measurement
    s = m.stats
    time = s.p50 if m.latency else s.median
    return {
        "run": label, "backend": m.backend, "op": group_title(m.op, m.cache) + (" (per call)" if m.latency else ""),
        "status": _status(entry), "time": time, "p95": s.p95, "p99": s.p99, "n": s.n,
        "time_text": fmt_time(time), "p95_text": fmt_time(s.p95), "p99_text": fmt_time(s.p99),
        "best_text": fmt_ratio(entry.ratio_to_best), "rows_per_s": number(m.rows_per_s),
        "rows_per_s_text": fmt_count(m.rows_per_s), "mb_per_s_text": fmt_plain(m.mb_per_s),
        "bytes_at_rest": number(m.bytes_at_rest), "at_rest_text": fmt_bytes(m.bytes_at_rest),
        "size_ratio_text": fmt_ratio(m.size_ratio),
    }


def figures(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """Every successful measurement of the runs, one row each (``_figure``), in run order."""
    return [_figure(label, e) for label, run in _labelled(runs) for e in build_entries(run) if e.ok]


def _scale(values: Iterable[float | None]) -> dict[str, Any]:
    """Log where the positive values span ``LOG_SPAN`` or more, else linear from zero."""
    positive = [v for v in values if v is not None and v > 0]
    if positive and max(positive) / min(positive) >= LOG_SPAN:
        return {"type": "log"}
    return {"type": "linear", "zero": True}


def _spans_decade(rows: list[dict[str, Any]], fields: Sequence[str]) -> dict[str, Any]:
    """The scale of a faceted axis: log when any one operation's values span a decade (each facet has
    its own axis, so the spread that matters is within an operation)."""
    by_op: dict[str, list[float | None]] = {}
    for row in rows:
        by_op.setdefault(row["op"], []).extend(row.get(f) for f in fields)
    scales = [_scale(values) for values in by_op.values()]
    return next((s for s in scales if s["type"] == "log"), scales[0] if scales else _scale([]))


def _colour(several: bool) -> dict[str, Any]:
    """A colour per run when there are several; else best / other / round trip failed, as the tables mark them."""
    if several:
        return {"field": "run", "type": "nominal", "title": "run"}
    return {"field": "status", "type": "nominal", "title": None,
            "scale": {"domain": list(STATUS_COLOURS), "range": list(STATUS_COLOURS.values())},
            "legend": {"labelExpr": "datum.label == 'untrusted' ? 'round trip failed' : datum.label"}}


def _per_op(rows: list[dict[str, Any]], layers: list[dict[str, Any]], several: bool) -> dict[str, Any]:
    """One panel per operation, a row per backend (and per run, side by side), each with its own axis."""
    y: dict[str, Any] = {"field": "backend", "type": "nominal", "title": None, "sort": None}
    shared: dict[str, Any] = {"y": y, "color": _colour(several)}
    if several:
        shared["yOffset"] = {"field": "run", "type": "nominal"}
    return {
        "data": {"values": rows},
        "facet": {"field": "op", "type": "nominal", "title": None, "sort": list(dict.fromkeys(r["op"] for r in rows)),
                  "header": {"labelAnchor": "start", "labelFontWeight": "bold", "labelFontSize": 12}},
        "columns": 2,
        "spec": {"width": WIDTH // 2 - 20, "height": {"step": 12 if several else 16},
                 "layer": [{**layer, "encoding": {**shared, **layer["encoding"]}} for layer in layers]},
        "resolve": {"scale": {"x": "independent", "y": "independent"}},
    }


def _tooltip(*fields: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"field": "run"}, {"field": "backend"}, {"field": "op", "title": "operation"}] + [
        {"field": f, "title": title} for f, title in fields]


# -- the charts --------------------------------------------------------------------------------------
def time_chart(rows: list[dict[str, Any]], several: bool) -> Chart | None:
    """Median time per operation (p50 per call for latency operations), a whisker to p99 and a tick at p95."""
    if not rows:
        return None
    x = {"field": "time", "type": "quantitative", "title": "seconds: median, whisker to p99, tick at p95",
         "scale": _spans_decade(rows, ("time", "p99")), "axis": SECONDS_AXIS}
    tip = _tooltip(("time_text", "median / p50"), ("p95_text", "p95"), ("p99_text", "p99"),
                   ("best_text", "× best"), ("n", "n"))
    layers = [
        {"mark": {"type": "rule", "opacity": 0.7}, "encoding": {"x": x, "x2": {"field": "p99"}}},
        {"mark": {"type": "tick", "orient": "vertical", "thickness": 2}, "encoding": {"x": {**x, "field": "p95"}}},
        {"mark": {"type": "point", "filled": True, "size": 70, "opacity": 1}, "encoding": {"x": x, "tooltip": tip}},
    ]
    return Chart("time", "Time per operation (lower is better)", _per_op(rows, layers, several))


def throughput_chart(rows: list[dict[str, Any]], several: bool) -> Chart | None:
    """Rows per second of each throughput operation (a latency operation's rate of one-row calls says nothing)."""
    moved = [r for r in rows if r["rows_per_s"] and "(per call)" not in r["op"]]
    if not moved:
        return None
    x = {"field": "rows_per_s", "type": "quantitative", "title": "rows per second",
         "scale": _spans_decade(moved, ("rows_per_s",)), "axis": {"format": "~s"}}
    tip = _tooltip(("rows_per_s_text", "rows/s"), ("mb_per_s_text", "MB/s"), ("time_text", "median"))
    layers = [
        {"mark": {"type": "rule", "opacity": 0.4}, "encoding": {"x": {**x, "field": "zero_or_min"},
                                                                "x2": {"field": "rows_per_s"}}},
        {"mark": {"type": "point", "filled": True, "size": 70, "opacity": 1}, "encoding": {"x": x, "tooltip": tip}},
    ]
    # A lollipop from the axis's start: on a log scale a bar has no zero to start from.
    low = min(r["rows_per_s"] for r in moved)
    floor = 10 ** math.floor(math.log10(low)) if x["scale"]["type"] == "log" else 0
    moved = [{**r, "zero_or_min": floor} for r in moved]
    return Chart("throughput", "Throughput (higher is better)", _per_op(moved, layers, several))


def size_chart(rows: list[dict[str, Any]], runs: Sequence[Run], several: bool) -> Chart | None:
    """Bytes each write left at rest, with its ratio to the Arrow size and a rule at the Arrow size."""
    stored = [r for r in rows if r["bytes_at_rest"] and r["op"] == "write"]
    if not stored:
        return None
    arrow = number(runs[-1].dataset.get("arrow_bytes"))
    x = {"field": "bytes_at_rest", "type": "quantitative", "title": "bytes at rest (÷ Arrow beside each)",
         "scale": _scale([r["bytes_at_rest"] for r in stored] + [arrow]), "axis": BYTES_AXIS}
    y: dict[str, Any] = {"field": "backend", "type": "nominal", "title": None, "sort": None}
    encoding: dict[str, Any] = {"y": y, "color": _colour(several), "x": x}
    if several:
        encoding["yOffset"] = {"field": "run", "type": "nominal"}
    tip = _tooltip(("at_rest_text", "at rest"), ("size_ratio_text", "÷ Arrow"))
    layers: list[dict[str, Any]] = [
        {"mark": {"type": "point", "filled": True, "size": 70, "opacity": 1}, "encoding": {**encoding, "tooltip": tip}},
        {"mark": {"type": "text", "align": "left", "dx": 8, "fontSize": 11},
         "encoding": {**encoding, "text": {"field": "size_ratio_text"}, "color": {"value": "#333"}}},
    ]
    if arrow:
        layers.append({
            "data": {"values": [{"arrow": arrow, "label": f"Arrow in memory: {fmt_bytes(arrow)}"}]},
            "layer": [
                {"mark": {"type": "rule", "strokeDash": [4, 3], "color": "#888"},
                 "encoding": {"x": {"field": "arrow", "type": "quantitative"}}},
                {"mark": {"type": "text", "align": "left", "baseline": "top", "dx": 4, "y": 2, "color": "#555"},
                 "encoding": {"x": {"field": "arrow", "type": "quantitative"}, "text": {"field": "label"}}},
            ],
        })
    spec = {"data": {"values": stored}, "width": WIDTH, "height": {"step": 12 if several else 18}, "layer": layers}
    return Chart("size", "Size at rest, with its ratio to the Arrow size (left is smaller)", spec)


def _matrix_rows(label: str, run: Run) -> list[dict[str, Any]]:
    matrix = build_report(run).matrix
    if matrix is None:
        return []
    return [
        {"run": label, "backend": f"{row.backend} ({row.score_text})", "column": column.title, "text": cell.text,
         "ratio": cell.entry.ratio_to_best if cell.entry is not None and cell.entry.ok else None}
        for row in matrix.rows for column, cell in zip(matrix.columns, row.cells, strict=True)
    ]


def matrix_chart(runs: Sequence[Run]) -> Chart | None:
    """The one-screen "× best" matrix as a heat map (a panel per run); rows named with their score."""
    labelled = _labelled(runs)
    cells = [cell for label, run in labelled for cell in _matrix_rows(label, run)]
    if not cells:
        return None
    ratios = [c["ratio"] for c in cells if c["ratio"] is not None]
    # The colour scale ends at the next power of ten, so its legend reads 1, 10, 100.
    top = 10.0 ** max(1, math.ceil(math.log10(max([*ratios, 1.0]))))
    base: dict[str, Any] = {
        "x": {"field": "column", "type": "nominal", "title": None, "sort": None, "axis": {"orient": "top",
                                                                                     "labelAngle": 0}},
        "y": {"field": "backend", "type": "nominal", "title": "backend (score)", "sort": None},
    }
    layers = [
        {"mark": {"type": "rect", "color": "#eee"}, "encoding": base},
        {"transform": [{"filter": "datum.ratio != null"}], "mark": "rect", "encoding": {**base, "color": {
            "field": "ratio", "type": "quantitative", "title": "× best",
            "scale": {"type": "log", "domain": [1, top], "scheme": "yelloworangered"}},
            "tooltip": [{"field": "backend"}, {"field": "column", "title": "operation"},
                        {"field": "text", "title": "× best"}]}},
        {"mark": {"type": "text", "fontSize": 11}, "encoding": {**base, "text": {"field": "text"}, "color": {
            "condition": {"test": f"datum.ratio != null && datum.ratio > {math.sqrt(top):.6g}", "value": "white"},
            "value": "#222"}}},
    ]
    # A panel per run side by side (each with its own backends' order), not a facet: Vega-Lite cannot
    # give facets of a heat map their own row order.
    panels = [{**({"title": label} if len(labelled) > 1 else {}), "width": {"step": 78}, "height": {"step": 26},
               "transform": [{"filter": {"field": "run", "equal": label}}], "layer": layers}
              for label, _ in labelled]
    spec: dict[str, Any] = {"data": {"values": cells}, **(panels[0] if len(panels) == 1 else {"hconcat": panels})}
    return Chart("matrix", "× best per operation (1.0× = the best; darker is slower)", spec)


def scaling_chart(runs: Sequence[Run]) -> Chart | None:
    """Time against rows on log-log axes per operation, each line labelled with its fitted exponent k."""
    points = []
    for label, run in _labelled(runs):
        for entry in run.scaling:
            op = group_title(entry["op"], entry.get("cache")) + (" (p50 per call)" if entry.get("latency") else "")
            exponent = entry.get("exponent")
            last = max(p["rows"] for p in entry["points"])
            for p in entry["points"]:
                points.append({"run": label, "backend": entry["backend"], "op": op, "rows": p["rows"],
                               "seconds": p["seconds"], "time_text": fmt_time(p["seconds"]),
                               "k": "" if p["rows"] != last or exponent is None else f"k={exponent:.2f}"})
    if not points:
        return None
    several = len(runs) > 1
    encoding: dict[str, Any] = {
        "x": {"field": "rows", "type": "quantitative", "scale": {"type": "log"}, "title": "rows",
              "axis": {"format": "~s"}},
        "y": {"field": "seconds", "type": "quantitative", "scale": {"type": "log"}, "title": "seconds",
              "axis": SECONDS_AXIS},
        "color": {"field": "backend", "type": "nominal"},
    }
    if several:
        encoding["strokeDash"] = {"field": "run", "type": "nominal"}
    ops = list(dict.fromkeys(p["op"] for p in points))
    spec = {
        "data": {"values": points},
        "facet": {"field": "op", "type": "nominal", "title": None, "sort": ops},
        "columns": 2,
        "spec": {"width": 300, "height": 220, "layer": [
            {"mark": {"type": "line", "point": True},
             "encoding": {**encoding, "detail": {"field": "run"},
                          "tooltip": [{"field": "backend"}, {"field": "rows", "format": ","},
                                      {"field": "time_text", "title": "time"}, {"field": "run"}]}},
            {"mark": {"type": "text", "align": "left", "dx": 6, "fontSize": 11},
             "encoding": {**encoding, "text": {"field": "k"}}},
        ]},
        "resolve": {"scale": {"y": "independent"}},
    }
    return Chart("scaling", "Scaling: time against rows, log-log; k = fitted exponent of time ~ rows^k", spec)


def load_chart(runs: Sequence[Run]) -> Chart | None:
    """Many clients at once (``--clients``): requests/s and p99 against the number of clients, per backend,
    the saturation knee marked with a diamond."""
    points = [
        {"run": label, "backend": s["backend"], "clients": s["clients"], "panel": panel, "value": value,
         "knee": bool(s.get("knee"))}
        for label, run in _labelled(runs) for s in run.load if s.get("status") == "ok"
        for panel, value in (("requests/s", s.get("throughput")), ("p99 seconds", (s.get("latency") or {}).get("p99")))
        if value
    ]
    if not points:
        return None
    encoding: dict[str, Any] = {
        "x": {"field": "clients", "type": "quantitative", "scale": {"type": "log", "base": 2}, "title": "clients",
              "axis": {"values": sorted({p["clients"] for p in points}), "format": "d"}},
        "y": {"field": "value", "type": "quantitative", "title": None},
        "color": {"field": "backend", "type": "nominal"},
    }
    if len(runs) > 1:
        encoding["strokeDash"] = {"field": "run", "type": "nominal"}
    spec = {
        "data": {"values": points},
        "facet": {"field": "panel", "type": "nominal", "title": None, "sort": ["requests/s", "p99 seconds"]},
        "columns": 2,
        "spec": {"width": 300, "height": 220, "layer": [
            {"mark": {"type": "line", "point": True},
             "encoding": {**encoding, "detail": {"field": "run"},
                          "tooltip": [{"field": "backend"}, {"field": "clients"}, {"field": "value", "format": ".4~g"},
                                      {"field": "run"}]}},
            {"transform": [{"filter": "datum.knee"}], "mark": {"type": "point", "shape": "diamond", "size": 140,
                                                                "filled": True},
             "encoding": encoding},
        ]},
        "resolve": {"scale": {"y": "independent"}},
    }
    return Chart("load", "Many clients at once: requests/s and p99 against clients (◆ = saturation knee)", spec)


def frontier(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (size, time) points no other point beats on both: each is faster than every smaller one."""
    best: list[tuple[float, float]] = []
    for size, time in sorted(points):
        if not best or time < best[-1][1]:
            best.append((size, time))
    return best


def _sweep_points(label: str, run: Run) -> list[dict[str, Any]]:
    """Per variant and timed operation: the size its write left and the operation's time, on the frontier or not."""
    rows = [r for r in figures([run]) if "[" in r["backend"]]
    sizes = {r["backend"]: r["bytes_at_rest"] for r in rows if r["op"] == "write" and r["bytes_at_rest"]}
    points = [{**r, "run": label, "size": sizes[r["backend"]]} for r in rows
              if r["backend"] in sizes and "(per call)" not in r["op"]]
    for op in dict.fromkeys(p["op"] for p in points):
        on = set(frontier([(p["size"], p["time"]) for p in points if p["op"] == op]))
        for p in points:
            if p["op"] == op:
                p["frontier"] = (p["size"], p["time"]) in on
    return points


def frontier_chart(runs: Sequence[Run]) -> Chart | None:
    """The codec sweep's variants, size at rest against time per operation, the frontier joined by a line."""
    points = [p for label, run in _labelled(runs) for p in _sweep_points(label, run)]
    if not points:
        return None
    encoding = {
        "x": {"field": "size", "type": "quantitative", "title": "bytes at rest", "scale": _scale(
            p["size"] for p in points), "axis": BYTES_AXIS},
        "y": {"field": "time", "type": "quantitative", "title": "seconds (median)",
              "scale": _scale(p["time"] for p in points), "axis": SECONDS_AXIS},
    }
    tip = [{"field": "backend", "title": "variant"}, {"field": "at_rest_text", "title": "at rest"},
           {"field": "size_ratio_text", "title": "÷ Arrow"}, {"field": "time_text", "title": "median"},
           {"field": "run"}]
    spec = {
        "data": {"values": points},
        "facet": {"column": {"field": "op", "type": "nominal", "title": None}},
        "spec": {"width": 320, "height": 260, "layer": [
            {"transform": [{"filter": "datum.frontier"}], "mark": {"type": "line", "color": "#1a7f37"},
             "encoding": {**encoding, "detail": {"field": "run"}, "order": {"field": "size"}}},
            {"mark": {"type": "point", "filled": True, "size": 60},
             "encoding": {**encoding, "color": {"field": "frontier", "type": "nominal", "title": "on the frontier",
                                                "scale": {"domain": [True, False], "range": ["#1a7f37", "#999"]}},
                          **({"shape": {"field": "run", "type": "nominal"}} if len(runs) > 1 else {}),
                          "tooltip": tip}},
            {"mark": {"type": "text", "align": "left", "dx": 6, "dy": -6, "fontSize": 10},
             "encoding": {**encoding, "text": {"field": "backend"}}},
        ]},
        "resolve": {"scale": {"x": "independent", "y": "independent"}},
    }
    return Chart("frontier", "Codec sweep: speed against size (down and left is better; the line joins the "
                 "variants nothing beats on both)", spec)


def charts(runs: Sequence[Run]) -> list[Chart]:
    """Every chart the runs have data for: one run, or several of the same dataset side by side."""
    rows = figures(runs)
    several = len(runs) > 1
    made = [
        matrix_chart(runs),
        time_chart(rows, several),
        throughput_chart(rows, several),
        size_chart(rows, runs, several),
        scaling_chart(runs),
        load_chart(runs),
        frontier_chart(runs),
    ]
    return [chart for chart in made if chart is not None]


def main_chart(runs: Sequence[Run]) -> Chart:
    """The chart ``--plot`` saves: the time per operation, which the reader compares first."""
    chart = time_chart(figures(runs), len(runs) > 1)
    if chart is None:
        raise UsageError("nothing to plot: the run has no successful measurement")
    return chart


# -- drawing -----------------------------------------------------------------------------------------
def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element: no "</" can close it, no "<!--" open a comment."""
    return json.dumps(value, ensure_ascii=True, allow_nan=False).replace("<", "\\u003c")


def _with_title(chart: Chart) -> dict[str, Any]:
    return {"title": {"text": chart.title, "anchor": "start", "fontSize": 14}, **chart.spec,
            "config": {"font": "system-ui, sans-serif", "view": {"stroke": "#ddd"}}}


def html_figures(chart_list: Sequence[Chart]) -> str:
    """The charts as HTML: a <figure> each, the Vega libraries inlined once, and a script that draws them
    and marks ``body[data-charts]`` "drawn" (or "failed", with the error in the console)."""
    if not chart_list:
        return ""
    import vl_convert

    figures_html = "".join(f'<figure class="chart" id="chart-{c.name}"></figure>' for c in chart_list)
    specs = {c.name: _with_title(c) for c in chart_list}
    draw = (
        f"const specs = {_script_json(specs)};\n"
        "Promise.all(Object.entries(specs).map(([name, spec]) =>\n"
        "  vegaEmbed('#chart-' + name, spec, {actions: false, renderer: 'svg'})))\n"
        "  .then(() => { document.body.dataset.charts = 'drawn'; })\n"
        "  .catch((error) => { document.body.dataset.charts = 'failed'; console.error(error); });"
    )
    return (f'<section class="charts">{figures_html}</section>\n'
            f"<script>{vl_convert.javascript_bundle()}</script>\n<script>\n{draw}\n</script>")


def history_chart(rows: list[dict[str, Any]], title: str) -> Chart | None:
    """Median time of figures over the runs they come from (``History.over_time`` rows): a line per
    backend, operation and cache state, on a log axis where the medians span a decade."""
    points = [{**row, "date": str(row["date"]), "figure": " ".join(
        str(part) for part in (row["backend"], group_title(row["op"], row.get("cache")))),
               "time_text": fmt_time(row["median_s"])}
              for row in rows if number(row.get("median_s")) is not None]
    if not points:
        return None
    spec = {
        "width": WIDTH, "data": {"values": points},
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": {"field": "date", "type": "temporal", "title": "run started"},
            "y": {"field": "median_s", "type": "quantitative", "title": "median seconds (lower is better)",
                  "scale": _scale(p["median_s"] for p in points), "axis": SECONDS_AXIS},
            "color": {"field": "figure", "type": "nominal", "title": None},
            "tooltip": _tooltip(("figure", "figure"), ("time_text", "median"), ("run", "run"), ("n", "n")),
        },
    }
    return Chart("history", title, spec)


def plot_format(path: str | os.PathLike[str]) -> str:
    """The picture format a file name asks for; ``UsageError`` for any other extension."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in PLOT_FORMATS:
        raise UsageError(f"--plot {Path(path).name}: name a .png or .svg file")
    return fmt


def plot_bytes(chart: Chart, fmt: str) -> bytes:
    """The chart drawn without a browser, as SVG text or a PNG at twice the pixel density."""
    import vl_convert

    spec = {**_with_title(chart), "background": "white"}
    if fmt == "svg":
        return vl_convert.vegalite_to_svg(spec).encode("utf-8")
    return vl_convert.vegalite_to_png(spec, scale=2)


def save_plot(runs: Run | Sequence[Run], path: str | os.PathLike[str], *, force: bool = False,
              inputs: Iterable[str | os.PathLike[str] | None] = (), compare_anyway: bool = False) -> Path:
    """Save the main chart (time per operation) of a run, or of several runs side by side, as PNG or SVG
    by the file's extension. Runs of different datasets are refused unless ``compare_anyway``; an existing
    file is replaced only with ``force``, an input never."""
    from storeadvise.outputs import prepare_output, write_atomically

    listed = [runs] if isinstance(runs, Run) else list(runs)
    fmt = plot_format(path)
    prepare_output(path, force=force, inputs=inputs, option="--plot")
    if len(listed) > 1:
        from storeadvise.bench.compare import check_same_dataset

        check_same_dataset(listed, compare_anyway=compare_anyway)
    data = plot_bytes(main_chart(listed), fmt)
    return write_atomically(path, lambda temporary: temporary.write_bytes(data))
