"""The advisor's knowledge base: loading ``rules.toml``, merging a user's ``--rules`` file, checking both.

Knowledge lives in ``rules.toml`` (and in a user's ``--rules`` file); this module reads it, checks every
rule with one clear error per mistake, and verifies each rule's examples. Rules keep the order the files
give them, which is the order ``engine.evaluate`` fires them in. Only the standard library is imported
here, so ``storeadvise recommend`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from storeadvise.advisor.inputs import CHOICES, QUANTITY_KINDS, Inputs, make_inputs, normalise_choice
from storeadvise.errors import UsageError
from storeadvise.formatting import format_quantity
from storeadvise.units import parse_quantity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

BUILTIN_RULES = Path(__file__).with_name("rules.toml")

CONDITION_KEYS: tuple[str, ...] = (
    "modality", "purpose", "structure", "arrival", "readers", "writers", "update", "stored_as",
    "min_size", "max_size", "min_rows", "max_rows", "min_items", "max_items", "min_item_size", "max_item_size",
    "min_latency", "max_latency", "min_memory_ratio", "max_memory_ratio",
)
RULE_KEYS = frozenset({"id", "title", "when", "then", "rationale", "caveats", "source", "examples"})
OPTION_KEYS = frozenset({"label", "backend", "description", "caveats", "choose_when", "measure_next", "is_transport",
                         "runs", "advice_only"})

RUNS: dict[str, str] = {
    "in-process": "it lives in the process itself",
    "files": "it is only files",
    "embedded": "it is a library in the process, with no server",
    "server": "it is a server to run",
    "service": "it is a managed service or a system to adopt",
}
"""What it takes to run an option, simplest first: the stated tie-break between options of equal score."""


@dataclass(frozen=True)
class Option:
    """A storage option the advisor can recommend."""

    name: str
    label: str
    description: str
    backend: str | None = None
    caveats: tuple[str, ...] = ()
    choose_when: str = ""
    measure_next: tuple[str, ...] = ()
    is_transport: bool = False
    runs: str = "files"  # a key of RUNS
    advice_only: bool = False  # the harness does not measure it, and no backend is planned

    def measurability(self) -> tuple[bool, str]:
        """Whether the harness can measure this option here and now, and a sentence saying with what
        (or why not), judged from the backend registry, the one list of backends."""
        if self.advice_only:
            return False, "advice only: not measured by storeadvise"
        if not self.backend:
            return False, "no backend: nothing stored for storeadvise to measure"
        from storeadvise.bench.api import registered_backend

        name = registered_backend(self.backend)
        if name is not None:
            where = " in a bucket (the embedded S3 server, or --location)" if name != self.backend else ""
            return True, f"measured by the {name} backend{where}"
        return False, f"not yet measurable: no {self.backend} backend yet"


@dataclass(frozen=True)
class Effect:
    option: str
    score: float
    reason: str


@dataclass(frozen=True)
class Rule:
    """One piece of advice: when its conditions hold, it changes option scores, each with a reason."""

    id: str
    title: str
    when: dict[str, Any]  # canonical: choice keys -> tuple of values; quantity keys -> number
    then: tuple[Effect, ...]
    rationale: str = ""
    caveats: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    examples_fire: tuple[Inputs, ...] = ()
    examples_skip: tuple[Inputs, ...] = ()
    origin: str = "built-in"

    def matched(self, inputs: Inputs) -> list[str] | None:
        """The conditions as they held for ``inputs`` (for --explain), or None if one does not hold."""
        held = []
        for key, want in self.when.items():
            if key in CHOICES:
                value = getattr(inputs, key)
                if value not in want:
                    return None
                held.append(f"{key}={value}")
                continue
            bound, name = key.split("_", 1)
            value = getattr(inputs, name)
            if value is None:
                return None
            # sizes and rows: min inclusive, max exclusive; latency targets: both inclusive
            ok = value >= want if bound == "min" else (value <= want if name == "latency" else value < want)
            if not ok:
                return None
            held.append(f"{name} {'>=' if bound == 'min' else '<=' if name == 'latency' else '<'} "
                        f"{_quantity_text(want, name)}")
        return held

    def when_text(self) -> str:
        parts = []
        for key, want in self.when.items():
            if key in CHOICES:
                parts.append(f"{key}={'|'.join(want)}")
            else:
                bound, name = key.split("_", 1)
                op = ">=" if bound == "min" else "<=" if name == "latency" else "<"
                parts.append(f"{name}{op}{_quantity_text(want, name).replace(' ', '')}")
        return ", ".join(parts)

    def then_text(self) -> str:
        return ", ".join(f"{e.option} {e.score:+g}" for e in self.then)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "when": self.when_text(),
            "then": [{"option": e.option, "score": e.score, "reason": e.reason} for e in self.then],
            "rationale": self.rationale,
            "caveats": list(self.caveats),
            "source": list(self.source),
            "origin": self.origin,
        }


@dataclass(frozen=True)
class RuleSet:
    """The options and the rules in evaluation order."""

    options: dict[str, Option]
    rules: tuple[Rule, ...]

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id.lower() == rule_id.lower():
                return rule
        raise UsageError(f"no rule {rule_id!r}; `storeadvise rules` lists them")


def _quantity_text(value: float, name: str) -> str:
    return format_quantity(value, QUANTITY_KINDS[name]) if name in QUANTITY_KINDS else f"{value:g}"


def _parse_bound(value: Any, name: str, key: str) -> float:
    """A quantity condition's bound: a size, count or latency as ``units`` reads them, or a plain ratio."""
    if name in QUANTITY_KINDS:
        return parse_quantity(value, QUANTITY_KINDS[name], option=f"condition {key}")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise UsageError(f"condition {key} {value!r}: expected a number greater than zero")
    return float(value)


