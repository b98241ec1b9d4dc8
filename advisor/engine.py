"""The advisor's rules engine: inputs in, a ranked recommendation with its reasons out.

Knowledge lives in ``rules.toml`` (and in a user's ``--rules`` file); this module only reads it,
checks it and evaluates it. Evaluation is pure and deterministic: the same inputs and rules always give
the same ranking. Options with equal scores rank in the order ``rules.toml`` lists them (simplest to run
first), so a tie never depends on dictionary or hash order.

Only the standard library is imported here, so ``storeadvise recommend`` stays fast.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from storeadvise.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

BUILTIN_RULES = Path(__file__).with_name("rules.toml")

# -- input vocabulary ---------------------------------------------------------------------------------
# Canonical value -> accepted spellings (compared after lower-casing and turning spaces/underscores into
# hyphens). The canonical values are what rules and JSON output use.
CHOICES: dict[str, dict[str, tuple[str, ...]]] = {
    "modality": {
        "tabular": ("table", "tables", "structured"),
        "time-series": ("timeseries", "ts", "time-series-data"),
        "images": ("image", "img", "photos", "pictures"),
        "video": ("videos", "movies", "clips"),
        "text": ("free-text", "freetext", "texts", "corpus"),
        "nested": ("documents", "document", "docs", "json", "nested-documents"),
    },
    "purpose": {
        "exploration": ("explore", "play", "ad-hoc", "adhoc", "on-your-own"),
        "sharing": ("share", "colleagues", "fellow-data-scientists"),
        "training": ("train",),
        "batch": ("batch-processing", "etl", "jobs"),
        "online": ("online-prediction", "serving", "serve", "inference", "real-time-prediction"),
    },
    "structure": {"flat": ("tabular", "flattened"), "nested": ("hierarchical", "documents")},
    "arrival": {
        "batch": ("at-rest", "files", "once", "bulk"),
        "stream": ("streaming", "continuous", "continuously", "real-time", "realtime", "events"),
    },
    "readers": {
        "one": ("me", "one-person", "person", "single", "solo", "myself"),
        "team": ("a-team", "colleagues", "group"),
        "many": ("many-services", "services", "service", "public", "applications"),
    },
    "update": {
        "append": ("append-only", "appendonly", "inserts", "insert", "immutable"),
        "in-place": ("inplace", "update", "updates", "updates-in-place", "upsert", "upserts", "mutable"),
    },
}

INPUT_FIELDS: tuple[str, ...] = (
    "modality", "purpose", "size", "rows", "structure", "arrival", "latency", "readers", "update",
)

# Rough bytes per item, only to estimate a size from a row count when no size is given.
ROW_BYTES: dict[str, int] = {
    "tabular": 100, "time-series": 50, "text": 2_000, "nested": 1_000, "images": 200_000, "video": 50_000_000,
}


def normalise_choice(name: str, value: str) -> str:
    """The canonical spelling of ``value`` for input ``name``; a UsageError listing valid values otherwise."""
    key = re.sub(r"[\s_]+", "-", str(value).strip().lower())
    for canonical, aliases in CHOICES[name].items():
        if key == canonical or key in aliases:
            return canonical
    raise UsageError(f"unknown {name} {value!r}; choose from {', '.join(CHOICES[name])}")


# -- quantities: sizes, row counts, latencies ----------------------------------------------------------
_UNITS: dict[str, dict[str, float]] = {
    "size": {
        "": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
        "p": 1e15, "pb": 1e15, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "pib": 2**50,
    },
    "rows": {"": 1, "k": 1e3, "m": 1e6, "mn": 1e6, "b": 1e9, "bn": 1e9},
    "latency": {"": 1, "us": 1e-3, "µs": 1e-3, "ms": 1, "s": 1e3, "sec": 1e3},
}
_EXAMPLES = {"size": "500MB, 2 TB or 1.5GiB", "rows": "20000, 10k or 1.5M", "latency": "500us, 10ms or 1s"}
_QUANTITY = re.compile(r"^\s*(\d[\d_,]*(?:\.\d+)?(?:e[+-]?\d+)?|\.\d+)\s*([a-zµ]*)\s*$", re.IGNORECASE)


def parse_quantity(value: str | float, kind: str) -> float:
    """Read a size in bytes, a row count or a latency in milliseconds from text like ``500MB``,
    ``10k`` or ``5ms`` (numbers pass through). Sizes use decimal units (MB = 10^6) and binary ones
    (MiB = 2^20); a bare latency number is milliseconds. One function, so every flag and every rule
    condition reads quantities the same way."""
    if isinstance(value, bool):
        raise UsageError(f"cannot read {kind} {value!r}; use e.g. {_EXAMPLES[kind]}")
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        match = _QUANTITY.match(str(value))
        unit = match.group(2).lower() if match else None
        if match is None or unit not in _UNITS[kind]:
            raise UsageError(f"cannot read {kind} {value!r}; use e.g. {_EXAMPLES[kind]}")
        number = float(match.group(1).replace("_", "").replace(",", "")) * _UNITS[kind][unit]
    if not number > 0 or number == float("inf"):
        raise UsageError(f"{kind} must be positive, not {value!r}")
    return round(number) if kind in ("size", "rows") else number


def format_quantity(number: float | None, kind: str) -> str:
    """The human form of a parsed quantity (``500 MB``, ``10,000``, ``5 ms``)."""
    if number is None:
        return "-"
    if kind == "rows":
        return f"{int(number):,}"
    if kind == "latency":
        return f"{number * 1000:g} us" if number < 1 else f"{number:g} ms" if number < 1000 else f"{number / 1000:g} s"
    for unit, scale in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if number >= scale:
            return f"{number / scale:.3g} {unit}"
    return f"{int(number)} B"


# -- inputs -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Inputs:
    """What the advice is about, canonical values only; ``origins`` says where each value came from
    (``given``, ``inferred from FILE``, ``assumed ...``, ``estimated ...``)."""

    modality: str | None = None
    purpose: str | None = None
    size: int | None = None  # bytes
    rows: int | None = None
    structure: str | None = None
    arrival: str | None = None
    latency: float | None = None  # target, milliseconds
    readers: str | None = None
    update: str | None = None
    origins: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in INPUT_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            entry: dict[str, Any] = {"value": value, "source": self.origins.get(name, "given")}
            if name in ("size", "rows", "latency"):
                entry["display"] = format_quantity(value, name)
            out[name] = entry
        return out


def _canonical(name: str, value: Any) -> Any:
    if name in ("size", "rows", "latency"):
        return parse_quantity(value, name)
    return normalise_choice(name, value)


def make_inputs(given: Mapping[str, Any] | None = None, inferred: Mapping[str, Any] | None = None,
                inferred_from: str = "data") -> Inputs:
    """Combine explicit inputs with inferred ones (explicit values win), check and normalise every
    value, and fill the defaults the rules rely on, recording where each value came from."""
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for source, mapping in ((f"inferred from {inferred_from}", inferred or {}), ("given", given or {})):
        for name, value in mapping.items():
            if name not in INPUT_FIELDS:
                raise UsageError(f"unknown input {name!r}; inputs are {', '.join(INPUT_FIELDS)}")
            if value is None:
                continue
            values[name] = _canonical(name, value)
            origins[name] = source
    if "structure" not in values and values.get("modality") not in (None, "images", "video"):
        values["structure"] = "nested" if values["modality"] == "nested" else "flat"
        origins["structure"] = "assumed from the modality"
    if "arrival" not in values:
        values["arrival"] = "batch"
        origins["arrival"] = "assumed; say --arrival stream if it arrives continuously"
    if "size" not in values and values.get("rows") and values.get("modality"):
        per_row = ROW_BYTES[values["modality"]]
        values["size"] = values["rows"] * per_row
        origins["size"] = f"estimated from rows at ~{format_quantity(per_row, 'size')} per {values['modality']} row"
    return Inputs(**values, origins=origins)


# -- rules --------------------------------------------------------------------------------------------
CONDITION_KEYS: tuple[str, ...] = (
    "modality", "purpose", "structure", "arrival", "readers", "update",
    "min_size", "max_size", "min_rows", "max_rows", "min_latency", "max_latency",
)
RULE_KEYS = frozenset({"id", "title", "when", "then", "rationale", "caveats", "source", "examples"})
OPTION_KEYS = frozenset({"label", "backend", "description", "caveats", "choose_when", "measure_next", "is_transport"})


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
                        f"{format_quantity(want, name)}")
        return held

    def when_text(self) -> str:
        parts = []
        for key, want in self.when.items():
            if key in CHOICES:
                parts.append(f"{key}={'|'.join(want)}")
            else:
                bound, name = key.split("_", 1)
                op = ">=" if bound == "min" else "<=" if name == "latency" else "<"
                parts.append(f"{name}{op}{format_quantity(want, name).replace(' ', '')}")
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
    """The options, what each purpose measures, and the rules in evaluation order."""

    options: dict[str, Option]
    purposes: dict[str, dict[str, str]]
    rules: tuple[Rule, ...]

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id.lower() == rule_id.lower():
                return rule
        raise UsageError(f"no rule {rule_id!r}; `storeadvise rules` lists them")


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
        try:
            if key in CHOICES:
                parsed[key] = tuple(normalise_choice(key, v) for v in _strings(value, origin, where, key))
            else:
                parsed[key] = parse_quantity(value, key.split("_", 1)[1])
        except UsageError as exc:
            raise _fail(origin, where, f"condition {key}: {exc}") from None
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
            out.append(tuple(make_inputs(item) for item in items))
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
        options[name] = Option(name=name, label=raw["label"], description=raw.get("description", ""),
                               backend=raw.get("backend"), caveats=tuple(raw.get("caveats", ())),
                               choose_when=raw.get("choose_when", ""),
                               measure_next=tuple(raw.get("measure_next", ())),
                               is_transport=bool(raw.get("is_transport", False)))
    purposes = data.get("purposes", {})
    rules = tuple(_parse_rules(data.get("rules", []), options, origin))
    return RuleSet(options=options, purposes=purposes, rules=rules)


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


# -- evaluation ---------------------------------------------------------------------------------------
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "option": self.option,
            "label": self.label,
            "score": self.score,
            "backend": self.backend,
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

    @property
    def best(self) -> Ranked | None:
        return self.recommendations[0] if self.recommendations else None

    @property
    def runner_up(self) -> Ranked | None:
        return self.recommendations[1] if len(self.recommendations) > 1 else None

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


def bench_command_hint(inputs: Inputs, ranked: tuple[Ranked, ...], ruleset: RuleSet, data: str | None = None) -> str:
    """The ``storeadvise bench`` command that measures the top candidates for this purpose."""
    names = [r.backend for r in ranked if r.backend][:3]
    if not names or inputs.modality in ("images", "video"):
        return ""
    measure = ruleset.purposes.get(inputs.purpose or "", {}).get("measure", "")
    source = f"--data {data}" if data else f"--data YOUR_FILE (or --sample {inputs.modality})"
    return f"storeadvise bench --purpose {inputs.purpose} --backends {','.join(names)} {source}: compare {measure}"


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
    effects: dict[str, list[tuple[Effect, Rule]]] = {name: [] for name in ruleset.options}
    for f in fired:
        for effect in f.rule.then:
            effects[effect.option].append((effect, f.rule))
    order = list(ruleset.options)
    ranked = []
    for name, option in ruleset.options.items():
        pairs = effects[name]
        score = sum(e.score for e, _ in pairs)
        pros = sorted((p for p in pairs if p[0].score > 0), key=lambda p: -p[0].score)
        cons = sorted((p for p in pairs if p[0].score < 0), key=lambda p: p[0].score)
        rule_caveats = [c for _, r in pros for c in r.caveats]
        ranked.append(Ranked(
            option=name,
            label=option.label,
            score=score,
            reasons=tuple(Reason(r.id, e.score, e.reason, r.source) for e, r in pros),
            against=tuple(Reason(r.id, e.score, e.reason, r.source) for e, r in cons),
            caveats=tuple(dict.fromkeys([*rule_caveats, *option.caveats])),
            measure_next=option.measure_next,
            backend=option.backend,
        ))
    ranked.sort(key=lambda r: (-r.score, order.index(r.option)))
    ranked = [replace(r, rule_rank=i + 1) for i, r in enumerate(ranked)]
    recommendations = tuple(r for r in ranked if r.score > 0)
    avoid = tuple(sorted((r for r in ranked if r.score < 0), key=lambda r: (r.score, order.index(r.option))))
    others = tuple(r for r in ranked if r.score == 0)
    tradeoff = ""
    if len(recommendations) > 1:
        tradeoff = _tradeoff(recommendations[0], recommendations[1], tuple(fired), ruleset.options)
    notes = []
    if not recommendations:
        notes.append("No option scored above zero with these inputs and rules.")
    hint = bench_command_hint(inputs, recommendations, ruleset, data)
    return Recommendation(
        inputs=inputs,
        recommendations=recommendations,
        avoid=avoid,
        others=others,
        fired=tuple(fired),
        tradeoff=tradeoff,
        measure_next=(hint,) if hint else (),
        notes=tuple(notes),
        title=f"Where to keep {inputs.modality} data for "
              f"{ruleset.purposes.get(inputs.purpose, {}).get('label', inputs.purpose)}",
    )
