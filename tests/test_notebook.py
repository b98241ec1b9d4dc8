"""The notebook faces of a run and of the advice: tidy Arrow and pandas tables and Jupyter's HTML."""

from __future__ import annotations

import sys

import pytest

import storeadvise
from storeadvise.bench.results import BackendRun, Measurement, Run, Stats, Verification
from storeadvise.bench.table import build_report
from storeadvise.bench.tidy import MEASUREMENT_COLUMNS, data_fingerprint
from storeadvise.errors import StoreAdviseError

ROWS = 10_000


def figure(backend: str, op: str, median: float, **fields) -> Measurement:
    return Measurement(backend=backend, op=op, stats=Stats.of([median * 0.9, median, median * 1.1]), rows=ROWS,
                       rows_per_s=ROWS / median, **fields)


@pytest.fixture
def run() -> Run:
    """parquet and csv, written and read warm and cold; csv's round trip failed; mongo skipped."""
    parquet = BackendRun("parquet", verification=Verification(ROWS, ROWS, True), measurements=[
        figure("parquet", "write", 0.02, bytes_at_rest=400_000, durable=False),
        figure("parquet", "read", 0.004, cache="warm"),
        figure("parquet", "read", 0.009, cache="cold", warnings=["the first run was much slower"]),
    ])
    csv = BackendRun("csv", verification=Verification(ROWS, ROWS - 1, False, flagged=True, message="1 row lost"),
                     measurements=[figure("csv", "write", 0.05, durable=False),
                                   figure("csv", "read", 0.003, cache="warm"),
                                   Measurement("csv", "read", status="unsupported", reason="no", cache="cold")])
    mongo = BackendRun("mongo", status="skipped", reason="cannot reach the server")
    return Run(run_id="nb1", started_at="2026-11-30T12:00:00+00:00",
               dataset={"name": "t", "rows": ROWS, "data_fingerprint": {"rows": ROWS, "content": "abc123"}},
               settings={"repeat": 3}, backends=[parquet, csv, mongo])


def test_to_arrow_is_one_tidy_row_per_backend_operation_and_cache_state(run: Run) -> None:
    table = run.to_arrow()
    assert table.column_names == [name for name, _ in MEASUREMENT_COLUMNS]
    rows = table.to_pylist()
    keys = [(r["backend"], r["op"], r["cache"]) for r in rows]
    assert keys == [("parquet", "write", None), ("parquet", "read", "warm"), ("parquet", "read", "cold"),
                    ("csv", "write", None), ("csv", "read", "warm"), ("csv", "read", "cold"), ("mongo", None, None)]
    at = dict(zip(keys, rows, strict=True))
    cold = at[("parquet", "read", "cold")]
    assert cold["median_s"] == pytest.approx(0.009) and cold["n"] == 3 and cold["status"] == "ok"
    assert cold["warnings"] == ["the first run was much slower"] and cold["run_id"] == "nb1"
    assert cold["data_fingerprint"] == data_fingerprint(run) and len(cold["data_fingerprint"]) == 12
    assert cold["started_at"].isoformat() == "2026-11-30T12:00:00+00:00"
    # csv read faster but its round trip failed: parquet is the best, csv untrusted.
    assert at[("parquet", "read", "warm")]["best"] is True and at[("csv", "read", "warm")]["trusted"] is False
    assert at[("csv", "read", "warm")]["ratio_to_best"] == pytest.approx(0.75)
    write = at[("parquet", "write", None)]
    assert write["bytes_at_rest"] == 400_000 and write["durable"] is False
    assert at[("csv", "read", "cold")]["status"] == "unsupported" and at[("csv", "read", "cold")]["median_s"] is None
    assert at[("mongo", None, None)]["status"] == "skipped" and "cannot reach" in at[("mongo", None, None)]["reason"]
    # The score and each cell's part in it are the matrix's.
    matrix = build_report(run).matrix
    scores = {row.backend: row.score for row in matrix.rows}
    assert at[("parquet", "write", None)]["score"] == pytest.approx(scores["parquet"])
    assert at[("csv", "write", None)]["score"] == pytest.approx(scores["csv"])


def test_to_pandas_has_the_same_rows_and_columns(run: Run) -> None:
    frame = run.to_pandas()
    assert list(frame.columns) == [name for name, _ in MEASUREMENT_COLUMNS]
    assert len(frame) == run.to_arrow().num_rows == 7
    assert frame.loc[(frame.backend == "parquet") & (frame.cache == "cold"), "median_s"].item() == pytest.approx(0.009)


def test_to_pandas_without_pandas_says_what_to_install(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    with pytest.raises(StoreAdviseError, match=r"^to_pandas\(\) needs pandas: pip install pandas"):
        run.to_pandas()
    with pytest.raises(StoreAdviseError, match="pip install pandas"):
        storeadvise.recommend(modality="tabular", purpose="online").to_pandas()


def test_the_html_representation_holds_the_matrix_and_the_verification(run: Run) -> None:
    page = run._repr_html_()
    assert "summary: × best per operation" in page
    assert "<th class=\"n\">read (cold)</th>" in page and "<td>parquet</td>" in page
    assert "1.0× ★" in page  # the best cells
    assert "round-trip verification" in page and "1 row lost" in page
    assert "mongo" in page and "cannot reach the server" in page
    assert page.count("<table>") == 2


def test_the_advice_as_a_table_and_as_html() -> None:
    advice = storeadvise.recommend(modality="tabular", purpose="online")
    frame = advice.to_pandas()
    recommended = frame[frame.place == "recommended"]
    assert list(recommended.option) == [r.option for r in advice.recommendations]
    assert list(frame[frame.place == "avoid"].option) == [r.option for r in advice.avoid]
    first = recommended.iloc[0]
    assert first["rank"] == 1 and first["score"] == advice.best.score
    assert first["rules"] == [reason.rule for reason in advice.best.reasons]
    page = advice._repr_html_()
    assert advice.best.option in page and advice.best.reasons[0].rule in page
    assert "Avoid" in page and advice.avoid[0].option in page
