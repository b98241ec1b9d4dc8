"""Sizes and counts as people write them: ``500MB``, ``2 TB``, ``1.5GiB``, ``10k``, ``2M``."""

from __future__ import annotations

import re

from storeadvise.errors import UsageError

_BYTE_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12, "tb": 10**12,
    "p": 10**15, "pb": 10**15,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "pib": 2**50,
}
_COUNT_UNITS = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "bn": 10**9}
_PATTERN = re.compile(r"^\s*([0-9]+(?:[._][0-9]+)*(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$")


def _parse(text: str | int | float, units: dict[str, int], option: str, example: str) -> int:
    if isinstance(text, bool):
        raise UsageError(f"{option} {text!r}: expected a number like {example}")
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        match = _PATTERN.match(str(text))
        unit = match.group(2).lower() if match else None
        if not match or unit not in units:
            raise UsageError(f"{option} {text!r}: expected a number with an optional unit, like {example}")
        value = float(match.group(1).replace("_", "")) * units[unit]
    if value <= 0:
        raise UsageError(f"{option} {text!r}: must be greater than zero")
    return int(value)


def parse_bytes(text: str | int | float, option: str = "--size") -> int:
    """Bytes from ``500MB`` / ``2 TB`` / ``1.5GiB`` / ``4096`` (decimal units, binary with ``i``)."""
    return _parse(text, _BYTE_UNITS, option, "500MB, 2TB or 1.5GiB")


def parse_count(text: str | int | float, option: str = "--rows") -> int:
    """A count from ``10000`` / ``10k`` / ``2.5M`` / ``1B``."""
    return _parse(text, _COUNT_UNITS, option, "10000, 10k or 2.5M")


def format_bytes(n: float | None) -> str:
    """``1.5 MB`` style, decimal units (what file managers and cloud bills show)."""
    if n is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"
