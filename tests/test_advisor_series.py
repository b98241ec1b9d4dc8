"""``--data`` sees time series the harness profile misses: long format, epoch-integer times, times out
of order, composite keys; and stays quiet on tables that have none of them."""

from __future__ import annotations

import random
from pathlib import Path

import storeadvise
from storeadvise.advisor.profile import profile_inputs
from storeadvise.advisor.series import profile_series
from storeadvise.bench.api import open_dataset


def _csv(path: Path, header: str, rows: list[tuple]) -> Path:
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows), encoding="utf-8")
    return path


def _long(tmp_path: Path) -> Path:
    rows = [(sid, f"2024-02-{d:02d}", d * 1.5) for sid in ("H1", "H2", "H3") for d in range(1, 29)]
    return _csv(tmp_path / "m4.csv", "unique_id,ds,y", rows)


def _devices(tmp_path: Path, shuffled: bool = True) -> Path:
    rng = random.Random(7)
    rows = [(f"dev{d}", 1_700_000_000_000 + t * 60_000, round(rng.random(), 3), rng.choice(["ok", "warn"]))
            for d in range(5) for t in range(40)]
    if shuffled:
        rng.shuffle(rows)
    return _csv(tmp_path / "devices.csv", "device_id,timestamp,value,status", rows)


def test_long_format_series_with_a_composite_key(tmp_path: Path):
    found = profile_series(open_dataset(_long(tmp_path)))
    assert found.long_format and found.series_key == "unique_id" and found.series_count == 3
    assert found.time_column == "ds" and found.value_columns == ["y"]
    assert found.composite_key == ("unique_id", "ds")
    assert found.time_sorted is None, "sorted by series, then by time: in order"
    inferred, notes = profile_inputs(tmp_path / "m4.csv")
    assert inferred["modality"] == "time-series"
    assert any(n.startswith("Long-format time series: 3 series named by unique_id") for n in notes)


def test_epoch_millisecond_times_out_of_order(tmp_path: Path):
    found = profile_series(open_dataset(_devices(tmp_path)))
    assert found.time_column == "timestamp" and found.epoch_unit == "milliseconds"
    assert found.long_format and found.series_key == "device_id" and found.value_columns == ["value"]
    assert found.time_sorted is False
    notes = " ".join(found.notes(100_000))
    assert "epoch milliseconds as integers" in notes and "not in order" in notes
    advice = storeadvise.recommend(purpose="batch", data=tmp_path / "devices.csv")
    assert advice.inputs.modality == "time-series" and "SA702" in {f.rule.id for f in advice.fired}


def test_a_long_table_in_series_then_time_order_is_not_called_unsorted(tmp_path: Path):
    found = profile_series(open_dataset(_devices(tmp_path, shuffled=False)))
    assert found.long_format and found.time_sorted is None


def test_a_plain_table_has_no_detections(tmp_path: Path):
    rows = [(i, f"name{i % 13}", i * 0.25, 1_000 + i) for i in range(300)]
    path = _csv(tmp_path / "plain.csv", "id,name,score,count", rows)
    found = profile_series(open_dataset(path))
    assert not found.long_format and found.epoch_unit is None and found.composite_key is None
    assert found.notes(100_000) == []
    assert profile_inputs(path)[0]["modality"] == "tabular"
