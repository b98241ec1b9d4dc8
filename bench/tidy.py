"""Runs as tidy tables: one row per backend × operation × cache state, one row per run.

The one definition of those rows: ``Run.to_arrow()`` / ``Run.to_pandas()`` in a notebook and the
``measurements`` and ``runs`` views of ``storeadvise history --query`` are built here. Each figure
carries its labels (cache state, durability, warnings) and its place in the summary matrix
(``bench.matrix``: ratio to the best, shifted ratio, score), so a query needs no second pass. A
backend that did not run at all is one row with no operation and its status and reason.
pyarrow is imported only when a table is built (pandas, by ``frames.pandas_frame``).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storeadvise.bench.results import OK, Run

if TYPE_CHECKING:
    import pyarrow as pa

    from storeadvise.bench.table import Entry

MEASUREMENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "string"), ("started_at", "timestamp"), ("data_fingerprint", "string"),
    ("backend", "string"), ("op", "string"), ("cache", "string"), ("status", "string"), ("reason", "string"),
    ("latency", "bool"), ("n", "int"),
    ("median_s", "float"), ("mean_s", "float"), ("min_s", "float"), ("max_s", "float"), ("iqr_s", "float"),
    ("stdev_s", "float"), ("p50_s", "float"), ("p95_s", "float"), ("p99_s", "float"),
    ("rows", "int"), ("arrow_bytes", "int"), ("rows_per_s", "float"), ("mb_per_s", "float"),
    ("peak_memory_bytes", "int"), ("bytes_at_rest", "int"), ("size_ratio", "float"),
    ("durable", "bool"), ("warnings", "strings"), ("verification", "string"), ("trusted", "bool"),
    ("best", "bool"), ("ratio_to_best", "float"), ("single_run", "bool"), ("no_warmup", "bool"),
    ("score", "float"), ("score_ratio", "float"), ("in_score", "bool"),
)
"""The tidy measurement rows: name and kind (seconds end in ``_s``; ``score`` is the backend's)."""

RUN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "string"), ("started_at", "timestamp"), ("finished_at", "timestamp"),
    ("data_fingerprint", "string"), ("dataset", "string"), ("rows", "int"), ("backends", "strings"),
    ("ops", "strings"), ("purpose", "string"), ("cache", "string"), ("fsync", "bool"), ("complete", "bool"),
    ("problems", "strings"), ("storeadvise", "string"), ("git_revision", "string"), ("python", "string"),
    ("cpu", "string"), ("path", "string"),
)
"""One row per run: when, what data, what it measured, which storeadvise and where its file is."""

_STATS = ("median", "mean", "min", "max", "iqr", "stdev", "p50", "p95", "p99")


def _arrow_type(kind: str) -> pa.DataType:
    import pyarrow as pa

    return {"string": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
            "strings": pa.list_(pa.string()), "timestamp": pa.timestamp("us", tz="UTC")}[kind]


def timestamp(text: Any) -> datetime | None:
    """A run file's ISO 8601 time (UTC), or None when it has none."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


FINGERPRINT_CHARS = 12
"""Hex digits of a dataset's short id: 48 bits, so two datasets in one folder of runs never share one."""


def data_fingerprint(run: Run) -> str | None:
    """A short id of the data a run measured: a digest of its recorded fingerprint (rows, schema and
    content hash; ``bench.datasets.DataFingerprint``), the same for runs of the same data hashed the
    same way. None when the run file records none. The content hash itself is a sum, whose leading
    digits are zeros, so it is digested rather than cut short."""
    import hashlib
    import json

    recorded = run.dataset.get("data_fingerprint")
    if not isinstance(recorded, dict):
        return None
    fields = {key: recorded.get(key) for key in ("rows", "schema", "content", "content_method")}
    canonical = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:FINGERPRINT_CHARS]


def _number(value: Any) -> float | None:
    from storeadvise.formatting import number

    return number(value)


def _figures(entry: Entry, place: Any) -> dict[str, Any]:
    """What one figure adds beyond the measurement: its ranking and its part in the matrix."""
    m = entry.measurement
    row: dict[str, Any] = {"trusted": not entry.untrusted, "best": entry.best,
                           "ratio_to_best": entry.ratio_to_best, "single_run": entry.single_run,
                           "no_warmup": entry.unwarmed}
    if m.stats is not None:
        row["n"] = m.stats.n
        row.update({f"{name}_s": _number(getattr(m.stats, name)) for name in _STATS})
        if m.stats.n < 2:  # one run has no spread: none, rather than a spread of 0 that reads as steady
            row.update(iqr_s=None, stdev_s=None)
    if place is not None:
        matrix_row, column, cell = place
        row.update(score=matrix_row.score, score_ratio=cell.score_ratio, in_score=column.scored)
    return row


