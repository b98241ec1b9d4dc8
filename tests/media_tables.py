"""A small media table for the tests of the layouts: items of varied sizes (one empty, one of a few MB
when asked), ids that are paths in sub-folders, a label column, the modality in the schema."""

from __future__ import annotations

import hashlib
import random

import pyarrow as pa

from storeadvise.media import media_schema


def media_table(rows: int = 60, start: int = 0, big: bool = False) -> pa.Table:
    """``rows`` items numbered from ``start``: random bytes (seeded by the number), the first empty, and
    with ``big`` the last 3 MB; ids ``class<k>/item<n>.bin``; a string label and an int64 rank."""
    schema = media_schema("images", [pa.field("label", pa.string()), pa.field("rank", pa.int64())])
    numbers = range(start, start + rows)
    data = [random.Random(n).randbytes(0 if n == 0 else 100 + (n * 7919) % 5000) for n in numbers]
    if big and rows:
        data[-1] = random.Random(-1).randbytes(3_000_000)
    return pa.table({
        "id": [f"class{n % 4}/item{n:05d}.bin" for n in numbers],
        "data": pa.array(data, pa.large_binary()),
        "size": [len(d) for d in data],
        "format": ["bin"] * rows,
        "label": [f"class{n % 4}" for n in numbers],
        "rank": list(numbers),
    }, schema=schema)


def item_hashes(table: pa.Table) -> dict[str, str]:
    """Each item's id -> SHA-256 of its bytes: the per-item check, independent of row order."""
    return {row_id: hashlib.sha256(data).hexdigest()
            for row_id, data in zip(table.column("id").to_pylist(), table.column("data").to_pylist(), strict=True)}
