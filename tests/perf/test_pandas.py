"""storeadvise against what a pandas user would write instead, with pandas' defaults.

Per format: ``to_csv`` / ``read_csv``, ``to_json(orient="records", lines=True)`` / ``read_json(lines=True)``,
``to_parquet`` / ``read_parquet`` and ``to_sql`` / ``read_sql`` on a sqlite3 connection. The pandas side
starts from a DataFrame already in memory and ends at a DataFrame (its own conversions are what a pandas
user pays); pandas reads the file it wrote itself. The storeadvise side is the backend's write from the
Arrow table and its read into Arrow. Interleaved pairs, reported as a ratio storeadvise / pandas; no gate.
"""

from __future__ import annotations

import sqlite3
import statistics
from pathlib import Path
from typing import Any

import pairs
import pytest

pytestmark = pytest.mark.filterwarnings("ignore:The default formatting of datetime")

CASES = [(f, op) for f in ("csv", "jsonl", "parquet", "sqlite") for op in ("write", "read")]


def pandas_calls(fmt: str, frame: Any, out: Path) -> dict[str, tuple[str, Any, Any]]:
    """op -> (what is called, the call, its untimed setup)."""
    import pandas as pd

    if fmt == "csv":
        path = out / "pandas.csv"
        return {"write": ("DataFrame.to_csv(path)", lambda: frame.to_csv(path), None),
                "read": ("pandas.read_csv(path)", lambda: pd.read_csv(path), None)}
    if fmt == "jsonl":
        path = out / "pandas.jsonl"
        return {"write": ('to_json(path, orient="records", lines=True)',
                          lambda: frame.to_json(path, orient="records", lines=True), None),
                "read": ("pandas.read_json(path, lines=True)", lambda: pd.read_json(path, lines=True), None)}
    if fmt == "parquet":
        path = out / "pandas.parquet"
        return {"write": ("DataFrame.to_parquet(path)", lambda: frame.to_parquet(path), None),
                "read": ("pandas.read_parquet(path)", lambda: pd.read_parquet(path), None)}
    path = out / "pandas.sqlite"
    held: dict[str, sqlite3.Connection] = {}

    def fresh() -> None:
        if "con" in held:
            held.pop("con").close()
        path.unlink(missing_ok=True)
        held["con"] = sqlite3.connect(path)

    def to_sql() -> None:
        frame.to_sql("data", held["con"])

    def read_sql() -> Any:
        if "con" not in held:
            held["con"] = sqlite3.connect(path)
        return pd.read_sql("SELECT * FROM data", held["con"])

    return {"write": ('DataFrame.to_sql("data", sqlite3 connection)', to_sql, fresh),
            "read": ('pandas.read_sql("SELECT * FROM data", connection)', read_sql, None)}


@pytest.mark.parametrize(("fmt", "op"), CASES, ids=[f"{f}-{op}" for f, op in CASES])
def test_storeadvise_vs_pandas_default(benchmark: Any, file_stores: dict[str, Any], file_data: Any,
                                       perf_scratch: Path, fmt: str, op: str) -> None:
    table, plan, _ = file_data
    backend = file_stores[fmt]
    out = perf_scratch / "pandas" / fmt
    out.mkdir(parents=True, exist_ok=True)
    frame = table.to_pandas()
    calls = pandas_calls(fmt, frame, out)
    if op == "read":  # pandas reads back what pandas wrote
        name, write, setup = calls["write"]
        if setup:
            setup()
        write()
    name, call, setup = calls[op]
    storeadvise = pairs.storeadvise_side(backend, op, plan, [])
    # No warm-up pair: both sides ran just before (the direct cases warmed storeadvise, a pandas read
    # follows its own write), and pandas' text writers take seconds a run at 500k rows (the README's
    # pandas table).
    result = pairs.interleave(benchmark, storeadvise, pairs.Side(name, call, setup=setup),
                              pairs.PairPlan(pairs.env_int("STOREADVISE_PERF_PANDAS_PAIRS", 3)), warmup=0)
    pairs.record("pandas", {
        "backend": fmt, "op": op, "rows": table.num_rows, "pandas_call": name,
        "storeadvise_median_s": statistics.median(result.a), "pandas_median_s": statistics.median(result.b),
        "median_ratio": result.median_ratio, "pair_ratios": [round(r, 4) for r in result.ratios],
    })
    assert len(result.a) == len(result.b) > 0