def _fail(origin: str, where: str, message: str) -> UsageError:
    return UsageError(f"rules file {origin}: {where}{message}")


def _strings(value: Any, origin: str, where: str, key: str) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _fail(origin, where, f"`{key}` must be a string or a list of strings")
    return tuple(values)


def _parse_when(when: Any, origin: str, where: str) -> dict[str, Any]:
    if not isinstance(when, dict) or not when:
        raise _fail(origin, where, "`when` must be a table with at least one condition")
    parsed: dict[str, Any] = {}
    for key, value in when.items():
        if key not in CONDITION_KEYS:
            raise _fail(origin, where, f"unknown condition {key!r}; conditions are {', '.join(CONDITION_KEYS)}")
        if key in CHOICES:
            spellings = _strings(value, origin, where, key)
            try:
                parsed[key] = tuple(normalise_choice(key, v) for v in spellings)
            except UsageError as exc:
                raise _fail(origin, where, f"condition {key}: {exc}") from None
        else:
            try:
                parsed[key] = _parse_bound(value, key.split("_", 1)[1], key)
            except UsageError as exc:
                raise _fail(origin, where, str(exc)) from None
    return parsed


def _parse_examples(examples: Any, origin: str, where: str) -> tuple[tuple[Inputs, ...], tuple[Inputs, ...]]:
    if examples is None:
        return (), ()
    if not isinstance(examples, dict) or set(examples) - {"fire", "skip"}:
        raise _fail(origin, where, "`examples` must be a table with `fire` and/or `skip` lists")
    out = []
    for kind in ("fire", "skip"):
        items = examples.get(kind, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise _fail(origin, where, f"`examples.{kind}` must be a list of input tables")
        try:
            out.append(tuple(make_inputs(item, option_prefix="", assume_memory=False) for item in items))
        except UsageError as exc:
            raise _fail(origin, where, f"examples.{kind}: {exc}") from None
    return out[0], out[1]


def _parse_rule(raw: Any, options: Mapping[str, Option], origin: str, index: int) -> Rule:
    if not isinstance(raw, dict):
        raise _fail(origin, "", f"rule number {index} is not a table")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not rule_id.strip():
        raise _fail(origin, "", f"rule number {index} has no `id`")
    where = f"rule {rule_id}: "
    unknown = set(raw) - RULE_KEYS
    if unknown:
        raise _fail(origin, where, f"unknown key {sorted(unknown)[0]!r}; rule keys are {', '.join(sorted(RULE_KEYS))}")
    if not isinstance(raw.get("title"), str):
        raise _fail(origin, where, "`title` (a string) is required")
    then = raw.get("then")
    if not isinstance(then, dict) or not then:
        raise _fail(origin, where, "`then` must give at least one option a score, "
                    'e.g. then.sqlite = { score = 2, reason = "..." }')
    effects = []
    for name, effect in then.items():
        if name not in options:
            raise _fail(origin, where, f"unknown option {name!r}; options are {', '.join(options)}")
        score = effect.get("score") if isinstance(effect, dict) else None
        reason = effect.get("reason") if isinstance(effect, dict) else None
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not isinstance(reason, str) or not reason:
            raise _fail(origin, where, f"then.{name} must be {{ score = <number>, reason = \"<one sentence>\" }}")
        effects.append(Effect(name, score, reason))
    fire, skip = _parse_examples(raw.get("examples"), origin, where)
    return Rule(
        id=rule_id.strip(),
        title=raw["title"],
        when=_parse_when(raw.get("when"), origin, where),
        then=tuple(effects),
        rationale=str(raw.get("rationale", "")),
        caveats=_strings(raw.get("caveats", []), origin, where, "caveats"),
        source=_strings(raw.get("source", []), origin, where, "source"),
        examples_fire=fire,
        examples_skip=skip,
        origin=origin,
    )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"rules file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"rules file {path} cannot be read ({exc})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"rules file {path} is not valid TOML: {exc}") from None


