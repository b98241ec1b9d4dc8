"""The redis backend against hand-written redis-py code on the embedded redis-server.

The direct side is what an expert would write with redis-py (and hiredis) for the same layout, one hash
per row with the values as text: Arrow casts the columns to text, a pipeline sends one HSET per row;
reads list the keys with SCAN and fetch the hashes in one pipeline (HGETALL, or HMGET of the projected
fields), and cast the texts back with Arrow; a lookup is one HGETALL parsed into a one-row table. Both
sides do the same conversions; the direct reads do not sort the rows by key, which storeadvise does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pairs
import pytest
from stores import written_stores

pytestmark = pytest.mark.server

OPS = ("write", "read", "project", "lookup")
LOOKUP_KEYS = 200
PIPELINE_ROWS = 10_000


@pytest.fixture(scope="module")
def redis_stores(server_data: Any, perf_servers: dict, perf_scratch: Path) -> Iterator[dict[str, Any]]:
    table, plan, _ = server_data
    yield from written_stores(table, plan.key_column, perf_scratch / "storeadvise-redis", perf_servers)


@pytest.mark.parametrize("op", OPS)
def test_storeadvise_vs_direct(benchmark: Any, redis_stores: dict[str, Any], server_data: Any, perf_servers: dict,
                               op: str) -> None:
    table, plan, _ = server_data
    backend = redis_stores["redis"]
    keys = plan.lookup_keys[:LOOKUP_KEYS]
    with contextlib.ExitStack() as closing:
        import redis

        client = redis.Redis.from_url(perf_servers["redis"].address)
        closing.callback(client.close)
        storeadvise = pairs.storeadvise_side(backend, op, plan, keys)
        prefix = backend.settings.scratch_name + ":"
        if op == "write":
            candidates = write_sides(client, table, plan.key_column, backend.settings.scratch_name, closing)
        else:
            candidates = read_sides(client, op, table, plan, keys, prefix)
        result = pairs.run_case(benchmark, "redis", op, backend.kind, table.num_rows, storeadvise, candidates,
                                notes=f"{len(keys)} keys per lookup run" if op == "lookup" else "")
    if not result.passed:
        pytest.fail(result.message(), pytrace=False)


def storage_types(schema: Any) -> list[Any]:
    """The type each column's text is parsed as: temporal values as their integers."""
    import pyarrow as pa

    def leaf(t: Any) -> Any:
        if pa.types.is_timestamp(t) or pa.types.is_date64(t):
            return pa.int64()
        if pa.types.is_date32(t):
            return pa.int32()
        return t

    return [leaf(f.type) for f in schema]


def text_columns(table: Any) -> list[list[Any]]:
    """Every column as Python texts (None for null), converted by Arrow."""
    import pyarrow as pa

    columns = []
    for column, stored in zip(table.columns, storage_types(table.schema), strict=True):
        column = column.combine_chunks()
        if column.type != stored:
            column = column.cast(stored)
        if not pa.types.is_string(column.type):
            column = column.cast(pa.string())
        columns.append(column.to_pylist())
    return columns


def from_texts(values: list[list[Any]], schema: Any) -> Any:
    """The table of ``schema`` from each column's stored texts (bytes or None)."""
    import pyarrow as pa

    arrays = []
    for column, field, stored in zip(values, schema, storage_types(schema), strict=True):
        array = pa.array(column, pa.binary()).cast(pa.string())
        if stored != pa.string():
            array = array.cast(stored)
        arrays.append(array.cast(field.type) if stored != field.type else array)
    return pa.Table.from_arrays(arrays, schema=schema)


def write_sides(client: Any, table: Any, key: str, run: str, closing: contextlib.ExitStack) -> list[pairs.Side]:
    prefix = f"{run}_direct:"
    names = table.column_names

    def drop() -> None:
        for chunk in _chunks(list(client.scan_iter(match=prefix + "*", count=10_000)), 10_000):
            client.unlink(*chunk)

    def rows() -> Iterator[tuple[str, dict[str, Any]]]:
        columns = text_columns(table)
        at = names.index(key)
        for values in zip(*columns, strict=True):
            yield prefix + values[at], {n: v for n, v in zip(names, values, strict=True) if v is not None}

    def hset_mapping() -> None:
        pipe = client.pipeline(transaction=False)
        for name, mapping in rows():
            pipe.hset(name, mapping=mapping)
        pipe.execute()

    def hset_chunked() -> None:
        pipe = client.pipeline(transaction=False)
        for n, (name, mapping) in enumerate(rows(), 1):
            pipe.execute_command("HSET", name, *[x for item in mapping.items() for x in item])
            if n % PIPELINE_ROWS == 0:
                pipe.execute()
        pipe.execute()

    closing.callback(drop)
    return [
        pairs.Side("redis-py pipeline hset(mapping=), one execute", hset_mapping, setup=drop),
        pairs.Side(f"redis-py pipeline HSET, execute every {PIPELINE_ROWS:,}", hset_chunked, setup=drop),
    ]


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def read_sides(client: Any, op: str, table: Any, plan: Any, keys: list, prefix: str) -> list[pairs.Side]:
    import pyarrow as pa

    schema = table.schema
    columns = plan.projection if op == "project" else schema.names
    subschema = pa.schema([schema.field(c) for c in columns])
    fields = [c.encode() for c in columns]

    def hgetall_all() -> Any:
        pipe = client.pipeline(transaction=False)
        for name in client.scan_iter(match=prefix + "*", count=10_000):
            pipe.hgetall(name)
        rows = pipe.execute()
        return from_texts([[r.get(f) for r in rows] for f in fields], subschema)

    def hmget_all() -> Any:
        pipe = client.pipeline(transaction=False)
        for name in client.scan_iter(match=prefix + "*", count=10_000):
            pipe.hmget(name, fields)
        rows = pipe.execute()
        return from_texts([list(c) for c in zip(*rows, strict=True)], subschema)

    def lookups() -> list:
        parsers = [_parser(t) for t in storage_types(schema)]
        stored = pa.schema([pa.field(f.name, t) for f, t in zip(schema, storage_types(schema), strict=True)])
        out = []
        for k in keys:
            found = client.hgetall(f"{prefix}{k}")
            row = {f.name: (p(found[n]) if n in found else None)
                   for f, n, p in zip(schema, fields, parsers, strict=True)}
            out.append(pa.Table.from_pylist([row], schema=stored).cast(schema))
        return out

    if op == "lookup":
        return [pairs.Side("redis-py HGETALL, one-row table", lookups)]
    if op == "project":
        return [pairs.Side("redis-py SCAN + pipelined HMGET", hmget_all)]
    return [pairs.Side("redis-py SCAN + pipelined HGETALL", hgetall_all),
            pairs.Side("redis-py SCAN + pipelined HMGET", hmget_all)]


def _parser(dtype: Any) -> Any:
    import pyarrow as pa

    if pa.types.is_integer(dtype):
        return int
    if pa.types.is_floating(dtype):
        return float
    if pa.types.is_boolean(dtype):
        return lambda v: v == b"true"
    if pa.types.is_string(dtype):
        return lambda v: v.decode()
    return lambda v: v
