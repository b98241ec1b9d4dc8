"""The advice itself: the 30-cell grid, the sanity a user expects, determinism, inputs, evidence, README."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import pytest

from storeadvise.advisor.engine import evaluate
from storeadvise.advisor.evidence import apply_evidence, gather_evidence
from storeadvise.advisor.grid import grid_cells, grid_markdown, readme_region, stale_regions
from storeadvise.advisor.inputs import CHOICES, make_inputs
from storeadvise.advisor.profile import inputs_from_profile
from storeadvise.advisor.ruleset import builtin_rules, load_rules
from storeadvise.bench.results import BackendRun, Measurement, Run, Stats, Verification
from storeadvise.errors import UsageError

MODALITIES = list(CHOICES["modality"])
PURPOSES = list(CHOICES["purpose"])
README = Path(__file__).resolve().parent.parent / "README.md"


def advise(**given):
    return evaluate(make_inputs(given), builtin_rules())


def rank(advice, option: str) -> int:
    """1-based place of ``option`` in the full ranking (recommended, then neutral, then avoided)."""
    ordered = [*advice.recommendations, *advice.others,
               *sorted(advice.avoid, key=lambda r: -r.score)]
    return [r.option for r in ordered].index(option) + 1


def score(advice, option: str) -> float:
    return next(r.score for r in (*advice.recommendations, *advice.others, *advice.avoid) if r.option == option)


# -- the grid ---------------------------------------------------------------------------------------
EXPECTED_GRID = {
    # modality: exploration, sharing, training, batch, online  (first choice / runner-up)
    "tabular": ("parquet/csv", "parquet/csv", "parquet/arrow", "parquet/delta", "sqlite/redis"),
    "time-series": ("parquet/csv", "parquet/csv", "parquet/arrow", "parquet/delta", "sqlite/redis"),
    "images": ("files_index/objectstore", "objectstore/files_index", "files_index/webdataset",
               "files_index/objectstore", "files_index/objectstore"),
    "video": ("files_index/objectstore", "objectstore/files_index", "files_index/webdataset",
              "files_index/objectstore", "files_index/objectstore"),
    "audio": ("files_index/objectstore", "objectstore/files_index", "files_index/webdataset",
              "files_index/objectstore", "files_index/objectstore"),
    "text": ("jsonl/parquet", "jsonl/parquet", "parquet/arrow", "parquet/delta", "sqlite/mongo"),
    "embeddings": ("parquet/zarr", "parquet/zarr", "zarr/parquet", "parquet/lance", "vector_index/lance"),
    "nested": ("jsonl/parquet", "jsonl/parquet", "parquet/arrow", "parquet/delta", "mongo/postgres"),
}


def test_grid_is_the_reviewed_advice():
    cells = grid_cells()
    for modality, row in EXPECTED_GRID.items():
        for purpose, expected in zip(PURPOSES, row, strict=True):
            first, second = cells[modality, purpose]
            assert f"{first}/{second}" == expected, f"{modality} x {purpose}"


@pytest.mark.parametrize(("modality", "purpose"), list(itertools.product(MODALITIES, PURPOSES)))
def test_every_cell_has_a_reasoned_first_choice_and_runner_up(modality, purpose):
    advice = advise(modality=modality, purpose=purpose)
    assert len(advice.recommendations) >= 2
    best, runner = advice.best, advice.runner_up
    assert best.score > runner.score, "the first choice wins outright, not on the tie-break"
    assert best.reasons and runner.reasons
    assert all(r.rule.startswith("SA") and r.text for r in best.reasons)
    assert runner.label in advice.tradeoff and best.label in advice.tradeoff
    assert best.caveats


def test_readme_grid_matches_the_rules():
    assert readme_region(README.read_text(encoding="utf-8")) == "\n" + grid_markdown()


def test_every_generated_readme_region_matches_the_rules_and_the_registry():
    assert stale_regions(README) == [], "run python -m storeadvise.advisor.grid --write README.md"


# -- sanity a user would expect ---------------------------------------------------------------------
VARIANTS = [{}, {"size": "5MB"}, {"size": "50GB"}, {"size": "3TB"}, {"readers": "many"}, {"readers": "one"},
            {"update": "in-place"}, {"update": "append"}, {"latency": "500us"}, {"latency": "50ms"},
            {"arrival": "stream"}, {"structure": "nested"}, {"rows": "10k"}]


@pytest.mark.parametrize("variant", VARIANTS, ids=str)
@pytest.mark.parametrize("modality", ["tabular", "time-series"])
def test_online_lookups_never_rank_a_plain_file_first(modality, variant):
    advice = advise(modality=modality, purpose="online", **variant)
    assert advice.best.option not in ("csv", "jsonl", "parquet", "arrow")
    assert {"csv", "jsonl", "parquet"} <= {r.option for r in advice.avoid}


@pytest.mark.parametrize(("modality", "purpose"), [("tabular", "online"), ("tabular", "batch"),
                                                   ("text", "exploration"), ("nested", "training")])
def test_streaming_arrival_brings_kafka_forward(modality, purpose):
    at_rest = advise(modality=modality, purpose=purpose)
    streaming = advise(modality=modality, purpose=purpose, arrival="stream")
    assert rank(streaming, "kafka") < rank(at_rest, "kafka")
    assert rank(streaming, "kafka") <= 5
    assert "SA801" in [r.rule for r in next(r for r in streaming.recommendations if r.option == "kafka").reasons]


def test_streaming_for_online_puts_the_log_in_front_and_the_store_behind_it():
    advice = advise(modality="tabular", purpose="online", arrival="stream")
    assert [advice.best.option, advice.runner_up.option] == ["kafka", "sqlite"]
    assert "sink it into SQLite" in advice.tradeoff


@pytest.mark.parametrize("purpose", PURPOSES)
def test_nested_documents_bring_mongo_or_json_forward(purpose):
    flat = advise(modality="tabular", purpose=purpose)
    nested = advise(modality="tabular", purpose=purpose, structure="nested")
    assert rank(nested, "mongo") < rank(flat, "mongo") or rank(nested, "jsonl") < rank(flat, "jsonl")
    assert score(nested, "csv") < score(flat, "csv")


def test_nested_online_is_a_document_database():
    assert advise(modality="nested", purpose="online").best.option == "mongo"
    assert advise(modality="tabular", purpose="online", structure="nested").best.option == "mongo"


@pytest.mark.parametrize("modality", ["tabular", "time-series", "text", "nested"])
def test_a_few_mb_to_explore_ranks_a_simple_file_first(modality):
    advice = advise(modality=modality, purpose="exploration", size="5MB")
    assert advice.best.option in ("csv", "jsonl", "parquet", "memory")
    assert "SA601" in [f.rule.id for f in advice.fired]
    assert rank(advice, "mongo") > 3 and rank(advice, "kafka") > 3


def test_small_tabular_exploration_says_you_may_not_need_a_database():
    advice = advise(modality="tabular", purpose="exploration", size="5MB")
    assert advice.best.option == "csv"
    assert any("need a database" in f.rule.title for f in advice.fired)


@pytest.mark.parametrize("size", ["50GB", "3TB"])
@pytest.mark.parametrize("modality", ["tabular", "time-series", "nested"])
def test_training_on_large_tabular_data_ranks_a_columnar_format_first(modality, size):
    advice = advise(modality=modality, purpose="training", size=size)
    assert advice.best.option == "parquet"
    assert "memory" in {r.option for r in advice.avoid}


def test_terabytes_online_moves_from_sqlite_to_a_server():
    assert advise(modality="tabular", purpose="online").best.option == "sqlite"
    big = advise(modality="tabular", purpose="online", size="2TB")
    assert [big.best.option, big.runner_up.option] == ["mongo", "postgres"]
    assert "SA605" in [r.rule for r in next(r for r in big.recommendations if r.option == "sqlite").against]


def test_many_services_move_online_lookups_to_a_server():
    advice = advise(modality="tabular", purpose="online", readers="many")
    assert [advice.best.option, advice.runner_up.option] == ["redis", "postgres"]
    assert any("many nodes" in line for line in advice.assumed)


def test_updates_in_place_demote_immutable_files_for_batch():
    advice = advise(modality="tabular", purpose="batch", update="in-place")
    assert [advice.best.option, advice.runner_up.option] == ["delta", "iceberg"]
    assert any(r.rule == "SA904" for r in next(r for r in advice.recommendations if r.option == "parquet").against)


def test_media_never_go_into_text_files_or_messages():
    for modality, purpose in itertools.product(["images", "video"], PURPOSES):
        avoided = {r.option for r in advise(modality=modality, purpose=purpose).avoid}
        assert {"csv", "jsonl", "kafka"} <= avoided


# -- engine behaviour ---------------------------------------------------------------------------------
def test_evaluation_is_deterministic():
    first = advise(modality="nested", purpose="batch", size="40GB", arrival="stream").to_dict()
    assert all(advise(modality="nested", purpose="batch", size="40GB", arrival="stream").to_dict() == first
               for _ in range(3))


def test_ties_rank_by_how_simple_an_option_is_to_run_never_by_file_order():
    advice = advise(modality="time-series", purpose="exploration")
    tied = [r.option for r in advice.recommendations if r.score == 2]
    assert tied == ["csv", "duckdb"], "files before an embedded database"
    rules = builtin_rules()
    reversed_options = replace(rules, options=dict(reversed(list(rules.options.items()))))
    again = evaluate(make_inputs({"modality": "time-series", "purpose": "exploration"}), reversed_options)
    assert [r.option for r in again.recommendations] == [r.option for r in advice.recommendations]


def test_a_tie_at_the_top_is_said_with_its_reason(tmp_path: Path):
    path = tmp_path / "tie.toml"
    path.write_text('[[rules]]\nid = "T1"\ntitle = "t"\nwhen = { purpose = "online" }\n'
                    'then.redis = { score = 2, reason = "Redis." }\n', encoding="utf-8")
    advice = evaluate(make_inputs({"modality": "tabular", "purpose": "online"}), load_rules(path))
    assert [advice.best.option, advice.runner_up.option] == ["sqlite", "redis"]
    assert advice.best.score == advice.runner_up.score == 5
    assert any("sqlite and redis tie at +5" in n and "simpler to run" in n for n in advice.notes)


def test_two_options_within_a_point_are_said_to_be_close():
    advice = advise(modality="tabular", purpose="online", readers="20", writers="4", memory="64GB", size="5GB")
    assert [advice.best.option, advice.runner_up.option] == ["redis", "postgres"]
    assert any("within a point" in n for n in advice.notes)
    assert not any("within a point" in n for n in advise(modality="tabular", purpose="online").notes)


def test_json_structure_and_inputs_say_where_each_value_came_from():
    data = advise(modality="tabular", purpose="online", rows="10k").to_dict()
    assert [r["option"] for r in data["recommendations"]][:2] == ["sqlite", "memory"]
    first = data["recommendations"][0]
    assert first["score"] == 5 and first["reasons"][0]["rule"] == "SA502" and first["reasons"][0]["source"]
    assert data["inputs"]["modality"]["source"] == "given"
    assert data["inputs"]["structure"]["source"].startswith("assumed")
    assert data["inputs"]["size"]["source"].startswith("estimated from rows")
    assert data["runner_up"]["option"] == "memory" and data["runner_up"]["tradeoff"]
    assert {a["option"] for a in data["avoid"]} >= {"csv", "jsonl", "parquet"}
    assert "SA501" in [f["id"] for f in data["fired_rules"]]
    assert data["measure_next"][0].startswith("storeadvise bench --sample tabular --purpose online --backends sqlite")


def test_explicit_inputs_win_over_inferred_ones():
    inputs = make_inputs({"modality": "text"}, {"modality": "tabular", "rows": 5}, inferred_from="f.csv")
    assert inputs.modality == "text" and inputs.origins["modality"] == "given"
    assert inputs.rows == 5 and inputs.origins["rows"] == "inferred from f.csv"


def test_missing_modality_or_purpose_is_a_usage_error():
    with pytest.raises(UsageError, match="--modality"):
        advise(purpose="online")
    with pytest.raises(UsageError, match="--purpose"):
        advise(modality="tabular")


def test_profile_maps_to_inputs_and_says_what_it_inferred():
    profile = {"name": "events.parquet", "modality": "time-series", "rows": 120_000, "file_bytes": 3_400_000,
               "arrow_bytes": 9_000_000, "nested": False, "key_column": "id", "time_column": "ts"}
    inferred, notes = inputs_from_profile(profile)
    assert inferred == {"modality": "time-series", "structure": "flat", "rows": 120_000, "size": 3_400_000}
    assert "events.parquet" in notes[0] and "key column id" in notes[0] and "time column ts" in notes[0]


# -- evidence -----------------------------------------------------------------------------------------
def _backend(name: str, lookup_s: list[float] | None = None, flagged: bool = False, status: str = "ok",
             scan_rps: float | None = None) -> BackendRun:
    measurements = [Measurement(name, "write", stats=Stats.of([0.1]), bytes_at_rest=1000)]
    if lookup_s is not None:
        measurements.append(Measurement(name, "lookup", stats=Stats.of(lookup_s), latency=True))
    else:
        measurements.append(Measurement(name, "lookup", status="unsupported", reason="no keyed access"))
    if scan_rps is not None:
        measurements.append(Measurement(name, "scan", stats=Stats.of([0.1]), rows_per_s=scan_rps))
    verification = Verification(rows_written=10, rows_read=10 if not flagged else 9, checksum_match=not flagged,
                                flagged=flagged, message="1 row lost" if flagged else "")
    return BackendRun(name, status=status, reason="" if status == "ok" else "server unreachable",
                      verification=verification, measurements=measurements)


def _run(*backends: BackendRun) -> Run:
    return Run(run_id="r1", started_at="2024-01-01T00:00:00", dataset={"name": "sample:tabular"},
               backends=list(backends))


def test_evidence_that_agrees_keeps_the_rule_ranking():
    advice = advise(modality="tabular", purpose="online")
    out = apply_evidence(advice, _run(_backend("sqlite", [0.0001, 0.0002]), _backend("mongo", [0.001, 0.002])))
    assert [r.option for r in out.recommendations] == [r.option for r in advice.recommendations]
    assert not out.evidence.overturned and "agrees" in out.evidence.message
    assert out.best.measured["measured_rank"] == 1 and out.best.measured["metric"] == "lookup p99"


def test_evidence_that_disagrees_overturns_the_rules_and_says_so():
    advice = advise(modality="tabular", purpose="online")
    run = _run(_backend("sqlite", [0.01, 0.02]), _backend("mongo", [0.001, 0.002]), _backend("duckdb", [0.5]))
    out = apply_evidence(advice, run)
    before = [r.option for r in advice.recommendations]
    after = [r.option for r in out.recommendations]
    measured = ("sqlite", "mongo", "duckdb")
    assert [o for o in after if o in measured] == ["mongo", "sqlite", "duckdb"]
    assert [o for o in after if o not in measured] == [o for o in before if o not in measured]
    assert after[0] == "mongo" and after.index("sqlite") == before.index("duckdb"), "measured ones swap places"
    assert out.evidence.overturned and "overturned" in out.evidence.message
    assert out.recommendations[0].rule_rank == before.index("mongo") + 1, "the rule rank stays visible"
    rows = {e.option: e for e in out.evidence.rows}
    assert rows["mongo"].measured_rank == 1 and rows["sqlite"].rule_rank == 1


def test_a_noisy_tail_that_the_median_contradicts_does_not_overturn():
    advice = advise(modality="tabular", purpose="online")
    sqlite = _backend("sqlite", [0.0001] * 98 + [0.02, 0.02])  # fast, with two slow outliers
    mongo = _backend("mongo", [0.001] * 100)
    out = apply_evidence(advice, _run(sqlite, mongo))
    assert not out.evidence.overturned and out.evidence.message.startswith("Inconclusive")
    assert "median" in out.evidence.message
    assert [r.option for r in out.recommendations] == [r.option for r in advice.recommendations]
    assert {e.option: e.measured_rank for e in out.evidence.rows} == {"sqlite": 2, "mongo": 1}


def test_a_small_gap_is_noise():
    advice = advise(modality="tabular", purpose="training")
    out = apply_evidence(advice, _run(_backend("parquet", scan_rps=1.00e6), _backend("arrow", scan_rps=1.05e6)))
    assert not out.evidence.overturned and "under 10%" in out.evidence.message
    assert out.best.option == "parquet"


def test_a_flagged_round_trip_never_wins_on_speed():
    advice = advise(modality="tabular", purpose="online")
    out = apply_evidence(advice, _run(_backend("sqlite", [0.01]), _backend("mongo", [0.0001], flagged=True)))
    rows = {e.option: e for e in out.evidence.rows}
    assert rows["mongo"].status == "flagged" and rows["mongo"].measured_rank == 2
    assert out.best.option == "sqlite" and not out.evidence.overturned


def test_unmeasured_candidates_are_reported_not_ranked():
    advice = advise(modality="tabular", purpose="online")
    out = apply_evidence(advice, _run(_backend("sqlite", [0.01]), _backend("kafka"),
                                      _backend("mongo", [0.001], status="skipped")))
    rows = {e.option: e for e in out.evidence.rows}
    assert rows["kafka"].status == "not measured" and "unsupported" in rows["kafka"].note
    assert rows["mongo"].status == "not measured" and "unreachable" in rows["mongo"].note
    assert rows["sqlite"].measured_rank == 1


def test_training_evidence_prefers_higher_throughput():
    advice = advise(modality="tabular", purpose="training")
    out = apply_evidence(advice, _run(_backend("parquet", scan_rps=1e6), _backend("arrow", scan_rps=5e6)))
    assert out.evidence.overturned and out.best.option == "arrow"


def test_no_evidence_for_a_modality_without_a_sample_generator():
    advice = advise(modality="embeddings", purpose="training")
    out = gather_evidence(advice)
    assert out.evidence is None and any("not available for embeddings" in n for n in out.notes)
