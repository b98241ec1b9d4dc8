"""The input format registry: every name, extension, help text and message comes from its entries,
and a format stored as a folder slots in as one entry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from storeadvise.bench.datasets import load_dataset, write_sample
from storeadvise.bench.formats import (
    REGISTRY,
    InputFormat,
    format_named,
    format_of_file,
    writable_extensions,
    writable_formats,
)
from storeadvise.bench.formats.source import Source
from storeadvise.cli import cli
from storeadvise.errors import UsageError


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_word_of_a_format_selects_that_format(name: str) -> None:
    entry = REGISTRY[name]
    for word in entry.names():
        assert format_named(word) is entry, word
        assert format_named(f" .{word.upper()} ") is entry, word  # the way users type them
    for extension in entry.extensions:
        assert format_of_file(Path(f"data{extension.upper()}")) is entry, extension


def test_the_help_lists_every_registered_format() -> None:
    bench_help = " ".join(CliRunner().invoke(cli, ["bench", "--help"]).output.split())
    assert f"extension does not say: {', '.join(REGISTRY)}." in bench_help
    sample_help = " ".join(CliRunner().invoke(cli, ["sample", "--help"]).output.split())
    assert f"the format ({' '.join(writable_extensions())})" in sample_help
    assert f"does not say: {', '.join(writable_formats())}." in sample_help


@pytest.mark.parametrize(("name", "content", "read_as"), [
    ("records.jsonl", b'[{"a": 1}, {"a": 2}]', "json"),
    ("records.json", b'{"a": 1}\n{"a": 2}\n', "jsonl"),
])
def test_json_content_decides_over_the_extension(tmp_path: Path, name: str, content: bytes, read_as: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    dataset = load_dataset(path)
    assert dataset.profile.format == read_as
    assert dataset.to_table().to_pylist() == [{"a": 1}, {"a": 2}]


def test_writing_names_the_option_and_the_formats_that_hold_nested_columns(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"cannot tell the format from extension '\.xyz'; pass --format"):
        write_sample("tabular", 10, tmp_path / "out.xyz")
    with pytest.raises(UsageError, match=r"TSV cannot hold nested columns .*write .parquet, .jsonl, .json or .arrow"):
        write_sample("nested", 10, tmp_path / "out.tsv")
    assert list(tmp_path.iterdir()) == []


# -- a format stored as a folder -------------------------------------------------------------------------

class ParquetFolderSource(Source):
    """A folder of Parquet files read as one table (a partitioned dataset without partition columns)."""

    def __init__(self, path: Path, name: str) -> None:
        super().__init__(path, name)
        self.schema = self._dataset().schema

    def _dataset(self) -> ds.Dataset:
        return ds.dataset(sorted(str(p) for p in self.path.glob("*.parquet")), format="parquet")

    def stream(self) -> Iterator[pa.RecordBatch]:
        yield from self._dataset().to_batches()

    def bytes_at_rest(self) -> int:
        return sum(p.stat().st_size for p in self.path.glob("*.parquet"))


def holds_parquet_files(path: Path) -> bool:
    return any(path.glob("*.parquet"))


@pytest.fixture
def folder_format(monkeypatch: pytest.MonkeyPatch) -> InputFormat:
    entry = InputFormat("parquet-folder", f"{__name__}:ParquetFolderSource", aliases=("pqdir",),
                        folder=f"{__name__}:holds_parquet_files")
    monkeypatch.setitem(REGISTRY, entry.name, entry)
    return entry


def _parquet_folder(path: Path) -> Path:
    path.mkdir()
    pq.write_table(pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"]}), path / "part-0.parquet")
    pq.write_table(pa.table({"id": [4, 5], "v": ["d", None]}), path / "part-1.parquet")
    return path


def test_a_folder_format_claims_its_folders(tmp_path: Path, folder_format: InputFormat) -> None:
    folder = _parquet_folder(tmp_path / "table")
    for chosen in (None, "pqdir"):
        dataset = load_dataset(folder, input_format=chosen)
        assert dataset.profile.format == "parquet-folder"
        assert dataset.to_table().column("id").to_pylist() == [1, 2, 3, 4, 5]
        assert dataset.profile.key_column == "id"
        assert dataset.profile.file_bytes == sum(p.stat().st_size for p in folder.iterdir())


def test_a_folder_no_format_claims_is_refused(tmp_path: Path, folder_format: InputFormat) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "state.bin").write_text(json.dumps({"a": 1}))  # no table's, no media item's
    with pytest.raises(UsageError, match=r"is a folder that no input format recognises; .* or of a folder of "
                                         r"images, video, audio or text documents \(format media\); or of format "
                                         r"parquet-folder"):
        load_dataset(tmp_path / "notes")
    with pytest.raises(UsageError, match="is a folder, not a file"):
        load_dataset(_parquet_folder(tmp_path / "table"), input_format="csv")


def test_a_format_without_a_writer_is_refused_for_samples(tmp_path: Path, folder_format: InputFormat) -> None:
    with pytest.raises(UsageError, match="cannot be written as parquet-folder; use one of csv, tsv, parquet, "
                                         "jsonl, json, arrow"):
        write_sample("tabular", 10, tmp_path / "out", output_format="pqdir")
    assert list(tmp_path.iterdir()) == []
