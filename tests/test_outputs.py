"""Files the user names are written only when they may be: never over the input, never over an existing
file without --force, refused before any work when they cannot be written, replaced atomically, with
the user's umask."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import storeadvise
from storeadvise.cli import cli
from storeadvise.errors import UsageError
from storeadvise.outputs import prepare_output, write_atomically

QUICK = ["-b", "csv", "--ops", "write", "--repeat", "1", "--warmup", "0", "-f", "json"]


def _invoke(args: list[str]):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def _state(path: Path) -> tuple[str, int, int]:
    """What must not change about a user's file: its bytes, its mode and its modification time."""
    info = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), stat.S_IMODE(info.st_mode), info.st_mtime_ns


@pytest.fixture
def umask() -> Iterator[Callable[[int], int]]:
    """Set the process umask for one test and restore it afterwards."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield lambda mask: os.umask(mask)
    os.umask(saved)


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "data.csv"
    path.write_text("id,name\n1,a\n2,b\n3,c\n", encoding="utf-8")
    path.chmod(0o640)
    return path


def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in: permission bits do not stop root, so root gets
    sysfs, which refuses new files to everyone."""
    if os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    folder = Path("/sys")
    try:
        fd, name = tempfile.mkstemp(dir=folder)
    except OSError:
        return folder
    os.close(fd)
    os.unlink(name)
    pytest.skip("no folder here refuses new files to root")


@pytest.mark.parametrize("link", ["same path", "symlink", "hard link"])
def test_bench_never_writes_over_its_input_even_with_force(link: str, data: Path, tmp_path: Path) -> None:
    out = {"same path": data, "symlink": tmp_path / "link.json", "hard link": tmp_path / "hard.json"}[link]
    if link == "symlink":
        out.symlink_to(data)
    elif link == "hard link":
        os.link(data, out)
    before = _state(data)
    result = _invoke(["bench", str(data), "--out", str(out), "--force", *QUICK])
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "never writes over its input" in lines[0], result.stderr
    assert result.stdout == ""
    assert _state(data) == before
    assert not (tmp_path / "results").exists()


def test_an_existing_out_is_refused_before_any_backend_runs(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "old-run.json"
    out.write_text("{}\n", encoding="utf-8")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    before = _state(out)
    result = _invoke(["bench", str(data), "--out", str(out), "--scratch-dir", str(scratch), *QUICK])
    assert result.exit_code == 2, result.stderr
    assert result.stderr.strip() == f"storeadvise: error: --out {out}: already exists; pass --force to replace it"
    assert result.stdout == ""  # no run was rendered
    assert list(scratch.iterdir()) == []  # no backend made scratch
    assert _state(out) == before

    replaced = _invoke(["bench", str(data), "--out", str(out), "--force", "--scratch-dir", str(scratch), *QUICK])
    assert replaced.exit_code == 0, replaced.stderr
    assert storeadvise.load_run(out).backends[0].status == "ok"


def test_an_unwritable_out_is_refused_up_front_in_one_line(data: Path, tmp_path: Path) -> None:
    folder = _unwritable_folder(tmp_path)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    result = _invoke(["bench", str(data), "--out", str(folder / "run.json"), "--scratch-dir", str(scratch), *QUICK])
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("storeadvise: error: --out") and "cannot write in" in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("missing/run.json", "folder missing does not exist"),
        (".", "is a folder"),
        ("data.csv/run.json", "does not exist"),
    ],
)
def test_outs_that_cannot_be_files_are_refused(out: str, message: str, data: Path) -> None:
    result = _invoke(["bench", str(data), "--out", out, *QUICK])
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_written_files_follow_the_umask(mask: int, umask, data: Path, tmp_path: Path) -> None:
    umask(mask)
    expected = 0o666 & ~mask
    assert _invoke(["bench", str(data), "--out", "run.json", *QUICK]).exit_code == 0
    assert _invoke(["bench", str(data), *QUICK]).exit_code == 0  # the default results/<run-id>.json
    assert _invoke(["sample", "tabular", "--rows", "50", "-o", "s.parquet"]).exit_code == 0
    assert _invoke(["report", "run.json", "-o", "run.md", "--format", "markdown"]).exit_code == 0
    written = [tmp_path / "run.json", *(tmp_path / "results").iterdir(), tmp_path / "s.parquet", tmp_path / "run.md"]
    assert len(written) == 4
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in written} == {p.name: expected for p in written}


