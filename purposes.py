"""Purposes: what the data is for, defined once for the advisor and the benchmark harness.

A purpose (exploring on your own, sharing, training, batch processing, online prediction) is what a
user does with stored data. Each entry here says what it means, the spellings the advisor accepts,
the operations ``storeadvise bench --purpose`` measures for it and the number ``recommend --bench``
ranks the measured candidates by. The advisor's inputs, titles and evidence and the harness's
workload selection all read this table, so a new purpose is one entry (plus the rules that should
fire for it). Operations are named as in ``backends.operations.OPERATIONS`` and statistics as in
``advisor.evidence.STATISTICS``; tests check both.

Standard library only, and placed beside ``units`` rather than in ``advisor`` or ``bench`` because
both use it: importing it pulls in neither, so ``storeadvise recommend`` stays fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Metric:
    """The number that decides a purpose when candidates are measured: ``statistic`` of each
    operation in ``ops``, summed over them."""

    name: str  # heads the evidence table: "lookup p99"
    description: str  # what the suggested bench command tells the user to compare
    unit: str
    lower_is_better: bool
    ops: tuple[str, ...]
    statistic: str  # a key of advisor.evidence.STATISTICS: median, p99, rows_per_s, bytes_at_rest
    cross_check: str | None = None  # a second statistic that must not contradict a tail statistic
    substitutes: Mapping[str, str] = field(default_factory=dict)  # op -> op read when it was not measured


@dataclass(frozen=True)
class Purpose:
    """One thing people keep data for."""

    name: str
    label: str  # how advice titles name it: "Where to keep tabular data for <label>"
    meaning: str  # what the user does with the data
    aliases: tuple[str, ...]  # other spellings the advisor accepts (after lower-casing, spaces to hyphens)
    ops: tuple[str, ...]  # what ``storeadvise bench --purpose`` measures
    metric: Metric
    media_metric: Metric | None = None
    """The number that decides it for a folder of media items, where it differs from ``metric``."""


PURPOSES: dict[str, Purpose] = {
    p.name: p
    for p in (
        Purpose(
            "exploration", "exploration (to play with on your own)",
            "load it all into a DataFrame, poke at it, write it once",
            ("explore", "play", "ad-hoc", "adhoc", "on-your-own"),
            ("write", "read", "first_batch"),
            Metric("read + write median", "read + write median time", "s", True, ("read", "write"), "median"),
        ),
        Purpose(
            "sharing", "sharing (for fellow data scientists)",
            "hand files or a database to a colleague or another tool, types intact",
            ("share", "colleagues", "fellow-data-scientists"),
            ("write", "read"),
            Metric("bytes at rest", "bytes at rest, with a clean round trip", "bytes", True, ("write",),
                   "bytes_at_rest"),
        ),
        Purpose(
            "training", "training",
            "read it for many epochs, a subset of the columns, in batches",
            ("train",),
            ("write", "read", "scan", "first_batch", "project"),
            # A full read is the next best measure of an epoch's cost where batch scans are not supported.
            Metric("scan throughput", "full-scan throughput (rows/s)", "rows/s", False, ("scan",), "rows_per_s",
                   substitutes={"scan": "read"}),
            # Training on items reads them in a random order, batch by batch: a sequential scan says little.
            Metric("shuffled items/s", "shuffled-epoch throughput (items/s) and accelerators kept busy", "items/s",
                   False, ("shuffle",), "items_per_s"),
        ),
        Purpose(
            "batch", "batch processing",
            "nightly jobs that select columns, filter rows and append new ones",
            ("batch-processing", "etl", "jobs"),
            ("write", "project", "filter", "append"),
            Metric("project + filter median", "projection + filtered-read median time", "s", True,
                   ("project", "filter"), "median"),
        ),
        Purpose(
            "online", "online prediction",
            "serve one entity's features per request, with low tail latency",
            ("online-prediction", "serving", "serve", "inference", "real-time-prediction"),
            ("write", "lookup", "write_one", "stream_latency"),
            # A p99 decided by two slow outliers is noise when the median says the opposite.
            Metric("lookup p99", "point-lookup p99 latency", "s", True, ("lookup",), "p99", cross_check="median"),
        ),
    )
}
"""Purpose name -> definition, in the order the advisor lists them."""