def measurement_rows(run: Run) -> list[dict[str, Any]]:
    """The run's tidy rows (``MEASUREMENT_COLUMNS``), in run order."""
    from storeadvise.bench.table import build_report

    report = build_report(run)
    places = {} if report.matrix is None else {
        (row.backend, column.op, column.cache): (row, column, cell)
        for row in report.matrix.rows for column, cell in zip(report.matrix.columns, row.cells, strict=True)
    }
    common = {"run_id": run.run_id, "started_at": timestamp(run.started_at), "data_fingerprint": data_fingerprint(run)}
    verified = {b.backend: b.verification.summary for b in run.backends if b.verification is not None}
    rows = []
    for entry in report.entries:
        m = entry.measurement
        # The cache state is the one the figure is ranked in (``Entry.group``), as in the matrix.
        rows.append({
            **common, "backend": m.backend, "op": m.op, "cache": entry.group[1], "status": m.status,
            "reason": m.reason or None, "latency": m.latency, "rows": m.rows, "arrow_bytes": m.arrow_bytes,
            "rows_per_s": _number(m.rows_per_s), "mb_per_s": _number(m.mb_per_s),
            "peak_memory_bytes": m.peak_memory_bytes, "bytes_at_rest": m.bytes_at_rest,
            "size_ratio": _number(m.size_ratio), "durable": m.durable, "warnings": list(m.warnings),
            "verification": verified.get(m.backend),
            **_figures(entry, places.get((m.backend, *entry.group))),
        })
    rows += [{**common, "backend": b.backend, "status": b.status, "reason": b.reason or None}
             for b in run.backends if b.status != OK]
    return rows


def run_row(run: Run, path: str | Path | None = None) -> dict[str, Any]:
    """One row of ``RUN_COLUMNS`` for a run (``path``: the file it was loaded from)."""
    env, settings = run.environment, run.settings
    return {
        "run_id": run.run_id, "started_at": timestamp(run.started_at), "finished_at": timestamp(run.finished_at),
        "data_fingerprint": data_fingerprint(run), "dataset": run.dataset.get("name"),
        "rows": run.dataset.get("rows"), "backends": [b.backend for b in run.backends], "ops": run.ops(),
        "purpose": settings.get("purpose"), "cache": settings.get("cache"), "fsync": settings.get("fsync"),
        "complete": run.complete, "problems": run.problems, "storeadvise": env.get("storeadvise"),
        "git_revision": env.get("git_revision"), "python": env.get("python"), "cpu": env.get("cpu"),
        "path": None if path is None else str(path),
    }


def _table(rows: list[dict[str, Any]], columns: tuple[tuple[str, str], ...]) -> pa.Table:
    import pyarrow as pa

    schema = pa.schema([(name, _arrow_type(kind)) for name, kind in columns])
    return pa.Table.from_pylist([{name: row.get(name) for name, _ in columns} for row in rows], schema=schema)


def measurements_table(runs: list[Run]) -> pa.Table:
    """The tidy rows of every run in ``runs`` as one Arrow table."""
    return _table([row for run in runs for row in measurement_rows(run)], MEASUREMENT_COLUMNS)


def runs_table(runs: list[Run], paths: list[str | Path | None] | None = None) -> pa.Table:
    """One row per run (``RUN_COLUMNS``)."""
    paths = paths or [None] * len(runs)
    return _table([run_row(run, path) for run, path in zip(runs, paths, strict=True)], RUN_COLUMNS)


def run_html(run: Run) -> str:
    """The summary matrix and the round-trip verification as an HTML fragment (the HTML report's
    tables), for a notebook."""
    import html

    from storeadvise.bench.report import MATRIX_TITLE, _html_table, _matrix_rows
    from storeadvise.bench.table import build_report

    report = build_report(run)
    parts = [f"<h3>{html.escape(report.title)}</h3>"]
    if report.matrix is not None:
        head, rows = _matrix_rows(report.matrix)
        classes = ["untrusted" if r.untrusted else "" for r in report.matrix.rows]
        parts.append(f"<b>{html.escape(MATRIX_TITLE)}</b>")
        parts.append(_html_table([(h, i > 0) for i, h in enumerate(head)], list(zip(classes, rows, strict=True))))
        parts += [f"<p>{html.escape(note)}</p>" for note in report.matrix.notes + report.warnings]
    if report.verification:
        parts.append("<b>round-trip verification</b>")
        rows_v = [("untrusted" if v.flagged else "", [v.backend, v.text]) for v in report.verification]
        parts.append(_html_table([("backend", False), ("result", False)], rows_v))
    if report.not_run:
        parts.append("<b>not run</b><ul>" + "".join(
            f"<li>{html.escape(name)}: {html.escape(reason)}</li>" for name, reason in report.not_run) + "</ul>")
    return "<div>" + "\n".join(parts) + "</div>"