def test_sample_and_report_outputs_need_force_to_replace(data: Path, tmp_path: Path) -> None:
    for args in (["sample", "tabular", "--rows", "20", "-o", "s.csv"],
                 ["report", "run.json", "-o", "report.md", "--format", "markdown"]):
        assert _invoke(["bench", str(data), "--out", "run.json", "--force", *QUICK]).exit_code == 0
        target = tmp_path / args[args.index("-o") + 1]
        target.write_text("the user's own notes\n", encoding="utf-8")
        before = _state(target)
        refused = _invoke(args)
        assert refused.exit_code == 2 and "pass --force" in refused.stderr, refused.stderr
        assert _state(target) == before
        assert _invoke([*args, "--force"]).exit_code == 0
        assert target.read_text(encoding="utf-8") != "the user's own notes\n"


@pytest.mark.parametrize("which", ["run", "baseline"])
def test_report_never_writes_over_a_run_it_reads(which: str, data: Path, tmp_path: Path) -> None:
    assert _invoke(["bench", str(data), "--out", "run.json", *QUICK]).exit_code == 0
    assert _invoke(["bench", str(data), "--out", "old.json", *QUICK]).exit_code == 0
    target = tmp_path / ("run.json" if which == "run" else "old.json")
    before = _state(target)
    result = _invoke(["report", "run.json", "--baseline", "old.json", "-o", target.name, "--force"])
    assert result.exit_code == 2 and "never writes over its input" in result.stderr, result.stderr
    assert _state(target) == before


def test_the_python_api_checks_outputs_the_same_way(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    out.write_text("{}\n", encoding="utf-8")
    with pytest.raises(UsageError, match="already exists"):
        storeadvise.benchmark(data, backends="csv", ops="write", repeat=1, warmup=0, out=out)
    with pytest.raises(UsageError, match="never writes over its input"):
        storeadvise.benchmark(data, backends="csv", ops="write", repeat=1, warmup=0, out=data, force=True)
    run = storeadvise.benchmark(data, backends="csv", ops="write", repeat=1, warmup=0, out=out, force=True)
    assert storeadvise.load_run(out).run_id == run.run_id

    sample = tmp_path / "s.jsonl"
    storeadvise.write_sample("tabular", 10, sample)
    with pytest.raises(UsageError, match="already exists"):
        storeadvise.write_sample("tabular", 10, sample)
    storeadvise.write_sample("tabular", 20, sample, force=True)
    assert len(sample.read_text(encoding="utf-8").splitlines()) == 20

    report = tmp_path / "r.md"
    storeadvise.write_report(run, report)
    with pytest.raises(UsageError, match="already exists"):
        storeadvise.write_report(run, report, "csv")
    storeadvise.write_report(run, report, "csv", force=True)
    assert report.read_text(encoding="utf-8").startswith("backend,op,")
    with pytest.raises(UsageError, match="never writes over its input"):
        storeadvise.write_report(run, out, force=True, inputs=[out])


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "keep.txt"
    target.write_text("old\n", encoding="utf-8")

    def half_then_fail(temporary: Path) -> None:
        temporary.write_text("half", encoding="utf-8")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, half_then_fail)
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_a_symlinked_output_replaces_its_target_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real.txt"
    real.write_text("old\n", encoding="utf-8")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    with pytest.raises(UsageError, match="already exists"):
        prepare_output(link)
    write_atomically(prepare_output(link, force=True), lambda t: t.write_text("new\n", encoding="utf-8"))
    assert link.is_symlink() and real.read_text(encoding="utf-8") == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.txt", "real.txt"]


@pytest.mark.parametrize("make", [os.mkfifo, lambda path: os.symlink("/dev/null", path)], ids=["fifo", "device"])
def test_an_output_that_is_not_a_regular_file_is_refused_even_with_force(make, tmp_path: Path) -> None:
    from storeadvise.outputs import prepare_output

    target = tmp_path / "special"
    make(target)
    with pytest.raises(UsageError, match="is not a regular file"):
        prepare_output(target, force=True, option="--out")
    assert not target.is_file()