def _parse_rules(raw_rules: Any, options: Mapping[str, Option], origin: str) -> list[Rule]:
    if not isinstance(raw_rules, list):
        raise _fail(origin, "", "`rules` must be an array of tables ([[rules]])")
    rules = [_parse_rule(raw, options, origin, i + 1) for i, raw in enumerate(raw_rules)]
    seen: set[str] = set()
    for rule in rules:
        if rule.id.lower() in seen:
            raise _fail(origin, "", f"duplicate rule id {rule.id!r}")
        seen.add(rule.id.lower())
    return rules


@lru_cache(maxsize=1)
def builtin_rules() -> RuleSet:
    """The rules shipped in ``advisor/rules.toml`` (parsed once per process)."""
    data = _read_toml(BUILTIN_RULES)
    origin = "built-in"
    options: dict[str, Option] = {}
    for name, raw in data.get("options", {}).items():
        unknown = set(raw) - OPTION_KEYS
        if unknown or "label" not in raw:
            raise _fail(origin, f"option {name}: ", f"needs a label and only the keys {', '.join(sorted(OPTION_KEYS))}")
        if raw.get("runs", "files") not in RUNS:
            raise _fail(origin, f"option {name}: ", f"`runs` must be one of {', '.join(RUNS)}")
        options[name] = Option(name=name, label=raw["label"], description=raw.get("description", ""),
                               backend=raw.get("backend"), caveats=tuple(raw.get("caveats", ())),
                               choose_when=raw.get("choose_when", ""),
                               measure_next=tuple(raw.get("measure_next", ())),
                               is_transport=bool(raw.get("is_transport", False)),
                               runs=raw.get("runs", "files"), advice_only=bool(raw.get("advice_only", False)))
    rules = tuple(_parse_rules(data.get("rules", []), options, origin))
    return RuleSet(options=options, rules=rules)


def load_rules(extra: str | Path | None = None) -> RuleSet:
    """The built-in rules, plus a user's rules file: its rules are added, a rule with a built-in id
    replaces that rule, and ``disable = ["SA601", ...]`` switches built-in rules off."""
    base = builtin_rules()
    if extra is None:
        return base
    path = Path(extra)
    data = _read_toml(path)
    unknown = set(data) - {"rules", "disable", "schema_version"}
    if unknown:
        raise _fail(str(path), "", f"unknown top-level key {sorted(unknown)[0]!r}; a rules file has `rules` "
                    "(and optionally `disable`); options cannot be added")
    user = _parse_rules(data.get("rules", []), base.options, str(path))
    names = _strings(data.get("disable", []), str(path), "", "disable")
    known = {r.id.lower() for r in base.rules} | {r.id.lower() for r in user}
    missing = [d for d in names if d.lower() not in known]
    if missing:
        raise _fail(str(path), "", f"`disable` names unknown rule {missing[0]!r}")
    disable = {d.lower() for d in names}
    by_id = {r.id.lower(): r for r in user}
    merged = [by_id.pop(r.id.lower(), r) for r in base.rules]
    merged += list(by_id.values())
    return replace(base, rules=tuple(r for r in merged if r.id.lower() not in disable))


def check_examples(ruleset: RuleSet) -> list[str]:
    """Every rule example that does not behave as declared (an empty list means all are right)."""
    problems = []
    for rule in ruleset.rules:
        for example in rule.examples_fire:
            if rule.matched(example) is None:
                problems.append(f"{rule.id}: example should fire but does not: {_example_text(example)}")
        for example in rule.examples_skip:
            if rule.matched(example) is not None:
                problems.append(f"{rule.id}: example should not fire but does: {_example_text(example)}")
    return problems


def _example_text(inputs: Inputs) -> str:
    return ", ".join(f"{k}={v['display'] if 'display' in v else v['value']}" for k, v in inputs.to_dict().items())

