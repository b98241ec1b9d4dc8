"""The advisor's rules engine: inputs and rules in, a ranked recommendation with its reasons out.

Inputs come from ``advisor.inputs`` and rules from ``advisor.ruleset``; this module only evaluates.
Evaluation is pure and deterministic: the same inputs and rules always give the same ranking. Of two
options with equal scores, the one simpler to run (``ruleset.RUNS``) ranks first, then the one with the
stronger single reason, then the name; the advice says which reason broke a tie among the leaders, and
when the first choice and the runner-up are within a point of each other.

Only the standard library is imported here, so ``storeadvise recommend`` stays fast.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from storeadvise.advisor.inputs import CHOICES, Inputs
from storeadvise.advisor.ruleset import RUNS, Effect, Option, Rule, RuleSet
from storeadvise.errors import UsageError
from storeadvise.modalities import SAMPLE_KINDS
from storeadvise.purposes import PURPOSES

CANDIDATES = 3
"""How many of the recommended options that have a backend are measured (``--bench``, the bench hint)."""


@dataclass(frozen=True)
class Reason:
    """One rule's effect on one option."""

    rule: str
    score: float
    text: str
    source: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "score": self.score, "reason": self.text, "source": list(self.source)}


@dataclass(frozen=True)
class Ranked:
    """One option in the ranking, with everything that decided its place."""

    option: str
    label: str
    score: float
    reasons: tuple[Reason, ...]  # positive effects, strongest first
    against: tuple[Reason, ...] = ()  # negative effects, strongest first
    caveats: tuple[str, ...] = ()
    measure_next: tuple[str, ...] = ()
    backend: str | None = None
    rule_rank: int = 0
    measured: dict[str, Any] | None = None  # filled by evidence when --bench ran
    measurable: bool = False  # the harness has a backend for it here
    measurement: str = ""  # with which backend it is measured, or why it is not

    def to_dict(self) -> dict[str, Any]:
        return {
            "option": self.option,
            "label": self.label,
            "score": self.score,
            "backend": self.backend,
            "measurable": self.measurable,
            "measurement": self.measurement,
            "rule_rank": self.rule_rank,
            "reasons": [r.to_dict() for r in self.reasons],
            "against": [r.to_dict() for r in self.against],
            "caveats": list(self.caveats),
            "measure_next": list(self.measure_next),
            "measured": self.measured,
        }


@dataclass(frozen=True)
class Fired:
    """A rule that fired, with the conditions that made it fire."""

    rule: Rule
    matched: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**self.rule.to_dict(), "matched": list(self.matched)}


@dataclass(frozen=True)
class Recommendation:
    """The advisor's answer: ranked options (best first), the runner-up's trade-off, what to avoid,
    the rules that fired and what to measure next. ``to_dict`` is the ``--format json`` schema."""

    inputs: Inputs
    recommendations: tuple[Ranked, ...]
    avoid: tuple[Ranked, ...]
    others: tuple[Ranked, ...]
    fired: tuple[Fired, ...]
    tradeoff: str = ""
    measure_next: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    evidence: Any = None  # advisor.evidence.Evidence when --bench ran
    title: str = ""
    warnings: tuple[str, ...] = ()  # contradictions in the inputs
    assumed: tuple[str, ...] = ()  # every input the advice assumed or estimated, and its deployment assumption

    @property
    def best(self) -> Ranked | None:
        return self.recommendations[0] if self.recommendations else None

    @property
    def runner_up(self) -> Ranked | None:
        return self.recommendations[1] if len(self.recommendations) > 1 else None

    def to_pandas(self) -> Any:
        """One row per option (``advisor.render.ADVICE_COLUMNS``) as a pandas DataFrame; an error saying
        what to install without pandas."""
        from storeadvise.advisor.render import ADVICE_COLUMNS, advice_rows
        from storeadvise.frames import pandas_frame

        return pandas_frame(advice_rows(self)).reindex(columns=list(ADVICE_COLUMNS))

    def _repr_html_(self) -> str:
        """Jupyter's view of the advice: the ranking with reasons, what to avoid, the details."""
        from storeadvise.advisor.render import render_html

        return render_html(self)

    def to_dict(self) -> dict[str, Any]:
        runner = self.runner_up
        return {
            "title": self.title,
            "inputs": self.inputs.to_dict(),
            "recommendations": [r.to_dict() for r in self.recommendations],
            "runner_up": {"option": runner.option, "tradeoff": self.tradeoff} if runner else None,
            "avoid": [r.to_dict() for r in self.avoid],
            "others": [r.option for r in self.others],
            "fired_rules": [f.to_dict() for f in self.fired],
            "measure_next": list(self.measure_next),
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            "assumed": list(self.assumed),
            "evidence": self.evidence.to_dict() if self.evidence is not None else None,
        }


