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
