"""How long the command line takes to start: ``--help`` under 0.3 s, ``recommend`` under 0.5 s.

Each command runs as a subprocess, once to warm the page cache (and write the bytecode an installed
package has: pip compiles it at install, so ``PYTHONDONTWRITEBYTECODE`` is not passed on) and then
``RUNS`` times; the median counts. These limits are what lazy imports buy: neither command may import
pyarrow, polars, duckdb or a server client.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pairs
import pytest

RUNS = 9
COMMANDS = [
    (["--help"], 0.3),
    (["recommend", "--modality", "tabular", "--purpose", "online"], 0.5),
]


def _script() -> str:
    beside = Path(sys.executable).parent / "storeadvise"
    found = str(beside) if beside.exists() else shutil.which("storeadvise")
    if not found:
        pytest.skip("the storeadvise console script is not installed")
    return found


@pytest.mark.parametrize(("args", "limit"), COMMANDS, ids=["help", "recommend"])
def test_startup_time(args: list[str], limit: float) -> None:
    command = [_script(), *args]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(command, check=True, capture_output=True, env=env)
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        done = subprocess.run(command, capture_output=True, env=env)
        times.append(time.perf_counter() - t0)
        assert done.returncode == 0, done.stderr.decode()[-500:]
    median = statistics.median(times)
    pairs.record("startup", {"command": "storeadvise " + " ".join(args), "median_s": median, "min_s": min(times),
                             "max_s": max(times), "runs": RUNS, "limit_s": limit})
    if median > limit:
        pytest.fail(f"`storeadvise {' '.join(args)}` takes {median:.3f} s (median of {RUNS}); the limit is {limit} s",
                    pytrace=False)
