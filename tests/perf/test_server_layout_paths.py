"""Media on the server stores against the fastest direct read with each store's own client library.

The data: a media table of ``STOREADVISE_PERF_SERVER_MEDIA_ITEMS`` items (default 384) of 100 kB of random
bytes each (``test_layout_paths.media_data``), written once by each storeadvise backend on the suite's
embedded servers: ``mongo`` (one document per item), ``gridfs`` (one GridFS file per item), ``redis`` (one
hash per item) and ``postgres`` (one row per item, the bytes in ``bytea``). Two cases per store, both
reading what storeadvise wrote:

- ``scan``: an epoch in the store's read order (``Backend.scan``, every batch consumed) against the
  store's own sequential read: pymongo ``find`` of every document, GridFS downloads of every file (by id,
  by iterating ``GridFSBucket.find``, and as one query on its ``fs.chunks`` collection), SCAN with
  pipelined HMGET or HGETALL, one ADBC query or psycopg's binary fetch;
- ``take``: one shuffled epoch, a random permutation of every position cut into batches of 32, one
  ``take`` per batch, against the same number of batches of the same items read directly: pymongo
  ``find`` with ``$in`` on the ``_id`` s, GridFS downloads per item or the batch's chunks in one query, a
  pipeline of HMGETs, psycopg or ADBC ``= ANY`` on the primary key.

The direct sides build the same Arrow table as storeadvise (every column; the bytes as ``large_binary``),
in the order asked, so both sides do the same conversions; a direct scan that returns smaller chunks (ADBC's
record batches of 16 MB) combines them into batches of ``SCAN_ROWS``, as ``Backend.scan`` returns them (the rule
of the local layouts' gates, docs/decisions.md, 'Media layouts: the perf gates'). Each store's positions
follow its read order (natural order for MongoDB, key order for Redis, the heap's order for PostgreSQL);
what a batch asks the direct side is the same items, listed outside the timing. The gate: 1.15 for MongoDB
and GridFS, 1.10 for PostgreSQL and Redis (``pairs.threshold_for``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pairs
import pytest
from test_layout_paths import ITEM_BYTES, SCAN_ROWS, media_data, run_media_case, stored

pytestmark = pytest.mark.server

STORES = ("mongo", "gridfs", "redis", "postgres")
OPS = ("scan", "take")


def media_items() -> int:
    return pairs.env_int("STOREADVISE_PERF_SERVER_MEDIA_ITEMS", 384)


@pytest.fixture(scope="module")
def server_media(perf_scratch: Path, perf_servers: dict) -> Iterator[tuple[Any, list[list[int]], dict[str, Any]]]:
    """(table, the shuffled epoch's batches of positions, the storeadvise backends holding the table)."""
    from storeadvise.backends import backend_class

    table, batches = media_data(media_items())
    stores: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        for name in STORES:  # each on its own service's server
            service = perf_servers[backend_class(name).service.name]
            stores.update(stack.enter_context(stored((name,), table, perf_scratch / "server-layouts", service=service)))
        yield table, batches, stores


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("store", STORES)
def test_storeadvise_vs_direct(benchmark: Any, server_media: tuple[Any, list[list[int]], dict[str, Any]],
                               perf_servers: dict, store: str, op: str) -> None:
    table, batches, stores = server_media
    backend = stores[store]
    # the items at each position of the store's read order: what a direct take of those positions fetches
    ordered = read_order(backend, table.replace_schema_metadata(None))
    with contextlib.ExitStack() as closing:
        candidates = SIDES[store](backend, op, ordered, batches, perf_servers[backend.service.name].address, closing)
        run_media_case(benchmark, store, backend, op, table, batches, candidates,
                       f"{table.num_rows} items of {ITEM_BYTES // 1000} kB", pairs.threshold_for(backend.kind, store))


def read_order(backend: Any, table: Any) -> Any:
    """``table``'s rows in the order ``backend`` reads them (its positions), found by the ids it reads."""
    import pyarrow.compute as pc

    ids = backend.read(columns=["id"]).column("id")
    return table.take(pc.index_in(ids, value_set=table.column("id")))


def in_order(found: dict[Any, Any], keys: list[Any]) -> list[Any]:
    """The values of ``keys`` in the order asked (a key asked twice, twice)."""
    return [found[k] for k in keys]


# -- MongoDB: plain documents and GridFS -----------------------------------------------------------------
def mongo_client(address: str, closing: contextlib.ExitStack) -> Any:
    import pymongo

    client: pymongo.MongoClient = pymongo.MongoClient(address)
    closing.callback(client.close)
    return client


def mongo_sides(backend: Any, op: str, ordered: Any, batches: list[list[int]], address: str,
                closing: contextlib.ExitStack) -> list[pairs.Side]:
    import pyarrow as pa

    collection = mongo_client(address, closing)[backend.settings.scratch_name]["data"]
    schema = ordered.schema
    if op == "scan":
        return [pairs.Side("pymongo find, every document", lambda: pa.Table.from_pylist(
            list(collection.find({}, {"_id": 0})), schema=schema))]
    ids = {doc["id"]: doc["_id"] for doc in collection.find({}, {"id": 1})}
    wanted = [[ids[i] for i in ordered.column("id").take(b).to_pylist()] for b in batches]

    def take(batch: list[Any]) -> Any:
        found = {doc.pop("_id"): doc for doc in collection.find({"_id": {"$in": list(set(batch))}})}
        return pa.Table.from_pylist(in_order(found, batch), schema=schema)

    return [pairs.Side("pymongo find $in on _id per batch", lambda: [take(b) for b in wanted])]


def gridfs_sides(backend: Any, op: str, ordered: Any, batches: list[list[int]], address: str,
                 closing: contextlib.ExitStack) -> list[pairs.Side]:
    """GridFS holds the bytes; the other columns come from the table in memory, as storeadvise's come from
    its manifest, read once."""
    import gridfs
    import pyarrow as pa

    database = mongo_client(address, closing)[backend.settings.scratch_name]
    bucket = gridfs.GridFSBucket(database)
    files = {f.filename: f._id for f in bucket.find({})}
    others = ordered.drop_columns(["data"])
    at = ordered.schema.get_field_index("data")

    def with_bytes(rows: Any, data: list[bytes]) -> Any:
        return rows.add_column(at, ordered.schema.field(at), pa.array(data, pa.large_binary()))

    def downloads(positions: list[int]) -> Any:
        rows = others.take(positions)
        return with_bytes(rows, [bucket.open_download_stream(files[i]).read() for i in rows.column("id").to_pylist()])

    def chunks(positions: list[int]) -> Any:  # GridFS's own collection, one query for the batch's files
        rows = others.take(positions)
        wanted = [files[i] for i in rows.column("id").to_pylist()]
        found: dict[Any, list[tuple[int, bytes]]] = {}
        for chunk in database["fs.chunks"].find({"files_id": {"$in": list(set(wanted))}}):
            found.setdefault(chunk["files_id"], []).append((chunk["n"], chunk["data"]))
        return with_bytes(rows, [b"".join(d for _, d in sorted(found.get(f, ()))) for f in wanted])

    if op == "take":
        return [pairs.Side("GridFSBucket.open_download_stream per item", lambda: [downloads(b) for b in batches]),
                pairs.Side("pymongo find on fs.chunks, files_id $in per batch", lambda: [chunks(b) for b in batches])]
    every = list(range(ordered.num_rows))

    def iterated() -> Any:
        data = {f.filename: f.read() for f in bucket.find({}, sort=[("_id", 1)])}
        return with_bytes(others, in_order(data, others.column("id").to_pylist()))

    return [pairs.Side("GridFSBucket.open_download_stream per file", lambda: downloads(every)),
            pairs.Side("GridFSBucket.find, each file read", iterated),
            pairs.Side("pymongo find on fs.chunks, files_id $in", lambda: chunks(every))]


# -- Redis -----------------------------------------------------------------------------------------------
def redis_sides(backend: Any, op: str, ordered: Any, batches: list[list[int]], address: str,
                closing: contextlib.ExitStack) -> list[pairs.Side]:
    import pyarrow as pa
    import redis

    client = redis.Redis.from_url(address)
    closing.callback(client.close)
    prefix = backend.prefix
    schema = ordered.schema
    fields = [name.encode() for name in schema.names]

    def arrow(rows: list[list[bytes]]) -> Any:
        ids, data, sizes, formats = (list(c) for c in zip(*rows, strict=True))
        return pa.table({"id": pa.array(ids, pa.binary()).cast(pa.string()), "data": pa.array(data, pa.large_binary()),
                         "size": pa.array(sizes, pa.binary()).cast(pa.string()).cast(pa.int64()),
                         "format": pa.array(formats, pa.binary()).cast(pa.string())}, schema=schema)

    def hmget(keys: list[bytes]) -> Any:
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, fields)
        return arrow(pipe.execute())

    def listed() -> list[bytes]:
        return list(client.scan_iter(match=prefix + b"*", count=10_000))

    if op == "scan":
        def hgetall() -> Any:
            pipe = client.pipeline(transaction=False)
            for key in listed():
                pipe.hgetall(key)
            return arrow([[row[f] for f in fields] for row in pipe.execute()])
        return [pairs.Side("redis-py SCAN + pipelined HMGET", lambda: hmget(listed())),
                pairs.Side("redis-py SCAN + pipelined HGETALL", hgetall)]
    keys = [[prefix + i.encode() for i in ordered.column("id").take(b).to_pylist()] for b in batches]
    return [pairs.Side("redis-py pipelined HMGET per batch", lambda: [hmget(b) for b in keys])]


