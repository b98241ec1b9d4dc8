"""Property-based round trips: hypothesis generates small Arrow tables (nulls, odd unicode, time zones,
big integers, 256-bit decimals, durations, times of day, nested lists and structs) and every registered
backend must give them back, up to what its type mapping documents (``Backend.type_loss``), exactly as
in the contract tests, or refuse the table with its reason before writing (``Backend.refuses``).

Server backends run against their session fixtures, with fewer examples (each costs a round trip to
the server); ``deadline=None`` because a write's time depends on the machine, not on the example.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from storeadvise.errors import UnsupportedOperation

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("backends_contract", HERE / "test_backends_contract.py")
contract = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(contract)
backend = contract.backend  # the contract's fixture: every registered backend, servers from the session fixtures

FILE_EXAMPLES = 60
SERVER_EXAMPLES = 25
MAX_ROWS = 6

# Text without surrogates (no UTF-8 form), but with control characters, NUL, combining marks, emoji,
# right-to-left scripts and private-use code points.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
INT64 = st.integers(-(2**63), 2**63 - 1)
MOMENTS = {"min_value": dt.datetime(1900, 1, 1), "max_value": dt.datetime(2200, 1, 1)}


def _zoned(zone: str) -> st.SearchStrategy[dt.datetime]:
    return st.datetimes(**MOMENTS, timezones=st.just(ZoneInfo(zone)))


COLUMNS: dict[str, tuple[pa.DataType, st.SearchStrategy[Any]]] = {
    "big_int": (pa.int64(), INT64),
    "real": (pa.float64(), st.floats(allow_nan=False, allow_infinity=False)),
    "text": (pa.string(), TEXT),
    "flag": (pa.bool_(), st.booleans()),
    "ts": (pa.timestamp("us"), st.datetimes(**MOMENTS)),
    "ts_utc": (pa.timestamp("us", tz="UTC"), _zoned("UTC")),
    "ts_kolkata": (pa.timestamp("us", tz="Asia/Kolkata"), _zoned("Asia/Kolkata")),
    "ts_st_johns": (pa.timestamp("ms", tz="America/St_Johns"), _zoned("America/St_Johns")),
    "day": (pa.date32(), st.dates(dt.date(1900, 1, 1), dt.date(2200, 1, 1))),
    "ints": (pa.list_(pa.int64()), st.lists(st.none() | INT64, max_size=3)),
    "words": (pa.list_(pa.string()), st.lists(st.none() | TEXT, max_size=3)),
    "wide_decimal": (pa.decimal256(40, 3), st.decimals(-(10**37) + 1, 10**37 - 1, places=3, allow_nan=False,
                                                         allow_infinity=False)),
    "span": (pa.duration("us"), st.timedeltas(dt.timedelta(days=-10**6), dt.timedelta(days=10**6))),
    "clock": (pa.time64("us"), st.times()),
    "unnamed": (pa.struct([("", pa.int64()), ("b", pa.string())]),
                st.fixed_dictionaries({"": st.none() | INT64, "b": st.none() | TEXT})),
    "record": (
        pa.struct([("n", pa.int64()), ("s", pa.string())]),
        st.fixed_dictionaries({"n": st.none() | INT64, "s": st.none() | TEXT}),
    ),
}


@st.composite
def tables(draw: st.DrawFn) -> pa.Table:
    """A table with a unique ``id`` and a few of the columns above, each value possibly null."""
    names = draw(st.lists(st.sampled_from(sorted(COLUMNS)), min_size=1, max_size=5, unique=True))
    rows = draw(st.integers(1, MAX_ROWS))
    data: dict[str, pa.Array] = {"id": pa.array(range(rows), pa.int64())}
    for name in names:
        dtype, values = COLUMNS[name]
        data[name] = pa.array(draw(st.lists(st.none() | values, min_size=rows, max_size=rows)), dtype)
    return pa.table(data)


# Found by this test: St. John's kept local mean time, UTC-03:30:52, until 1935. Text writers that wrote
# local time with the offset rounded to the minute gave this instant back 8 seconds late.
SECONDS_IN_THE_OFFSET = pa.table({
    "id": pa.array([0], pa.int64()),
    "ts_st_johns": pa.array([dt.datetime(1935, 1, 1, 3, 30, 52)], pa.timestamp("ms")).cast(
        pa.timestamp("ms", tz="America/St_Johns")),
})  # fmt: skip


def test_every_backend_returns_any_table_up_to_its_documented_type_mapping(backend) -> None:
    examples = SERVER_EXAMPLES if backend.service else FILE_EXAMPLES

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(table=tables())
    @example(table=SECONDS_IN_THE_OFFSET)
    def round_trip(table: pa.Table) -> None:
        if backend.refuses(table.schema):  # checked per example: a skip would end the whole test
            with pytest.raises(UnsupportedOperation, match=re.escape(backend.refuses(table.schema))):
                contract.run(backend, "write", contract.OneShot(table, batch_rows=64))
            return
        contract.write(backend, table)
        got = backend.read() if "read" in backend.supports else pa.Table.from_batches(list(backend.scan()))
        contract.assert_same_rows(backend, got, table)

    round_trip()
