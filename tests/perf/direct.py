"""What an expert would write by hand for the same work, per format and library.

Every function starts from the same Arrow table (writes) or the file storeadvise wrote (reads) and ends
where storeadvise ends: a file on disk, or an Arrow table in memory (pandas and polars results are
converted to Arrow inside the timed call, since that is the result the work must produce), which
``pairs.time_calls`` then consumes inside the timing exactly as storeadvise's result is consumed (every
page read, ``backends.operations.consume``), so a memory-mapped table is read on both sides. Reads take
``(path, columns, where)`` so that read, project, filter and lookup all come from one function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from storeadvise.backends.base import Predicate, quote_identifier, quote_literal

INFO_ONLY: dict[str, str] = {}
# pyarrow with newlines_in_values=False and pandas' engine=pyarrow used to be listed here: they
# misread quoted values holding a line break. The CSV backend now records whether it wrote any and
# takes that fast path only when it did not, so on such data they are the same work and may gate.
"""Direct calls measured and shown but never the gate's reference, with the reason."""

Reader = Callable[[Path, Sequence[str] | None, Predicate | None], Any]
Writer = Callable[[Any, Path], None]


def finish(table: Any, columns: Sequence[str] | None, where: Predicate | None) -> Any:
    """Filter, then keep ``columns``: what every reader without pushdown does last."""
    if where is not None:
        table = table.filter(where.to_arrow())
    if columns is not None:
        table = table.select(list(columns))
    return table


def needed(columns: Sequence[str] | None, where: Predicate | None) -> list[str] | None:
    if columns is None:
        return None
    return list(dict.fromkeys([*columns, *([where.column] if where is not None else [])]))


def polars_expr(where: Predicate) -> Any:
    import operator

    import polars as pl

    ops = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
           ">=": operator.ge}
    return ops[where.op](pl.col(where.column), where.value)


def polars_lazy(frame: Any, columns: Sequence[str] | None, where: Predicate | None) -> Any:
    if where is not None:
        frame = frame.filter(polars_expr(where))
    if columns is not None:
        frame = frame.select(list(columns))
    return frame.collect().to_arrow()


def duckdb_query(source: str, columns: Sequence[str] | None, where: Predicate | None, con: Any = None) -> Any:
    import duckdb

    names = ", ".join(map(quote_identifier, columns)) if columns is not None else "*"
    sql = f"SELECT {names} FROM {source}"
    params: list[Any] = []
    if where is not None:
        condition, values = where.to_sql()
        sql, params = f"{sql} WHERE {condition}", list(values)
    return (con or duckdb).sql(sql, params=params or None).to_arrow_table()


DUCKDB_TYPES = {"int64": "BIGINT", "double": "DOUBLE", "string": "VARCHAR", "bool": "BOOLEAN",
                "timestamp[us, tz=UTC]": "TIMESTAMPTZ", "date32[day]": "DATE"}


def duckdb_columns(schema: Any) -> str:
    """A DuckDB ``columns={...}`` argument, so that its readers parse with the schema and skip sniffing."""
    return "{" + ", ".join(f"{quote_literal(f.name)}: '{DUCKDB_TYPES[str(f.type)]}'" for f in schema) + "}"


def polars_schema(schema: Any) -> Any:
    import polars as pl

    return pl.from_arrow(schema.empty_table()).schema


def pandas_to_arrow(frame: Any) -> Any:
    import pyarrow as pa

    return pa.Table.from_pandas(frame, preserve_index=False)


# -- CSV -----------------------------------------------------------------------------------------------------
def csv_readers(schema: Any) -> dict[str, Reader]:
    import pyarrow.csv as pcsv

    types = {f.name: f.type for f in schema}

    def pyarrow_read(newlines: bool) -> Reader:
        def read(path: Path, columns: Sequence[str] | None, where: Predicate | None) -> Any:
            table = pcsv.read_csv(
                path,
                parse_options=pcsv.ParseOptions(newlines_in_values=newlines),
                convert_options=pcsv.ConvertOptions(
                    column_types=types, include_columns=needed(columns, where), null_values=[""],
                    strings_can_be_null=True, quoted_strings_can_be_null=False,
                ),
            )
            return finish(table, columns, where)

        return read

    def polars_read(path: Path, columns: Sequence[str] | None, where: Predicate | None) -> Any:
        import polars as pl

        return polars_lazy(pl.scan_csv(path, schema=polars_schema(schema)), columns, where)

    def duckdb_read(path: Path, columns: Sequence[str] | None, where: Predicate | None) -> Any:
        return duckdb_query(f"read_csv('{path}', header=true, columns={duckdb_columns(schema)})", columns, where)

    def pandas_read(path: Path, columns: Sequence[str] | None, where: Predicate | None) -> Any:
        import pandas as pd

        frame = pd.read_csv(path, engine="pyarrow", dtype_backend="pyarrow", usecols=needed(columns, where))
        return finish(pandas_to_arrow(frame), columns, where)

    return {
        "pyarrow": pyarrow_read(True),
        "pyarrow (newlines_in_values=False)": pyarrow_read(False),
        "polars": polars_read,
        "duckdb": duckdb_read,
        "pandas read_csv (engine=pyarrow)": pandas_read,
    }