def _tradeoff(best: Ranked, runner: Ranked, fired: tuple[Fired, ...], options: Mapping[str, Option]) -> str:
    """Why the winner beat the runner-up (the rule that separated them most) and when to pick the other."""
    if options[best.option].is_transport:
        return (f"{best.label} is transport, not the final store: sink it into {runner.label}, "
                f"which ranks next ({runner.score:+g}).")
    gap_rule, gap = None, 0.0
    for f in fired:
        scores = {e.option: e.score for e in f.rule.then}
        diff = scores.get(best.option, 0) - scores.get(runner.option, 0)
        if diff > gap:
            gap_rule, gap = f.rule, diff
    text = f"{best.label} ({best.score:+g}) ranks above {runner.label} ({runner.score:+g})"
    if gap_rule is not None:
        effect = {e.option: e for e in gap_rule.then}
        why = effect.get(best.option) or effect[runner.option]
        text += f" mainly because of {gap_rule.id}: {why.reason}"
    else:
        text += "."
    choose_when = options[runner.option].choose_when
    if choose_when:
        text += f" Choose {runner.label} instead when {choose_when}."
    return text


def candidate_backends(recommended: Sequence[Ranked], count: int = CANDIDATES) -> list[str]:
    """The backends of the first ``count`` recommended options that the harness can measure."""
    return [r.backend for r in recommended if r.measurable and r.backend][:count]


def unmeasurable_candidates(recommended: Sequence[Ranked], count: int = CANDIDATES) -> list[Ranked]:
    """The recommended options the harness cannot measure that rank above the last of the ``count``
    candidates it does measure (all of them when fewer can be measured)."""
    measured = 0
    out = []
    for r in recommended:
        if measured >= count:
            break
        if r.measurable:
            measured += 1
        else:
            out.append(r)
    return out


def unmeasured_note(recommended: Sequence[Ranked], count: int = CANDIDATES) -> str:
    """A sentence naming the top candidates that cannot be measured, and why; empty when there are none."""
    missing = unmeasurable_candidates(recommended, count)
    if not missing:
        return ""
    listed = "; ".join(f"{r.option} ({r.measurement})" for r in missing)
    return f"Not measured: {listed}. They keep the place the rules gave them."


def _tie_key(r: Ranked, options: Mapping[str, Option]) -> tuple[Any, ...]:
    """The stated tie-break: simpler to run, then the stronger single reason, then the name."""
    strongest = r.reasons[0].score if r.reasons else 0
    return (-r.score, list(RUNS).index(options[r.option].runs), -strongest, r.option)


def _closeness(best: Ranked, runner: Ranked, options: Mapping[str, Option]) -> str:
    """A sentence when the first two are within a point: how the tie was broken, or that it is close."""
    if best.score - runner.score > 1:
        return ""
    if best.score != runner.score:
        return (f"{best.option} ({best.score:+g}) and {runner.option} ({runner.score:+g}) are within a point of "
                "each other: either is a sound choice; the reasons above say which fits you.")
    a, b = options[best.option].runs, options[runner.option].runs
    if a != b:
        why = f"it is simpler to run ({RUNS[a]}; {runner.option}: {RUNS[b]})"
    elif best.reasons and runner.reasons and best.reasons[0].score != runner.reasons[0].score:
        why = f"its strongest reason weighs more ({best.reasons[0].rule}, {best.reasons[0].score:+g})"
    else:
        why = "of its name: the rules do not separate them, so choose by the reasons above"
    return f"{best.option} and {runner.option} tie at {best.score:+g}; {best.option} is listed first because {why}."


