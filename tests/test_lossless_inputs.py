"""Nothing the reader infers changes a value unseen: text that a number would change stays text, what
is kept but changed in form is said in a note, and ``--dtype`` / ``--schema`` override the inference."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from storeadvise.bench.api import open_dataset
from storeadvise.bench.formats.dtypes import parse_type
from storeadvise.cli import cli
from storeadvise.errors import DataError, UsageError


def _csv(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _read(path: Path, **kwargs: object) -> tuple[pa.Schema, list[dict], list[str]]:
    dataset = open_dataset(path, **kwargs)
    return dataset.schema, dataset.to_table().to_pylist(), dataset.profile.notes


def test_zip_codes_keep_their_leading_zeros(tmp_path: Path) -> None:
    schema, rows, notes = _read(_csv(tmp_path, "id,zip\n1,98765\n2,01234\n3,00501\n"))
    assert schema.field("zip").type == pa.string()
    assert [r["zip"] for r in rows] == ["98765", "01234", "00501"]
    assert any("'zip'" in n and "'01234'" in n and "leading zeros" in n for n in notes), notes


def test_zero_and_fractions_below_one_are_still_numbers(tmp_path: Path) -> None:
    schema, rows, notes = _read(_csv(tmp_path, "id,n,x\n1,0,0.5\n2,10,-0.25\n3,7,1.50\n"))
    assert schema.field("n").type == pa.int64() and schema.field("x").type == pa.float64()
    assert [r["x"] for r in rows] == [0.5, -0.25, 1.5]  # "1.50" is 1.5: the trailing zero is form, not value
    assert notes == []


def test_integers_written_with_a_plus_sign_stay_text(tmp_path: Path) -> None:
    schema, rows, notes = _read(_csv(tmp_path, "id,phone\n1,+4412345\n2,+4412346\n"))
    assert schema.field("phone").type == pa.string()
    assert [r["phone"] for r in rows] == ["+4412345", "+4412346"]
    assert any("'+4412345'" in n for n in notes), notes


def test_integers_beyond_float_precision_keep_every_digit(tmp_path: Path) -> None:
    big = 2**53 + 1
    schema, rows, _ = _read(_csv(tmp_path, f"id,a,b\n1,{big},{2**64 - 1}\n2,3,4\n"))
    assert schema.field("a").type == pa.int64() and schema.field("b").type == pa.uint64()
    assert rows[0]["a"] == big and rows[0]["b"] == 2**64 - 1


def test_missing_value_spellings_are_text_in_text_columns_and_missing_elsewhere(tmp_path: Path) -> None:
    schema, rows, notes = _read(_csv(tmp_path, "id,country,n,f\n1,NA,NA,NaN\n2,FR,2,1.5\n3,,null,\n"))
    assert [r["country"] for r in rows] == ["NA", "FR", None]  # Namibia is not a missing value
    assert schema.field("n").type == pa.int64() and [r["n"] for r in rows] == [None, 2, None]
    assert math.isnan(rows[0]["f"]) and rows[2]["f"] is None  # NaN is a float value, not a missing one
    assert any("'country'" in n and "'NA'" in n and "kept as text" in n for n in notes), notes


def test_text_keeps_its_spaces_and_booleans_their_values(tmp_path: Path) -> None:
    schema, rows, _ = _read(_csv(tmp_path, 'id,s,b\n1," padded ",TRUE\n2,x ,false\n'))
    assert [r["s"] for r in rows] == [" padded ", "x "]
    assert schema.field("b").type == pa.bool_() and [r["b"] for r in rows] == [True, False]


def test_more_digits_than_float64_keeps_is_said(tmp_path: Path) -> None:
    schema, _, notes = _read(_csv(tmp_path, "id,x\n1,0.12345678901234567891\n2,1.5\n"))
    assert schema.field("x").type == pa.float64()
    assert any("'x'" in n and "0.12345678901234567891" in n and "rounds" in n for n in notes), notes


@pytest.mark.parametrize("name", ["data.csv", "data.jsonl"])
def test_an_integer_beyond_float_precision_beside_fractions_is_said(tmp_path: Path, name: str) -> None:
    big = 2**53 + 1
    if name.endswith(".csv"):
        path = _csv(tmp_path, f"id,a\n1,{big}\n2,1.5\n", name)
    else:
        path = _csv(tmp_path, f'{{"id": 1, "a": {big}}}\n{{"id": 2, "a": 1.5}}\n', name)
    schema, rows, notes = _read(path)
    assert schema.field("a").type == pa.float64()
    assert any("'a'" in n and f"'{big}'" in n and "rounds" in n for n in notes), notes
    _, rows, notes = _read(path, dtype=["a=string"])  # the digits as written, not a float64's
    assert [r["a"] for r in rows] == [str(big), "1.5"] and notes == []


@pytest.mark.parametrize("name", ["data.csv", "data.jsonl"])
def test_zone_offsets_turned_into_utc_are_said(tmp_path: Path, name: str) -> None:
    values = ["2024-01-01T10:00:00+02:00", "2024-01-01T10:00:00Z"]
    if name.endswith(".csv"):
        path = _csv(tmp_path, "id,ts\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values)), name)
    else:
        path = _csv(tmp_path, "".join(json.dumps({"id": i, "ts": v}) + "\n" for i, v in enumerate(values)), name)
    schema, rows, notes = _read(path)
    assert schema.field("ts").type.tz == "UTC"
    assert rows[0]["ts"].hour == 8  # the same instant
    assert any("'ts'" in n and "+02:00" in n and "offsets are not kept" in n for n in notes), notes


def test_utc_only_timestamps_need_no_note(tmp_path: Path) -> None:
    _, _, notes = _read(_csv(tmp_path, "id,ts\n1,2024-01-01T10:00:00Z\n2,2024-01-01T11:00:00+00:00\n"))
    assert notes == []


# -- --dtype and --schema ---------------------------------------------------------------------------

def test_dtype_reads_the_columns_in_the_given_types(tmp_path: Path) -> None:
    path = _csv(tmp_path, "id,zip,price,ts\n1,01234,1.50,2024-01-01 10:00:00\n2,98765,2.25,2024-01-02 00:00:00\n")
    schema, rows, notes = _read(path, dtype=["zip=int", "price=decimal128(10, 2)", "ts=string", "id=int32"])
    assert schema.field("zip").type == pa.int64() and rows[0]["zip"] == 1234  # asked for: no note
    assert str(rows[0]["price"]) == "1.50"
    assert rows[0]["ts"] == "2024-01-01 10:00:00"
    assert schema.field("id").type == pa.int32()
    assert notes == []


def test_dtype_on_json_parses_the_text(tmp_path: Path) -> None:
    path = _csv(tmp_path, '{"id": 1, "ts": "2024-01-01T10:00:00.123456789", "n": 3}\n', "data.jsonl")
    schema, rows, _ = _read(path, dtype={"ts": "timestamp[ns]", "n": "float"})
    assert schema.field("ts").type == pa.timestamp("ns") and rows[0]["ts"].nanosecond == 789
    assert schema.field("n").type == pa.float64() and rows[0]["n"] == 3.0


@pytest.mark.parametrize("name", ["data.csv", "data.jsonl", "data.parquet"])
def test_a_type_the_data_cannot_take_names_column_type_and_value(tmp_path: Path, name: str) -> None:
    table = pa.table({"id": [1, 2, 3], "code": ["12", "x7", "13"]})
    path = tmp_path / name
    if name.endswith(".parquet"):
        pq.write_table(table, path)
    elif name.endswith(".jsonl"):
        path.write_text("".join(json.dumps(r) + "\n" for r in table.to_pylist()))
    else:
        path.write_text("id,code\n1,12\n2,x7\n3,13\n")
    with pytest.raises(DataError) as caught:
        open_dataset(path, dtype="code=int")
    message = str(caught.value)
    assert "'code'" in message and "int64" in message and "'x7'" in message and "\n" not in message


def test_schema_file_json_and_parquet(tmp_path: Path) -> None:
    path = _csv(tmp_path, "id,zip,n\n1,12345,5\n2,98765,6\n")
    types = tmp_path / "types.json"
    types.write_text(json.dumps({"zip": "string", "n": "float32"}))
    schema, rows, _ = _read(path, schema=types)
    assert schema.field("zip").type == pa.string() and schema.field("n").type == pa.float32()
    assert rows[0]["zip"] == "12345"
    stored = tmp_path / "schema.parquet"
    pq.write_table(pa.table({"id": pa.array([], pa.int16()), "zip": pa.array([], pa.string()),
                             "n": pa.array([], pa.int8())}), stored)
    schema, _, _ = _read(path, schema=stored, dtype=["n=int64"])  # --dtype wins over the schema file
    assert [str(f.type) for f in schema] == ["int16", "string", "int64"]


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"dtype": "nope=int"}, "'nope', which the data does not have"),
    ({"dtype": "zip=integr"}, "unknown type 'integr'"),
    ({"dtype": "zip"}, "expected COLUMN=TYPE"),
])
def test_dtype_mistakes_are_usage_errors(tmp_path: Path, kwargs: dict, needle: str) -> None:
    path = _csv(tmp_path, "id,zip\n1,01234\n")
    with pytest.raises(UsageError, match=needle):
        open_dataset(path, **kwargs)


def test_friendly_and_arrow_type_names() -> None:
    assert parse_type("float") == pa.float64()  # as in pandas; Arrow's own "float" is float32
    assert parse_type("float32") == pa.float32()
    assert parse_type("timestamp[ms, tz=Europe/Paris]") == pa.timestamp("ms", tz="Europe/Paris")
    assert parse_type("decimal(12,2)") == pa.decimal128(12, 2)
    assert parse_type("date") == pa.date32()


def test_dtype_without_a_data_file_is_refused() -> None:
    with pytest.raises(UsageError, match="--dtype"):
        open_dataset(sample="tabular", rows=10, dtype=["id=string"])


def test_cli_dtype_on_bench_and_recommend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = _csv(tmp_path, "id,zip\n1,01234\n2,x\n")
    bad = CliRunner().invoke(cli, ["bench", str(path), "--dtype", "zip=int", "-b", "csv", "--no-save"])
    assert bad.exit_code == 3 and "'zip'" in bad.output and "'x'" in bad.output
    assert "Traceback" not in bad.output
    advice = CliRunner().invoke(cli, ["recommend", "--data", str(path), "-p", "online", "--dtype", "zip=date",
                                      "--format", "json"])
    assert advice.exit_code == 3 and "'zip'" in advice.output
    refused = CliRunner().invoke(cli, ["recommend", "-m", "tabular", "-p", "online", "--dtype", "zip=int"])
    assert refused.exit_code == 2 and "--data" in refused.output


# -- the inferred types in the table's header ----------------------------------------------------------

def _header_lines(columns: list[dict]) -> list[tuple[str, str]]:
    from storeadvise.bench.results import Run
    from storeadvise.bench.table import build_report

    run = Run(run_id="r", started_at="", finished_at="", environment={}, settings={}, backends=[],
              dataset={"name": "d.csv", "rows": 3, "columns": columns})
    return build_report(run).header


def test_the_header_lists_each_column_and_its_type_when_they_fit_one_line() -> None:
    header = dict(_header_lines([{"name": "id", "type": "int64"}, {"name": "zip", "type": "string"}]))
    assert header["columns"] == "id int64, zip string"


def test_a_wide_table_gets_counts_per_type() -> None:
    columns = [{"name": f"measurement_{i}", "type": "double"} for i in range(12)]
    columns += [{"name": f"label_{i}", "type": "string"} for i in range(5)] + [{"name": "id", "type": "int64"}]
    line = dict(_header_lines(columns))["columns"]
    assert line.startswith("18 columns: 12 double, 5 string, 1 int64;") and len(line) < 120


def test_a_run_on_a_file_shows_its_types_and_notes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = _csv(tmp_path, "id,zip\n1,01234\n2,98765\n")
    result = CliRunner().invoke(cli, ["bench", str(path), "-b", "parquet", "--ops", "write,read", "--repeat", "1",
                                      "--no-save", "--format", "markdown"])
    assert result.exit_code == 0, result.output
    assert "id int64, zip string" in result.output
    assert "'01234' have leading zeros" in result.output


def test_recommend_benchmarks_the_file_in_the_types_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from storeadvise import recommend
    from storeadvise.bench.results import load_run

    monkeypatch.chdir(tmp_path)
    path = _csv(tmp_path, "id,zip\n1,01234\n2,98765\n")
    advice = recommend(data=path, purpose="exploration", bench=True, bench_backends=["parquet"],
                       dtype=["zip=int"])
    run = load_run(tmp_path / "results" / f"{advice.evidence.run_id}.json")
    assert {c["name"]: c["type"] for c in run.dataset["columns"]}["zip"] == "int64"
