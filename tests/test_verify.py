"""The round-trip verifier must catch lost rows, changed values and undocumented type changes."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from storeadvise.backends.base import Backend, BackendSettings, TypeLoss
from storeadvise.bench.verify import verify_round_trip


class _Declares(Backend):
    """A backend stand-in that only declares its documented losses (verification needs nothing else)."""

    name = "declares"

    def __init__(self, losses: dict[str, TypeLoss] | None = None) -> None:
        super().__init__(BackendSettings(run_id="t", scratch_dir=__import__("pathlib").Path(".")))
        self.losses = losses or {}

    def type_loss(self, field: pa.Field) -> TypeLoss | None:
        return self.losses.get(field.name)


def _to_millis(values: pa.Array) -> pa.Array:
    return values.cast(pa.timestamp("ms", tz="UTC"), safe=False)


def _as_hex(values: pa.Array) -> pa.Array:
    return pa.array([None if v is None else v.hex() for v in values.to_pylist()], pa.string())


@pytest.fixture
def table() -> pa.Table:
    return pa.table(
        {
            "id": pa.array([1, 2, 3, 4], pa.int64()),
            "x": pa.array([1.5, None, 3.25, -0.0]),
            "s": pa.array(["a", "é中", None, "🙂"]),
            "b": pa.array([True, False, None, True]),
            "t": pa.array([dt.datetime(2024, 1, 1, 12, 0, 0, 123456)] * 4, pa.timestamp("us", tz="UTC")),
        }
    )


def test_identical_data_in_another_order_verifies(table: pa.Table) -> None:
    shuffled = table.take([3, 1, 0, 2])
    v = verify_round_trip(table.schema, table.to_batches(), shuffled.to_batches(max_chunksize=1), _Declares())
    assert not v.flagged, v.message
    assert v.checksum_match
    assert v.rows_read == v.rows_written == 4
    assert {c.status for c in v.columns} == {"kept"}


def test_lost_row_is_flagged(table: pa.Table) -> None:
    v = verify_round_trip(table.schema, table.to_batches(), table.slice(0, 3).to_batches(), _Declares())
    assert v.flagged
    assert "1 rows lost" in v.message


def test_changed_value_is_flagged_and_named(table: pa.Table) -> None:
    changed = table.set_column(2, "s", pa.array(["a", "e中", None, "🙂"]))
    v = verify_round_trip(table.schema, table.to_batches(), changed.to_batches(), _Declares())
    assert v.flagged
    assert "s" in v.message
    assert next(c for c in v.columns if c.column == "s").status == "lost"


def test_type_converted_but_values_restored_is_not_flagged(table: pa.Table) -> None:
    as_ints = table.set_column(3, "b", pa.array([1, 0, None, 1], pa.int64()))
    v = verify_round_trip(table.schema, table.to_batches(), as_ints.to_batches(), _Declares())
    col = next(c for c in v.columns if c.column == "b")
    assert col.status == "converted" and "int64" in col.detail
    assert not v.flagged


def test_documented_loss_is_reported_not_flagged(table: pa.Table) -> None:
    millis = table.set_column(4, "t", table.column("t").cast(pa.timestamp("ms", tz="UTC"), safe=False))
    backend = _Declares({"t": TypeLoss("datetimes keep milliseconds", _to_millis)})
    v = verify_round_trip(table.schema, table.to_batches(), millis.to_batches(), backend)
    col = next(c for c in v.columns if c.column == "t")
    assert col.status == "lost" and col.documented and "milliseconds" in col.detail
    assert not v.flagged and v.checksum_match


def test_undocumented_precision_loss_is_flagged(table: pa.Table) -> None:
    millis = table.set_column(4, "t", table.column("t").cast(pa.timestamp("ms", tz="UTC"), safe=False))
    v = verify_round_trip(table.schema, table.to_batches(), millis.to_batches(), _Declares())
    assert v.flagged and "t" in v.message


def test_missing_column_is_lost(table: pa.Table) -> None:
    v = verify_round_trip(table.schema, table.to_batches(), table.drop_columns(["x"]).to_batches(), _Declares())
    assert v.flagged
    assert next(c for c in v.columns if c.column == "x").detail == "column missing from what came back"


def test_values_swapped_between_rows_break_the_row_checksum(table: pa.Table) -> None:
    swapped = table.set_column(1, "x", pa.array([None, 1.5, 3.25, -0.0]))
    v = verify_round_trip(table.schema, table.to_batches(), swapped.to_batches(), _Declares())
    assert all(c.status == "kept" for c in v.columns)  # each column alone still holds the same values
    assert not v.checksum_match and v.flagged


class _NanAsNull(Backend):
    """A stand-in for a store without NaN: its documented loss changes values but keeps the type."""

    name = "nan_as_null"

    def __init__(self) -> None:
        super().__init__(BackendSettings(run_id="t", scratch_dir=__import__("pathlib").Path(".")))

    def type_loss(self, field: pa.Field):
        import pyarrow.compute as pc

        from storeadvise.backends import _typemap
        from storeadvise.backends.base import TypeLoss

        if pa.types.is_floating(field.type):
            return TypeLoss("NaN is stored as NULL", lambda values: _typemap.nulled(values, pc.is_nan))
        return None


@pytest.fixture
def with_nan() -> pa.Table:
    return pa.table({"id": [1, 2, 3], "x": [float("nan"), float("inf"), 2.5]})


def test_a_value_level_loss_is_documented_when_the_values_changed_exactly_as_declared(with_nan: pa.Table) -> None:
    returned = with_nan.set_column(1, "x", pa.array([None, float("inf"), 2.5]))
    v = verify_round_trip(with_nan.schema, with_nan.to_batches(), returned.to_batches(), _NanAsNull())
    col = next(c for c in v.columns if c.column == "x")
    assert col.status == "lost" and col.documented and "NULL" in col.detail
    assert not v.flagged and v.checksum_match  # rows compared with the documented values


def test_a_value_level_loss_does_not_excuse_other_changes(with_nan: pa.Table) -> None:
    for wrong in ([None, None, 2.5], [None, float("inf"), 2.0], [float("nan"), float("inf"), 2.0]):
        returned = with_nan.set_column(1, "x", pa.array(wrong))
        v = verify_round_trip(with_nan.schema, with_nan.to_batches(), returned.to_batches(), _NanAsNull())
        col = next(c for c in v.columns if c.column == "x")
        assert v.flagged and not col.documented and "beyond the documented mapping" in col.detail, wrong


def test_a_value_level_loss_that_did_not_happen_is_kept(with_nan: pa.Table) -> None:
    v = verify_round_trip(with_nan.schema, with_nan.to_batches(), with_nan.to_batches(), _NanAsNull())
    assert not v.flagged and {c.status for c in v.columns} == {"kept"}


def test_values_swapped_between_rows_are_caught_in_a_value_level_loss_column(with_nan: pa.Table) -> None:
    returned = with_nan.set_column(1, "x", pa.array([float("inf"), None, 2.5]))
    v = verify_round_trip(with_nan.schema, with_nan.to_batches(), returned.to_batches(), _NanAsNull())
    assert v.flagged and not v.checksum_match


def test_a_type_changing_loss_is_checked_against_its_documented_form() -> None:
    """A column the backend stores in another type (binary as hex text here) is compared with the written
    values in that form: right text verifies as a documented loss, other text is flagged."""
    table = pa.table({"id": [1, 2, 3], "blob": pa.array([b"\x00\xff", None, b"ab"], pa.binary())})
    backend = _Declares({"blob": TypeLoss("stored as hex text", _as_hex)})
    right = table.set_column(1, "blob", _as_hex(table.column("blob").combine_chunks()))
    v = verify_round_trip(table.schema, table.to_batches(), right.to_batches(), backend)
    col = next(c for c in v.columns if c.column == "blob")
    assert col.status == "lost" and col.documented and col.detail == "stored as hex text"
    assert not v.flagged and v.checksum_match
    garbage = table.set_column(1, "blob", pa.array(["00ff", None, "not hex"], pa.string()))
    v = verify_round_trip(table.schema, table.to_batches(), garbage.to_batches(), backend)
    col = next(c for c in v.columns if c.column == "blob")
    assert v.flagged and not col.documented and "beyond the documented mapping" in col.detail


# -- which column, and an example value before and after ---------------------------------------------

def test_a_changed_column_is_named_with_one_value_before_and_after_in_any_row_order() -> None:
    table = pa.table({"id": [1, 2, 3, 4], "zip": ["98765", "01234", "00501", "12345"]})
    returned = table.set_column(1, "zip", pa.array(["98765", "1234", "501", "12345"])).take([3, 2, 1, 0])
    v = verify_round_trip(table.schema, table.to_batches(), returned.to_batches(max_chunksize=1), _Declares())
    # rows are paired through the unchanged id, so the example is a row with itself, not a neighbour
    assert v.flagged and "values changed in zip (e.g. '01234' → '1234')" in v.message
    col = next(c for c in v.columns if c.column == "zip")
    assert col.status == "lost" and "e.g. '01234' → '1234'" in col.detail
    assert "zip" in v.summary and "'01234'" in v.summary


def test_a_documented_value_loss_shows_an_example_too(with_nan: pa.Table) -> None:
    returned = with_nan.set_column(1, "x", pa.array([None, float("inf"), 2.5]))
    v = verify_round_trip(with_nan.schema, with_nan.to_batches(), returned.to_batches(), _NanAsNull())
    assert not v.flagged
    assert v.summary == "ok as documented: x lost (NaN is stored as NULL; e.g. nan → null)"


def test_an_example_is_cut_short_and_printable() -> None:
    long = "\x1b[31m" + "y" * 200
    table = pa.table({"s": [long]})
    v = verify_round_trip(table.schema, table.to_batches(), pa.table({"s": ["z"]}).to_batches(), _Declares())
    assert "\x1b" not in v.message and "\\x1b" in v.message
    assert "y" * 60 not in v.message and "…" in v.message


def test_the_table_prints_the_column_and_example_beside_the_verdict() -> None:
    from storeadvise.bench.report import render
    from storeadvise.bench.results import BackendRun, Measurement, Run, Stats

    table = pa.table({"id": [1, 2], "zip": ["01234", "98765"]})
    returned = table.set_column(1, "zip", pa.array(["1234", "98765"]))
    v = verify_round_trip(table.schema, table.to_batches(), returned.to_batches(), _Declares())
    run = Run(run_id="r", started_at="", finished_at="", environment={}, dataset={"name": "d", "rows": 2},
              settings={}, backends=[BackendRun("csv", verification=v, measurements=[
                  Measurement("csv", "read", stats=Stats.of([0.1, 0.1, 0.1]), rows=2)])])
    for fmt in ("table", "markdown", "html"):
        text = render(run, fmt) if fmt != "table" else render(run, fmt, color=False, width=300)
        assert "zip" in text and "'01234' → '1234'" in text.replace("&#x27;", "'"), fmt


def test_a_column_that_cannot_be_cast_back_shows_a_value_that_could_not() -> None:
    table = pa.table({"id": [1, 2, 3], "n": [1, 2, 3]})
    returned = table.set_column(1, "n", pa.array(["1", "two", "3"]))
    v = verify_round_trip(table.schema, table.to_batches(), returned.to_batches(), _Declares())
    col = next(c for c in v.columns if c.column == "n")
    assert v.flagged and col.detail == "came back as string, not convertible to int64 (e.g. 'two')"
