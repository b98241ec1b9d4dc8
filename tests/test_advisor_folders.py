"""``recommend --data DIR``: a folder of media or text files is counted, and the counts feed the advice."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import storeadvise
from storeadvise.advisor import folders
from storeadvise.advisor.folders import folder_inputs
from storeadvise.cli import cli
from storeadvise.errors import DataError


def _files(folder: Path, names_and_sizes: dict[str, int]) -> Path:
    for name, size in names_and_sizes.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\0" * size)
    return folder


def test_a_folder_of_images_gives_the_modality_the_count_and_the_median_item_size(tmp_path: Path):
    _files(tmp_path, {**{f"train/{i}.jpg": 100_000 + i for i in range(9)}, "val/a.PNG": 20_000,
                      "labels.csv": 50, ".DS_Store": 10, "clip.wav": 3_000_000})
    inferred, (note,) = folder_inputs(tmp_path)
    assert inferred == {"modality": "images", "items": 10, "item_size": 100_003,
                        "size": sum(100_000 + i for i in range(9)) + 20_000}
    assert "10 images files (jpg 9, png 1)" in note and "1 audio files" in note and "1 other files ignored" in note


def test_a_folder_of_text_documents_is_rows_of_text(tmp_path: Path):
    _files(tmp_path, {f"doc{i}.txt": 2_000 for i in range(5)})
    inferred, _ = folder_inputs(tmp_path)
    assert inferred == {"modality": "text", "rows": 5, "size": 10_000}


def test_the_counts_change_the_advice(tmp_path: Path):
    _files(tmp_path, {f"{i}.jpg": 15_000 for i in range(20)})
    advice = storeadvise.recommend(purpose="online", data=tmp_path)
    assert advice.inputs.item_size == 15_000 and advice.inputs.origins["items"] == f"inferred from {tmp_path.name}"
    assert advice.best.option == "sqlite", "small items: SQLite blobs beat separate files"
    assert not advice.measure_next, "a folder of media is not a table the harness can benchmark"


def test_links_are_not_followed_and_a_walk_stops_at_its_limit(tmp_path: Path, monkeypatch):
    _files(tmp_path, {f"{i}.mp4": 1_000 for i in range(5)})
    os.symlink(tmp_path, tmp_path / "loop")
    monkeypatch.setattr(folders, "MAX_FILES", 3)
    inferred, (note,) = folder_inputs(tmp_path)
    assert inferred["modality"] == "video" and inferred["items"] == 3
    assert "Only the first 3 files were looked at" in note


def test_a_folder_without_known_files_is_a_data_error(tmp_path: Path):
    _files(tmp_path, {"notes.bin": 10})
    with pytest.raises(DataError, match="holds no images, video, audio, text files"):
        folder_inputs(tmp_path)
    result = CliRunner().invoke(cli, ["recommend", "--data", str(tmp_path), "-p", "batch"])
    assert result.exit_code == 3 and "Traceback" not in result.output
    assert result.output.count("\n") == 1


def test_the_cli_profiles_a_folder(tmp_path: Path):
    _files(tmp_path, {f"{i}.flac": 30_000_000 for i in range(3)})
    result = CliRunner().invoke(cli, ["recommend", "--data", str(tmp_path), "-p", "sharing", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["inputs"]["modality"]["value"] == "audio" and data["inputs"]["item_size"]["value"] == 30_000_000
    assert data["recommendations"][0]["option"] == "objectstore"
