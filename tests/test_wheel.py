"""The wheel a user installs works on its own: built from the tracked sources, installed into a fresh
virtual environment with no extras, then ``--help``, ``sample``, ``recommend`` and a 1,000-row CSV
``bench`` run from it. A module the package imports but pyproject.toml does not declare, or a
subpackage the wheel leaves out, fails here and not on a user's machine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILE_BACKENDS = "csv,jsonl,parquet,arrow,sqlite,duckdb"


def _tracked_copy(dest: Path) -> Path:
    """The files git tracks (plus untracked, unignored ones), so no stale build folder or virtual
    environment of the developer's leaks into the wheel."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_wheel_without_extras_runs_the_main_commands(tmp_path: Path) -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.fail("the wheel test builds from the git checkout: run it from a clone")
    source = _tracked_copy(tmp_path / "src")
    dist = tmp_path / "dist"
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)],
                 tmp_path, dict(os.environ))  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = dist.glob("storeadvise-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packages = [init.parent.name for init in ROOT.glob("*/__init__.py") if init.parent.name != "tests"]
    assert {"advisor", "backends", "bench"} <= set(packages)
    for package in packages:
        assert f"storeadvise/{package}/__init__.py" in names, f"subpackage {package} missing from the wheel"
    assert not any(n.startswith("storeadvise/tests/") or n == "storeadvise/setup.py" for n in names)

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    installed = _run([str(python), "-m", "pip", "install", "-q", str(wheel)], tmp_path, dict(os.environ))
    assert installed.returncode == 0, installed.stderr[-2000:]

    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STOREADVISE_", "PYTHON", "VIRTUAL_ENV"))}
    exe = str(env_dir / "bin" / "storeadvise")

    helped = _run([exe, "--help"], work, env)
    assert helped.returncode == 0 and "recommend" in helped.stdout, helped.stderr

    sampled = _run([exe, "sample", "tabular", "--rows", "1000", "-o", "data.csv"], work, env)
    assert sampled.returncode == 0, sampled.stderr
    assert len((work / "data.csv").read_text().splitlines()) == 1001

    advised = _run([exe, "recommend", "--modality", "tabular", "--purpose", "online"], work, env)
    assert advised.returncode == 0 and "sqlite" in advised.stdout.lower(), advised.stderr

    benched = _run([exe, "bench", "data.csv", "-b", FILE_BACKENDS, "--repeat", "1", "--warmup", "0",
                    "--lookups", "10", "-f", "json", "--no-save"], work, env)  # fmt: skip
    assert benched.returncode == 0, benched.stderr[-2000:]
    run = json.loads(benched.stdout)
    statuses = {b["backend"]: b["status"] for b in run["backends"]}
    assert statuses == dict.fromkeys(FILE_BACKENDS.split(","), "ok"), statuses
    assert "git_revision" not in run["environment"]  # an installed wheel is not a git checkout

    # history reads the saved runs with DuckDB and pyarrow, core dependencies.
    saved = _run([exe, "bench", "data.csv", "-b", "parquet", "--ops", "write,read", "--repeat", "1", "--warmup", "0",
                  "-q"], work, env)  # fmt: skip
    assert saved.returncode == 0, saved.stderr[-2000:]
    queried = _run([exe, "history", "-f", "json", "--query", "SELECT count(*) AS n FROM measurements"], work, env)
    assert queried.returncode == 0 and json.loads(queried.stdout) == [{"n": 2}], queried.stderr[-2000:]

    # The HTML report's charts and --plot need only the wheel's own dependencies.
    (work / "run.json").write_text(benched.stdout)
    reported = _run([exe, "report", "run.json", "-f", "html", "-o", "report.html", "--plot", "times.png"], work, env)
    assert reported.returncode == 0, reported.stderr[-2000:]
    assert "vegaEmbed" in (work / "report.html").read_text()
    assert (work / "times.png").read_bytes().startswith(b"\x89PNG")

    # The default backends without the embedded extra: the servers' backends are left out and said so,
    # and the run of the others is complete.
    default = _run([exe, "bench", "data.csv", "--repeat", "1", "--warmup", "0", "--lookups", "10", "--no-save"],
                   work, env)
    assert default.returncode == 0, default.stderr[-2000:]
    assert "not available here" in default.stdout and "storeadvise[embedded]" in default.stdout
