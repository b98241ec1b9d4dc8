"""What ``--data`` sees in a file beyond its harness profile: time series stored in long format, time
columns kept as epoch integers, event times out of order, and keys made of two columns.

The harness's profile (``bench.datasets``) calls a table a time series only when its time column is a
sorted timestamp and most other columns are numbers, so long-format series (``unique_id, ds, y``;
``device_id, timestamp, value, status``), sorted by series and not by time, and epoch-integer times
pass as plain tables. This module looks at the first ``SAMPLE_ROWS`` rows of the file and says what it
found; imported only with ``--data`` (it uses pyarrow).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

SAMPLE_ROWS = 100_000
"""How many rows from the start of the file the detections look at."""

EPOCH_UNITS: tuple[tuple[str, float, float], ...] = (
    ("seconds", 1e9, 4e9), ("milliseconds", 1e12, 4e12), ("microseconds", 1e15, 4e15),
    ("nanoseconds", 1e18, 4e18),
)
"""Integer ranges read as epoch times, by unit: 2001-09-09 to 2096-10-02 in each unit."""

_TIME_NAMES = re.compile(r"^(ds|ts|t|time|timestamp|date|datetime|epoch|event_time)$|.*_(ts|time|at|date|epoch)$",
                         re.IGNORECASE)
_SERIES_NAMES = re.compile(r"^(unique_id|id|key|series|series_id|item_id|entity)$|.*(_id|_key|device|sensor|"
                           r"station|symbol|ticker|meter)$", re.IGNORECASE)


@dataclass
class SeriesProfile:
    """The detections, each None or False when not found."""

    time_column: str | None = None
    epoch_unit: str | None = None  # the unit of an integer time column
    time_sorted: bool | None = None
    series_key: str | None = None  # the column that names each series in a long-format table
    series_count: int = 0
    value_columns: list[str] = field(default_factory=list)
    composite_key: tuple[str, str] | None = None

    @property
    def long_format(self) -> bool:
        return bool(self.time_column and self.series_key and self.value_columns)

    def notes(self, sample_rows: int) -> list[str]:
        """One sentence per detection."""
        out = []
        within = f" (in the first {sample_rows:,} rows)"
        if self.epoch_unit:
            out.append(f"Column {self.time_column} holds epoch {self.epoch_unit} as integers: store it as a "
                       "timestamp so that every tool reads it as time and can partition by date.")
        if self.long_format:
            out.append(f"Long-format time series: {self.series_count:,} series named by {self.series_key}, "
                       f"time in {self.time_column}, values in {', '.join(self.value_columns)}{within}.")
        if self.time_sorted is False:
            out.append(f"Event times in {self.time_column} are not in order{within}: sort by time (or by "
                       "series, then time) before writing time-partitioned files.")
        if self.composite_key:
            out.append(f"No single column is unique, but ({', '.join(self.composite_key)}) is{within}: "
                       "use it as a composite key (a primary key in a database, sort order in files).")
        return out


def _epoch_unit(column: pa.Array) -> str | None:
    import pyarrow.compute as pc

    bounds = pc.min_max(column)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    if low is None:
        return None
    return next((unit for unit, lo, hi in EPOCH_UNITS if lo <= low and high < hi), None)


def _time_column(table: pa.Table, known: str | None) -> tuple[str | None, str | None]:
    """The time column (the profile's, a timestamp or date, or an integer named like time that holds
    epoch values) and the epoch unit when it is an integer."""
    import pyarrow as pa

    if known:
        return known, None
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
            return name, None
        if pa.types.is_integer(kind) and _TIME_NAMES.match(name):
            unit = _epoch_unit(column.combine_chunks())
            if unit:
                return name, unit
    return None, None


def _series_key(table: pa.Table, time: str) -> tuple[str | None, int]:
    """A column named like a series identifier whose values repeat: each names one series."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for name, column in zip(table.column_names, table.columns, strict=True):
        if name == time or not _SERIES_NAMES.match(name):
            continue
        kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind)):
            continue
        distinct = pc.count_distinct(column).as_py()
        if 1 < distinct <= table.num_rows // 2:
            return name, distinct
    return None, 0


def _unique_pair(table: pa.Table, pair: tuple[str, str]) -> bool:
    counts = table.select(list(pair)).group_by(list(pair)).aggregate([])
    return counts.num_rows == table.num_rows


def _sorted(column: pa.Array) -> bool:
    import numpy as np

    values = column.drop_null().to_numpy(zero_copy_only=False)
    return bool(np.all(values[1:] >= values[:-1]))


def profile_series(dataset: Any, sample_rows: int = SAMPLE_ROWS) -> SeriesProfile:
    """The detections on the first ``sample_rows`` rows of a harness ``Dataset``."""
    import pyarrow as pa

    batches, rows = [], 0
    for batch in dataset.batches():
        batches.append(batch.slice(0, sample_rows - rows))
        rows += batches[-1].num_rows
        if rows >= sample_rows:
            break
    table = pa.Table.from_batches(batches, schema=dataset.schema)
    found = SeriesProfile()
    found.time_column, found.epoch_unit = _time_column(table, dataset.profile.time_column)
    if found.time_column is None or table.num_rows < 2:
        return found
    time = table.column(found.time_column).combine_chunks()
    found.series_key, found.series_count = _series_key(table, found.time_column)
    found.value_columns = [f.name for f in table.schema if f.name not in (found.time_column, found.series_key)
                           and (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))]
    found.time_sorted = _sorted(time) if not found.series_key else None
    if found.series_key:
        # a long table sorted by series is in order when, within each series, times run forward
        found.time_sorted = None if _same_order(table, found) else False
        if dataset.profile.key_column is None and _unique_pair(table, (found.series_key, found.time_column)):
            found.composite_key = (found.series_key, found.time_column)
    return found


def _same_order(table: pa.Table, found: SeriesProfile) -> bool:
    """True when, series by series, the times appear in the file in increasing order (the sort by
    series is stable, so each series keeps its rows in file order)."""
    import pyarrow.compute as pc

    indices = pc.sort_indices(table, sort_keys=[(found.series_key, "ascending")])
    times = pc.take(table.column(found.time_column), indices)
    keys = pc.take(table.column(found.series_key), indices).to_pylist()
    values = times.to_pylist()
    return all(k1 != k2 or (v1 is None or v2 is None or v1 <= v2)
               for k1, k2, v1, v2 in zip(keys, keys[1:], values, values[1:], strict=False))
