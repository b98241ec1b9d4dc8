"""The advisor's inputs: the values it understands, the spellings people use for them, and checking.

``make_inputs`` turns what a user typed (or what ``--data`` inferred) into an ``Inputs`` of canonical
values, the only values rules and JSON output ever see. Sizes, row counts and latencies are read by
``storeadvise.units``, the project's one quantity parser. Only the standard library is imported here,
so ``storeadvise recommend`` stays fast.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from storeadvise.advisor.contradictions import contradictions
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
        "one": ("me", "one-person", "person", "single", "solo", "myself", "one-service"),
        "team": ("a-team", "colleagues", "group", "few", "several", "a-few"),
        "many": ("many-services", "services", "service", "public", "applications"),
    },
    "update": {
        "append": ("append-only", "appendonly", "inserts", "insert", "immutable"),
        "in-place": ("inplace", "update", "updates", "updates-in-place", "upsert", "upserts", "mutable"),
    },
    "stored_as": {
        "csv": ("tsv",), "jsonl": ("json", "ndjson", "json-lines"), "parquet": ("pq",),
        "arrow": ("feather", "ipc", "arrow-ipc"),
    },
}
CHOICES["writers"] = CHOICES["readers"]

COUNTED: dict[str, tuple[tuple[int, str], ...]] = {
    "readers": ((1, "one"), (2, "team"), (10, "many")),
    "writers": ((1, "one"), (2, "team"), (10, "many")),
}
"""Inputs that also take a number: the smallest number each canonical value stands for (1 process is
``one``, 2 to 9 a ``team``, 10 or more ``many``)."""

INPUT_FIELDS: tuple[str, ...] = (
    "modality", "purpose", "size", "rows", "items", "item_size", "stored_as", "memory", "structure", "arrival",
    "latency", "readers", "writers", "update",
)
QUANTITY_KINDS: dict[str, str] = {
    "size": "size", "rows": "rows", "items": "rows", "item_size": "size", "memory": "size", "latency": "latency",
}
"""Inputs that are quantities, and their ``storeadvise.units`` kind; every other input is one of ``CHOICES``."""
QUANTITY_FIELDS: tuple[str, ...] = tuple(QUANTITY_KINDS)

IN_MEMORY_FACTORS: dict[str, float] = {"csv": 1.5, "jsonl": 0.9, "parquet": 6.0, "arrow": 2.0}
"""Bytes a pandas DataFrame takes in memory per byte of the file it was read from, by file format:
measured on the generated tabular, time-series and text samples (the largest of the three, rounded
up): (docs/decisions.md, 'How much memory a file needs')."""

IN_MEMORY_SIZE = " (in memory)"
"""Ends the origin of a size estimated from rows at the modality's bytes per row: an in-memory size,
which no file format's factor scales again."""

DERIVED_FIELDS: tuple[str, ...] = ("memory_ratio",)
"""Inputs the advisor computes, which rules can test but users do not give."""


def normalise_choice(name: str, value: str) -> str:
    """The canonical spelling of ``value`` for input ``name``; a UsageError listing valid values otherwise."""
    key = re.sub(r"[\s_]+", "-", str(value).strip().lower())
    if name in COUNTED and re.fullmatch(r"\d+", key) and int(key) > 0:
        return [word for least, word in COUNTED[name] if int(key) >= least][-1]
    for canonical, aliases in CHOICES[name].items():
        if key == canonical or key in aliases:
            return canonical
    numbers = " or a number" if name in COUNTED else ""
    raise UsageError(f"unknown {name} {value!r}; choose from {', '.join(CHOICES[name])}{numbers}")


@dataclass(frozen=True)
class Inputs:
    """What the advice is about, canonical values only; ``origins`` says where each value came from
    (``given``, ``inferred from FILE``, ``assumed ...``, ``estimated ...``); ``warnings`` are the
    contradictions found between the inputs, one line each."""

    modality: str | None = None
    purpose: str | None = None
    size: int | None = None  # bytes at rest
    rows: int | None = None
    items: int | None = None  # media items (files)
    item_size: int | None = None  # bytes per item
    stored_as: str | None = None  # the file format ``size`` is measured in
    memory: int | None = None  # RAM of the machine that will hold the data, bytes
    structure: str | None = None
    arrival: str | None = None
    latency: float | None = None  # target, milliseconds
    readers: str | None = None
    writers: str | None = None
    update: str | None = None
    memory_ratio: float | None = None  # estimated in-memory size / memory
    origins: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in (*INPUT_FIELDS, *DERIVED_FIELDS):
            value = getattr(self, name)
            if value is None:
                continue
            entry: dict[str, Any] = {"value": value, "source": self.origins.get(name, "given")}
            if name in QUANTITY_KINDS:
                entry["display"] = format_quantity(value, QUANTITY_KINDS[name])
            elif name == "memory_ratio":
                entry["display"] = f"{value:.2g}"
            out[name] = entry
        return out

    def assumptions(self) -> list[str]:
        """Every value the advisor assumed or estimated rather than was given, one line each."""
        lines = [f"{name}: {entry.get('display', entry['value'])} ({entry['source']})"
                 for name, entry in self.to_dict().items()
                 if entry["source"].startswith(("assumed", "estimated"))]
        if self.readers is None and self.writers is None:
            lines.append("readers and writers: not given, so concurrency is not weighed; say --readers and "
                         "--writers (a number, or one, team, many)")
        return lines


