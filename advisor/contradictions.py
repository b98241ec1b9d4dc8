"""Inputs that contradict each other or the world: one warning line each, said before the advice.

``make_inputs`` calls ``contradictions`` with the canonical values (given ones already winning over
those inferred from ``--data``). An input that cannot apply (a latency target for a batch job, a
structure for media files) is dropped, and the warning says so; the others are kept as given, and the
warning says what to check. Only the standard library is imported here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from storeadvise.formatting import format_quantity
from storeadvise.modalities import MODALITIES

IMPLAUSIBLE = 1000
"""How far bytes per item may stray from the modality's typical item size before the pair of inputs
that implies it is called implausible (a 200 kB image: from 200 B to 200 MB)."""
FASTEST_LOOKUP_MS = 0.01
"""10 µs: an indexed lookup in an embedded store (SQLite, LMDB) takes microseconds; below this only a
value already in the process's own memory (a dict lookup, ~0.1 µs in CPython) answers."""

Values = dict[str, Any]


def _is_media(modality: str | None) -> bool:
    return modality is not None and MODALITIES[modality].media


def _named(name: str, text: str, from_data: Values, source: str, prefix: str) -> str:
    """An input as the user gave it (``--rows 30,000``), or as it was read from the data, so a warning never
    blames the user for a value they did not give."""
    return f"{name} {text} (read from {source})" if name in from_data else f"{prefix}{name} {text}"


def _data_disagrees(values: Values, from_data: Values, source: str, prefix: str) -> list[str]:
    given, seen = values.get("modality"), from_data.get("modality")
    if given is None or seen is None or given == seen or _is_media(given) == _is_media(seen):
        return []
    return [f"{prefix}modality {given}, but {source} holds {seen} data: the advice is for {given} as asked; "
            f"check {prefix}modality (a table that describes media items is their manifest)"]


def _structure_on_media(values: Values, from_data: Values, source: str, prefix: str) -> list[str]:
    if not _is_media(values.get("modality")) or "structure" not in values:
        return []
    structure = _named("structure", values.pop("structure"), from_data, source, prefix)
    return [f"{structure} does not apply to {values['modality']} (files of encoded bytes); "
            "ignored: describe the metadata with a second recommend -m tabular or -m nested"]


def _flat_documents(values: Values, from_data: Values, source: str, prefix: str) -> list[str]:
    if values.get("modality") != "nested" or values.get("structure") != "flat":
        return []
    return [f"{prefix}modality nested (documents) with {prefix}structure flat: advising for flat records; "
            f"if the records have no nesting, {prefix}modality tabular describes them better"]


def _latency_off_line(values: Values, from_data: Values, source: str, prefix: str) -> list[str]:
    purpose = values.get("purpose")
    if "latency" not in values or purpose in (None, "online"):
        return []
    latency = values.pop("latency")
    return [f"{prefix}latency {format_quantity(latency, 'latency')} is a target for online reads; "
            f"ignored for purpose {purpose} (say {prefix}purpose online if requests wait on it)"]


def _latency_impossible(values: Values, from_data: Values, source: str, prefix: str) -> list[str]:
    latency = values.get("latency")
    if latency is None or latency >= FASTEST_LOOKUP_MS:
        return []
    return [f"{prefix}latency {format_quantity(latency, 'latency')} is below what any store answers in "
            "(an in-process SQLite or LMDB lookup takes microseconds): only a value already in the "
            "process's memory meets it; keep the hot values in memory in front of the store ranked below"]


def _per_item(values: Values, from_data: Values, source: str, prefix: str) -> list[str]:
    modality, size = values.get("modality"), values.get("size")
    count_name = "items" if values.get("items") else "rows"
    count = values.get(count_name)
    if modality is None or not size or not count:
        return []
    per_item, typical = size / count, MODALITIES[modality].row_bytes
    if typical / IMPLAUSIBLE <= per_item <= typical * IMPLAUSIBLE:
        return []
    count_text = _named(count_name, format_quantity(count, "rows"), from_data, source, prefix)
    size_text = _named("size", format_quantity(size, "size"), from_data, source, prefix)
    return [f"{count_text} and {size_text} mean {format_quantity(per_item, 'size')} per item, implausible for "
            f"{modality} (typically ~{format_quantity(typical, 'size')}): check both; the advice uses the size"]


def _items_disagree_with_size(values: Values, from_data: Values, source: str, prefix: str) -> list[str]:
    size, items, item_size = values.get("size"), values.get("items"), values.get("item_size")
    if not (size and items and item_size) or 0.5 <= size / (items * item_size) <= 2:
        return []
    return [f"{prefix}items x {prefix}item-size is {format_quantity(items * item_size, 'size')}, but "
            f"{prefix}size says {format_quantity(size, 'size')}: check them; the advice uses the size"]


CHECKS: tuple[Callable[[Values, Values, str, str], list[str]], ...] = (
    _data_disagrees, _structure_on_media, _flat_documents, _latency_off_line, _latency_impossible, _per_item,
    _items_disagree_with_size,
)


def contradictions(values: Values, from_data: Values, source: str, prefix: str = "--") -> list[str]:
    """Warnings about ``values`` (canonical inputs; ``from_data`` are those inferred from ``source``),
    dropping from ``values`` the inputs that cannot apply. ``prefix`` names inputs as the user wrote them."""
    return [line for check in CHECKS for line in check(values, from_data, source, prefix)]
