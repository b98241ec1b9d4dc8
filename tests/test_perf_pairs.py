"""The benchmark suite's pair machinery (tests/perf/pairs.py), checked without timing anything real:
a fake clock makes every run's duration known, so what is asserted is the bookkeeping (order within
pairs, which run is paired with which, the interval, the pair plan), never a speed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

PAIRS_PATH = Path(__file__).parent / "perf" / "pairs.py"


@pytest.fixture(scope="module")
def pairs() -> Any:
    spec = importlib.util.spec_from_file_location("perf_pairs_under_test", PAIRS_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


class FakeClock:
    """``time.perf_counter`` that only moves when a side runs."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_sides(pairs: Any, clock: FakeClock, log: list[str]) -> tuple[Any, Any]:
    """A and B whose k-th runs take 2(k+1) and (k+1) seconds: correctly paired, every ratio is 2."""
    count = {"A": 0, "B": 0}

    def run(name: str, unit: float) -> Any:
        def call() -> None:
            count[name] += 1
            clock.now += unit * count[name]
            log.append(name)
        return call

    return pairs.Side("A", run("A", 2.0)), pairs.Side("B", run("B", 1.0))


def test_pairs_alternate_their_order_and_stay_paired(pairs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    clock, log = FakeClock(), []
    monkeypatch.setattr(pairs, "perf_counter", clock)
    a, b = make_sides(pairs, clock, log)

    result = pairs.interleave(None, a, b, pairs.PairPlan(4), warmup=1)

    # warm-up pair, then B A / A B alternately: each side runs first in half of the counted pairs
    assert "".join(log) == "AB" + "BA" "AB" "BA" "AB"
    assert len(result.a) == len(result.b) == 4
    # the warm-up runs (k=1) are dropped and the k-th A is divided by the k-th B
    assert result.a == [4.0, 6.0, 8.0, 10.0]
    assert result.ratios == [2.0, 2.0, 2.0, 2.0]


def test_repeated_calls_are_timed_together_and_reported_per_call(pairs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    clock, log = FakeClock(), []
    monkeypatch.setattr(pairs, "perf_counter", clock)
    a, b = make_sides(pairs, clock, log)

    result = pairs.interleave(None, a, b, pairs.PairPlan(3, calls=5), warmup=0)

    assert log.count("A") == log.count("B") == 15
    # first sample of A: runs 1..5 take 2+4+6+8+10 = 30 s, 6 s per call
    assert result.a[0] == pytest.approx(6.0)
    assert result.calls == 5


def test_median_interval_uses_binomial_order_statistics(pairs: Any) -> None:
    values = [float(v) for v in range(1, 21)]  # n = 20: the 95% interval is (x6, x15)
    assert pairs.median_interval(values) == (6.0, 15.0)
    assert pairs.median_interval([float(v) for v in range(9, 0, -1)]) == (2.0, 8.0)  # n = 9: (x2, x8), unsorted
    assert pairs.median_interval([3.0, 1.0, 2.0, 5.0, 4.0]) == (1.0, 5.0)  # too few: the whole range
    assert pairs.median_interval([1.5]) == (1.5, 1.5)
    with pytest.raises(ValueError):
        pairs.median_interval([])


def test_pair_plan_spends_the_budget_within_bounds(pairs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STOREADVISE_PERF_PAIRS", raising=False)
    slow = pairs.plan_pairs(5.0, "server", repeatable=False)
    assert (slow.pairs, slow.calls) == (pairs.MIN_PAIRS, 1)
    quick = pairs.plan_pairs(0.001, "file", repeatable=True)
    assert quick.calls * 0.001 >= pairs.MIN_SAMPLE_SECONDS
    assert quick.pairs == pairs.MAX_PAIRS
    write = pairs.plan_pairs(0.001, "file", repeatable=False)
    assert write.calls == 1  # a side with a setup is never repeated back to back
    middle = pairs.plan_pairs(0.2, "file", repeatable=False)
    assert pairs.MIN_PAIRS <= middle.pairs <= pairs.MAX_PAIRS and middle.pairs % 2 == 1
    assert middle.pairs * 2 * 0.2 == pytest.approx(pairs.CASE_SECONDS["file"], abs=0.8)

    monkeypatch.setenv("STOREADVISE_PERF_PAIRS", "6")
    assert pairs.plan_pairs(5.0, "server", repeatable=False).pairs == 6


def test_only_an_unsettled_verdict_gets_settling_pairs(pairs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STOREADVISE_PERF_PAIRS", raising=False)
    clear_pass = pairs.PairResult(a=[1.0] * 9, b=[1.0] * 9)  # every ratio 1.00: interval (1, 1)
    assert pairs.settling_pairs(clear_pass, 1.10, 0.1, "file") == 0
    clear_fail = pairs.PairResult(a=[1.5] * 9, b=[1.0] * 9)
    assert pairs.settling_pairs(clear_fail, 1.10, 0.1, "file") == 0
    spread = pairs.PairResult(a=[0.8, 0.9, 1.0, 1.05, 1.08, 1.12, 1.2, 1.3, 1.4], b=[1.0] * 9)
    assert pairs.straddles(spread.ratio_interval, 1.10)
    extra = pairs.settling_pairs(spread, 1.10, 0.1, "file")
    assert 0 < extra <= pairs.SETTLE_MAX_PAIRS - 9
    assert pairs.settling_pairs(spread, 1.10, 100.0, "file") == 1  # a slow case still gets one more pair
    monkeypatch.setenv("STOREADVISE_PERF_PAIRS", "9")
    assert pairs.settling_pairs(spread, 1.10, 0.1, "file") == 0


def test_the_table_shows_settling_pairs_apart(pairs: Any) -> None:
    assert pairs.pair_label({"pair_ratios": [1.0] * 35, "settling_pairs": 24}) == "11+24"
    assert pairs.pair_label({"pair_ratios": [1.0] * 11, "settling_pairs": 0}) == "11"


def test_runs_are_compared_case_by_case_within_one_dataset(pairs: Any) -> None:
    def case(dataset: str | None, median: float) -> dict[str, Any]:
        entry = {"backend": "csv", "op": "read", "rows": 10, "storeadvise_median_s": median, "median_ratio": 1.0}
        return entry if dataset is None else {**entry, "dataset": dataset}

    earlier = {"cases": [case(None, 1.0), case("wide", 4.0)]}  # a run saved before datasets: tabular
    lines = pairs.compare({"cases": [case("tabular", 2.0), case("wide", 2.0), case("flights", 3.0)]}, earlier)

    assert len(lines) == 2  # flights has no earlier case
    assert "tabular" in lines[0] and "(+100%)" in lines[0]
    assert "wide" in lines[1] and "(-50%)" in lines[1]


SHAPES_PATH = Path(__file__).parent / "perf" / "shapes.py"


@pytest.fixture(scope="module")
def shapes() -> Any:
    spec = importlib.util.spec_from_file_location("perf_shapes_under_test", SHAPES_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_real_shaped_datasets_have_the_shapes_they_promise(shapes: Any) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    flights = shapes.generated_table("flights", 70_000)  # two generation chunks
    assert flights.num_columns == 20 and flights.num_rows == 70_000
    assert flights.column("id").to_pylist() == list(range(70_000))
    assert 0 < flights.column("dep_delay").null_count < 0.05 * 70_000  # integers with a few nulls
    assert pc.count_distinct(flights.column("origin")).as_py() == 3  # low-cardinality strings
    assert pc.count_distinct(flights.column("year")).as_py() == 1
    assert flights.schema.field("time_hour").type == pa.string()  # a timestamp kept as text
    hours = pc.strptime(flights.column("time_hour"), format="%Y-%m-%d %H:%M:%S", unit="s")
    assert hours.null_count == 0 and pc.min(hours).as_py().year == 2013
    assert shapes.generated_table("flights", 70_000).equals(flights)  # the same in every run

    wide = shapes.generated_table("wide", 1_000)
    assert wide.num_columns > 100
    assert {str(t) for t in wide.schema.types} == {"int64", "double", "string", "bool"}


def test_every_dataset_scales_with_the_rows_knob(shapes: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert shapes.dataset_rows("flights", 500_000) == 336_776  # the real table's rows at the default scale
    assert shapes.dataset_rows("tabular", 20_000) == 20_000
    monkeypatch.setenv("STOREADVISE_PERF_DATASETS", "wide, tabular")
    assert shapes.chosen_datasets() == ("tabular", "wide")
    monkeypatch.setenv("STOREADVISE_PERF_DATASETS", "flight")
    with pytest.raises(ValueError, match="unknown flight"):
        shapes.chosen_datasets()