def csv_writers() -> dict[str, Writer]:
    def polars_write(table: Any, path: Path) -> None:
        import polars as pl

        pl.from_arrow(table, rechunk=False).write_csv(path)

    def pyarrow_write(table: Any, path: Path) -> None:
        import pyarrow.csv as pcsv

        pcsv.write_csv(table, path)

    def duckdb_write(table: Any, path: Path) -> None:
        import duckdb

        duckdb.from_arrow(table).write_csv(str(path), header=True)

    def pandas_write(table: Any, path: Path) -> None:
        table.to_pandas().to_csv(path, index=False)

    return {"polars": polars_write, "pyarrow": pyarrow_write, "duckdb": duckdb_write, "pandas": pandas_write}


# -- JSON Lines ----------------------------------------------------------------------------------------------
def jsonl_readers(schema: Any) -> dict[str, Reader]:
    import pyarrow as pa
    import pyarrow.json as pj

    as_text = pa.schema(
        [pa.field(f.name, pa.string()) if pa.types.is_temporal(f.type) else f for f in schema]
    )

    def pyarrow_read(path: Path, columns: Sequence[str] | None, where: Predicate | None) -> Any:
        table = pj.read_json(path, parse_options=pj.ParseOptions(explicit_schema=as_text))
        return finish(table.cast(schema), columns, where)

    def polars_read(path: Path, columns: Sequence[str] | None, where: Predicate | None) -> Any:
        import polars as pl

        text = polars_schema(as_text)
        frame = pl.scan_ndjson(path, schema=text).with_columns(
            *(pl.col(f.name).str.to_datetime(time_zone="UTC", time_unit="us") for f in schema
              if pa.types.is_timestamp(f.type)),
            *(pl.col(f.name).str.to_date() for f in schema if pa.types.is_date(f.type)),
        )
        return polars_lazy(frame, columns, where)

    def duckdb_read(path: Path, columns: Sequence[str] | None, where: Predicate | None) -> Any:
        source = f"read_json('{path}', format='newline_delimited', columns={duckdb_columns(schema)})"
        return duckdb_query(source, columns, where)

    def pandas_read(path: Path, columns: Sequence[str] | None, where: Predicate | None) -> Any:
        import pandas as pd

        frame = pd.read_json(path, lines=True, engine="pyarrow", dtype_backend="pyarrow")
        return finish(pandas_to_arrow(frame), columns, where)

    return {"pyarrow": pyarrow_read, "polars": polars_read, "duckdb": duckdb_read,
            "pandas read_json (engine=pyarrow)": pandas_read}


def jsonl_writers() -> dict[str, Writer]:
    def polars_write(table: Any, path: Path) -> None:
        import polars as pl

        pl.from_arrow(table, rechunk=False).write_ndjson(path)

    def duckdb_write(table: Any, path: Path) -> None:
        import duckdb

        con = duckdb.connect()
        con.register("t", table)
        con.execute(f"COPY t TO '{path}' (FORMAT json)")
        con.close()

    def pandas_write(table: Any, path: Path) -> None:
        table.to_pandas().to_json(path, orient="records", lines=True, date_format="iso")

    return {"polars": polars_write, "duckdb": duckdb_write, "pandas": pandas_write}


# -- Parquet -------------------------------------------------------------------------------------------------
def parquet_readers(schema: Any) -> dict[str, Reader]:
    def pyarrow_read(path: Path, columns: Sequence[str] | None, where: Predicate | None) -> Any:
        import pyarrow.parquet as pq

        table = pq.read_table(path, columns=needed(columns, where),
                              filters=where.to_arrow() if where is not None else None)
        return table.select(list(columns)) if columns is not None else table

    def polars_read(path: Path, columns: Sequence[str] | None, where: Predicate | None) -> Any:
        import polars as pl

        return polars_lazy(pl.scan_parquet(path), columns, where)

    def duckdb_read(path: Path, columns: Sequence[str] | None, where: Predicate | None) -> Any:
        return duckdb_query(f"read_parquet('{path}')", columns, where)

    def pandas_read(path: Path, columns: Sequence[str] | None, where: Predicate | None) -> Any:
        import pandas as pd

        frame = pd.read_parquet(path, columns=needed(columns, where), dtype_backend="pyarrow",
                                filters=where.to_arrow() if where is not None else None)
        table = pandas_to_arrow(frame)
        return table.select(list(columns)) if columns is not None else table

    return {"pyarrow": pyarrow_read, "polars": polars_read, "duckdb": duckdb_read,
            "pandas (dtype_backend=pyarrow)": pandas_read}


