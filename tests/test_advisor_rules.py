"""The knowledge base: every rule well-formed and pinned by its examples; user rule files; quantities."""

from __future__ import annotations

from pathlib import Path

import pytest

from storeadvise.advisor.engine import evaluate
from storeadvise.advisor.inputs import make_inputs, normalise_choice
from storeadvise.advisor.ruleset import builtin_rules, check_examples, load_rules
from storeadvise.backends import REGISTRY
from storeadvise.backends._objectstore import LOCATED_SUFFIX
from storeadvise.errors import UsageError

RULES = builtin_rules().rules


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_every_rule_is_documented_and_pinned_by_examples(rule):
    assert rule.id.startswith("SA") and rule.title and rule.rationale
    assert rule.source, f"{rule.id} cites no source"
    assert rule.examples_fire and rule.examples_skip, f"{rule.id} needs examples that fire and that do not"
    for example in rule.examples_fire:
        assert rule.matched(example) is not None, f"{rule.id} should fire for {example}"
    for example in rule.examples_skip:
        assert rule.matched(example) is None, f"{rule.id} should not fire for {example}"
    assert all(e.reason.endswith(".") for e in rule.then), "each reason is one full sentence"


def test_rule_ids_are_unique_and_options_cover_the_brief():
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    options = builtin_rules().options
    # The catalogue of issue 12; a rules file may add more without editing this test.
    assert {"memory", "csv", "jsonl", "parquet", "arrow", "sqlite", "duckdb", "files_index", "mongo", "kafka",
            "postgres", "redis", "delta", "iceberg", "lance", "webdataset", "lmdb", "objectstore", "zarr",
            "vector_index", "timeseries_db", "warehouse", "feature_store"} <= set(options)
    for name, option in options.items():
        assert option.label and option.description and option.caveats and option.choose_when
        if option.backend is not None:  # object storage + manifest is the files layout in a bucket
            assert option.backend == name or option.backend == f"files_index{LOCATED_SUFFIX}", \
                "option names match the (planned) backend names"


def test_whether_an_option_is_measurable_comes_from_the_backend_registry(monkeypatch):
    options = builtin_rules().options
    for name, option in options.items():
        measurable, text = option.measurability()
        if option.advice_only:
            assert not measurable and text.startswith("advice only")
        elif option.backend is None:
            assert not measurable and text.startswith("no backend")
        elif option.backend.endswith(LOCATED_SUFFIX):
            base = option.backend.removesuffix(LOCATED_SUFFIX)
            assert base in REGISTRY and measurable and text.startswith(f"measured by the {base} backend in a bucket")
        elif name in REGISTRY:
            assert measurable and text == f"measured by the {name} backend"
        else:
            assert not measurable and text == f"not yet measurable: no {name} backend yet"
    assert options["parquet"].measurability()[0] and not options["zarr"].measurability()[0]
    assert {n for n, o in options.items() if o.advice_only} == {"vector_index", "timeseries_db", "warehouse",
                                                              "feature_store"}
    assert all("advice only" in options[n].label for n in ("vector_index", "timeseries_db", "warehouse",
                                                          "feature_store"))
    # A backend that lands makes its option measurable, with no second list to edit.
    monkeypatch.setitem(REGISTRY, "postgres", "storeadvise.backends.postgres:PostgresBackend")
    assert options["postgres"].measurability() == (True, "measured by the postgres backend")


def test_check_examples_reports_a_wrong_example(tmp_path: Path):
    path = tmp_path / "r.toml"
    path.write_text('[[rules]]\nid = "U1"\ntitle = "t"\nwhen = { purpose = "online" }\n'
                    'then.sqlite = { score = 1, reason = "r." }\n'
                    'examples.fire = [{ modality = "tabular", purpose = "batch" }]\n')
    problems = check_examples(load_rules(path))
    assert problems == ["U1: example should fire but does not: modality=tabular, purpose=batch, "
                        "structure=flat, arrival=batch"]


@pytest.mark.parametrize(("name", "spelling", "canonical"), [
    ("modality", "timeseries", "time-series"), ("modality", "time_series", "time-series"),
    ("modality", "Time Series", "time-series"), ("modality", "free-text", "text"),
    ("modality", "documents", "nested"), ("purpose", "serving", "online"), ("update", "append-only", "append"),
    ("readers", "many services", "many"), ("arrival", "streaming", "stream"),
])
def test_common_spellings_are_accepted(name, spelling, canonical):
    assert normalise_choice(name, spelling) == canonical


