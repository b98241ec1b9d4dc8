"""Codec sweep and scaling sweep, end to end on small data, plus the growth fit itself."""

from __future__ import annotations

from pathlib import Path

import pytest

import storeadvise
from storeadvise.bench.report import render
from storeadvise.bench.results import OK, load_run
from storeadvise.bench.sweeps import growth_exponent, parse_scale
from storeadvise.errors import UsageError


def test_growth_exponent_recovers_the_power() -> None:
    rows = [1_000, 10_000, 100_000]
    assert growth_exponent(rows, [r * 2e-6 for r in rows]) == pytest.approx(1.0)
    assert growth_exponent(rows, [1e-3 * r**0.5 for r in rows]) == pytest.approx(0.5)
    assert growth_exponent(rows, [0.01, 0.01, 0.01]) == pytest.approx(0.0)
    assert growth_exponent([1_000], [0.1]) is None


def test_parse_scale() -> None:
    assert parse_scale("100k,10k,1M") == [10_000, 100_000, 1_000_000]
    with pytest.raises(UsageError, match="at least two sizes"):
        parse_scale("10k")
    with pytest.raises(UsageError, match="--scale"):
        parse_scale("10k,lots")


def test_scaling_run_reports_every_size(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    run = storeadvise.benchmark(
        sample="tabular", scale="500,2000", backends=["parquet", "sqlite"], ops="write,read,lookup",
        repeat=1, warmup=0, lookups=10, out=out,
    )
    assert run.settings["scale"] == [500, 2_000]
    assert run.dataset["rows"] == 2_000
    cases = {(e["backend"], e["op"]): e for e in run.scaling}
    assert set(cases) == {(b, o) for b in ("parquet", "sqlite") for o in ("write", "read", "lookup")}
    for entry in cases.values():
        assert [p["rows"] for p in entry["points"]] == [500, 2_000]
        assert entry["exponent"] is not None
    assert cases[("sqlite", "lookup")]["points"][0]["per_row_s"] is None  # latency: per call, not per row
    saved = load_run(out)
    assert saved.scaling == run.scaling
    text = render(saved, "table", color=False, width=160)
    assert ("scaling" in text and "growth k" in text and "2,000 rows" in text) or "2k rows" in text


def test_codec_sweep_runs_variants_with_their_own_options(tmp_path: Path) -> None:
    run = storeadvise.benchmark(
        sample="tabular", rows=2_000, sweep=True, backends=["parquet", "csv"], repeat=1, warmup=0,
        out=tmp_path / "sweep.json",
    )
    labels = [b.backend for b in run.backends]
    assert "parquet[zstd-9]" in labels and "csv[gzip]" in labels and "jsonl[plain]" not in labels
    assert run.settings["ops"] == ["write", "read"]
    sizes = {}
    for b in run.backends:
        assert b.status == OK and not b.verification.flagged, (b.backend, b.reason)
        sizes[b.backend] = next(m for m in b.measurements if m.op == "write").bytes_at_rest
    assert sizes["csv[gzip]"] < sizes["csv[plain]"]
    assert sizes["parquet[zstd-9]"] < sizes["parquet[none]"]
    assert next(b for b in run.backends if b.backend == "csv[gzip]").description["options"] == {"csv_gzip": True}


def test_the_codec_sweep_is_what_each_backend_declares() -> None:
    from storeadvise.backends import REGISTRY, backend_class
    from storeadvise.bench.sweeps import codec_variants

    declared = {name: backend_class(name).sweep_variants for name in REGISTRY}
    variants = codec_variants()
    assert [(v.backend, v.options) for v in variants] == [
        (name, options) for name, by_label in declared.items() for options in by_label.values()
    ]
    assert {v.backend for v in codec_variants(["csv", "parquet"])} == {"csv", "parquet"}
    with pytest.raises(UsageError, match="sqlite has no variants to compare"):
        codec_variants(["csv", "sqlite"])
    with pytest.raises(UsageError, match="--sweep covers csv, jsonl, parquet; --backends names none of them"):
        codec_variants(["sqlite"])


def test_the_time_per_row_of_an_append_is_per_appended_row() -> None:
    run = storeadvise.benchmark(sample="tabular", scale="1000,4000", backends=["sqlite"], ops="write,append",
                                repeat=1, warmup=0, save=False)
    append = next(e for e in run.scaling if e["op"] == "append")
    final = next(m for m in run.backends[0].measurements if m.op == "append")
    assert final.rows == 40  # one percent of the rows, the size of an incremental load
    last = append["points"][-1]
    assert last["per_row_s"] == pytest.approx(last["seconds"] / final.rows)
