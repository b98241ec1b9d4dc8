"""The Parquet backend's two engines: polars writes and reads the types it keeps exactly, pyarrow the rest.

What the contract test cannot see: that the polars path and the pyarrow path give the same rows and the
same Arrow schema, that a filter selects exactly the rows pyarrow's filter selects (NaN, -0.0, nulls),
that the write streams, and the default row-group size.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from storeadvise.backends.base import BackendSettings, Predicate
from storeadvise.errors import DataError

sys.path.insert(0, str(Path(__file__).parent))
from test_backends_contract import mixed_table

from storeadvise.backends import parquet
from storeadvise.backends.parquet import ParquetBackend, polars_keeps, polars_predicate, polars_writes


def make(scratch: Path, **options: object) -> ParquetBackend:
    backend = ParquetBackend(BackendSettings(run_id="pq", scratch_dir=scratch, key_column="id", options=options))
    backend.open()
    return backend


def odd_table(rows: int = 40) -> pa.Table:
    """Types polars would not store exactly: the pyarrow path writes and reads them."""
    ids = list(range(rows))
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "t": pa.array([dt.time(1, 2, i % 60) for i in ids], pa.time64("us")),
        "ts_s": pa.array([dt.datetime(2024, 1, 1) + dt.timedelta(seconds=i) for i in ids], pa.timestamp("s")),
        "fixed": pa.array([bytes([i % 256, 1]) for i in ids], pa.binary(2)),
        "label": pa.array([["x", "y"][i % 2] for i in ids]).dictionary_encode(),
    })


def same(got: pa.Table, expected: pa.Table) -> bool:
    """Equal schema and values, NaN equal to NaN (``Table.equals`` says NaN differs from itself)."""
    return got.schema == expected.schema and repr(got.to_pylist()) == repr(expected.to_pylist())


def test_mixed_types_go_through_polars_and_come_back_identical(scratch: Path) -> None:
    table = mixed_table(300)
    schema = table.schema.with_metadata({"origin": "test"})
    schema = schema.set(1, schema.field("qty").with_metadata({"unit": "pieces"}))
    table = table.cast(schema)
    assert polars_keeps(schema) and parquet.polars_can_sink()
    backend = make(scratch)
    backend.write(schema, iter(table.to_batches(max_chunksize=64)))  # a stream: polars writes even 300 rows
    path = backend.parts()[0]
    assert "Polars" in pq.read_metadata(path).created_by  # written by polars ...
    assert pq.read_schema(path) == schema  # ... with the Arrow schema in the footer
    assert backend.read().equals(table)
    assert backend.read().schema.metadata == schema.metadata
    assert backend.read().schema.field("qty").metadata == {b"unit": b"pieces"}
    numbers = backend.read(columns=["qty", "price"], where=Predicate("id", "<", 5))  # no cast needed
    assert numbers.schema.field("qty").metadata == {b"unit": b"pieces"}
    assert backend.read(columns=["qty"]).schema.field("qty").metadata == {b"unit": b"pieces"}
    backend._schema = None  # a fresh backend reads the schema from the file
    assert backend.read(columns=["point", "name"]).equals(table.select(["point", "name"]))
    got = backend.read(columns=["tags", "amount"], where=Predicate("name", "==", "日本語"))
    assert got.equals(table.filter(pa.compute.field("name") == "日本語").select(["tags", "amount"]))
    assert backend.lookup(123).equals(table.slice(123, 1))
    assert backend.lookup(10_000).equals(table.schema.empty_table())


@pytest.mark.parametrize("non_nullable", [False, True])
def test_other_types_go_through_pyarrow_and_come_back_identical(scratch: Path, non_nullable: bool) -> None:
    table = odd_table()
    if non_nullable:  # polars would store the column as nullable: pyarrow writes the whole dataset
        table = table.select(["id"]).cast(pa.schema([pa.field("id", pa.int64(), nullable=False)]))
    assert not polars_keeps(table.schema)
    backend = make(scratch)
    backend.write(table.schema, table.to_batches(max_chunksize=16))
    assert "parquet-cpp-arrow" in pq.read_metadata(backend.parts()[0]).created_by
    assert backend.read().equals(table)
    assert backend.read(columns=["id"], where=Predicate("id", ">=", 30)).equals(table.slice(30).select(["id"]))
    backend.append(odd_table(3).select(table.column_names).cast(table.schema).to_batches()[0])
    assert backend.read()["id"].to_pylist() == [*range(40), 0, 1, 2]


def test_seconds_timestamps_go_through_polars_and_come_back_in_seconds(scratch: Path) -> None:
    """A CSV file's text timestamps are inferred as timestamp[s]: they must not send the whole table to
    the one-core pyarrow path, and must come back in seconds, value for value."""
    ids = list(range(300))
    seconds = [1_356_998_400 + 3_600 * i for i in ids]
    table = pa.table({"id": pa.array(ids, pa.int64()),
                      "at": pa.array([*seconds[:-1], None], pa.timestamp("s", tz="UTC")),
                      "local": pa.array(seconds, pa.timestamp("s"))})
    assert polars_keeps(table.schema) and not polars_writes(pa.timestamp("s"))
    backend = make(scratch)
    backend.write(table.schema, iter(table.to_batches(max_chunksize=64)))
    assert "Polars" in pq.read_metadata(backend.parts()[0]).created_by
    assert same(backend.read(), table)
    assert same(backend.read(columns=["at"], where=Predicate("id", ">=", 298)), table.slice(298).select(["at"]))
    assert same(backend.lookup(7), table.slice(7, 1))


def test_seconds_beyond_the_range_of_milliseconds_are_refused_not_wrapped(scratch: Path) -> None:
    table = pa.table({"at": pa.array([0, 2**62], pa.timestamp("s"))})  # 2**62 s overflows int64 milliseconds
    with pytest.raises(pa.ArrowInvalid, match="out of bounds"):
        make(scratch).write(table.schema, iter(table.to_batches()))


def test_default_row_groups_and_append_through_polars(scratch: Path) -> None:
    rows = 2 * parquet.DEFAULT_ROW_GROUP_ROWS + 5
    table = pa.table({"id": pa.array(range(rows), pa.int64()), "name": pa.array(["a", "b", "c", "é"] * (rows // 4)
                                                                                + ["x"] * (rows % 4))})
    backend = make(scratch)
    backend.write(table.schema, table.to_batches(max_chunksize=50_000))
    meta = pq.read_metadata(backend.parts()[0])
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [
        parquet.DEFAULT_ROW_GROUP_ROWS, parquet.DEFAULT_ROW_GROUP_ROWS, 5
    ]
    backend.append(table.slice(0, 2).to_batches()[0])  # a small append: pyarrow writes it
    backend.append(table.slice(0, parquet.SMALL_WRITE_ROWS).to_batches()[0])  # a large one: polars
    assert [pq.read_metadata(p).created_by.split()[0] for p in backend.parts()] == ["Polars", "parquet-cpp-arrow",
                                                                                    "Polars"]
    assert backend.read(where=Predicate("id", "<", 2))["id"].to_pylist() == [0, 1, 0, 1, 0, 1]
    assert backend.read(where=Predicate("id", ">=", rows - 1))["name"].to_pylist() == ["x"]
    assert backend.read().equals(pa.concat_tables([table, table.slice(0, 2), table.slice(0, parquet.SMALL_WRITE_ROWS)]))


CODECS = [("none", None, "UNCOMPRESSED"), ("gzip", 9, "GZIP"), ("lz4", None, "LZ4"), ("zstd", 19, "ZSTD")]


@pytest.mark.parametrize(("compression", "level", "codec"), CODECS)
def test_compression_options_reach_the_polars_writer(scratch: Path, compression: str, level: int | None,
                                                     codec: str) -> None:
    backend = make(scratch, parquet_compression=compression, parquet_compression_level=level)
    table = mixed_table(50)
    backend.write(table.schema, iter(table.to_batches()))
    assert "Polars" in pq.read_metadata(backend.parts()[0]).created_by
    assert pq.read_metadata(backend.parts()[0]).row_group(0).column(0).compression.startswith(codec)
    assert backend.read().equals(table)


def test_an_error_in_the_stream_reaches_the_caller_unchanged(scratch: Path) -> None:
    table = mixed_table(10)

    def failing() -> Iterator[pa.RecordBatch]:
        yield table.to_batches()[0]
        raise DataError("row 11 of the input is broken")

    with pytest.raises(DataError, match="row 11"):
        make(scratch).write(table.schema, failing())


def test_the_write_pulls_batches_as_it_goes(scratch: Path) -> None:
    """The stream is consumed lazily and completely: polars never asks for it twice or all up front."""
    pulled: list[int] = []
    table = pa.table({"id": pa.array(range(1000), pa.int64())})

    def stream() -> Iterator[pa.RecordBatch]:
        for i, batch in enumerate(table.to_batches(max_chunksize=100)):
            pulled.append(i)
            yield batch

    backend = make(scratch, parquet_row_group_rows=250)
    backend.write(table.schema, stream())
    assert pulled == list(range(10))
    meta = pq.read_metadata(backend.parts()[0])
    assert "Polars" in meta.created_by
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [250] * 4
    assert backend.read().equals(table)


FLOATS = [-0.0, 0.0, math.nan, 1.5, -math.inf, math.inf, None, -2.0]
OPS = ["==", "!=", "<", "<=", ">", ">="]


@pytest.mark.parametrize("op", OPS)
def test_polars_filters_select_exactly_what_pyarrow_selects(scratch: Path, op: str) -> None:
    table = pa.table({
        "id": pa.array(range(8), pa.int64()),
        "f": pa.array(FLOATS, pa.float64()),
        "i": pa.array([5, None, -3, 0, 2**62, -(2**62), 7, 5], pa.int64()),
        "s": pa.array(["", "a", None, "é", "Z", "aa", "日本", "a "]),
        "b": pa.array([True, False, None, True, False, True, None, False]),
        "d": pa.array([dt.date(2020, 1, i) if i % 3 else None for i in range(1, 9)], pa.date32()),
    })
    backend = make(scratch)
    backend.write(table.schema, table.to_batches())
    cases = [("f", v) for v in (0.0, -0.0, 1.5, 2, math.inf, -math.inf)] + [
        ("i", v) for v in (5, 0, -(2**62), 2**62)] + [("s", v) for v in ("", "a", "é", "Z")] + [
        ("b", True), ("b", False), ("d", dt.date(2020, 1, 5))]
    for column, value in cases:
        where = Predicate(column, op, value)
        assert polars_predicate(table.schema.field(column).type, where) is not None, where
        assert same(backend.read(where=where), table.filter(where.to_arrow())), where


@pytest.mark.parametrize(
    ("data_type", "value"),
    [
        (pa.float64(), math.nan),
        (pa.int64(), True),
        (pa.int64(), 4.5),
        (pa.int64(), "5"),
        (pa.int64(), 2**64),
        (pa.int32(), 5),
        (pa.float32(), 0.1),
        (pa.timestamp("us", tz="UTC"), dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)),
        (pa.date32(), dt.datetime(2024, 1, 1)),
        (pa.decimal128(10, 2), decimal.Decimal("1.5")),
        (pa.string(), 5),
    ],
)
def test_filters_polars_might_evaluate_differently_are_left_to_pyarrow(data_type: pa.DataType, value: object) -> None:
    assert polars_predicate(data_type, Predicate("c", "==", value)) is None


def test_a_timestamp_filter_still_works_through_pyarrow(scratch: Path) -> None:
    table = mixed_table(100)
    backend = make(scratch)
    backend.write(table.schema, table.to_batches())
    cut = dt.datetime(2024, 3, 1, 13, 0, tzinfo=dt.timezone.utc)
    got = backend.read(where=Predicate("ts_utc", ">=", cut))
    assert got.equals(table.filter(pa.compute.field("ts_utc") >= cut))
    assert got.num_rows > 0


def test_polars_writes_only_the_types_it_keeps_exactly() -> None:
    assert polars_writes(pa.struct([("a", pa.list_(pa.timestamp("ns", tz="Asia/Tokyo")))]))
    assert not polars_writes(pa.struct([("a", pa.list_(pa.time64("us")))]))
    assert not polars_writes(pa.timestamp("s"))
    assert not polars_writes(pa.date64())
    assert not polars_writes(pa.float16())
    assert not polars_writes(pa.list_(pa.int64(), 2))
    assert not polars_writes(pa.list_(pa.field("item", pa.int64(), nullable=False)))
    assert not polars_keeps(pa.schema([pa.field("id", pa.int64(), nullable=False)]))