def test_unknown_value_lists_the_valid_ones():
    with pytest.raises(UsageError, match="choose from tabular, time-series, images, video, audio, text, embeddings, "
                                         "nested"):
        normalise_choice("modality", "spreadsheets")


# -- user rules files ------------------------------------------------------------------------------
def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_user_rule_is_added_and_changes_the_ranking(tmp_path: Path):
    path = _write(tmp_path, '[[rules]]\nid = "ACME1"\ntitle = "We run MongoDB already"\n'
                            'when = { purpose = "online" }\nthen.mongo = { score = 5, reason = "Ops runs it." }\n')
    ruleset = load_rules(path)
    assert ruleset.rules[-1].id == "ACME1" and ruleset.rules[-1].origin == str(path)
    advice = evaluate(make_inputs({"modality": "tabular", "purpose": "online"}), ruleset)
    assert advice.best.option == "mongo"
    assert any(r.rule == "ACME1" for r in advice.best.reasons)


def test_user_rule_overrides_a_builtin_by_id_and_disable_switches_one_off(tmp_path: Path):
    path = _write(tmp_path, 'disable = ["SA501"]\n[[rules]]\nid = "SA502"\ntitle = "Ours"\n'
                            'when = { purpose = "online" }\nthen.duckdb = { score = 9, reason = "We like it." }\n')
    ruleset = load_rules(path)
    ids = [r.id for r in ruleset.rules]
    assert "SA501" not in ids and ids.count("SA502") == 1
    assert ruleset.rule("SA502").title == "Ours"
    assert len(ruleset.rules) == len(RULES) - 1


@pytest.mark.parametrize(("text", "message"), [
    ('[[rules]]\nid = "X1"\ntitle = "t"\nwhen = { purpose = "online" \n', r"not valid TOML: .*line 4"),
    ('[[rules]]\nid = "X1"\ntitle = "t"\nwhen = { purpose = "online" }\nthen.cassandra = { score = 1, reason = "r" }\n',
     "unknown option 'cassandra'; options are memory, csv"),
    ('[[rules]]\nid = "X1"\ntitle = "t"\nwhen = { colour = "red" }\nthen.csv = { score = 1, reason = "r" }\n',
     "unknown condition 'colour'"),
    ('[[rules]]\nid = "X1"\ntitle = "t"\nwhen = { modality = "tabualr" }\nthen.csv = { score = 1, reason = "r" }\n',
     "unknown modality 'tabualr'"),
    ('[[rules]]\nid = "X1"\ntitle = "t"\nwhen = { max_size = "lots" }\nthen.csv = { score = 1, reason = "r" }\n',
     "condition max_size 'lots': expected a size like 500MB"),
    ('[[rules]]\nid = "X1"\ntitle = "t"\nwhen = { purpose = "online" }\nthen.csv = { score = 1, reason = "r" }\n'
     'examples.fire = [{ rows = "0" }]\n', r"examples.fire: rows '0': expected a count like .*, greater than zero"),
    ('[[rules]]\nid = "X1"\ntitle = "t"\nwhen = { purpose = "online" }\nthen.csv = { score = 1, reason = "r" }\n'
     '[[rules]]\nid = "X1"\ntitle = "u"\nwhen = { purpose = "batch" }\nthen.csv = { score = 1, reason = "r" }\n',
     "duplicate rule id 'X1'"),
    ('[[rules]]\nid = "X1"\ntitle = "t"\nwhen = { purpose = "online" }\nthen.csv = { score = "high", reason = "r" }\n',
     r"then.csv must be \{ score"),
    ('[[rules]]\nid = "X1"\ntitle = "t"\nwehn = { purpose = "online" }\nthen.csv = { score = 1, reason = "r" }\n',
     "unknown key 'wehn'"),
    ('[options.postgres]\nlabel = "PG"\n', "options cannot be added"),
    ('disable = ["SA999"]\n', "unknown rule 'SA999'"),
])
def test_bad_rules_files_are_one_clear_usage_error(tmp_path: Path, text: str, message: str):
    with pytest.raises(UsageError, match=message) as info:
        load_rules(_write(tmp_path, text))
    assert "\n" not in str(info.value)
    assert "mine.toml" in str(info.value)


def test_missing_rules_file(tmp_path: Path):
    with pytest.raises(UsageError, match="does not exist"):
        load_rules(tmp_path / "nope.toml")