def parquet_writers() -> dict[str, Writer]:
    """All with snappy, storeadvise's default codec (polars would pick zstd)."""

    def pyarrow_write(table: Any, path: Path) -> None:
        import pyarrow.parquet as pq

        pq.write_table(table, path, compression="snappy")

    def polars_write(table: Any, path: Path) -> None:
        import polars as pl

        pl.from_arrow(table, rechunk=False).write_parquet(path, compression="snappy")

    def duckdb_write(table: Any, path: Path) -> None:
        import duckdb

        duckdb.from_arrow(table).write_parquet(str(path), compression="snappy")

    def pandas_write(table: Any, path: Path) -> None:
        table.to_pandas().to_parquet(path, compression="snappy")

    return {"pyarrow": pyarrow_write, "polars": polars_write, "duckdb": duckdb_write, "pandas": pandas_write}


# -- Arrow IPC -----------------------------------------------------------------------------------------------
def arrow_readers(schema: Any) -> dict[str, Reader]:
    def pyarrow_read(path: Path, columns: Sequence[str] | None, where: Predicate | None) -> Any:
        import pyarrow as pa

        return finish(pa.ipc.open_file(pa.memory_map(str(path))).read_all(), columns, where)

    def feather_read(path: Path, columns: Sequence[str] | None, where: Predicate | None) -> Any:
        import pyarrow.feather as feather

        return finish(feather.read_table(path, columns=needed(columns, where), memory_map=True), columns, where)

    def polars_read(path: Path, columns: Sequence[str] | None, where: Predicate | None) -> Any:
        import polars as pl

        return polars_lazy(pl.scan_ipc(path), columns, where)

    def pandas_read(path: Path, columns: Sequence[str] | None, where: Predicate | None) -> Any:
        import pandas as pd

        frame = pd.read_feather(path, columns=needed(columns, where), dtype_backend="pyarrow")
        return finish(pandas_to_arrow(frame), columns, where)

    return {
        "pyarrow ipc (mmap)": pyarrow_read,
        "pyarrow feather (mmap)": feather_read,
        "polars (memory-mapped by default)": polars_read,
        "pandas (dtype_backend=pyarrow)": pandas_read,
    }


def arrow_writers() -> dict[str, Writer]:
    def pyarrow_write(table: Any, path: Path) -> None:
        import pyarrow as pa

        with pa.ipc.new_file(path, table.schema) as writer:
            writer.write_table(table)

    def polars_write(table: Any, path: Path) -> None:
        import polars as pl

        pl.from_arrow(table, rechunk=False).write_ipc(path, compression="uncompressed")

    def pandas_write(table: Any, path: Path) -> None:
        table.to_pandas().to_feather(path, compression="uncompressed")

    return {"pyarrow": pyarrow_write, "polars": polars_write, "pandas": pandas_write}


# -- SQLite --------------------------------------------------------------------------------------------------
def sqlite_storage_columns(table: Any) -> list[list[Any]]:
    """Python values sqlite3 can bind: temporal columns as their integer epochs, the rest as they are."""
    import pyarrow as pa

    columns = []
    for column in table.columns:
        t = column.type
        if pa.types.is_timestamp(t):
            column = column.combine_chunks().view(pa.int64())
        elif pa.types.is_date32(t):
            column = column.combine_chunks().view(pa.int32())
        columns.append(column.to_pylist())
    return columns


def from_sqlite(columns: Sequence[Sequence[Any]], schema: Any) -> Any:
    """Arrow columns from fetched rows, temporal integers viewed back as their types."""
    import pyarrow as pa

    arrays = []
    for values, f in zip(columns, schema, strict=True):
        if pa.types.is_timestamp(f.type):
            arrays.append(pa.array(values, pa.int64()).view(f.type))
        elif pa.types.is_date32(f.type):
            arrays.append(pa.array(values, pa.int32()).view(f.type))
        elif pa.types.is_boolean(f.type):
            arrays.append(pa.array(values, pa.int64()).cast(pa.bool_()))
        else:
            arrays.append(pa.array(values, f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def restore_types(table: Any, schema: Any) -> Any:
    """A table read through a DataFrame library, its integer epochs viewed back as the written types."""
    import pyarrow as pa

    arrays = []
    for column, f in zip(table.columns, schema, strict=True):
        if column.type == f.type:
            arrays.append(column)
        elif pa.types.is_timestamp(f.type) or pa.types.is_date32(f.type):
            physical = pa.int32() if pa.types.is_date32(f.type) else pa.int64()
            arrays.append(column.cast(physical).combine_chunks().view(f.type))
        else:
            arrays.append(column.cast(f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def sql_select(schema: Any, table: str, columns: Sequence[str] | None, where: Predicate | None) -> tuple[str, list]:
    names = list(columns) if columns is not None else schema.names
    sql = f"SELECT {', '.join(map(quote_identifier, names))} FROM {table}"
    params: list[Any] = []
    if where is not None:
        condition, values = where.to_sql()
        sql, params = f"{sql} WHERE {condition}", list(values)
    return sql, params


SQL_TYPES = {"int64": "INTEGER", "double": "REAL", "string": "TEXT", "bool": "INTEGER",
             "timestamp[us, tz=UTC]": "INTEGER", "date32[day]": "INTEGER"}


def subschema(schema: Any, names: Sequence[str]) -> Any:
    import pyarrow as pa

    return pa.schema([schema.field(n) for n in names])
