"""File and embedded-database backends against the fastest direct library call, per dataset of the
suite (``shapes.py``) and operation.

Each case: the storeadvise backend object's own method (``Backend(settings).write(...)``, ``read(...)``,
``lookup(...)``; not the CLI) against every direct path in ``direct.py``. Reads read the file or
database storeadvise wrote; writes write the same in-memory Arrow table (record batches of the size the
runner writes) to a file of their own.
A lookup run is a fixed set of keys looked up one after the other.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Any

import direct
import pairs
import pytest
import shapes

from storeadvise.backends.base import Predicate

FORMATS = ("csv", "jsonl", "parquet", "arrow")
DATABASES = ("sqlite", "duckdb")
OPS = ("write", "read", "project", "filter", "lookup")
CASES = [(d, b, op) for d in shapes.chosen_datasets() for b in (*FORMATS, *DATABASES) for op in OPS]
"""Dataset by dataset (each is generated and written once, when its first case runs)."""
LOOKUP_KEYS = {"csv": 1, "jsonl": 1, "parquet": 20, "arrow": 20, "sqlite": 200, "duckdb": 200}
"""Keys per lookup run: a text file is parsed whole for every key (a lookup there costs a full read), so
one key; columnar files skip row groups; databases answer from their index."""
SUFFIX = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet", "arrow": "arrow"}


@pytest.mark.parametrize(("dataset", "backend_name", "op"), CASES, ids=[f"{d}-{b}-{op}" for d, b, op in CASES])
def test_storeadvise_vs_direct(benchmark: Any, suite_data: Any, perf_scratch: Path,
                               dataset: str, backend_name: str, op: str) -> None:
    (table, plan, _), stores = suite_data.use(dataset)
    backend = stores[backend_name]
    keys = plan.lookup_keys[: LOOKUP_KEYS[backend_name]]
    out = perf_scratch / "direct" / backend_name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with contextlib.ExitStack() as closing:
        storeadvise = pairs.storeadvise_side(backend, op, plan, keys)
        if backend_name in FORMATS:
            candidates = format_sides(backend, op, table, plan, keys, out)
        elif backend_name == "sqlite":
            candidates = sqlite_sides(backend, op, table, plan, keys, out, closing)
        else:
            candidates = duckdb_sides(backend, op, table, plan, keys, out, closing)
        result = pairs.run_case(benchmark, backend_name, op, backend.kind, table.num_rows, storeadvise, candidates,
                                dataset=dataset, notes=f"{len(keys)} keys per lookup run" if op == "lookup" else "")
    if not result.passed:
        pytest.fail(result.message(), pytrace=False)


def reader_sides(readers: dict[str, Any], op: str, plan: Any, keys: list) -> list[pairs.Side]:
    """One side per reader for a read-like op; ``readers`` take (columns, where)."""

    def call(read: Any) -> Any:
        if op == "read":
            return lambda: read(None, None)
        if op == "project":
            return lambda: read(plan.projection, None)
        if op == "filter":
            return lambda: read(None, plan.predicate)
        return lambda: [read(None, Predicate(plan.key_column, "==", k)) for k in keys]

    return [
        pairs.Side(name, call(read), gate=name not in direct.INFO_ONLY, note=direct.INFO_ONLY.get(name, ""))
        for name, read in readers.items()
    ]


def format_sides(backend: Any, op: str, table: Any, plan: Any, keys: list, out: Path) -> list[pairs.Side]:
    name = backend.name
    if op == "write":
        writers = getattr(direct, f"{name}_writers")()
        return [
            pairs.Side(lib, lambda w=w, p=out / f"{i}.{SUFFIX[name]}": w(table, p))
            for i, (lib, w) in enumerate(writers.items())
        ]
    readers = getattr(direct, f"{name}_readers")(table.schema)
    path = backend.parts()[0]
    return reader_sides({lib: (lambda c, w, r=r: r(path, c, w)) for lib, r in readers.items()}, op, plan, keys)


def _unlink_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", ".wal"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def sqlite_sides(backend: Any, op: str, table: Any, plan: Any, keys: list, out: Path,
                 closing: contextlib.ExitStack) -> list[pairs.Side]:
    import sqlite3

    schema, key = table.schema, plan.key_column
    if op == "write":
        held: dict[str, Any] = {}

        def reset(path: Path) -> None:
            con = held.pop(str(path), None)
            if con is not None:
                con.close()
            _unlink_db(path)

        def executemany(path: Path) -> None:
            con = held[str(path)] = sqlite3.connect(path, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("BEGIN")
            con.execute(f"CREATE TABLE data ({', '.join(f'{f.name} {direct.SQL_TYPES[str(f.type)]}' for f in schema)})")
            con.executemany(f"INSERT INTO data VALUES ({', '.join('?' * len(schema))})",
                            zip(*direct.sqlite_storage_columns(table), strict=True))
            con.execute(f"CREATE INDEX data_key ON data ({key})")
            con.execute("COMMIT")

        def sqlite_utils_defaults(path: Path) -> None:
            import sqlite_utils

            db = sqlite_utils.Database(path)
            db["data"].insert_all(table.to_pylist())
            db["data"].create_index([key])
            held[str(path)] = db.conn

        a, b = out / "executemany.sqlite", out / "sqlite_utils.sqlite"
        closing.callback(lambda: [reset(p) for p in (a, b)])
        return [
            pairs.Side("sqlite3 executemany, one transaction", lambda: executemany(a), setup=lambda: reset(a)),
            pairs.Side("sqlite-utils insert_all (defaults)", lambda: sqlite_utils_defaults(b), setup=lambda: reset(b)),
        ]

    con = sqlite3.connect(backend.path)
    closing.callback(con.close)

    def target(columns: Any) -> Any:
        return direct.subschema(schema, columns) if columns is not None else schema

    def fetchall(columns: Any, where: Any) -> Any:
        sql, params = direct.sql_select(schema, "data", columns, where)
        rows = con.execute(sql, params).fetchall()
        values = list(zip(*rows, strict=True)) if rows else [() for _ in target(columns)]
        return direct.from_sqlite(values, target(columns))

    def polars_read(columns: Any, where: Any) -> Any:
        import polars as pl

        sql, params = direct.sql_select(schema, "data", columns, where)
        frame = pl.read_database(sql, connection=con, execute_options={"parameters": params} if params else None)
        return direct.restore_types(frame.to_arrow(), target(columns))

    def pandas_read(columns: Any, where: Any) -> Any:
        import pandas as pd

        sql, params = direct.sql_select(schema, "data", columns, where)
        frame = pd.read_sql(sql, con, params=params or None)
        return direct.restore_types(direct.pandas_to_arrow(frame), target(columns))

    readers = {"sqlite3 fetchall": fetchall, "polars read_database": polars_read, "pandas read_sql": pandas_read}
    return reader_sides(readers, op, plan, keys)


def duckdb_sides(backend: Any, op: str, table: Any, plan: Any, keys: list, out: Path,
                 closing: contextlib.ExitStack) -> list[pairs.Side]:
    import duckdb

    if op == "write":
        held: dict[str, Any] = {}
        path = out / "direct.duckdb"

        def reset() -> None:
            con = held.pop("con", None)
            if con is not None:
                con.close()
            _unlink_db(path)

        def create_table_as(source: Any) -> None:
            con = held["con"] = duckdb.connect(str(path))
            con.register("source", source)
            con.execute("CREATE TABLE data AS SELECT * FROM source")
            con.execute(f"CREATE INDEX data_key ON data ({plan.key_column})")

        closing.callback(reset)
        # DuckDB scans one contiguous Arrow chunk faster than many record batches, so combining the
        # chunks first (a copy, inside the timing) is a candidate of its own (docs/decisions.md, 'DuckDB:
        # loaded from contiguous chunks of a million rows').
        return [
            pairs.Side("duckdb CREATE TABLE AS from Arrow", lambda: create_table_as(table), setup=reset),
            pairs.Side("duckdb CREATE TABLE AS from Arrow (chunks combined)",
                       lambda: create_table_as(table.combine_chunks()), setup=reset),
        ]

    con = duckdb.connect(str(backend.path))
    closing.callback(con.close)

    def query(columns: Any, where: Any) -> Any:
        return direct.duckdb_query("data", columns, where, con=con)

    return reader_sides({"duckdb SQL to Arrow": query}, op, plan, keys)
