"""Datasets: loaders round-trip, bad input is refused clearly and untouched, samples are deterministic."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from storeadvise.bench.datasets import load_dataset, sample_dataset, write_sample
from storeadvise.bench.formats import REGISTRY, format_named
from storeadvise.errors import DataError, UsageError
from storeadvise.modalities import SAMPLE_KINDS

UTC = dt.timezone.utc


def mixed_table() -> pa.Table:
    """Nulls, unicode, timestamps and a date: what every loader must bring back."""
    return pa.table({
        "id": pa.array([3, 1, 2, 10], pa.int64()),
        "name": pa.array(["é中文😀", None, 'x,y"z', "Zoë"], pa.string()),
        "score": pa.array([1.5, None, -2.25, 0.1], pa.float64()),
        "ok": pa.array([True, None, False, True]),
        "at": pa.array([dt.datetime(2024, 1, 1, 1, 2, 3, 456789, tzinfo=UTC), None,
                        dt.datetime(2023, 5, 1, tzinfo=UTC), dt.datetime(2024, 2, 29, 23, 59, tzinfo=UTC)],
                       pa.timestamp("us", tz="UTC")),
        "day": pa.array([dt.date(2024, 1, 1), dt.date(2020, 2, 29), None, dt.date(1999, 12, 31)], pa.date32()),
    })


def as_original(table: pa.Table, original: pa.Table) -> list[dict]:
    return table.cast(original.schema).to_pylist()


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}


# -- loaders ------------------------------------------------------------------------------------------

def _write_csv(t: pa.Table, p: Path) -> None:
    pl.from_arrow(t).write_csv(p)


def _write_tsv(t: pa.Table, p: Path) -> None:
    pl.from_arrow(t).write_csv(p, separator="\t")


def _write_jsonl(t: pa.Table, p: Path) -> None:
    pl.from_arrow(t).write_ndjson(p)


def _write_json_array(t: pa.Table, p: Path) -> None:
    rows = [{k: (v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v) for k, v in r.items()}
            for r in t.to_pylist()]
    p.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")


def _write_feather(t: pa.Table, p: Path) -> None:
    import pyarrow.feather as feather

    feather.write_feather(t, p)


def _write_ipc_stream(t: pa.Table, p: Path) -> None:
    with pa.ipc.new_stream(p, t.schema) as writer:
        writer.write_table(t)


WRITERS = {
    "data.csv": _write_csv,
    "data.tsv": _write_tsv,
    "data.parquet": lambda t, p: pq.write_table(t, p),
    "data.jsonl": _write_jsonl,
    "data.json": _write_json_array,
    "data.feather": _write_feather,
    "data.arrows": _write_ipc_stream,
}


@pytest.mark.parametrize("filename", list(WRITERS))
def test_loader_round_trip_keeps_nulls_unicode_and_timestamps(tmp_path: Path, filename: str) -> None:
    original = mixed_table()
    path = tmp_path / filename
    WRITERS[filename](original, path)
    dataset = load_dataset(path)
    assert as_original(dataset.to_table(), original) == original.to_pylist()
    profile = dataset.profile
    assert profile.rows == 4
    assert profile.key_column == "id"
    assert profile.time_column == "at"
    assert profile.modality == "tabular" and not profile.nested
    assert profile.file_bytes == path.stat().st_size
    nulls = {c.name: c.null_count for c in profile.columns}
    assert nulls == {"id": 0, "name": 1, "score": 1, "ok": 1, "at": 1, "day": 1}
    kinds = {c.name: c.kind for c in profile.columns}
    assert kinds == {"id": "int", "name": "string", "score": "float", "ok": "bool", "at": "timestamp",
                     "day": "date"}


def test_input_format_overrides_the_extension(tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    _write_jsonl(mixed_table(), path)
    with pytest.raises(UsageError, match="input-format"):
        load_dataset(path)
    assert load_dataset(path, input_format="ndjson").profile.rows == 4


def test_batches_restart_and_have_the_asked_size(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    write_sample("tabular", 1_000, path)
    dataset = load_dataset(path)
    sizes = [b.num_rows for b in dataset.batches(300)]
    assert sizes == [300, 300, 300, 100]
    assert pa.Table.from_batches(dataset.batches(7)).equals(dataset.to_table())


def test_a_late_value_of_another_type_widens_the_column(tmp_path: Path) -> None:
    rows = 200_000  # more than pyarrow's first CSV block, so the float arrives after inference
    path = tmp_path / "late.csv"
    path.write_text("n,x\n" + "1,\n" * rows + "1.5,late text\n")
    dataset = load_dataset(path)
    assert dataset.schema.field("n").type == pa.float64()
    assert dataset.schema.field("x").type == pa.string()
    table = dataset.to_table()
    assert table.num_rows == rows + 1
    assert table.slice(rows).to_pylist() == [{"n": 1.5, "x": "late text"}]


def test_jsonl_keys_that_appear_late_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "late.jsonl"
    path.write_text('{"a": 1}\n' * 5_000 + '{"a": 2.5, "b": "new"}\n')
    table = load_dataset(path).to_table()
    assert table.slice(5_000).to_pylist() == [{"a": 2.5, "b": "new"}]


def test_key_and_time_column_overrides(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    _write_csv(mixed_table(), path)
    dataset = load_dataset(path, time_column="day")
    assert dataset.profile.time_column == "day"
    with pytest.raises(UsageError, match="is not a column; the columns are id, name"):
        load_dataset(path, key="nope")
    with pytest.raises(UsageError, match="must be timestamp or date"):
        load_dataset(path, time_column="score")
    with pytest.raises(DataError, match="has null values"):
        load_dataset(path, key="name")
    dup = tmp_path / "dup.csv"
    dup.write_text("k,v\na,1\nb,2\na,3\n")
    with pytest.raises(DataError, match="duplicate"):
        load_dataset(dup, key="k")
    assert load_dataset(dup).profile.key_column is None


# -- bad input ----------------------------------------------------------------------------------------

BAD_INPUTS = [
    ("empty.csv", b"", DataError, "empty"),
    ("blank.csv", b"  \n\t\n", DataError, "only whitespace"),
    ("header.csv", b"a,b\n", DataError, "header but no data rows"),
    ("ragged.csv", b"a,b\n1,2\n3,4\n5,6,7\n", DataError, "row 4.*Expected 2 columns, got 3"),
    ("scalar.json", b"42\n", DataError, "not JSON records"),
    ("numbers.json", b"[1, 2, 3]", DataError, "element 0 of its array is a JSON number"),
    ("object.json", b'{\n "data": [{"a": 1}, {"a": 2}]\n}\n', DataError, "single JSON object.*'data'"),
    ("broken.json", b'[{"a": 1},\n {"a": 2,}]', DataError, "not valid JSON.*line 2"),
    ("broken.jsonl", b'{"a": 1}\n{"a": \n{"a": 3}\n', DataError, "line 2 is not valid JSON"),
    ("mixed.jsonl", b'{"a": 1}\n5\n', DataError, "line 2 is a JSON number, not an object"),
    ("empty_array.json", b"[]", DataError, "contains no records"),
    ("corrupt.parquet", b"PAR1 this is not parquet", DataError, "not a readable Parquet file"),
    ("corrupt.arrow", b"not arrow at all", DataError, "not an Arrow IPC or Feather file"),
    ("latin1.csv", "a,b\n1,café\n".encode("latin-1"), DataError, "not valid UTF-8"),
    ("data.xyz", b"a\n1\n", UsageError, "cannot tell the format"),
]


@pytest.mark.parametrize(("name", "content", "error", "message"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_refused_clearly_and_left_alone(tmp_path: Path, name: str, content: bytes,
                                                     error: type[Exception], message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    before = snapshot(tmp_path)
    with pytest.raises(error, match=message) as caught:
        load_dataset(path)
    text = str(caught.value)
    assert name in text and "\n" not in text
    assert snapshot(tmp_path) == before


def test_missing_file_folder_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        load_dataset(tmp_path / "missing.csv")
    with pytest.raises(UsageError, match="is a folder"):
        load_dataset(tmp_path)
    with pytest.raises(UsageError, match="unknown format 'xlsx'; use one of csv, tsv, parquet, jsonl, json, arrow"):
        load_dataset(tmp_path / "missing.csv", input_format="xlsx")
    assert list(tmp_path.iterdir()) == []


def test_format_aliases() -> None:
    assert [format_named(n).name for n in ("NDJSON", "jsonlines", "feather", "ipc", ".pq", "tsv")] == [
        "jsonl", "jsonl", "arrow", "arrow", "parquet", "tsv"]
    assert set(REGISTRY) == {format_named(f).name for f in REGISTRY}


def test_bad_sample_arguments(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"--rows 0: expected a count like 20000, 10k or 1\.5M, greater than zero"):
        sample_dataset("tabular", 0)
    with pytest.raises(UsageError, match="unknown sample kind 'images'; choose from tabular, time-series"):
        sample_dataset("images", 10)
    with pytest.raises(UsageError, match="CSV cannot hold nested columns"):
        write_sample("nested", 10, tmp_path / "n.csv")
    assert list(tmp_path.iterdir()) == []


# -- samples ------------------------------------------------------------------------------------------

EXPECTED = {  # kind: (time column, nested)
    "tabular": ("updated_at", False),
    "time-series": ("ts", False),
    "text": ("created_at", False),
    "nested": ("created_at", True),
}


@pytest.mark.parametrize("kind", SAMPLE_KINDS)
def test_sample_profile(kind: str) -> None:
    dataset = sample_dataset(kind, 3_000, seed=1)
    profile = dataset.profile
    assert (profile.rows, profile.modality, profile.key_column, profile.format) == (3_000, kind, "id", "generated")
    assert (profile.time_column, profile.nested) == EXPECTED[kind]
    assert profile.arrow_bytes == sum(b.nbytes for b in dataset.batches())
    ids = dataset.to_table().column("id")
    assert pc.count_distinct(ids).as_py() == 3_000 and ids.null_count == 0
    assert json.dumps(profile.to_dict())  # serialisable for the run file


@pytest.mark.parametrize("kind", SAMPLE_KINDS)
def test_samples_are_deterministic_whatever_the_batch_size(kind: str) -> None:
    rows = 70_000  # more than one generation chunk
    a = sample_dataset(kind, rows, seed=7).to_table()
    b = pa.Table.from_batches(sample_dataset(kind, rows, seed=7, batch_rows=999).batches())
    assert a.equals(b)
    assert max(len(x) for x in sample_dataset(kind, rows, seed=7, batch_rows=999).batches()) == 999
    assert not a.equals(sample_dataset(kind, rows, seed=8).to_table())


def test_tabular_sample_has_nulls_unicode_and_no_empty_strings() -> None:
    table = sample_dataset("tabular", 5_000).to_table()
    for column in ("quantity", "price", "name", "active", "signup_date"):
        assert 0.02 < table.column(column).null_count / 5_000 < 0.08
    names = table.column("name").drop_null()
    assert pc.min(pc.utf8_length(names)).as_py() > 0
    assert any(not s.isascii() for s in names.to_pylist())


@pytest.mark.parametrize(("kind", "extension"), [
    ("tabular", "csv"), ("tabular", "json"), ("time-series", "tsv"), ("text", "jsonl"),
    ("nested", "jsonl"), ("nested", "json"), ("nested", "parquet"), ("time-series", "arrow"),
])
def test_written_samples_load_back_with_the_same_profile(tmp_path: Path, kind: str, extension: str) -> None:
    path = tmp_path / f"sample.{extension}"
    assert write_sample(kind, 2_000, path, seed=3) == path
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    generated = sample_dataset(kind, 2_000, seed=3)
    loaded = load_dataset(path)
    assert loaded.profile.modality == kind
    assert loaded.profile.key_column == "id"
    assert loaded.profile.time_column == generated.profile.time_column
    original = generated.to_table()
    assert as_original(loaded.to_table(), original) == original.to_pylist()


def test_write_sample_replaces_atomically_and_refuses_missing_folder(tmp_path: Path) -> None:
    path = tmp_path / "s.parquet"
    path.write_bytes(b"old")
    with pytest.raises(UsageError, match="already exists; pass --force"):
        write_sample("tabular", 100, path)
    assert path.read_bytes() == b"old"
    write_sample("tabular", 100, path, force=True)
    assert pq.read_table(path).num_rows == 100
    with pytest.raises(UsageError, match="does not exist"):
        write_sample("tabular", 100, tmp_path / "nope" / "s.csv")
    assert [p.name for p in tmp_path.iterdir()] == ["s.parquet"]


def test_sample_rows_is_deterministic_and_draws_existing_rows() -> None:
    dataset = sample_dataset("tabular", 10_000)
    a = dataset.sample_rows(50, seed=4)
    assert a.equals(dataset.sample_rows(50, seed=4))
    assert not a.equals(dataset.sample_rows(50, seed=5))
    assert a.num_rows == 50 and pc.count_distinct(a.column("id")).as_py() == 50
    full = dataset.to_table()
    assert a.to_pylist() == full.take(a.column("id")).to_pylist()  # id == row number in this sample
    assert dataset.sample_rows(20_000).num_rows == 10_000
