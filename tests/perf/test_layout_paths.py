"""Media layouts against the fastest direct read with each layout's own library (the gate, 1.15).

The data: a media table of ``STOREADVISE_PERF_MEDIA_ITEMS`` items (default 2,000) of 100 kB of random
bytes each (incompressible, as JPEGs are), written once by every layout's storeadvise backend. Two cases
per layout, both reading what storeadvise wrote:

- ``scan``: an epoch in write order (``Backend.scan``, every batch consumed) against the layout's own
  sequential read: plain file reads in id order, tar iteration (``tarfile``, ``webdataset``'s own loader,
  positioned reads at the members' offsets), an LMDB cursor, pyarrow's Parquet and IPC readers, Lance's
  ``to_batches``, SQLite's ``SELECT``;
- ``take``: one shuffled epoch, a random permutation of every position cut into batches of 32, one
  ``take`` per batch, against the same batches read directly: one file read per item, positioned tar
  reads, LMDB ``get`` in one transaction, only the needed Parquet row groups then pyarrow ``take``,
  pyarrow ``take`` on the memory-mapped IPC file, ``LanceDataset.take``, ``rowid IN`` in SQLite.

A scan's batches hold 65,536 rows (``Backend.scan``'s default), so a direct read that returns the rows
in smaller chunks (Arrow IPC record batches, Parquet row groups) combines them into batches of that size
as the scan does. Both sides read with one thread, except Lance's and pyarrow.dataset's own readers.
The direct reads return the items' bytes (Python ``bytes``) or Arrow tables; storeadvise returns Arrow
tables with every column, which it builds inside its timing.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pairs
import pytest

from storeadvise.backends.batching import scan_batch_rows
from storeadvise.backends.operations import OPERATIONS, TAKE_ROWS, consume

THRESHOLD = 1.15
ITEM_BYTES = 100_000
SCAN_ROWS = scan_batch_rows(ITEM_BYTES)
"""Rows per batch of a scan of these items, as the runner plans it (bounded in bytes): both sides of a
scan case hand out batches of this many rows."""
LAYOUTS = ("files_index", "webdataset", "lmdb", "parquet", "arrow", "lance", "sqlite")
OPS = ("scan", "take")


def media_items() -> int:
    return pairs.env_int("STOREADVISE_PERF_MEDIA_ITEMS", 2_000)


def media_data(count: int) -> tuple[Any, list[list[int]]]:
    """A media table of ``count`` items of ``ITEM_BYTES`` random bytes, and one shuffled epoch's batches of
    ``TAKE_ROWS`` positions (seeded)."""
    import pyarrow as pa

    from storeadvise.media import media_schema

    rng = random.Random(14)
    data = [rng.randbytes(ITEM_BYTES) for _ in range(count)]
    table = pa.table({"id": [f"class{i % 10}/img{i:06d}.jpg" for i in range(count)],
                      "data": pa.array(data, pa.large_binary()), "size": [ITEM_BYTES] * count,
                      "format": ["jpg"] * count}, schema=media_schema("images"))
    order = list(range(count))
    rng.shuffle(order)
    return table, [order[i:i + TAKE_ROWS] for i in range(0, count, TAKE_ROWS)]


def run_media_case(benchmark: Any, label: str, backend: Any, op: str, table: Any, batches: list[list[int]],
                   candidates: list[pairs.Side], note: str, threshold: float = THRESHOLD) -> None:
    """storeadvise's scan (an epoch) or shuffled epoch by ``take`` against the direct ``candidates``; fails
    the test beyond ``threshold``."""
    if op == "scan":
        # a scan is a stream: drained and consumed inside the timing, as the runner counts it
        storeadvise = pairs.Side("storeadvise", lambda: consume(OPERATIONS["scan"].call(backend, SCAN_ROWS)))
    else:
        storeadvise = pairs.Side("storeadvise", lambda: [OPERATIONS["take"].call(backend, b) for b in batches])
    note += f"; one shuffled epoch, {len(batches)} batches of {TAKE_ROWS}" if op == "take" else ""
    result = pairs.run_case(benchmark, label, op, backend.kind, table.num_rows, storeadvise, candidates,
                            notes=note, dataset="media", threshold=threshold)
    if not result.passed:
        pytest.fail(result.message(), pytrace=False)


@contextlib.contextmanager
def stored(names: tuple[str, ...], table: Any, scratch: Path, **settings: Any) -> Iterator[dict[str, Any]]:
    """The storeadvise backends ``names``, each holding ``table`` (written once), removed at the end."""
    from storeadvise.backends import backend_class
    from storeadvise.backends.base import BackendSettings

    stores = {}
    try:
        for name in names:
            backend = stores[name] = backend_class(name)(
                BackendSettings(run_id=uuid.uuid4().hex[:8], scratch_dir=scratch, key_column="id", **settings))
            backend.open()
            backend.write(table.schema, table.to_batches(max_chunksize=1024))
        yield stores
    finally:
        for backend in stores.values():
            backend.cleanup()


@pytest.fixture(scope="module")
def media(perf_scratch: Path) -> Iterator[tuple[Any, list[list[int]], dict[str, Any]]]:
    """(table, the shuffled epoch's batches of positions, the storeadvise backends holding the table)."""
    table, batches = media_data(media_items())
    with stored(LAYOUTS, table, perf_scratch / "layouts") as stores:
        yield table, batches, stores


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_storeadvise_vs_direct(benchmark: Any, media: tuple[Any, list[list[int]], dict[str, Any]], layout: str,
                               op: str) -> None:
    table, batches, stores = media
    backend = stores[layout]
    candidates = SIDES[layout](backend, op, table.column("id").to_pylist(), batches)
    run_media_case(benchmark, layout, backend, op, table, batches, candidates,
                   f"{table.num_rows} items of {ITEM_BYTES // 1000} kB")


def files_sides(backend: Any, op: str, ids: list[str], batches: list[list[int]]) -> list[pairs.Side]:
    root = backend.location / "items"
    if op == "scan":
        return [pairs.Side("plain file reads in id order", lambda: [(root / i).read_bytes() for i in ids])]
    return [pairs.Side("plain file reads per batch",
                       lambda: [[(root / ids[p]).read_bytes() for p in b] for b in batches])]


def tar_index(shards: list[Path]) -> dict[str, tuple[int, int, int]]:
    """Each member's shard, offset of its bytes and size, from the tar headers (built outside the timing)."""
    index = {}
    for number, shard in enumerate(shards):
        with tarfile.open(shard) as tar:
            for member in tar:
                index[member.name] = (number, member.offset_data, member.size)
    return index


def webdataset_sides(backend: Any, op: str, ids: list[str], batches: list[list[int]]) -> list[pairs.Side]:
    shards = sorted(backend.location.glob("shard-*.tar"))
    index = tar_index(shards)
    fds = [os.open(s, os.O_RDONLY) for s in shards]

    def pread(item: str) -> bytes:
        shard, offset, size = index[item]
        return os.pread(fds[shard], size, offset)

    if op == "take":
        return [pairs.Side("os.pread at the members' offsets per batch",
                           lambda: [[pread(ids[p]) for p in b] for b in batches])]

    def tar_iteration() -> list[bytes]:
        out = []
        for shard in shards:
            with tarfile.open(shard) as tar:
                out.extend(tar.extractfile(m).read() for m in tar)
        return out

    import webdataset

    urls = [str(s) for s in shards]
    return [
        pairs.Side("tarfile iteration", tar_iteration),
        pairs.Side("webdataset.WebDataset loader", lambda: list(webdataset.WebDataset(
            urls, shardshuffle=False, empty_check=False))),
        pairs.Side("os.pread at the members' offsets in order", lambda: [pread(i) for i in ids]),
    ]


def lmdb_sides(backend: Any, op: str, ids: list[str], batches: list[list[int]]) -> list[pairs.Side]:
    env = backend.env  # LMDB refuses a second handle on one environment in a process
    if op == "scan":
        def cursor() -> list[bytes]:
            with env.begin() as txn:
                return list(txn.cursor().iternext(keys=False, values=True))
        return [pairs.Side("lmdb cursor", cursor)]

    keys = [[p.to_bytes(8, "big") for p in b] for b in batches]

    def gets() -> list[list[bytes]]:
        with env.begin() as txn:
            return [[txn.get(k) for k in batch] for batch in keys]
    return [pairs.Side("lmdb get per item, one transaction", gets)]


def parquet_sides(backend: Any, op: str, ids: list[str], batches: list[list[int]]) -> list[pairs.Side]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    path = str(backend.parts()[0])
    if op == "scan":
        return [pairs.Side("pyarrow ParquetFile.iter_batches", lambda: pa.Table.from_batches(
                    list(pq.ParquetFile(path).iter_batches(batch_size=SCAN_ROWS)))),
                pairs.Side("pyarrow.dataset to_table, cut as a scan's batches", lambda: pa.Table.from_batches(
                    ds.dataset(path).to_table().combine_chunks().to_batches(max_chunksize=SCAN_ROWS)))]
    parquet_file = pq.ParquetFile(path)
    metadata = parquet_file.metadata
    starts = np.cumsum([0] + [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)])

    def row_groups(batch: list[int]) -> Any:
        groups = np.searchsorted(starts, batch, side="right") - 1
        needed = sorted(set(groups.tolist()))
        table = parquet_file.read_row_groups(needed)
        first = {g: int(sum(starts[h + 1] - starts[h] for h in needed[:i])) for i, g in enumerate(needed)}
        return table.take([first[g] + p - int(starts[g]) for g, p in zip(groups.tolist(), batch, strict=True)])

    return [pairs.Side("pyarrow read_row_groups + take", lambda: [row_groups(b) for b in batches]),
            pairs.Side("pyarrow read_table + take", lambda: [pq.read_table(path).take(b) for b in batches])]


