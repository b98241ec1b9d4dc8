"""The principles a senior data engineer holds the advice to, across many inputs; sizes as quantities;
readers and writers as numbers; contradictions and assumptions said aloud; sources that say what they
are cited for; evidence that names what it could not measure."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

import storeadvise
from storeadvise.advisor.engine import evaluate, unmeasurable_candidates
from storeadvise.advisor.evidence import gather_evidence
from storeadvise.advisor.inputs import IN_MEMORY_FACTORS, make_inputs, normalise_choice
from storeadvise.advisor.ruleset import builtin_rules
from storeadvise.errors import UsageError
from storeadvise.modalities import MODALITIES

PURPOSES = ("exploration", "sharing", "training", "batch", "online")
MEDIA = [name for name, m in MODALITIES.items() if m.media]
RECORDS = [name for name, m in MODALITIES.items() if not m.media]
VARIANTS = [{}, {"size": "5MB"}, {"size": "50GB"}, {"size": "3TB"}, {"readers": "many"}, {"readers": "3"},
            {"writers": "30"}, {"writers": "4"}, {"update": "in-place"}, {"update": "append"},
            {"latency": "500us"}, {"arrival": "stream"}, {"items": "1.2M", "item_size": "110kB"},
            {"items": "200k", "item_size": "15kB"}, {"items": "50k", "item_size": "30MB"}]


def advise(**given):
    return evaluate(make_inputs(given), builtin_rules())


def cases(modalities, variants=VARIANTS):
    return [(m, p, v) for m, p, v in itertools.product(modalities, PURPOSES, variants)
            if not (v.get("latency") and p != "online")]


# -- principles -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("modality", "purpose", "variant"), cases(MEDIA), ids=str)
def test_media_never_go_first_into_a_document_database_or_text_files(modality, purpose, variant):
    advice = advise(modality=modality, purpose=purpose, **variant)
    assert advice.best.option not in ("mongo", "csv", "jsonl", "kafka", "postgres")


@pytest.mark.parametrize(("modality", "purpose"), list(itertools.product(list(MODALITIES), PURPOSES)))
@pytest.mark.parametrize("concurrency", [{"writers": "many"}, {"writers": "30", "update": "in-place"},
                                         {"readers": "many"}, {"readers": "50", "writers": "12"}])
def test_sqlite_is_never_first_for_many_concurrent_writers_or_readers_on_many_machines(modality, purpose,
                                                                                       concurrency):
    advice = advise(modality=modality, purpose=purpose, **concurrency)
    assert advice.best.option not in ("sqlite", "duckdb", "lmdb")


@pytest.mark.parametrize(("modality", "purpose"), list(itertools.product(RECORDS, PURPOSES)))
@pytest.mark.parametrize(("size", "memory", "stored_as"), [("20GB", "16GB", None), ("5GB", "8GB", "parquet"),
                                                           ("300MB", "256MB", "csv"), ("9GB", "16GB", None)])
def test_memory_is_never_first_when_the_estimated_in_memory_size_exceeds_the_machine(modality, purpose, size,
                                                                                    memory, stored_as):
    advice = advise(modality=modality, purpose=purpose, size=size, memory=memory, stored_as=stored_as)
    assert advice.inputs.memory_ratio > 0.5
    assert advice.best.option != "memory"
    if advice.inputs.memory_ratio >= 1:
        assert "memory" in {r.option for r in advice.avoid}


@pytest.mark.parametrize("modality", ["tabular", "time-series"])
@pytest.mark.parametrize("size", ["2GB", "8GB", "40GB", "3TB"])
@pytest.mark.parametrize("readers", [None, "one"])
def test_csv_is_never_first_for_exploring_gigabytes(modality, size, readers):
    advice = advise(modality=modality, purpose="exploration", size=size, readers=readers, memory="512GB")
    assert advice.best.option != "csv"
    assert advice.best.option == "parquet"


def test_a_small_csv_for_exploration_is_still_fine():
    assert advise(modality="tabular", purpose="exploration", size="5MB").best.option == "csv"


# -- size as a quantity -------------------------------------------------------------------------------
def test_the_in_memory_estimate_uses_the_file_format_and_the_memory_given():
    csv = make_inputs({"modality": "tabular", "purpose": "batch", "size": "10GB", "memory": "16GB"})
    assert csv.stored_as == "csv" and csv.origins["stored_as"].startswith("assumed")
    assert csv.memory_ratio == pytest.approx(10e9 * IN_MEMORY_FACTORS["csv"] / 16e9)
    parquet = make_inputs({"modality": "tabular", "purpose": "batch", "size": "10GB", "memory": "16GB",
                           "stored_as": "parquet"})
    assert parquet.memory_ratio == pytest.approx(10e9 * IN_MEMORY_FACTORS["parquet"] / 16e9)
    assert parquet.memory_ratio > 1 > csv.memory_ratio, "a compressed Parquet file is several times larger in RAM"


def test_the_same_file_fits_a_big_machine_and_not_a_small_one():
    small = advise(modality="tabular", purpose="exploration", size="8GB", memory="8GB")
    big = advise(modality="tabular", purpose="exploration", size="8GB", memory="256GB")
    assert "SA603" in {f.rule.id for f in small.fired} and "SA603" not in {f.rule.id for f in big.fired}


def test_without_memory_given_this_machines_memory_is_assumed_and_listed():
    advice = advise(modality="tabular", purpose="batch", size="1GB")
    assert advice.inputs.origins["memory"].startswith("assumed: this machine's memory")
    assert any(line.startswith("memory:") for line in advice.assumed)
    assert any(line.startswith("memory_ratio:") and "estimated" in line for line in advice.assumed)


def test_items_and_item_size_make_the_size_of_a_media_set():
    inputs = make_inputs({"modality": "images", "purpose": "training", "items": "1.2M", "item_size": "110kB"})
    assert inputs.size == 132_000_000_000 and inputs.origins["size"].startswith("estimated from items")
    assert inputs.memory_ratio is None, "media are read item by item, not loaded whole"


@pytest.mark.parametrize(("item_size", "first"), [("15kB", "sqlite"), ("500kB", "files_index")])
def test_sqlite_blobs_only_for_small_items(item_size, first):
    assert advise(modality="images", purpose="online", item_size=item_size).best.option == first


def test_many_small_media_items_for_training_bring_shards_forward():
    few = advise(modality="images", purpose="training")
    many = advise(modality="images", purpose="training", items="1.2M", item_size="110kB")
    assert few.best.option == "files_index"
    assert [many.best.option, many.runner_up.option] == ["webdataset", "lance"]


# -- readers and writers ------------------------------------------------------------------------------
@pytest.mark.parametrize(("given", "canonical"), [("1", "one"), ("2", "team"), ("9", "team"), ("10", "many"),
                                                  ("250", "many"), ("several", "team"), ("many", "many")])
def test_readers_and_writers_take_a_number_or_a_word(given, canonical):
    assert normalise_choice("readers", given) == canonical == normalise_choice("writers", given)


@pytest.mark.parametrize("bad", ["0", "-3", "lots", "2.5"])
def test_a_bad_reader_count_is_a_usage_error(bad):
    with pytest.raises(UsageError, match="or a number"):
        normalise_choice("readers", bad)


def test_a_count_given_as_a_number_is_shown_as_given():
    assert make_inputs({"modality": "tabular", "purpose": "online", "readers": 20}).origins["readers"] == \
        "given as 20"


def test_sqlite_serves_a_few_readers_but_many_writers_bring_a_server_forward():
    few = advise(modality="tabular", purpose="online", readers="3", writers="1")
    many = advise(modality="tabular", purpose="online", writers="30", update="in-place")
    assert few.best.option == "sqlite" and "SA906" in {f.rule.id for f in few.fired}
    assert many.best.option == "postgres"
    assert advise(modality="nested", purpose="online", writers="30").best.option == "mongo"


@pytest.mark.parametrize(("readers", "expected"), [(None, "one node"), ("3", "one node"), ("many", "many nodes")])
def test_online_advice_states_its_deployment_assumption(readers, expected):
    advice = advise(modality="tabular", purpose="online", readers=readers)
    (line,) = [a for a in advice.assumed if a.startswith("deployment:")]
    assert expected in line
    assert not any(a.startswith("deployment:") for a in advise(modality="tabular", purpose="batch").assumed)


# -- contradictions and assumptions ---------------------------------------------------------------------
@pytest.mark.parametrize(("given", "says"), [
    ({"modality": "images", "purpose": "training", "structure": "nested"}, "--structure nested does not apply"),
    ({"modality": "nested", "purpose": "batch", "structure": "flat"}, "--modality tabular describes them"),
    ({"modality": "tabular", "purpose": "batch", "latency": "5ms"}, "ignored for purpose batch"),
    ({"modality": "images", "purpose": "training", "rows": "100", "size": "5TB"}, "50 GB per item, implausible"),
    ({"modality": "tabular", "purpose": "online", "latency": "1us"}, "below what any store answers"),
    ({"modality": "images", "purpose": "online", "items": "1k", "item_size": "1MB", "size": "1TB"},
     "check them"),
])
def test_each_contradiction_gets_one_warning_line(given, says):
    advice = advise(**given)
    assert any(says in w for w in advice.warnings), advice.warnings
    assert all("\n" not in w for w in advice.warnings)


def test_inputs_that_cannot_apply_are_dropped():
    assert advise(modality="images", purpose="training", structure="nested").inputs.structure is None
    assert advise(modality="tabular", purpose="batch", latency="5ms").inputs.latency is None


def test_consistent_inputs_get_no_warning():
    for given in ({"modality": "tabular", "purpose": "online", "latency": "5ms", "rows": "1M", "size": "100MB"},
                  {"modality": "images", "purpose": "training", "items": "1.2M", "item_size": "110kB"},
                  {"modality": "nested", "purpose": "online", "structure": "nested"}):
        assert advise(**given).warnings == ()


def test_a_sensor_csv_called_images_is_warned_about(tmp_path: Path):
    path = tmp_path / "sensors.csv"
    path.write_text("device,ts,value\n" + "".join(f"d{i % 7},2024-01-01T00:{i % 60:02d}:00,{i * 0.1}\n"
                                                   for i in range(200)), encoding="utf-8")
    advice = storeadvise.recommend("images", "training", data=path)
    assert any("--modality images, but sensors.csv holds" in w for w in advice.warnings), advice.warnings
    assert advice.best.option in ("files_index", "webdataset")


def test_the_warnings_and_assumptions_are_printed():
    from storeadvise.advisor.render import render

    advice = advise(modality="tabular", purpose="batch", latency="5ms")
    for fmt in ("text", "markdown", "table"):
        out = render(advice, fmt)
        assert "Warning" in out and "ignored for purpose batch" in out
        assert "Assumed" in out and "arrival: batch" in out
    data = advice.to_dict()
    assert data["warnings"] and any(a.startswith("arrival") for a in data["assumed"])


# -- sources ------------------------------------------------------------------------------------------
LECTURE = "A. Paleyes, Machine Learning System Design (Data Science Africa 2022), step 4 Store the data: lists "


@pytest.mark.parametrize("rule", builtin_rules().rules, ids=lambda r: r.id)
def test_the_lecture_is_cited_only_for_what_it_lists(rule):
    for source in rule.source:
        if "Paleyes" in source:
            assert source.startswith(LECTURE), f"{rule.id}: the lecture lists options and maps none to a purpose"


@pytest.mark.parametrize(("pattern", "why"), [
    (r"only data already in the process's memory", "in-process SQLite/LMDB and a nearby Redis answer too"),
    (r"shard and shuffle well", "Parquet row groups shard and shuffle only coarsely"),
    (r"stay typed \(with their time zone\)", "Parquet stores UTC-adjusted instants"),
    (r"JSON text columns", "SQLite 3.45 has JSONB"),
    (r"memory-mappable, zero-copy reads\.", "write_feather compresses with LZ4 by default"),
])
def test_corrected_claims_stay_corrected(pattern, why):
    rules_text = (Path(storeadvise.__file__).parent / "advisor" / "rules.toml").read_text(encoding="utf-8")
    assert not re.search(pattern, rules_text, re.IGNORECASE), why


def test_the_many_readers_rule_cites_sqlite_for_what_it_says_about_networks_not_writers():
    rule = builtin_rules().rule("SA901")
    (sqlite,) = [e for e in rule.then if e.option == "sqlite"]
    assert "network" in sqlite.reason and "writer" not in sqlite.reason
    assert builtin_rules().rule("SA906").source[0].startswith("SQLite, Write-Ahead Logging")


@pytest.mark.parametrize("purpose", ["training", "exploration", "sharing", "batch"])
def test_no_sharding_bonus_for_mongo_outside_online(purpose):
    advice = advise(modality="tabular", purpose=purpose, size="3TB")
    mongo = next(r for r in (*advice.recommendations, *advice.others, *advice.avoid) if r.option == "mongo")
    assert not any("Sharding" in r.text for r in mongo.reasons)


# -- evidence -----------------------------------------------------------------------------------------
def test_bench_names_the_top_candidates_it_could_not_measure(tmp_path: Path, monkeypatch):
    # Exploring a table brings "keep it in memory" among the top candidates: an option no backend stands
    # for, so it can never be measured, whichever backends exist.
    monkeypatch.chdir(tmp_path)  # the run file is saved under ./results
    advice = storeadvise.recommend("tabular", "exploration", bench=True, bench_rows=300)
    missing = unmeasurable_candidates(advise(modality="tabular", purpose="exploration").recommendations)
    assert "memory" in [r.option for r in missing]
    (note,) = [n for n in advice.notes if n.startswith("Not measured:")]
    assert all(r.option in note for r in missing), note
    measured = {row.option for row in advice.evidence.rows}
    assert measured and not measured & {r.option for r in missing}


def test_media_evidence_measures_object_storage_in_a_bucket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Object storage + manifest is the files layout in a bucket (the embedded S3 server): measured."""
    monkeypatch.chdir(tmp_path)  # the run file is saved under ./results
    advice = advise(modality="images", purpose="sharing", items="200k", item_size="15kB")
    assert advice.best.option == "objectstore" and advice.best.measurable
    out = gather_evidence(advice, rows=40)
    rows = {row.option: row for row in out.evidence.rows}
    assert rows["objectstore"].status == "ok", rows["objectstore"].note


