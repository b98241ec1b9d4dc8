"""Saved runs over time: list them, query them with SQL, follow one backend and operation.

``load_history(folder)`` reads every ``*.json`` in a folder (``results/`` by default); a file that is
not a storeadvise run (corrupt, foreign, from a newer storeadvise) is listed under ``skipped`` with its
reason, never an error. ``History.query(sql)`` runs DuckDB SQL over two views, ``runs`` (one row per
run) and ``measurements`` (one row per backend × operation × cache state), both built by
``bench.tidy`` from the same rows as ``Run.to_arrow()``. ``History.over_time`` is a query over them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storeadvise.bench.results import Run, load_run
from storeadvise.errors import DataError, StoreAdviseError, UsageError

if TYPE_CHECKING:
    import pyarrow as pa

    from storeadvise.bench.table import PlainTable

@dataclass
class History:
    """The runs saved in ``folder``, oldest first, and the files that were not runs."""

    folder: Path
    runs: list[Run] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)  # the file of each run
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (file, why it is not a run)

    def runs_table(self) -> pa.Table:
        from storeadvise.bench.tidy import runs_table

        return runs_table(self.runs, list(self.paths))

    def measurements_table(self) -> pa.Table:
        from storeadvise.bench.tidy import measurements_table

        return measurements_table(self.runs)

    def query(self, sql: str) -> pa.Table:
        """DuckDB SQL over the views ``runs`` and ``measurements``; a mistake in it is a ``UsageError``."""
        import duckdb

        try:
            return self._sql(sql)
        except duckdb.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UsageError(f"--query: {first}") from None

    def over_time(self, backend: str | None = None, op: str | None = None) -> pa.Table:
        """One backend and/or one operation in every run, oldest first: each figure with its run's date,
        dataset and storeadvise version."""
        given = {name: value for name, value in (("backend", backend), ("op", op)) if value}
        sql = (
            "SELECT m.started_at AS date, m.run_id AS run, m.data_fingerprint AS dataset, r.storeadvise, "
            "left(r.git_revision, 10) AS revision, m.backend, m.op, m.cache, m.status, m.median_s, m.iqr_s, m.n, "
            "m.p95_s, m.rows_per_s, m.ratio_to_best "
            "FROM measurements m JOIN runs r USING (run_id) "
            f"WHERE m.op IS NOT NULL {''.join(f' AND m.{name} = ${name}' for name in given)} "
            "ORDER BY m.started_at, m.run_id, m.backend, m.op, m.cache"
        )
        return self._sql(sql, given)

    def _sql(self, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
        import duckdb

        connection = duckdb.connect()
        try:
            connection.register("runs", self.runs_table())
            connection.register("measurements", self.measurements_table())
            return connection.sql(sql, params=params).to_arrow_table()
        finally:
            connection.close()


def save_history_plot(table: pa.Table, title: str, path: str | Path, *, force: bool = False) -> Path:
    """``History.over_time`` rows as a chart of their medians over time, PNG or SVG by the extension;
    an existing file is replaced only with ``force``."""
    from storeadvise.bench.charts import history_chart, plot_bytes, plot_format
    from storeadvise.outputs import prepare_output, write_atomically

    fmt = plot_format(path)
    prepare_output(path, force=force, option="--plot")
    chart = history_chart(table.to_pylist(), title)
    if chart is None:
        raise DataError(f"--plot: no measured figure of {title} in the saved runs")
    data = plot_bytes(chart, fmt)
    return write_atomically(path, lambda temporary: temporary.write_bytes(data))


def load_history(folder: str | Path = "results", *, dataset: str | None = None) -> History:
    """Every run file in ``folder`` (not its subfolders), oldest first; ``dataset`` keeps the runs whose
    dataset fingerprint starts with it. ``UsageError`` when the folder does not exist."""
    from storeadvise.bench.tidy import data_fingerprint, timestamp

    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such folder of run files (storeadvise bench saves runs in results/; "
                         "--dir names another)")
    history = History(folder)
    loaded = []
    for path in sorted(folder.glob("*.json")):
        try:
            run = load_run(path)
        except StoreAdviseError as exc:
            history.skipped.append((path, _reason(exc, path)))
            continue
        if dataset and not (data_fingerprint(run) or "").startswith(dataset.lower()):
            continue
        loaded.append((timestamp(run.started_at), run.run_id, path, run))
    # Runs without a date sort first; the run id breaks ties.
    loaded.sort(key=lambda item: (item[0] is not None, item[0].timestamp() if item[0] else 0.0, item[1]))
    history.runs = [run for *_, run in loaded]
    history.paths = [path for _, _, path, _ in loaded]
    return history


def _reason(exc: Exception, path: Path) -> str:
    """The load error without the path it starts with (the listing names the file beside it)."""
    text = str(exc)
    prefix = f"{path}: "
    return text[len(prefix):] if text.startswith(prefix) else text


def _cell(value: Any, name: str = "") -> str:
    """A value as the tables write it: seconds (columns ending ``_s``) as times, rates as counts, ratios
    as "1.23×"."""
    from datetime import datetime

    from storeadvise.formatting import DASH, fmt_count, fmt_plain, fmt_ratio, fmt_time, printable

    if value is None:
        return DASH
    if isinstance(value, (int, float)) and not isinstance(value, bool) and name.endswith("_per_s"):
        return fmt_count(value) if name.startswith("rows") else fmt_plain(value)
    if isinstance(value, float) and name.endswith("_s"):
        return fmt_time(value)
    if isinstance(value, float) and "ratio" in name:
        return fmt_ratio(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    return printable(str(value))


def plain_table(table: pa.Table, title: str) -> PlainTable:
    """An Arrow table as text cells (numbers right-aligned), for the report formats."""
    import pyarrow as pa

    from storeadvise.bench.table import PlainTable

    numeric = [pa.types.is_integer(f.type) or pa.types.is_floating(f.type) for f in table.schema]
    rows = [[_cell(value, name) for name, value in row.items()] for row in table.to_pylist()]
    return PlainTable(title, list(table.column_names), numeric, rows)


def listing(history: History) -> pa.Table:
    """The runs as the listing shows them: date, run, dataset, backends, version and revision."""
    import pyarrow as pa

    runs = history.runs_table()
    revisions = pa.array([None if v is None else v[:10] for v in runs.column("git_revision").to_pylist()], pa.string())
    return pa.table({
        "date": runs.column("started_at"), "run": runs.column("run_id"),
        "dataset": runs.column("data_fingerprint"), "data": runs.column("dataset"),
        "rows": runs.column("rows"), "backends": runs.column("backends"),
        "storeadvise": runs.column("storeadvise"), "revision": revisions,
        "complete": runs.column("complete"),
    })