def _canonical(name: str, value: Any, option_prefix: str) -> Any:
    if name in QUANTITY_KINDS:
        return parse_quantity(value, QUANTITY_KINDS[name], option=f"{option_prefix}{name.replace('_', '-')}")
    return normalise_choice(name, value)


def machine_memory() -> int | None:
    """This machine's physical memory in bytes, or None where the platform does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def make_inputs(given: Mapping[str, Any] | None = None, inferred: Mapping[str, Any] | None = None,
                inferred_from: str = "data", option_prefix: str = "--", assume_memory: bool = True) -> Inputs:
    """Combine explicit inputs with inferred ones (explicit values win), check and normalise every
    value, fill the defaults the rules rely on and estimate what follows from the rest (size from
    items, memory ratio), recording where each value came from and warning about contradictions.
    ``option_prefix`` is how errors name an input: ``--size`` for the command line, ``size`` (prefix
    ``""``) inside a rules file. ``assume_memory`` takes this machine's memory when none is given
    (rule examples turn it off so that they mean the same on every machine)."""
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    from_data: dict[str, Any] = {}
    for source, mapping in ((f"inferred from {inferred_from}", inferred or {}), ("given", given or {})):
        for name, value in mapping.items():
            if name not in INPUT_FIELDS:
                raise UsageError(f"unknown input {name!r}; inputs are {', '.join(INPUT_FIELDS)}")
            if value is None:
                continue
            values[name] = _canonical(name, value, option_prefix)
            origins[name] = source
            if name in COUNTED and str(value).strip().isdigit():
                origins[name] = f"{source} as {int(value)}"
            if source != "given":
                from_data[name] = values[name]
    warnings = contradictions(values, from_data, inferred_from, option_prefix)
    _assume_defaults(values, origins)
    _estimate_size(values, origins)
    _estimate_memory_ratio(values, origins, assume_memory)
    return Inputs(**values, origins=origins, warnings=tuple(warnings))


def _assume_defaults(values: dict[str, Any], origins: dict[str, str]) -> None:
    modality = values.get("modality")
    if "structure" not in values and modality is not None and not MODALITIES[modality].media:
        values["structure"] = "nested" if modality == "nested" else "flat"
        origins["structure"] = "assumed from the modality"
    if "arrival" not in values:
        values["arrival"] = "batch"
        origins["arrival"] = "assumed; say --arrival stream if it arrives continuously"


def _estimate_size(values: dict[str, Any], origins: dict[str, str]) -> None:
    if "size" in values or not values.get("modality"):
        return
    if values.get("items") and values.get("item_size"):
        values["size"] = values["items"] * values["item_size"]
        origins["size"] = "estimated from items x item size"
    elif values.get("rows") or values.get("items"):
        counted = "rows" if values.get("rows") else "items"
        per_row = MODALITIES[values["modality"]].row_bytes
        values["size"] = values[counted] * per_row
        origins["size"] = (f"estimated from {counted} at ~{format_quantity(per_row, 'size')} "
                           f"per {values['modality']} item{IN_MEMORY_SIZE}")


def _estimate_memory_ratio(values: dict[str, Any], origins: dict[str, str], assume_memory: bool) -> None:
    """In-memory size over memory, for data that is loaded whole (not media, whose items are read one by one)."""
    modality = values.get("modality")
    if "size" not in values or modality is None or MODALITIES[modality].media:
        return
    if "memory" not in values and assume_memory and machine_memory():
        values["memory"] = machine_memory()
        origins["memory"] = "assumed: this machine's memory; say --memory for the machine that will hold the data"
    if "memory" not in values:
        return
    if origins.get("size", "").endswith(IN_MEMORY_SIZE):  # bytes per row in memory: no file format to scale
        values["memory_ratio"] = values["size"] / values["memory"]
        origins["memory_ratio"] = (f"estimated: {format_quantity(values['size'], 'size')} in memory, "
                                   f"over {format_quantity(values['memory'], 'size')} of memory")
        return
    if "stored_as" not in values:
        values["stored_as"] = MODALITIES[modality].stored_as
        origins["stored_as"] = "assumed: the usual file format for the modality; say --stored-as"
    factor = IN_MEMORY_FACTORS[values["stored_as"]]
    values["memory_ratio"] = values["size"] * factor / values["memory"]
    origins["memory_ratio"] = (f"estimated: {format_quantity(values['size'], 'size')} of {values['stored_as']} "
                               f"x {factor:g} in pandas = {format_quantity(values['size'] * factor, 'size')}, "
                               f"over {format_quantity(values['memory'], 'size')} of memory")
