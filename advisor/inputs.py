"""The advisor's inputs: the values it understands, the spellings people use for them, and checking.

``make_inputs`` turns what a user typed (or what ``--data`` inferred) into an ``Inputs`` of canonical
values, the only values rules and JSON output ever see. Sizes, row counts and latencies are read by
``storeadvise.units``, the project's one quantity parser. Only the standard library is imported here,
so ``storeadvise recommend`` stays fast.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from storeadvise.errors import UsageError
from storeadvise.formatting import format_quantity
from storeadvise.modalities import MODALITIES
from storeadvise.purposes import PURPOSES
from storeadvise.units import parse_quantity

# Canonical value -> accepted spellings (compared after lower-casing and turning spaces/underscores into
# hyphens). The canonical values are what rules and JSON output use. Modalities and purposes are shared
# with the harness, so their names and spellings come from their one definition.
CHOICES: dict[str, dict[str, tuple[str, ...]]] = {
    "modality": {m.name: m.aliases for m in MODALITIES.values()},
    "purpose": {p.name: p.aliases for p in PURPOSES.values()},
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
QUANTITY_FIELDS: tuple[str, ...] = ("size", "rows", "latency")
"""Inputs that are quantities (``storeadvise.units`` kinds); every other input is one of ``CHOICES``."""


def normalise_choice(name: str, value: str) -> str:
    """The canonical spelling of ``value`` for input ``name``; a UsageError listing valid values otherwise."""
    key = re.sub(r"[\s_]+", "-", str(value).strip().lower())
    for canonical, aliases in CHOICES[name].items():
        if key == canonical or key in aliases:
            return canonical
    raise UsageError(f"unknown {name} {value!r}; choose from {', '.join(CHOICES[name])}")


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
            if name in QUANTITY_FIELDS:
                entry["display"] = format_quantity(value, name)
            out[name] = entry
        return out


def _canonical(name: str, value: Any, option_prefix: str) -> Any:
    if name in QUANTITY_FIELDS:
        return parse_quantity(value, name, option=f"{option_prefix}{name}")
    return normalise_choice(name, value)


def make_inputs(given: Mapping[str, Any] | None = None, inferred: Mapping[str, Any] | None = None,
                inferred_from: str = "data", option_prefix: str = "--") -> Inputs:
    """Combine explicit inputs with inferred ones (explicit values win), check and normalise every
    value, and fill the defaults the rules rely on, recording where each value came from.
    ``option_prefix`` is how errors name an input: ``--size`` for the command line, ``size`` (prefix
    ``""``) inside a rules file."""
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for source, mapping in ((f"inferred from {inferred_from}", inferred or {}), ("given", given or {})):
        for name, value in mapping.items():
            if name not in INPUT_FIELDS:
                raise UsageError(f"unknown input {name!r}; inputs are {', '.join(INPUT_FIELDS)}")
            if value is None:
                continue
            values[name] = _canonical(name, value, option_prefix)
            origins[name] = source
    if "structure" not in values and values.get("modality") not in (None, "images", "video"):
        values["structure"] = "nested" if values["modality"] == "nested" else "flat"
        origins["structure"] = "assumed from the modality"
    if "arrival" not in values:
        values["arrival"] = "batch"
        origins["arrival"] = "assumed; say --arrival stream if it arrives continuously"
    if "size" not in values and values.get("rows") and values.get("modality"):
        per_row = MODALITIES[values["modality"]].row_bytes
        values["size"] = values["rows"] * per_row
        origins["size"] = f"estimated from rows at ~{format_quantity(per_row, 'size')} per {values['modality']} row"
    return Inputs(**values, origins=origins)