def test_embeddings_are_searched_with_a_vector_index_and_trained_from_arrays():
    online = advise(modality="vectors", purpose="online")
    assert online.best.option == "vector_index" and "advice only" in online.best.label
    assert not online.best.measurable and "csv" in {r.option for r in online.avoid}
    assert advise(modality="embeddings", purpose="training").best.option == "zarr"


@pytest.mark.parametrize("suffix, stored_as", [(".parquet", "parquet"), (".csv", "csv"), (".jsonl", "jsonl")])
def test_a_profiled_file_says_which_format_its_size_is_of(tmp_path: Path, suffix: str, stored_as: str) -> None:
    from click.testing import CliRunner

    from storeadvise.cli import cli

    path = tmp_path / f"readings{suffix}"
    assert CliRunner().invoke(cli, ["sample", "time-series", "--rows", "2000", "-o", str(path)]).exit_code == 0
    advice = storeadvise.recommend(purpose="training", data=str(path))
    assert advice.inputs.stored_as == stored_as
    assert not [line for line in advice.to_dict()["assumed"] if line.startswith("stored_as")]


def test_a_size_estimated_from_rows_is_already_in_memory_and_not_scaled_by_a_file_format() -> None:
    advice = advise(modality="embeddings", purpose="online", rows="1M", memory="64GB")
    per_row = MODALITIES["embeddings"].row_bytes
    assert advice.inputs.memory_ratio == pytest.approx(1_000_000 * per_row / 64e9, rel=0.01)


def test_a_contradiction_never_blames_the_user_for_a_value_read_from_the_data(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from storeadvise.cli import cli

    path = tmp_path / "sensors.csv"
    assert CliRunner().invoke(cli, ["sample", "time-series", "--rows", "2000", "-o", str(path)]).exit_code == 0
    advice = storeadvise.recommend("images", "training", data=str(path))
    warnings = " ".join(advice.to_dict()["warnings"])
    assert "structure flat (read from sensors.csv)" in warnings and "--structure" not in warnings
    assert "rows 2,000 (read from sensors.csv)" in warnings and "--rows" not in warnings