# -- PostgreSQL ------------------------------------------------------------------------------------------
def postgres_sides(backend: Any, op: str, ordered: Any, batches: list[list[int]], address: str,
                   closing: contextlib.ExitStack) -> list[pairs.Side]:
    import adbc_driver_postgresql.dbapi as adbc
    import psycopg
    import pyarrow as pa
    import pyarrow.compute as pc

    con = adbc.connect(address, autocommit=True)
    closing.callback(con.close)
    pg = psycopg.connect(address, autocommit=True)
    closing.callback(pg.close)
    binary = pg.cursor(binary=True)
    schema = ordered.schema
    sql = f'SELECT "id", "data", "size", "format" FROM "{backend.settings.scratch_name}"."data"'
    struct = pa.struct([f.with_type(pa.binary()) if f.name == "data" else f for f in schema])

    def arrow(rows: list[tuple]) -> Any:
        return pa.Table.from_batches([pa.RecordBatch.from_struct_array(pa.array(rows, type=struct))]).cast(schema)

    def adbc_query(query: str, params: Any = None) -> Any:
        cursor = con.cursor()
        try:
            cursor.execute(query, params)
            return cursor.fetch_arrow_table().cast(schema)
        finally:
            cursor.close()

    if op == "scan":  # cut as a scan's batches are (SCAN_ROWS)
        return [pairs.Side("ADBC query into Arrow, cut as a scan's batches", lambda: pa.Table.from_batches(
                    adbc_query(sql).combine_chunks().to_batches(max_chunksize=SCAN_ROWS))),
                pairs.Side("psycopg binary fetchall into Arrow", lambda: arrow(binary.execute(sql).fetchall()))]
    wanted = [ordered.column("id").take(b).to_pylist() for b in batches]
    keyed = f'{sql} WHERE "id" = ANY(%s)'

    def psycopg_take(batch: list[str]) -> Any:
        found = {row[0]: row for row in binary.execute(keyed, (list(set(batch)),), prepare=True).fetchall()}
        return arrow(in_order(found, batch))

    def adbc_take(batch: list[str]) -> Any:
        got = adbc_query(f'{sql} WHERE "id" = ANY($1)', (list(set(batch)),))
        return got.take(pc.index_in(pa.array(batch), value_set=got.column("id")))

    return [pairs.Side("psycopg binary id = ANY per batch (primary key)", lambda: [psycopg_take(b) for b in wanted]),
            pairs.Side("ADBC id = ANY($1) per batch (primary key)", lambda: [adbc_take(b) for b in wanted])]


SIDES = {"mongo": mongo_sides, "gridfs": gridfs_sides, "redis": redis_sides, "postgres": postgres_sides}
