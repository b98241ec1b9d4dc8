"""Purposes and modalities are defined once; everything that names them agrees with that definition,
and the advisor reaches the harness only through its public API."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from click.testing import CliRunner

import storeadvise
from storeadvise.advisor.engine import evaluate
from storeadvise.advisor.evidence import STATISTICS, apply_evidence
from storeadvise.advisor.inputs import CHOICES, make_inputs
from storeadvise.advisor.ruleset import builtin_rules
from storeadvise.backends.operations import OPERATIONS
from storeadvise.bench.samples import GENERATORS
from storeadvise.bench.workloads import select_ops
from storeadvise.cli import cli
from storeadvise.modalities import MODALITIES, SAMPLE_KINDS
from storeadvise.purposes import PURPOSES

ROOT = Path(__file__).resolve().parent.parent
HARNESS_API = ("storeadvise", "storeadvise.bench.api")


@pytest.mark.parametrize("name", PURPOSES)
def test_a_purpose_measures_known_operations_including_the_ones_its_metric_reads(name: str) -> None:
    purpose = PURPOSES[name]
    assert purpose.label and purpose.meaning and purpose.metric.description
    assert set(purpose.ops) <= set(OPERATIONS), "purposes name the harness's operations"
    assert set(select_ops(name)) == set(purpose.ops)
    metric = purpose.metric
    read = set(metric.ops) | set(metric.substitutes) | set(metric.substitutes.values())
    assert read <= set(purpose.ops), "bench --purpose must measure every operation the evidence ranks by"
    assert metric.statistic in STATISTICS
    assert metric.cross_check is None or metric.cross_check in STATISTICS


def test_the_advisor_and_the_harness_accept_the_same_purposes_and_modalities() -> None:
    assert list(CHOICES["purpose"]) == list(PURPOSES)
    assert list(CHOICES["modality"]) == list(MODALITIES)
    assert list(GENERATORS) == list(SAMPLE_KINDS), "one sample generator for each modality marked as sampled"


def test_every_purpose_and_modality_is_named_by_a_builtin_rule() -> None:
    named: dict[str, set[str]] = {"purpose": set(), "modality": set()}
    for rule in builtin_rules().rules:
        for key, values in named.items():
            values.update(rule.when.get(key, ()))
    assert named["purpose"] == set(PURPOSES), "a purpose without rules gets no advice"
    assert named["modality"] == set(MODALITIES), "a modality without rules gets no advice"


def test_advice_names_the_purpose_by_its_label_and_suggests_measuring_its_metric() -> None:
    for name, purpose in PURPOSES.items():
        advice = evaluate(make_inputs({"modality": "tabular", "purpose": name}), builtin_rules())
        assert advice.title == f"Where to keep tabular data for {purpose.label}"
        assert f"--purpose {name} " in advice.measure_next[0]
        assert advice.measure_next[0].endswith(f": compare {purpose.metric.description}")


@pytest.mark.parametrize("name", PURPOSES)
def test_a_real_run_of_the_purpose_gives_evidence_for_every_candidate(name: str) -> None:
    advice = evaluate(make_inputs({"modality": "tabular", "purpose": name}), builtin_rules())
    run = storeadvise.benchmark(sample="tabular", rows=300, backends=["sqlite", "parquet"], purpose=name,
                                repeat=1, warmup=0, lookups=5, save=False)
    evidence = apply_evidence(advice, run).evidence
    assert evidence.metric == PURPOSES[name].metric.name
    assert {row.option: row.status for row in evidence.rows} == {"sqlite": "ok", "parquet": "ok"}


@pytest.mark.parametrize("command", ["bench", "sample"])
def test_harness_help_lists_every_sample_kind(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert all(kind in result.output for kind in SAMPLE_KINDS), result.output


def _harness_imports(path: Path) -> list[str]:
    """The ``storeadvise.bench`` / ``storeadvise.backends`` modules ``path`` imports (type-only ones too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
            [a.name for a in node.names] if isinstance(node, ast.Import) else [])
        found += [n for n in names if n.startswith(("storeadvise.bench", "storeadvise.backends"))]
    return found


@pytest.mark.parametrize("path", sorted((ROOT / "advisor").glob("*.py")), ids=lambda p: p.name)
def test_the_advisor_uses_only_the_harness_public_api(path: Path) -> None:
    assert all(name in HARNESS_API for name in _harness_imports(path)), _harness_imports(path)


def test_a_time_metric_is_in_the_seconds_its_unit_says() -> None:
    advice = evaluate(make_inputs({"modality": "tabular", "purpose": "online"}), builtin_rules())
    run = storeadvise.benchmark(sample="tabular", rows=300, backends=["sqlite"], purpose="online",
                                repeat=1, warmup=0, lookups=5, save=False)
    evidence = apply_evidence(advice, run).evidence
    lookup = next(m for m in run.backends[0].measurements if m.op == "lookup")
    assert evidence.unit == "s"
    assert evidence.rows[0].value == lookup.stats.p99
