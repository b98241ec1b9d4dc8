"""Charts of a run: what each one plots (log axes where values span decades, the heat map's ratios, the
scaling exponents, the codec frontier), several runs side by side, the one-file HTML page, ``--plot``,
and the page opened in headless Chromium with the network off."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from storeadvise.bench.charts import (
    charts,
    figures,
    frontier,
    frontier_chart,
    matrix_chart,
    scaling_chart,
    size_chart,
    time_chart,
)
from storeadvise.bench.report import render, render_runs
from storeadvise.bench.results import OK, BackendRun, Measurement, Run, Stats, Verification, save_run
from storeadvise.bench.table import build_report
from storeadvise.cli import cli

ROWS = 10_000
ARROW = 2_000_000


def measured(backend: str, op: str, median: float, **fields) -> Measurement:
    return Measurement(backend=backend, op=op, stats=Stats.of([median * 0.9, median, median * 1.3]), rows=ROWS,
                       arrow_bytes=ARROW, rows_per_s=ROWS / median, mb_per_s=ARROW / 1e6 / median, **fields)


def make_run(reads: dict[str, float], run_id: str = "r1", rows: int = ROWS) -> Run:
    """One backend per entry of ``reads`` (its read median), each with a write and a one-key lookup."""
    backends = []
    for i, (name, read) in enumerate(reads.items()):
        lookups = Stats.of([0.001 * (i + 1) * f for f in (0.8, 1.0, 1.0, 1.2, 3.0)])
        backends.append(BackendRun(name, status=OK, verification=Verification(rows, rows, True), measurements=[
            measured(name, "write", read * 2, bytes_at_rest=500_000 * (i + 1), size_ratio=0.25 * (i + 1)),
            measured(name, "read", read),
            Measurement(backend=name, op="lookup", stats=lookups, rows=1, latency=True),
        ]))
    dataset = {"name": "sample:tabular", "rows": rows, "arrow_bytes": ARROW,
               "data_fingerprint": {"rows": rows, "schema": [["id", "int64"]], "content": "ab", "content_method": "m"}}
    return Run(run_id=run_id, started_at="2026-11-30T10:00:00+00:00", dataset=dataset, settings={"repeat": 3},
               backends=backends)


def encoding(spec: dict, channel: str) -> dict:
    """The channel's encoding in the layer that carries the tooltip (the chart's main mark)."""
    layers = spec["spec"]["layer"] if "spec" in spec else spec["layer"]
    return next(layer["encoding"][channel] for layer in layers if "tooltip" in layer["encoding"])


def test_an_axis_is_logarithmic_where_the_values_span_a_decade() -> None:
    spread = time_chart(figures([make_run({"parquet": 0.010, "mongo": 0.400})]), False)
    close = time_chart(figures([make_run({"parquet": 0.010, "csv": 0.012})]), False)
    assert encoding(spread.spec, "x")["scale"]["type"] == "log"
    assert encoding(close.spec, "x")["scale"] == {"type": "linear", "zero": True}


def test_time_chart_plots_the_median_with_p95_and_p99_whiskers() -> None:
    run = make_run({"parquet": 0.010, "mongo": 0.400})
    chart = time_chart(figures([run]), False)
    layers = chart.spec["spec"]["layer"]
    assert [layer["mark"]["type"] for layer in layers] == ["rule", "tick", "point"]
    assert layers[0]["encoding"]["x2"]["field"] == "p99" and layers[1]["encoding"]["x"]["field"] == "p95"
    rows = {(r["backend"], r["op"]): r for r in chart.spec["data"]["values"]}
    lookup = run.backends[0].measurements[2].stats
    # A latency operation is plotted at its p50 per call, and says so.
    assert rows[("parquet", "lookup (per call)")]["time"] == lookup.p50
    assert rows[("parquet", "lookup (per call)")]["p99"] == lookup.p99
    assert rows[("mongo", "read")]["time"] == pytest.approx(0.400) and rows[("parquet", "read")]["status"] == "best"


def test_heat_map_cells_are_the_matrix_ratios_and_texts() -> None:
    run = make_run({"parquet": 0.010, "csv": 0.080, "mongo": 0.400})
    matrix = build_report(run).matrix
    values = matrix_chart([run]).spec["data"]["values"]
    expected = {(f"{row.backend} ({row.score_text})", column.title): cell
                for row in matrix.rows for column, cell in zip(matrix.columns, row.cells, strict=True)}
    assert {(v["backend"], v["column"]) for v in values} == set(expected)
    for value in values:
        cell = expected[(value["backend"], value["column"])]
        assert value["text"] == cell.text and value["ratio"] == pytest.approx(cell.entry.ratio_to_best)
    assert values[0]["backend"].startswith("parquet (1.00)")  # best score first


def test_size_chart_marks_the_arrow_size_and_each_ratio() -> None:
    run = make_run({"parquet": 0.010, "csv": 0.080})
    chart = size_chart(figures([run]), [run], False)
    values = chart.spec["data"]["values"]
    assert [(v["backend"], v["bytes_at_rest"], v["size_ratio_text"]) for v in values] == [
        ("parquet", 500_000, "0.25×"), ("csv", 1_000_000, "0.50×")]
    arrow_layer = chart.spec["layer"][-1]
    assert arrow_layer["data"]["values"][0]["arrow"] == ARROW


def test_scaling_chart_is_log_log_with_the_fitted_exponent_at_each_line_end() -> None:
    run = make_run({"csv": 0.05})
    run.scaling = [{"backend": "csv", "op": "read", "cache": "warm", "latency": False, "exponent": 0.98,
                    "points": [{"rows": 1000, "seconds": 0.001, "per_row_s": 1e-6},
                               {"rows": 100_000, "seconds": 0.09, "per_row_s": 9e-7}]}]
    spec = scaling_chart([run]).spec
    line = spec["spec"]["layer"][0]["encoding"]
    assert line["x"]["scale"]["type"] == "log" and line["y"]["scale"]["type"] == "log"
    assert [p["k"] for p in spec["data"]["values"]] == ["", "k=0.98"]
    assert scaling_chart([make_run({"csv": 0.05})]) is None


def test_frontier_keeps_the_points_nothing_beats_on_both_size_and_time() -> None:
    points = [(100, 5.0), (200, 3.0), (150, 6.0), (300, 3.5), (400, 1.0)]
    assert frontier(points) == [(100, 5.0), (200, 3.0), (400, 1.0)]


def test_codec_sweep_is_drawn_as_a_frontier_of_its_variants() -> None:
    run = make_run({"parquet[zstd-9]": 0.030, "parquet[none]": 0.010, "parquet[snappy]": 0.040})
    values = frontier_chart([run]).spec["data"]["values"]
    on = {(v["backend"], v["op"]): v["frontier"] for v in values}
    # Sizes grow with the position (500 kB, 1 MB, 1.5 MB): zstd-9 is smallest; snappy is bigger and slower
    # than none.
    assert on[("parquet[zstd-9]", "read")] and on[("parquet[none]", "read")]
    assert not on[("parquet[snappy]", "read")]
    assert frontier_chart([make_run({"parquet": 0.01})]) is None  # no variants, no sweep chart


def test_several_runs_share_each_chart_with_a_colour_per_run() -> None:
    old, new = make_run({"parquet": 0.010, "csv": 0.080}, "r0"), make_run({"parquet": 0.012, "csv": 0.060}, "r1")
    made = {chart.name: chart for chart in charts([old, new])}
    assert set(made) == {"matrix", "time", "throughput", "size"}
    time = made["time"].spec
    assert encoding(time, "color")["field"] == "run" and encoding(time, "yOffset")["field"] == "run"
    runs = {v["run"] for v in time["data"]["values"]}
    assert runs == {"baseline: r0", "this run: r1"}
    assert len(made["matrix"].spec["hconcat"]) == 2


def _scripts_and_markup(page: str) -> tuple[list[str], str]:
    scripts = re.findall(r"<script>(.*?)</script>", page, flags=re.S)
    return scripts, re.sub(r"<script>.*?</script>", "", page, flags=re.S)


def test_html_report_is_one_file_that_asks_the_network_for_nothing() -> None:
    page = render(make_run({"parquet": 0.010, "mongo": 0.400}), "html")
    scripts, markup = _scripts_and_markup(page)
    assert page.startswith("<!DOCTYPE html>")
    assert "src=" not in markup and "<link" not in markup and "http" not in markup.lower()
    assert len(scripts) == 2 and "vegaEmbed" in scripts[0]  # the Vega libraries, then the charts
    specs = json.loads(re.search(r"const specs = (.*?);\n", scripts[1]).group(1))
    assert list(specs) == ["matrix", "time", "throughput", "size"]
    # No chart loads data or anything else by address: every value is inlined.
    assert "http" not in json.dumps(specs) and '"url"' not in json.dumps(specs)
    assert markup.count('<figure class="chart"') == 4
    # The hand-made bars are gone: every picture is drawn by the charts.
    assert "<svg" not in markup and "<rect" not in markup


def test_report_of_several_runs_puts_them_in_the_same_charts() -> None:
    page = render_runs([make_run({"parquet": 0.010}, "r0"), make_run({"parquet": 0.020}, "r1")], "html")
    specs = json.loads(re.search(r"const specs = (.*?);\n", page).group(1))
    assert {v["run"] for v in specs["time"]["data"]["values"]} == {"baseline: r0", "this run: r1"}


def _saved(tmp_path: Path, run: Run, name: str) -> Path:
    return save_run(run, tmp_path / name)


def test_plot_saves_the_main_chart_as_png_or_svg(tmp_path: Path) -> None:
    run_file = _saved(tmp_path, make_run({"parquet": 0.010, "mongo": 0.400}), "run.json")
    runner = CliRunner()
    png, svg = tmp_path / "t.png", tmp_path / "t.svg"
    result = runner.invoke(cli, ["report", str(run_file), "--plot", str(png)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and result.stdout == ""
    assert runner.invoke(cli, ["report", str(run_file), "--plot", str(svg)]).exit_code == 0
    picture = svg.read_text()
    assert picture.startswith("<svg") and "Time per operation" in picture and 'class="mark-symbol' in picture
    again = runner.invoke(cli, ["report", str(run_file), "--plot", str(png)])
    assert again.exit_code == 2 and "already exists" in again.stderr
    wrong = runner.invoke(cli, ["report", str(run_file), "--plot", str(tmp_path / "t.jpg")])
    assert wrong.exit_code == 2 and wrong.stderr.count("\n") == 1 and ".png or .svg" in wrong.stderr


def test_plot_of_runs_of_different_datasets_is_refused(tmp_path: Path) -> None:
    a = _saved(tmp_path, make_run({"parquet": 0.010}, "r0"), "a.json")
    b = _saved(tmp_path, make_run({"parquet": 0.010}, "r1", rows=ROWS * 2), "b.json")
    result = CliRunner().invoke(cli, ["report", str(a), str(b), "--plot", str(tmp_path / "t.svg")])
    assert result.exit_code == 3 and "different datasets" in result.stderr
    assert not (tmp_path / "t.svg").exists()


# -- the page in a real browser ----------------------------------------------------------------------
def _browser() -> tuple[str, str]:
    """Debian's chromium and chromedriver; in CI their absence fails (``make browser`` installs them)."""
    found = {name: shutil.which(command) for name, command in (("chromium", "chromium"),
                                                              ("chromium-driver", "chromedriver"))}
    missing = [name for name, path in found.items() if path is None]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (the dev extra)")
    if missing:
        reason = f"the browser test needs {', '.join(missing)}: run `make browser` as root"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found["chromium"], found["chromium-driver"]


