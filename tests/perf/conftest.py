"""The project's own benchmark suite: collected only when ``STOREADVISE_PERF=1`` (``make bench``).

The default ``pytest -q`` (``make test``, CI) skips every module here: the suite takes minutes and
its verdicts are about speed, which unit tests never assert. At the end of a suite run the results
are saved as ``results/bench-<stamp>.json`` and ``.md``, compared with the newest earlier run, and
the ratio table is printed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ENABLED = os.environ.get("STOREADVISE_PERF") == "1"
HERE = Path(__file__).resolve().parent

if not ENABLED:
    collect_ignore_glob = ["*.py"]
else:
    # The suite's helpers (pairs, noop) are imported by plain name; the registry imports the no-op
    # backend the same way ("noop:NoopBackend").
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))


def pytest_configure(config: pytest.Config) -> None:
    # pymongoarrow's compiled module predates this pyarrow; the warning says nothing about the timings
    config.addinivalue_line("filterwarnings", "ignore:.*may indicate binary incompatibility:RuntimeWarning")


@pytest.fixture(scope="session")
def perf_scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("perf")


class SuiteData:
    """The suite's datasets, one at a time: (table, plan, dataset) and the storeadvise file and
    embedded-database backends holding it, built when a case first asks for a dataset; the previous
    dataset's stores are removed then, so the scratch folder holds one dataset's files."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.name: str | None = None
        self.data: tuple[Any, Any, Any] | None = None
        self._stores: Iterator[dict[str, Any]] | None = None
        self.stores: dict[str, Any] = {}

    def use(self, name: str) -> tuple[tuple[Any, Any, Any], dict[str, Any]]:
        """((table, plan, dataset), stores) of dataset ``name``."""
        if name != self.name:
            from stores import written_stores

            self.close()
            table, plan, _ = self.data = _data(name, _shapes().dataset_rows(name, _pairs().file_rows()),
                                              self.scratch / "datasets")
            self._stores = written_stores(table, plan.key_column, self.scratch / "storeadvise")
            self.stores, self.name = next(self._stores), name
        assert self.data is not None
        return self.data, self.stores

    def close(self) -> None:
        if self._stores is not None:
            next(self._stores, None)  # the generator removes what it wrote
        self.name, self.data, self._stores, self.stores = None, None, None, {}


@pytest.fixture(scope="session")
def suite_data(perf_scratch: Path) -> Iterator[SuiteData]:
    """Every file case's data and stores, by dataset name (``SuiteData.use``)."""
    data = SuiteData(perf_scratch)
    yield data
    data.close()


@pytest.fixture()
def file_data(suite_data: SuiteData) -> Any:
    """(table, plan, dataset) of the generated tabular sample, for the cases that run on it alone (per
    test: a file case of another dataset may have replaced it since)."""
    return suite_data.use("tabular")[0]


@pytest.fixture()
def file_stores(suite_data: SuiteData) -> dict[str, Any]:
    """storeadvise file and embedded-database backends holding the tabular sample, written once each."""
    return suite_data.use("tabular")[1]


@pytest.fixture(scope="session")
def server_data(perf_scratch: Path) -> Any:
    """The same for the server backends, smaller: MongoDB and Kafka move rows one message at a time."""
    return _data("tabular", _pairs().server_rows(), perf_scratch / "datasets")


def _pairs() -> Any:
    import pairs

    return pairs


def _shapes() -> Any:
    import shapes

    return shapes


def _data(name: str, rows: int, scratch: Path) -> tuple[Any, Any, Any]:
    import pyarrow as pa

    from storeadvise.backends.operations import InMemory
    from storeadvise.bench.workloads import plan_workload

    dataset = _shapes().load(name, rows, scratch)
    # Record batches of the size the runner writes: both sides of a write case get this same table.
    batch_rows = _pairs().WRITE_BATCH_ROWS
    contiguous = dataset.to_table().combine_chunks()
    table = pa.Table.from_batches(contiguous.to_batches(max_chunksize=batch_rows))
    plan = plan_workload(dataset, ["lookup", "filter", "project"], lookups=200, data=InMemory(table, batch_rows))
    return table, plan, dataset


@pytest.fixture(scope="session")
def perf_servers(perf_scratch: Path) -> Iterator[dict]:
    """The status of every declared service, by name: the embedded servers, started once for the suite."""
    from storeadvise.backends.services import Services, declared_services

    with Services(declared_services(), options={}, scratch_dir=perf_scratch / "servers") as statuses:
        yield statuses


def _environment(config: pytest.Config) -> dict[str, Any]:
    from storeadvise.bench.probes import environment

    pairs, shapes = _pairs(), _shapes()
    fixed = pairs.fixed_pair_count()
    env = environment()
    per_case = (
        f"{fixed} interleaved pairs per case" if fixed else
        f"{pairs.MIN_PAIRS}-{pairs.MAX_PAIRS} interleaved pairs per case (time budget "
        f"{pairs.CASE_SECONDS['file']:.0f} s per file case, {pairs.CASE_SECONDS['server']:.0f} s per server case), "
        f"up to {pairs.SETTLE_MAX_PAIRS} when the first pairs straddle the limit"
    )
    env.update(
        rows_files=pairs.file_rows(),
        datasets={name: shapes.dataset_rows(name, pairs.file_rows()) for name in shapes.chosen_datasets()},
        datasets_note="Datasets: " + ", ".join(
            f"{name} ({shapes.dataset_rows(name, pairs.file_rows()):,} rows)" for name in shapes.chosen_datasets()
        ) + " (tests/perf/shapes.py)",
        rows_servers=pairs.server_rows(),
        pairs=fixed or f"{pairs.MIN_PAIRS}-{pairs.MAX_PAIRS} by time budget",
        rows_note=(
            f"{pairs.file_rows():,} tabular rows for file and embedded-database backends (the other datasets "
            f"in proportion; the pandas defaults on the tabular sample), {pairs.server_rows():,} tabular rows "
            f"for servers, in {pairs.WRITE_BATCH_ROWS:,}-row record batches; {per_case}; file reads warm "
            "(page cache)."
        ),
    )
    return env


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not ENABLED:
        return
    import json

    pairs = _pairs()
    session = pairs.SESSION
    if not any(session.values()):
        return
    results_dir = config.rootpath / "results"
    environment = _environment(config)
    earlier = pairs.previous_run(results_dir)
    path = pairs.save(results_dir, session, environment)
    md_path = path.with_suffix(".md")
    md_path.write_text(pairs.markdown(session, environment), encoding="utf-8")

    write = terminalreporter.write_line
    terminalreporter.section("storeadvise vs direct library calls")
    for line in pairs.text_table(pairs.CASE_HEADER, pairs.ratio_rows(session)):
        write(line)
    if session["pandas"]:
        terminalreporter.section("storeadvise vs pandas defaults")
        for line in pairs.text_table(pairs.PANDAS_HEADER, pairs.pandas_rows(session)):
            write(line)
    for line in pairs.info_lines(session) + pairs.other_lines(session):
        write(line)
    if earlier is not None:
        terminalreporter.section(f"change since {earlier.name}")
        lines = pairs.compare(json.loads(path.read_text()), json.loads(earlier.read_text()))
        for line in lines or ["no case in common"]:
            write(line)
    write(f"saved {path.relative_to(config.rootpath)} and {md_path.name}")