def arrow_sides(backend: Any, op: str, ids: list[str], batches: list[list[int]]) -> list[pairs.Side]:
    import pyarrow as pa

    path = str(backend.parts()[0])
    if op == "scan":
        def batches_in_order() -> Any:  # cut as a scan's batches are (SCAN_ROWS)
            reader = pa.ipc.open_file(pa.memory_map(path))
            table = pa.Table.from_batches([reader.get_batch(i) for i in range(reader.num_record_batches)])
            return pa.Table.from_batches(table.combine_chunks().to_batches(max_chunksize=SCAN_ROWS))
        return [pairs.Side("pyarrow IPC memory-mapped batches, cut as a scan's batches", batches_in_order)]

    def take() -> list[Any]:
        table = pa.ipc.open_file(pa.memory_map(path)).read_all()
        return [table.take(b) for b in batches]

    def slices() -> list[Any]:
        reader = pa.ipc.open_file(pa.memory_map(path))
        size = reader.get_batch(0).num_rows  # every batch but the last holds this many rows
        return [pa.Table.from_batches([reader.get_batch(p // size).slice(p % size, 1) for p in b]).combine_chunks()
                for b in batches]
    return [pairs.Side("pyarrow memory-mapped read_all + take", take),
            pairs.Side("pyarrow memory-mapped batch slice per item", slices)]


def lance_sides(backend: Any, op: str, ids: list[str], batches: list[list[int]]) -> list[pairs.Side]:
    import lance
    import pyarrow as pa

    dataset = lance.dataset(str(backend.location))
    if op == "scan":
        return [pairs.Side("lance to_batches", lambda: pa.Table.from_batches(list(dataset.to_batches())))]
    return [pairs.Side("lance take", lambda: [dataset.take(b) for b in batches])]


def sqlite_sides(backend: Any, op: str, ids: list[str], batches: list[list[int]]) -> list[pairs.Side]:
    """The rows fetched and made Arrow columns (as the file suite's sqlite3 reader does)."""
    import direct

    con = sqlite3.connect(backend.path, check_same_thread=False)
    schema = backend.schema

    def arrow(rows: list[tuple]) -> Any:
        return direct.from_sqlite(list(zip(*rows, strict=True)), schema)

    if op == "scan":
        return [pairs.Side("sqlite3 SELECT * ORDER BY rowid", lambda: arrow(con.execute(
            "SELECT * FROM data ORDER BY rowid").fetchall()))]

    def take(batch: list[int]) -> Any:  # rows by rowid, put back in the order asked
        sql = f"SELECT rowid, * FROM data WHERE rowid IN ({', '.join('?' * len(batch))})"
        found = {row[0]: row[1:] for row in con.execute(sql, [p + 1 for p in batch])}
        return arrow([found[p + 1] for p in batch])
    return [pairs.Side("sqlite3 rowid IN per batch", lambda: [take(b) for b in batches])]


SIDES = {"files_index": files_sides, "webdataset": webdataset_sides, "lmdb": lmdb_sides, "parquet": parquet_sides,
         "arrow": arrow_sides, "lance": lance_sides, "sqlite": sqlite_sides}
