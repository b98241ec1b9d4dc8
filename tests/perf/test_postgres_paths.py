"""The postgres backend against hand-written calls of its own client libraries, on the embedded cluster.

The direct side is what an expert would write: an ADBC ingest of the Arrow table (binary COPY) plus the
primary key, or psycopg's binary COPY of the rows; one ADBC query into Arrow for reads, projections and
filters, or psycopg's binary fetch of the rows turned into Arrow; for lookups a psycopg prepared statement
per key (one row into Arrow) or an ADBC query per key. Both libraries are the backend's own, so every
candidate can be the gate's reference.
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

OPS = ("write", "read", "project", "filter", "lookup")
LOOKUP_KEYS = 200


@pytest.fixture(scope="module")
def postgres_store(server_data: Any, perf_servers: dict, perf_scratch: Path) -> Iterator[dict[str, Any]]:
    table, plan, _ = server_data
    yield from written_stores(table, plan.key_column, perf_scratch / "storeadvise-postgres", perf_servers)


@pytest.mark.parametrize("op", OPS, ids=[f"postgres-{op}" for op in OPS])
def test_storeadvise_vs_direct(benchmark: Any, postgres_store: dict[str, Any], server_data: Any,
                               perf_servers: dict, op: str) -> None:
    table, plan, _ = server_data
    backend = postgres_store["postgres"]
    keys = plan.lookup_keys[:LOOKUP_KEYS]
    with contextlib.ExitStack() as closing:
        storeadvise = pairs.storeadvise_side(backend, op, plan, keys)
        candidates = postgres_sides(op, table, plan, keys, perf_servers["postgres"].address,
                                    backend.settings.scratch_name, closing)
        result = pairs.run_case(benchmark, "postgres", op, backend.kind, table.num_rows, storeadvise, candidates,
                                notes=f"{len(keys)} keys per lookup run" if op == "lookup" else "")
    if not result.passed:
        pytest.fail(result.message(), pytrace=False)


def plain_columns(table: Any) -> Any:
    """Categorical columns as their values: what PostgreSQL stores (text)."""
    import pyarrow as pa

    columns = [c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns]
    return pa.Table.from_arrays(columns, names=table.column_names)


def postgres_sides(op: str, table: Any, plan: Any, keys: list, address: str, schema: str,
                   closing: contextlib.ExitStack) -> list[pairs.Side]:
    import adbc_driver_postgresql.dbapi as adbc
    import psycopg

    con = adbc.connect(address, autocommit=True)
    closing.callback(con.close)
    pg = psycopg.connect(address, autocommit=True)
    closing.callback(pg.close)
    if op == "write":
        return write_sides(con, pg, table, plan.key_column, schema, closing)  # ADBC takes categoricals as text
    return read_sides(con, pg, op, plain_columns(table).schema, plan, keys, f'"{schema}"."data"')


def write_sides(con: Any, pg: Any, table: Any, key: str, schema: str,
                closing: contextlib.ExitStack) -> list[pairs.Side]:
    target = f'"{schema}"."direct"'

    def drop() -> None:
        pg.execute(f"DROP TABLE IF EXISTS {target}")

    closing.callback(drop)

    def adbc_ingest() -> None:
        cursor = con.cursor()
        try:
            cursor.adbc_ingest("direct", table, mode="create", db_schema_name=schema)
        finally:
            cursor.close()
        pg.execute(f'ALTER TABLE {target} ADD PRIMARY KEY ("{key}")')

    def psycopg_copy() -> None:
        pg.execute(f"CREATE TABLE {target} (LIKE \"{schema}\".\"data\")")
        types = [r[0] for r in pg.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass "
            "AND attnum > 0 ORDER BY attnum", (target,)).fetchall()]
        with pg.cursor() as cursor, cursor.copy(f"COPY {target} FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for batch in table.to_batches():
                for row in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                    copy.write_row(row)
        pg.execute(f'ALTER TABLE {target} ADD PRIMARY KEY ("{key}")')

    return [pairs.Side("ADBC adbc_ingest + primary key", adbc_ingest, setup=drop),
            pairs.Side("psycopg binary COPY + primary key", psycopg_copy, setup=drop)]


def read_sides(con: Any, pg: Any, op: str, schema: Any, plan: Any, keys: list, relation: str) -> list[pairs.Side]:
    import pyarrow as pa

    key = plan.key_column
    columns = plan.projection if op == "project" else schema.names
    names = ", ".join(f'"{c}"' for c in columns)
    where = ""
    if op == "filter":
        predicate = plan.predicate
        where = f' WHERE "{predicate.column}" {"=" if predicate.op == "==" else predicate.op} {predicate.value!r}'
    sql = f"SELECT {names} FROM {relation}{where}"
    struct = pa.struct([schema.field(c) for c in columns])

    def adbc_query(query: str = sql, params: Any = None) -> Any:
        cursor = con.cursor()
        try:
            cursor.execute(query, params)
            return cursor.fetch_arrow_table()
        finally:
            cursor.close()

    binary = pg.cursor(binary=True)

    def psycopg_rows(query: str = sql, params: Any = None, prepare: bool | None = None) -> Any:
        rows = binary.execute(query, params, prepare=prepare).fetchall()
        return pa.Table.from_batches([pa.RecordBatch.from_struct_array(pa.array(rows, type=struct))])

    if op == "lookup":
        lookup = f'SELECT {names} FROM {relation} WHERE "{key}" = '
        return [
            pairs.Side("psycopg prepared statement per key", lambda: [
                psycopg_rows(lookup + "%s", (k,), prepare=True) for k in keys]),
            pairs.Side("ADBC query per key", lambda: [adbc_query(lookup + "$1", (k,)) for k in keys]),
        ]
    return [pairs.Side("ADBC query into Arrow", adbc_query),
            pairs.Side("psycopg binary fetch into Arrow", psycopg_rows)]
