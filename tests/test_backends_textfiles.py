"""Read paths of the text and Arrow file backends: CSV line-break note, polars projections, DuckDB for jsonl."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from storeadvise.backends import backend_class
from storeadvise.backends.base import BackendSettings, Predicate


def make(name: str, scratch: Path, **options: object):
    backend = backend_class(name)(BackendSettings(run_id="t1", scratch_dir=scratch, key_column="id", options=options))
    backend.open()
    return backend


def table(texts: list[str | None], start: int = 0) -> pa.Table:
    return pa.table({"id": pa.array(range(start, start + len(texts)), pa.int64()),
                     "n": pa.array([float(i) for i in range(len(texts))]),
                     "text": pa.array(texts, pa.string())})


@pytest.mark.parametrize("gzip", [False, True])
def test_csv_notes_line_breaks_on_write_and_on_append(scratch: Path, gzip: bool) -> None:
    backend = make("csv", scratch, csv_gzip=gzip)
    first = table(["a", "", None])
    backend.write(first.schema, first.to_batches())
    assert backend.line_breaks is False
    assert backend.read().equals(first)
    backend.append(table(["x\ny", "p\rq", ""], start=3).to_batches()[0])
    assert backend.line_breaks is True
    fresh = make("csv", scratch, csv_gzip=gzip)  # a new object reads the note from the sidecar
    assert fresh.line_breaks is True
    assert fresh.schema.metadata is None
    got = fresh.read()
    assert got["text"].to_pylist() == ["a", "", None, "x\ny", "p\rq", ""]
    assert fresh.read(columns=["n", "id"])["id"].to_pylist() == list(range(6))
    backend.write(first.schema, first.to_batches())  # a rewrite without line breaks drops the note
    assert make("csv", scratch, csv_gzip=gzip).line_breaks is False


@pytest.mark.parametrize("text", ["x\ny", "xy"], ids=["line-break (polars)", "plain (pyarrow)"])
def test_csv_numeric_projection_keeps_nulls_and_order(scratch: Path, text: str) -> None:
    backend = make("csv", scratch)
    data = pa.table({"id": pa.array([3, None, 1], pa.int64()), "f": pa.array([0.1, float("inf"), None]),
                     "b": pa.array([True, None, False]), "s": pa.array([text, "", None])})
    backend.write(data.schema, data.to_batches())
    assert backend.line_breaks is ("\n" in text)
    got = backend.read(columns=["f", "id", "b"])
    assert got.equals(data.select(["f", "id", "b"]))
    assert backend.read(columns=["f"], where=Predicate("id", ">", 1)).equals(data.select(["f"]).slice(0, 1))


def test_csv_projections_and_filters_of_a_wide_file_go_through_polars_and_keep_every_value(
    scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storeadvise.backends import csv as csv_backend

    width = csv_backend.POLARS_WIDE_COLUMNS
    strings = pa.array(["a,b", "", None, 'q"r'], pa.string())  # quoted, empty (not null), null
    columns = {"id": pa.array([4, 2, None, 1], pa.int64())}
    columns |= {f"c{i}": strings if i % 2 else pa.array([i * 0.5, None, 1e300, -0.0]) for i in range(width)}
    data = pa.table(columns)
    backend = make("csv", scratch)
    backend.write(data.schema, data.to_batches())
    projected = ["c1", "id", "c2"]
    through_polars = []
    real_read = csv_backend._polars_read
    monkeypatch.setattr(csv_backend, "_polars_read", lambda *a: through_polars.append(a) or real_read(*a))

    assert backend.read(columns=projected).equals(data.select(projected))
    assert backend.read(columns=["c2"], where=Predicate("c1", "==", "")).equals(data.select(["c2"]).slice(1, 1))
    assert backend.read(where=Predicate("id", ">", 1)).equals(data.slice(0, 2))
    assert backend.lookup(1).equals(data.slice(3, 1))
    assert len(through_polars) == 4
    assert backend.read().equals(data)  # a whole read stays with pyarrow
    # a narrow file of the same columns goes through pyarrow, and gives the same tables
    narrow = make("csv", scratch / "narrow")
    narrow.write(data.select(projected).schema, data.select(projected).to_batches())
    assert narrow.read(columns=projected).equals(data.select(projected))
    assert narrow.read(where=Predicate("id", ">", 1)).equals(data.select(projected).slice(0, 2))
    assert len(through_polars) == 4


@pytest.mark.parametrize("name", ["csv", "jsonl", "arrow"])
def test_filter_with_a_value_needing_an_implicit_cast(scratch: Path, name: str) -> None:
    backend = make(name, scratch)
    data = table(["a", "b", "c"])
    backend.write(data.schema, data.to_batches())
    assert backend.read(where=Predicate("n", ">", 0)).column("id").to_pylist() == [1, 2]
    assert backend.read(columns=["text"], where=Predicate("id", "<=", 1.5)).column("text").to_pylist() == ["a", "b"]


def test_jsonl_reads_odd_column_names_and_decimal_filters(scratch: Path) -> None:
    import decimal

    backend = make("jsonl", scratch)
    data = pa.table({"it's \"odd\"": pa.array([1, 2, 3], pa.int64()),
                     "amount": pa.array([decimal.Decimal("1.50"), None, decimal.Decimal("3.25")], pa.decimal128(6, 2)),
                     "ns": pa.array([1, 2, 3], pa.timestamp("ns", tz="UTC"))})
    backend.write(data.schema, data.to_batches())
    assert backend.read().equals(data)
    got = backend.read(columns=["it's \"odd\""], where=Predicate("amount", ">", decimal.Decimal("2")))
    assert got.column(0).to_pylist() == [3]


def test_arrow_parts_follow_appends_and_clear(scratch: Path) -> None:
    backend = make("arrow", scratch)
    data = table(["a", "b"])
    backend.write(data.schema, data.to_batches())
    backend.append(table(["c"], start=2).to_batches()[0])
    assert backend.read()["id"].to_pylist() == [0, 1, 2]
    backend.clear()
    backend.write(data.schema, data.to_batches())
    assert len(backend.parts()) == 1 and backend.read().num_rows == 2