MARKS_PER_CHART = """return Array.from(document.querySelectorAll('figure.chart')).map(
    (figure) => figure.querySelectorAll('svg g.role-mark > *').length);"""


@pytest.mark.slow
def test_html_report_renders_in_headless_chromium_offline_without_console_errors(tmp_path: Path) -> None:
    chromium, chromedriver = _browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    from storeadvise.bench.api import benchmark
    from storeadvise.bench.report import write_report

    run = benchmark(sample="tabular", rows=2_000, backends=["csv", "parquet", "arrow"], ops="write,read,lookup",
                    repeat=2, lookups=20, max_time=2.0, save=False, scratch_dir=tmp_path)
    page = write_report(run, tmp_path / "report.html", "html")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,2000",
                     # No network: no name resolves, and a request would go to a proxy that is not there.
                     "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        driver.get(page.resolve().as_uri())
        # The page marks <body data-charts> when every chart has been drawn, or failed.
        state = WebDriverWait(driver, 120).until(lambda d: d.execute_script("return document.body.dataset.charts"))
        shot = tmp_path / "report.png"
        driver.save_screenshot(str(shot))
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        marks = driver.execute_script(MARKS_PER_CHART)
        tables = driver.execute_script("return document.querySelectorAll('table tbody tr').length")
        requests = driver.execute_script("return performance.getEntriesByType('resource').map((r) => r.name)")
    finally:
        driver.quit()
    assert state == "drawn" and errors == []
    assert tables > 0 and len(marks) >= 3 and all(count > 0 for count in marks), marks
    assert requests == []
    assert shot.read_bytes().startswith(b"\x89PNG")