def _online_assumption(inputs: Inputs) -> list[str]:
    if inputs.purpose != "online":
        return []
    if inputs.readers == "many":
        return ["deployment: many nodes (--readers many): the service runs on several machines, so the store "
                "is reached over the network"]
    return ["deployment: one node: the service and its store on the same machine; say --readers many if "
            "several machines serve requests"]


def bench_command_hint(inputs: Inputs, ranked: tuple[Ranked, ...], data: str | None = None) -> str:
    """The ``storeadvise bench`` command that measures the top candidates for this purpose."""
    names = candidate_backends(ranked)
    if not names or inputs.modality not in SAMPLE_KINDS:
        return ""
    measure = PURPOSES[inputs.purpose].metric.description if inputs.purpose in PURPOSES else ""
    # Runnable as printed: on the user's file, or on a generated sample of the same modality.
    source = shlex.quote(data) if data else f"--sample {inputs.modality}"
    return f"storeadvise bench {source} --purpose {inputs.purpose} --backends {','.join(names)}: compare {measure}"


def _rank(ruleset: RuleSet, fired: Sequence[Fired]) -> list[Ranked]:
    """Every option with its score summed over the fired rules, its reasons for and against, in rank order."""
    effects: dict[str, list[tuple[Effect, Rule]]] = {name: [] for name in ruleset.options}
    for f in fired:
        for effect in f.rule.then:
            effects[effect.option].append((effect, f.rule))
    ranked = []
    for name, option in ruleset.options.items():
        pairs = effects[name]
        score = sum(e.score for e, _ in pairs)
        pros = sorted((p for p in pairs if p[0].score > 0), key=lambda p: -p[0].score)
        cons = sorted((p for p in pairs if p[0].score < 0), key=lambda p: p[0].score)
        rule_caveats = [c for _, r in pros for c in r.caveats]
        measurable, measurement = option.measurability()
        ranked.append(Ranked(
            option=name,
            label=option.label,
            score=score,
            reasons=tuple(Reason(r.id, e.score, e.reason, r.source) for e, r in pros),
            against=tuple(Reason(r.id, e.score, e.reason, r.source) for e, r in cons),
            caveats=tuple(dict.fromkeys([*rule_caveats, *option.caveats])),
            measure_next=option.measure_next,
            backend=option.backend,
            measurable=measurable,
            measurement=measurement,
        ))
    ranked.sort(key=lambda r: _tie_key(r, ruleset.options))
    return [replace(r, rule_rank=i + 1) for i, r in enumerate(ranked)]


def evaluate(inputs: Inputs, ruleset: RuleSet, data: str | None = None) -> Recommendation:
    """Fire every rule whose conditions hold, add up the score changes and rank the options
    (``data`` only names the user's file in the suggested bench command)."""
    if inputs.modality is None:
        raise UsageError("say what the data is: --modality (or --data FILE to infer it); "
                         f"choose from {', '.join(CHOICES['modality'])}")
    if inputs.purpose is None:
        raise UsageError(f"say what the data is for: --purpose, one of {', '.join(CHOICES['purpose'])}")
    fired = []
    for rule in ruleset.rules:
        held = rule.matched(inputs)
        if held is not None:
            fired.append(Fired(rule, tuple(held)))
    ranked = _rank(ruleset, fired)
    recommendations = tuple(r for r in ranked if r.score > 0)
    avoid = tuple(sorted((r for r in ranked if r.score < 0), key=lambda r: (r.score, r.rule_rank)))
    others = tuple(r for r in ranked if r.score == 0)
    tradeoff = ""
    notes = []
    if len(recommendations) > 1:
        tradeoff = _tradeoff(recommendations[0], recommendations[1], tuple(fired), ruleset.options)
        close = _closeness(recommendations[0], recommendations[1], ruleset.options)
        if close:
            notes.append(close)
    if not recommendations:
        notes.append("No option scored above zero with these inputs and rules.")
    hint = bench_command_hint(inputs, recommendations, data)
    return Recommendation(
        inputs=inputs,
        recommendations=recommendations,
        avoid=avoid,
        others=others,
        fired=tuple(fired),
        tradeoff=tradeoff,
        measure_next=(hint,) if hint else (),
        notes=tuple(notes),
        title=f"Where to keep {inputs.modality} data for {PURPOSES[inputs.purpose].label}",
        warnings=inputs.warnings,
        assumed=(*inputs.assumptions(), *_online_assumption(inputs)),
    )
