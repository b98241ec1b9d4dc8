"""Re-cutting a stream of Arrow record batches into batches or tables of a given number of rows.

The scans of every backend and ``bench.datasets.Dataset.batches`` cut their streams here; slicing
copies nothing, and at most one output batch of rows is held at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from storeadvise.errors import UsageError

if TYPE_CHECKING:
    import pyarrow as pa


SCAN_BATCH_ROWS = 65_536
"""Rows per batch of a scan of ordinary rows: the size Arrow's own readers hand out."""
BATCH_BYTES = 32 * 2**20
"""In-memory bytes per batch of a scan (and of a media folder as it is loaded): about a second of a
disk's throughput, a few dozen 1 MB photographs. Batches of ``SCAN_BATCH_ROWS`` 100 kB images would hold
6.5 GB at once."""


def scan_batch_rows(bytes_per_row: float) -> int:
    """Rows per scan batch for rows of ``bytes_per_row`` in memory: ``SCAN_BATCH_ROWS``, fewer when those
    would hold more than ``BATCH_BYTES`` (media items, very wide rows); at least one."""
    if bytes_per_row <= 0:
        return SCAN_BATCH_ROWS
    return max(1, min(SCAN_BATCH_ROWS, int(BATCH_BYTES // bytes_per_row)))


def check_batch_rows(rows: int) -> None:
    """``UsageError`` for a batch size below one row (every scan and re-batching checks it here)."""
    if rows < 1:
        raise UsageError(f"batch size must be at least 1 row, not {rows}")


def _cut(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[list[pa.RecordBatch]]:
    """Slices of the stream grouped ``rows`` rows at a time (the last group may be shorter); slicing
    copies nothing."""
    check_batch_rows(rows)
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        offset = 0
        while offset < batch.num_rows:
            take = min(rows - count, batch.num_rows - offset)
            pending.append(batch.slice(offset, take))
            count += take
            offset += take
            if count == rows:
                yield pending
                pending, count = [], 0
    if count:
        yield pending


def rebatch(batches: Iterable[pa.RecordBatch], batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Re-cut a stream into record batches of ``batch_rows`` rows (the last may be shorter), holding at
    most one output batch of pending rows. A batch that already fits passes through uncopied; rows
    spread over several input batches are copied once into one contiguous batch. The scans of every
    backend and ``bench.datasets.Dataset.batches`` use it."""
    import pyarrow as pa

    for parts in _cut(batches, batch_rows):
        yield parts[0] if len(parts) == 1 else pa.Table.from_batches(parts).combine_chunks().to_batches()[0]


def chunked(batches: Iterable[pa.RecordBatch], schema: pa.Schema, rows: int) -> Iterator[pa.Table]:
    """Group a batch stream into tables of exactly ``rows`` rows (the last may be shorter; one empty
    table for an empty stream) without copying, for writers that are fast only on large inputs
    (polars) or that cut a row group per call (Parquet); memory stays bounded by one chunk."""
    import pyarrow as pa

    empty = True
    for parts in _cut(batches, rows):
        empty = False
        yield pa.Table.from_batches(parts, schema=schema)
    if empty:
        yield pa.Table.from_batches([], schema=schema)
