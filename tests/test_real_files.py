"""Real files that used to crash or lose values: each class of problem, tested over the class.

The end-to-end cases (one CLI run per hostile file) are in ``test_hostile_inputs.py``; these pin
the mechanism behind each fix on its own.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from storeadvise.bench.workloads import NEW_KEY_ROOM, _choose_predicate, _free_key_offset

EXTREME_INTEGERS = {
    "int8": (pa.int8(), -128, 127),
    "int32": (pa.int32(), -(2**31), 2**31 - 1),
    "int64 beyond 2^53": (pa.int64(), 2**60, 2**63 - 1),
    "int64 negative": (pa.int64(), -(2**63), -(2**62)),
    "uint64 beyond int64": (pa.uint64(), 2**63, 2**64 - 1),
}


def _spread(low: int, high: int, n: int = 1_000) -> list[int]:
    """n distinct integers from low to high inclusive, exact (no float in between)."""
    step = max(1, (high - low) // (n - 1))
    return [min(low + i * step, high) for i in range(n)]


@pytest.mark.parametrize("case", sorted(EXTREME_INTEGERS))
def test_the_filter_predicate_on_any_integer_is_an_exact_value_selecting_a_tenth(case: str) -> None:
    arrow_type, low, high = EXTREME_INTEGERS[case]
    values = pa.array(_spread(low, high, min(1_000, high - low + 1)), arrow_type)
    predicate, _ = _choose_predicate(pa.table({"v": values}), key=None)
    assert predicate is not None and isinstance(predicate.value, int)
    assert predicate.value in values.to_pylist()  # a stored value, not a rounded neighbour
    share = pc.sum(pc.greater(values, pa.scalar(predicate.value, arrow_type))).as_py() / len(values)
    assert 0.05 <= share <= 0.15, share


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_the_filter_predicate_on_timestamps_near_their_range_ends_is_exact(unit: str) -> None:
    epoch = pa.array(_spread(2**62, 2**63 - 2), pa.int64())
    if unit != "ns":  # the same instants as nanoseconds would overflow; stay inside year 9999
        epoch = pa.array(_spread(0, 253_402_300_799 * {"s": 1, "ms": 10**3, "us": 10**6}[unit]), pa.int64())
    values = epoch.cast(pa.timestamp(unit, tz="+05:30"))
    predicate, _ = _choose_predicate(pa.table({"t": values}), key=None)
    assert predicate is not None
    assert pc.any(pc.equal(values, pa.scalar(predicate.value, values.type))).as_py()
    share = pc.sum(pc.greater(values, pa.scalar(predicate.value, values.type))).as_py() / len(values)
    assert 0.05 <= share <= 0.15, share


def test_the_filter_predicate_skips_nan_and_infinity() -> None:
    values = pa.array([float("nan"), float("inf"), float("-inf")] * 10 + [float(i) for i in range(100)])
    predicate, _ = _choose_predicate(pa.table({"f": values}), key=None)
    assert predicate is not None and 85 <= predicate.value <= 95


def test_dates_from_year_1_to_9999_give_an_exact_predicate() -> None:
    days = _spread(0, (dt.date(9999, 12, 31) - dt.date(1, 1, 1)).days)
    values = pa.array([dt.date(1, 1, 1) + dt.timedelta(days=d) for d in days])
    predicate, _ = _choose_predicate(pa.table({"d": values}), key=None)
    assert predicate is not None and predicate.value in values.to_pylist()


@pytest.mark.parametrize("case", [name for name in sorted(EXTREME_INTEGERS) if "64" in name])
def test_new_keys_fit_the_key_type_and_miss_every_sampled_key(case: str) -> None:
    arrow_type, low, high = EXTREME_INTEGERS[case]
    keys = pa.chunked_array([pa.array(_spread(low + NEW_KEY_ROOM * 2, high - NEW_KEY_ROOM * 2), arrow_type)])
    offset = _free_key_offset(keys, len(keys), arrow_type)
    new = pa.array([offset, offset + NEW_KEY_ROOM - 1], arrow_type)  # raises if outside the type
    overlap = pc.is_in(new, value_set=keys.combine_chunks())
    assert not any(overlap.to_pylist()) and not (keys.to_pylist()[0] <= offset <= keys.to_pylist()[-1])


DICTIONARY_COLUMNS = {
    "string": (pa.array(["red", "green", "blue"] * 100), "string"),
    "int": (pa.array(range(300)), "int"),
    "float": (pa.array([i / 4 for i in range(300)]), "float"),
    "timestamp": (pa.array([dt.datetime(2024, 1, 1) + dt.timedelta(minutes=i) for i in range(300)]), "timestamp"),
    "date": (pa.array([dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(300)]), "date"),
}


@pytest.mark.parametrize("case", sorted(DICTIONARY_COLUMNS))
def test_a_dictionary_encoded_column_is_profiled_and_filtered_like_its_values(case: str, tmp_path) -> None:
    import pyarrow.feather as feather

    from storeadvise.bench.datasets import load_dataset
    from storeadvise.bench.workloads import plan_workload

    values, kind = DICTIONARY_COLUMNS[case]
    path = tmp_path / "categorical.feather"  # Feather keeps every dictionary type (Parquet: strings only)
    feather.write_feather(pa.table({"id": range(300), "c": values.dictionary_encode()}), path)
    dataset = load_dataset(path)
    assert pa.types.is_dictionary(dataset.schema.field("c").type)
    assert [(c.name, c.kind) for c in dataset.profile.columns] == [("id", "int"), ("c", kind)]
    plan = plan_workload(dataset, ["filter"], lookups=5)
    assert plan.predicate is not None and plan.predicate.column == "c"
    assert 0 < dataset.to_table().filter(plan.predicate.to_arrow()).num_rows < 300


ZONES = ["+05:30", "-09:30", "+00:00", "UTC", "Asia/Kolkata", "America/New_York", "Pacific/Kiritimati"]
FILE_BACKENDS = ["csv", "jsonl", "parquet", "arrow", "sqlite", "duckdb"]


def test_zoned_timestamps_from_year_1_to_9999_survive_every_file_backend(tmp_path) -> None:
    """Fixed offsets (which made polars panic) and named zones, at the ends of the range a datetime
    can hold in UTC: in +05:30 the last instant of 9999 is in year 10000, in -09:30 the first of year 1
    is in year 0."""
    import pyarrow.parquet as pq

    import storeadvise

    instants = pa.array([dt.datetime(1, 1, 1), dt.datetime(1, 1, 1, 23, 59), dt.datetime(1970, 1, 1),
                         dt.datetime(9999, 12, 31), dt.datetime(9999, 12, 31, 23, 59, 59, 999_999), None] * 4,
                        pa.timestamp("us"))
    columns = {"id": pa.array(range(len(instants)))}
    for i, zone in enumerate(ZONES):
        unit = ["s", "ms", "us"][i % 3]
        columns[f"t{i}"] = instants.cast(pa.timestamp(unit), safe=False).cast(pa.timestamp(unit, tz=zone))
    path = tmp_path / "zones.parquet"
    pq.write_table(pa.table(columns), path)
    run = storeadvise.benchmark(path, backends=FILE_BACKENDS, ops="write,read,filter", repeat=1, warmup=0,
                                save=False)
    for b in run.backends:
        assert b.status == "ok", (b.backend, b.reason)
        assert not b.verification.flagged, (b.backend, b.verification.message)
        assert all(c.status != "lost" for c in b.verification.columns), (b.backend, b.verification.columns)
        assert all(m.status == "ok" for m in b.measurements), [(m.op, m.reason) for m in b.measurements]


@pytest.mark.parametrize(("names", "expected"), [
    (["a", "a", "b"], ["a", "a_2", "b"]),
    (["", "a", ""], ["column_1", "a", "column_3"]),
    (["x", "x", "x_2", "x"], ["x", "x_3", "x_2", "x_4"]),
    (["column_1", ""], ["column_1", "column_2"]),
    (["", "column_1"], ["column_1_1", "column_1"]),
    (["id", "name"], ["id", "name"]),
    (["ID", "id", "Id_2"], ["ID", "id_3", "Id_2"]),  # SQLite and DuckDB ignore case
])
def test_column_names_are_made_unique_and_non_empty(names: list[str], expected: list[str]) -> None:
    from storeadvise.bench.formats.source import unique_names

    assert unique_names(names) == expected


def test_duplicate_and_empty_column_names_are_renamed_visibly_and_every_backend_verifies(tmp_path) -> None:
    import pyarrow.parquet as pq

    import storeadvise

    table = pa.Table.from_arrays([pa.array(range(50)), pa.array([1.5] * 50), pa.array(["v"] * 50),
                                  pa.array(range(50, 100)), pa.array(range(50))], names=["id", "", "id", "x", "ID"])
    path = tmp_path / "names.parquet"
    pq.write_table(table, path)
    run = storeadvise.benchmark(path, backends=FILE_BACKENDS, ops="write,read", repeat=1, warmup=0,
                                out=tmp_path / "run.json")
    assert run.dataset["renamed_columns"] == [{"position": 2, "from": "", "to": "column_2"},
                                              {"position": 3, "from": "id", "to": "id_2"},
                                              {"position": 5, "from": "ID", "to": "ID_3"}]
    assert any("'id' -> 'id_2'" in note for note in run.dataset["notes"])
    for b in run.backends:
        assert b.status == "ok" and not b.verification.flagged, (b.backend, b.reason)
    from storeadvise.bench.report import render

    assert "'' -> 'column_2'" in render(run, "markdown")


@pytest.mark.parametrize("rows_before", [0, pytest.param(400_000, marks=pytest.mark.slow)])
def test_a_csv_value_longer_than_the_readers_block_is_read(rows_before: int, tmp_path) -> None:
    """A 10 MB cell, at the start (inside the first block) or after ~6 MB of rows (the reader is
    already streaming): the input reader and the CSV backend both grow their block and read it."""
    import storeadvise
    from storeadvise.bench.datasets import load_dataset

    big = "x" * (10 << 20)
    path = tmp_path / "long_cell.csv"
    with open(path, "w") as out:
        out.write("id,text\n")
        out.writelines(f"{i},short{i}\n" for i in range(rows_before))
        out.write(f"{rows_before},{big}\n{rows_before + 1},after\n")
    table = load_dataset(path).to_table()
    assert table.num_rows == rows_before + 2
    assert table.column("text")[rows_before].as_py() == big and table.column("id")[-1].as_py() == rows_before + 1
    run = storeadvise.benchmark(path, backends=["csv", "jsonl"], ops="write,read,scan", repeat=1, warmup=0,
                                save=False)
    for b in run.backends:
        assert b.status == "ok" and not b.verification.flagged, (b.backend, b.reason)
        assert all(m.status == "ok" for m in b.measurements), [(m.op, m.reason) for m in b.measurements]


BIG_INTEGER_COLUMNS = {  # values of one CSV column -> the type that holds them exactly
    "int64 range": ([2**63 - 1, -(2**63)], pa.int64()),
    "just above int64": ([2**63, 1], pa.uint64()),
    "uint64 max": ([2**64 - 1, 0], pa.uint64()),
    "above uint64": ([2**64, 5], pa.decimal128(38, 0)),
    "negative below int64": ([-(2**63) - 1, 7], pa.decimal128(38, 0)),
    "uint64 and negative": ([2**64 - 1, -1], pa.decimal128(38, 0)),
    "39 digits": ([10**38, 1], pa.string()),
}


@pytest.mark.parametrize("form", ["jsonl", "json"])
@pytest.mark.parametrize("case", [c for c in sorted(BIG_INTEGER_COLUMNS) if c != "39 digits"])
def test_json_integers_beyond_int64_are_read_exactly(case: str, form: str, tmp_path) -> None:
    """polars reads them as 128-bit integers, which it cannot hand to Arrow: they come as text and
    get the same exact types as in a CSV file."""
    import json

    from storeadvise.bench.datasets import load_dataset

    values, expected = BIG_INTEGER_COLUMNS[case]
    records = [{"id": i, "n": v} for i, v in enumerate(values)]
    path = tmp_path / f"big_integers.{form}"
    path.write_text(json.dumps(records) if form == "json" else "".join(json.dumps(r) + "\n" for r in records))
    dataset = load_dataset(path)
    assert dataset.schema.field("n").type == expected
    assert [str(v) for v in dataset.to_table().column("n").to_pylist()] == [str(v) for v in values]


@pytest.mark.parametrize("late", [False, pytest.param(True, marks=pytest.mark.slow)])
@pytest.mark.parametrize("case", sorted(BIG_INTEGER_COLUMNS))
def test_csv_integers_beyond_int64_are_read_exactly(case: str, late: bool, tmp_path) -> None:
    """In the first block (pyarrow would infer float64 and round) or after 4 MB of small integers
    (the column was inferred int64, then widened when the big value comes)."""
    from storeadvise.bench.datasets import load_dataset

    values, expected = BIG_INTEGER_COLUMNS[case]
    before = list(range(300_000)) if late else []
    path = tmp_path / "big_integers.csv"
    path.write_text("n\n" + "".join(f"{v}\n" for v in before + values))
    dataset = load_dataset(path)
    assert dataset.schema.field("n").type == expected
    got = dataset.to_table().column("n").to_pylist()[len(before):]
    assert [str(v) for v in got] == [str(v) for v in values]


def test_nan_infinity_and_extreme_dates_are_kept_or_lost_exactly_as_documented(tmp_path) -> None:
    """Every file backend keeps these values, or its type mapping says what it loses and the verifier
    finds exactly that loss (NaN in SQLite, NaN and infinities in JSON Lines), never a surprise."""
    import pyarrow.parquet as pq

    import storeadvise

    n = 12
    table = pa.table({
        "id": range(n),
        "f64": [float("nan"), float("inf"), float("-inf"), 1.5, None, -0.0] * 2,
        "f32": pa.array([float("inf"), 2.5, float("nan"), None, 0.0, -1.0] * 2, pa.float32()),
        "d": [dt.date(1, 1, 1), dt.date(9999, 12, 31), None] * 4,
        "t_utc": pa.array([dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59), None] * 4,
                          pa.timestamp("us", tz="UTC")),
        "t_local": pa.array([dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59), None] * 4,
                            pa.timestamp("ms")),
    })
    path = tmp_path / "extremes.parquet"
    pq.write_table(table, path)
    run = storeadvise.benchmark(path, backends=FILE_BACKENDS, ops="write,read", repeat=1, warmup=0, save=False)
    lost = {}
    for b in run.backends:
        assert b.status == "ok" and not b.verification.flagged, (b.backend, b.reason, b.verification.message)
        assert all(c.documented for c in b.verification.columns)
        lost[b.backend] = sorted(c.column for c in b.verification.columns if c.status == "lost")
    assert lost == {"csv": [], "jsonl": ["f32", "f64"], "parquet": [], "arrow": [], "sqlite": ["f32", "f64"],
                    "duckdb": []}
    sqlite = next(b for b in run.backends if b.backend == "sqlite")
    assert "NaN is stored as NULL" in next(c.detail for c in sqlite.verification.columns if c.column == "f64")


def _small_csv(tmp_path):
    path = tmp_path / "live.csv"
    path.write_text("id,v\n" + "".join(f"{i},{i * 2}\n" for i in range(200)))
    return path


def test_an_input_that_changes_while_it_is_profiled_is_refused(tmp_path, monkeypatch) -> None:
    from storeadvise.bench import datasets
    from storeadvise.errors import DataError

    path = _small_csv(tmp_path)
    real_add = datasets._Scan.add

    def add_then_write(self, batch):  # another program appends while the file is being read
        with open(path, "a") as out:
            out.write("999,1\n")
        return real_add(self, batch)

    monkeypatch.setattr(datasets._Scan, "add", add_then_write)
    with pytest.raises(DataError, match=r"changed size from .* while it was being read"):
        datasets.load_dataset(path)


@pytest.mark.parametrize("change", ["append", "replace", "touch"])
def test_an_input_that_changed_before_the_run_is_refused(change: str, tmp_path) -> None:
    import os

    from storeadvise.bench.datasets import load_dataset
    from storeadvise.bench.runner import BenchConfig, Runner
    from storeadvise.errors import DataError

    path = _small_csv(tmp_path)
    dataset = load_dataset(path)
    if change == "append":
        with open(path, "a") as out:
            out.write("999,1\n")
    elif change == "replace":
        replacement = tmp_path / "other.csv"
        replacement.write_bytes(path.read_bytes())
        os.replace(replacement, path)
    else:
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    with pytest.raises(DataError, match="since it was profiled"):
        Runner(dataset, BenchConfig(backends=["csv"], ops=["write"], repeat=1, warmup=0)).run()


def test_an_input_that_changes_during_the_run_marks_the_run_file(tmp_path) -> None:
    import storeadvise
    from storeadvise.bench.results import load_run

    path = _small_csv(tmp_path)
    changed = []

    def on_event(backend: str, op: str, message: str) -> None:
        if backend == "parquet" and not changed:  # after csv finished, before parquet runs
            with open(path, "a") as out:
                out.write("999,1\n")
            changed.append(True)

    run = storeadvise.benchmark(path, backends=["csv", "parquet"], ops="write,read", repeat=1, warmup=0,
                                out=tmp_path / "run.json", on_event=on_event)
    saved = load_run(tmp_path / "run.json")
    for data in (run.dataset, saved.dataset):
        assert data["changed_during_run"] is True
        assert any("changed size" in note and "during the run" in note for note in data["notes"])
    assert saved.dataset["fingerprint"]["size"] == path.stat().st_size - len("999,1\n")
    from storeadvise.bench.report import render

    assert "during the run" in render(run, "markdown")


@pytest.mark.parametrize("backend_name", FILE_BACKENDS)
def test_uint64_values_across_the_whole_range_are_stored_filtered_and_looked_up_exactly(backend_name, tmp_path):
    from storeadvise.backends import backend_class
    from storeadvise.backends.base import BackendSettings, Predicate

    values = [0, 1, 2**53 + 1, 2**63 - 1, 2**63, 2**63 + 1, 2**64 - 2, 2**64 - 1]
    table = pa.table({"u": pa.array(values, pa.uint64()), "n": range(len(values))})
    backend = backend_class(backend_name)(BackendSettings(run_id="t", scratch_dir=tmp_path, key_column="u"))
    backend.open()
    try:
        backend.write(table.schema, table.to_batches())
        assert backend.read().column("u").to_pylist() == values
        for pivot in (2**63 - 1, 2**63, 2**64 - 2):
            got = backend.read(where=Predicate("u", ">", pivot)).column("u").to_pylist()
            assert sorted(got) == [v for v in values if v > pivot], pivot
        if "lookup" in backend.supports:
            assert backend.lookup(2**63 + 1).column("n").to_pylist() == [5]
    finally:
        backend.cleanup()


@pytest.mark.parametrize("values", [pa.array(range(100)), pa.array([f"user-{i}" for i in range(100)])])
def test_a_categorical_key_named_with_key_is_looked_up_and_appended_to(values: pa.Array, tmp_path) -> None:
    import pyarrow.feather as feather

    import storeadvise

    path = tmp_path / "keyed.feather"
    feather.write_feather(pa.table({"k": values.dictionary_encode(), "v": range(100)}), path)
    run = storeadvise.benchmark(path, key="k", backends=FILE_BACKENDS, ops="write,lookup,append,write_one",
                                repeat=1, warmup=0, lookups=5, save=False)
    for b in run.backends:
        assert b.status == "ok" and not b.verification.flagged, (b.backend, b.reason)
        ran = [(m.op, m.status, m.reason) for m in b.measurements if m.status != "unsupported"]
        assert all(status == "ok" for _, status, _ in ran), (b.backend, ran)


def test_the_filter_skips_a_column_whose_predicate_would_select_nothing_or_everything() -> None:
    """A real table's first numeric column often holds one value (a year): '> its upper tenth' matches no
    row. The chooser measures each candidate on the sample and takes one that selects about a tenth."""
    n = 1_000
    table = pa.table({
        "year": pa.array([2013] * n, pa.int64()),
        "kind": pa.array(["common"] * 880 + ["rare"] * 100 + ["odd"] * 20),
        "amount": pa.array([float(i % 97) for i in range(n)]),
    })
    predicate, share = _choose_predicate(table, key=None)
    assert predicate is not None and predicate.column == "amount" and 0.05 <= share <= 0.20
    predicate, share = _choose_predicate(table.drop_columns(["amount"]), key=None)
    assert predicate is not None and predicate.column == "kind" and predicate.value == "rare"
    assert share == pytest.approx(0.10)  # not "common", which 88% of the rows hold
    constant_only = pa.table({"year": pa.array([2013] * n, pa.int64())})
    assert _choose_predicate(constant_only, key=None) == (None, None)


def test_the_plan_records_the_share_its_filter_selects(tmp_path) -> None:
    import storeadvise

    run = storeadvise.benchmark(sample="tabular", rows=2_000, backends=["parquet"], ops="write,filter",
                                repeat=1, warmup=0, save=False)
    share = run.settings["plan"]["predicate_share"]
    assert 0.05 <= share <= 0.20
    filtered = next(m for m in run.backends[0].measurements if m.op == "filter")
    assert filtered.rows == pytest.approx(share * 2_000, rel=0.5)  # the whole file, not only the sample
    from storeadvise.bench.report import render

    assert f"selects {share:.1%} of the sampled rows" in render(run, "markdown")
