"""Scratch folders: marked with their owner, never swept while it runs, swept once it is gone, and
nothing without our marker is ever touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from storeadvise import scratch


def _folder_of_a_finished_process(root: Path) -> Path:
    """A scratch folder created by another process that has since exited (a real, dead owner)."""
    code = "import sys; from storeadvise import scratch; print(scratch.create('x', sys.argv[1]))"
    out = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True, check=True)
    folder = Path(out.stdout.strip())
    (folder / "data.bin").write_bytes(b"0" * 1000)
    return folder


def test_a_new_folder_is_marked_with_this_process_and_survives_a_sweep(tmp_path: Path) -> None:
    folder = scratch.create("run1", tmp_path)
    assert folder.name.startswith("storeadvise-run1-") and folder.parent == tmp_path
    owner = scratch.owner_of(folder)
    assert owner["pid"] == os.getpid() and owner["started"] == scratch.process_start(os.getpid())
    assert scratch.sweep(tmp_path) == []
    assert folder.is_dir()


def test_a_folder_whose_owner_is_gone_is_swept(tmp_path: Path) -> None:
    folder = _folder_of_a_finished_process(tmp_path)
    assert scratch.owner_of(folder) is not None
    assert scratch.sweep(tmp_path) == [folder]
    assert not folder.exists()


def test_a_reused_process_id_is_not_taken_for_the_owner(tmp_path: Path) -> None:
    folder = scratch.create("reused", tmp_path)
    marker = folder / scratch.MARKER
    owner = json.loads(marker.read_text())
    # This process's id, but a process that started at another time: the owner is gone.
    marker.write_text(json.dumps({**owner, "started": str(int(owner["started"]) - 1)}))
    assert scratch.sweep(tmp_path) == [folder]


def test_a_marker_from_an_earlier_boot_means_the_owner_is_gone(tmp_path: Path) -> None:
    folder = scratch.create("boot", tmp_path)
    marker = folder / scratch.MARKER
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "boot": "an-earlier-boot"}))
    assert scratch.sweep(tmp_path) == [folder]


def test_nothing_without_our_marker_is_ever_touched(tmp_path: Path) -> None:
    dead = _folder_of_a_finished_process(tmp_path)
    marker = (dead / scratch.MARKER).read_text()
    unmarked = tmp_path / "storeadvise-unmarked"
    unmarked.mkdir()
    garbled = tmp_path / "storeadvise-garbled"
    garbled.mkdir()
    (garbled / scratch.MARKER).write_text("{not json")
    not_ours = tmp_path / "someone-elses"  # a dead owner's marker, but not our name
    not_ours.mkdir()
    (not_ours / scratch.MARKER).write_text(marker)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "storeadvise-target"  # a marked folder reached only through a link
    target.mkdir()
    (target / scratch.MARKER).write_text(marker)
    link = tmp_path / "storeadvise-link"
    link.symlink_to(target)
    a_file = tmp_path / "storeadvise-file"
    a_file.write_text(marker)

    assert scratch.sweep(tmp_path) == [dead]
    for kept in (unmarked, garbled, not_ours, target, link, a_file):
        assert kept.exists(), kept
