"""What the contract test cannot see: the format-specific behaviour of the file and embedded-database
backends (options, on-disk layout, indexes, type storage, error messages)."""

from __future__ import annotations

import gzip
import sqlite3
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from storeadvise.backends import backend_class
from storeadvise.backends.base import Backend, BackendSettings, Predicate
from storeadvise.errors import UsageError

sys.path.insert(0, str(Path(__file__).parent))
from test_backends_contract import mixed_table


def make(name: str, scratch: Path, key: str | None = "id", **options: object) -> Backend:
    backend = backend_class(name)(BackendSettings(run_id="t1", scratch_dir=scratch, key_column=key, options=options))
    backend.open()
    return backend


def test_csv_append_does_not_repeat_the_header(scratch: Path) -> None:
    backend = make("csv", scratch)
    table = mixed_table(10).select(["id", "name"])
    backend.write(table.schema, table.to_batches())
    backend.append(mixed_table(3, start=10).select(["id", "name"]).to_batches()[0])
    text = (backend.location / "part-00000.csv").read_text(encoding="utf-8")
    assert text.count("id,name") == 1
    assert backend.read()["id"].to_pylist() == list(range(13))


@pytest.mark.parametrize("name", ["csv", "jsonl"])
def test_gzip_option_compresses_and_round_trips_with_append(name: str, scratch: Path) -> None:
    backend = make(name, scratch, **{f"{name}_gzip": True})
    table = mixed_table(200)
    backend.write(table.schema, table.to_batches(max_chunksize=64))
    backend.append(mixed_table(5, start=200).to_batches()[0])
    (part,) = backend.location.glob("part-*")
    assert part.name.endswith(".gz")
    with gzip.open(part, "rb") as fh:  # a valid (multi-member) gzip file
        assert fh.read()
    got = backend.read()
    assert got["id"].to_pylist() == list(range(205))
    assert got["ts_paris"].equals(pa.concat_tables([table, mixed_table(5, start=200)])["ts_paris"])


def test_parquet_options_reach_the_file(scratch: Path) -> None:
    import pyarrow.parquet as pq

    backend = make("parquet", scratch, parquet_compression="zstd", parquet_row_group_rows=100)
    table = mixed_table(250)
    backend.write(table.schema, table.to_batches(max_chunksize=64))
    meta = pq.ParquetFile(backend.location / "part-00000.parquet").metadata
    assert meta.num_row_groups == 3
    assert meta.row_group(0).num_rows == 100
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_parquet_rejects_an_unknown_compression(scratch: Path) -> None:
    backend = make("parquet", scratch, parquet_compression="zip")
    table = mixed_table(5)
    with pytest.raises(UsageError, match="parquet_compression"):
        backend.write(table.schema, table.to_batches())


@pytest.mark.parametrize("name", ["parquet", "arrow"])
def test_append_writes_another_file_that_reads_see(name: str, scratch: Path) -> None:
    backend = make(name, scratch)
    table = mixed_table(50)
    backend.write(table.schema, table.to_batches())
    backend.append(mixed_table(4, start=50).to_batches()[0])
    assert len(list(backend.location.glob("part-*"))) == 2
    assert backend.read(where=Predicate("id", ">=", 48))["id"].to_pylist() == [48, 49, 50, 51, 52, 53]


def test_sqlite_layout_types_and_index(scratch: Path) -> None:
    backend = make("sqlite", scratch)
    table = mixed_table(20)
    backend.write(table.schema, table.to_batches())
    con = sqlite3.connect(backend.location / "data.sqlite")
    try:
        declared = {row[1]: row[2] for row in con.execute("PRAGMA table_info(data)")}
        assert declared["flag"] == "INTEGER"
        assert declared["ts"] == "INTEGER"
        assert declared["tags"] == "TEXT"
        assert declared["blob"] == "BLOB"
        assert con.execute("SELECT flag, tags FROM data WHERE id = 2").fetchone() == (1, '["a","é"]')
        plan = " ".join(str(r) for r in con.execute("EXPLAIN QUERY PLAN SELECT * FROM data WHERE id = 5"))
        assert "USING INDEX" in plan
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        con.close()


def test_sqlite_refuses_range_filters_on_decimal_text(scratch: Path) -> None:
    from storeadvise.errors import UnsupportedOperation

    backend = make("sqlite", scratch)
    table = mixed_table(20)
    backend.write(table.schema, table.to_batches())
    with pytest.raises(UnsupportedOperation):
        backend.read(where=Predicate("amount", ">", 1))
    amount = table["amount"][3].as_py()
    assert backend.read(where=Predicate("amount", "==", amount))["id"].to_pylist() == [3]


def test_duckdb_builds_an_index_on_the_key(scratch: Path) -> None:
    backend = make("duckdb", scratch)
    table = mixed_table(20)
    backend.write(table.schema, table.to_batches())
    indexes = backend._connect().sql("SELECT table_name, expressions FROM duckdb_indexes()").fetchall()
    assert ("data", "[id]") in indexes


@pytest.mark.parametrize(
    ("name", "lossy"),
    [
        ("csv", {"blob", "tags", "point"}),
        ("jsonl", {"blob"}),
        ("sqlite", {"tags", "point"}),
        ("parquet", set()),
        ("arrow", set()),
        ("duckdb", set()),
    ],
)
def test_documented_loss_matches_what_comes_back(name: str, lossy: set[str], scratch: Path) -> None:
    backend = make(name, scratch)
    table = mixed_table(30)
    backend.write(table.schema, table.to_batches())
    got = backend.read()
    changed = {f.name for f in table.schema if got.schema.field(f.name).type != f.type}
    assert changed == lossy
    # the losses that change a column's type; others change only some values (NaN as null) and keep it
    retyped = {f.name for f in table.schema if (loss := backend.type_loss(f))
               and not loss.transform(pa.array([], f.type)).type.equals(f.type)}
    assert retyped == lossy


def test_an_unknown_comparison_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown comparison '=~'"):
        Predicate("id", "=~", 1)


def test_sqlite_size_at_rest_does_not_count_the_write_ahead_log(scratch: Path) -> None:
    backend = make("sqlite", scratch)
    table = mixed_table(20_000)
    backend.write(table.schema, table.to_batches())
    size = backend.size_bytes()
    database = backend.path.stat().st_size
    wal = backend.path.with_name(backend.path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    assert size >= database and size - database < 64_000  # the saved schema file and nothing like a second copy
    backend.cleanup()
