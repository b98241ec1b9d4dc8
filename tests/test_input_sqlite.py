"""A SQLite database as input: one table is the dataset, chosen with --table when there are several;
the database is read through a read-only connection and never changes."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from storeadvise.bench.api import open_dataset
from storeadvise.bench.datasets import write_sample
from storeadvise.cli import cli
from storeadvise.errors import UsageError

FILE_BACKENDS = "csv,parquet,sqlite"


def _fingerprint(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def _database(path: Path, tables: dict[str, str]) -> Path:
    with sqlite3.connect(path) as con:
        for name, ddl in tables.items():
            con.execute(f'CREATE TABLE "{name}" ({ddl})')
        con.execute('INSERT INTO "first" VALUES (1, 2.5, \'a\', x\'00ff\')')
        con.execute('INSERT INTO "first" VALUES (2, NULL, \'b\', NULL)')
    con.close()
    return path


def test_a_sample_written_as_sqlite_reads_back_as_its_table(tmp_path: Path) -> None:
    path = write_sample("tabular", 2_000, tmp_path / "t.sqlite")
    dataset = open_dataset(path)
    table = dataset.to_table()
    assert dataset.profile.rows == table.num_rows == 2_000
    sample = open_dataset(sample="tabular", rows=2_000).to_table()
    assert table.column_names == sample.column_names
    for name in sample.column_names:  # numbers stay numbers, the rest is text as sqlite-utils stores it
        expected = sample.column(name)
        if pa.types.is_integer(expected.type) or pa.types.is_floating(expected.type):
            assert table.column(name).to_pylist() == expected.to_pylist(), name


def test_the_table_is_chosen_by_name_when_there_are_several(tmp_path: Path) -> None:
    path = _database(tmp_path / "two.db", {"first": "id INTEGER, x REAL, s TEXT, b BLOB", "second": "y INTEGER"})
    with pytest.raises(UsageError, match=r"holds 2 tables \(first, second\); pass --table NAME"):
        open_dataset(path)
    table = open_dataset(path, table="first").to_table()
    assert table.schema.types == [pa.int64(), pa.float64(), pa.string(), pa.binary()]
    assert table.to_pylist()[0] == {"id": 1, "x": 2.5, "s": "a", "b": b"\x00\xff"}
    with pytest.raises(UsageError, match="has no table 'third'; its tables are first, second"):
        open_dataset(path, table="third")


def test_a_value_that_does_not_fit_its_declared_type_widens_the_column_to_text(tmp_path: Path) -> None:
    path = _database(tmp_path / "mixed.db", {"first": "id INTEGER, x REAL, s TEXT, b BLOB"})
    with sqlite3.connect(path) as con:
        con.execute("INSERT INTO first VALUES ('three', 1.0, 'c', NULL)")  # SQLite keeps the word as TEXT
    con.close()
    table = open_dataset(path).to_table()
    assert table.schema.field("id").type == pa.string()
    assert table.column("id").to_pylist() == ["1", "2", "three"]


def test_table_applies_only_to_database_inputs(tmp_path: Path) -> None:
    path = write_sample("tabular", 100, tmp_path / "t.csv")
    with pytest.raises(UsageError, match=r"--table 'x': .* holds one table; --table applies to sqlite"):
        open_dataset(path, table="x")
    with pytest.raises(UsageError, match="--table 'x' describes a data file; none was given"):
        open_dataset(sample="tabular", rows=10, table="x")
    with pytest.raises(UsageError, match="--key 'id' describes a data file; none was given"):
        open_dataset(sample="tabular", rows=10, key="id")


def test_bench_on_a_database_verifies_every_backend_and_leaves_it_unchanged(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = _database(tmp_path / "two.db", {"first": "id INTEGER, x REAL, s TEXT, b BLOB", "second": "y INTEGER"})
    before = _fingerprint(path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        cli, ["bench", str(path), "--table", "first", "-b", FILE_BACKENDS, "--repeat", "1", "--warmup", "0",
              "--lookups", "2", "--no-save", "-f", "json"])
    assert result.exit_code == 0, result.stderr
    run = json.loads(result.stdout)
    assert {b["backend"]: b["status"] for b in run["backends"]} == dict.fromkeys(FILE_BACKENDS.split(","), "ok")
    assert run["dataset"]["rows"] == 2
    assert _fingerprint(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two.db"]  # no journal or WAL files left beside it
