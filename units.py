"""Quantities as people write them: sizes (``500MB``, ``1.5GiB``), counts (``10k``, ``2.5M``) and
latencies (``500us``, ``10ms``).

The one parser for the whole project: every command's count, size and latency options (through
``cli.Quantity``), the Python API's arguments and the conditions in advisor rule files all read
quantities here, so the same text means the same number everywhere and every mistake is reported the
same way: ``--size '12XB': expected a size like 500MB, 2TB or 1.5GiB``. ``storeadvise.formatting``
writes them back. Standard library only, so importing it costs nothing.
"""

from __future__ import annotations

import re

from storeadvise.errors import UsageError

KINDS: tuple[str, ...] = ("size", "rows", "latency")
"""What ``parse_quantity`` reads: ``size`` in bytes, ``rows`` (any count) and ``latency`` in milliseconds."""

# Units are matched after lower-casing. Sizes: decimal (MB = 10^6, as disks, networks and cloud bills
# count) and binary with an ``i`` (MiB = 2^20). A bare latency number is milliseconds.
_UNITS: dict[str, dict[str, float]] = {
    "size": {
        "": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
        "p": 1e15, "pb": 1e15, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "pib": 2**50,
    },
    "rows": {"": 1, "k": 1e3, "m": 1e6, "mn": 1e6, "b": 1e9, "bn": 1e9},
    "latency": {"": 1, "us": 1e-3, "µs": 1e-3, "ms": 1, "s": 1e3, "sec": 1e3},
}
_WHAT = {
    "size": "a size like 500MB, 2TB or 1.5GiB",
    "rows": "a count like 20000, 10k or 1.5M",
    "latency": "a latency like 500us, 10ms or 1s",
}
# A number (digits, optionally grouped by ``_`` or by ``,`` in threes, a decimal part, an exponent)
# and an optional unit. ``1,5GB`` is rejected rather than read as 15 GB.
_QUANTITY = re.compile(
    r"^\s*((?:\d{1,3}(?:,\d{3})+|\d+(?:_\d+)*)(?:\.\d+)?(?:e[+-]?\d+)?|\.\d+)\s*([a-zµ]*)\s*$", re.IGNORECASE
)


def parse_quantity(value: str | float, kind: str, option: str | None = None) -> float:
    """A size in bytes, a count or a latency in milliseconds from text like ``500MB``, ``10k`` or
    ``5ms`` (numbers pass through). Sizes and counts come back as whole numbers. ``option`` is how the
    error message names the value (``--size``, ``--memory-limit``, ``condition max_size``); it defaults
    to ``--KIND``."""
    name = option or f"--{kind}"
    if isinstance(value, bool):
        raise UsageError(f"{name} {value!r}: expected {_WHAT[kind]}")
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        match = _QUANTITY.match(str(value))
        unit = match.group(2).lower() if match else None
        if match is None or unit not in _UNITS[kind]:
            raise UsageError(f"{name} {value!r}: expected {_WHAT[kind]}")
        number = float(match.group(1).replace("_", "").replace(",", "")) * _UNITS[kind][unit]
    if not 0 < number < float("inf"):
        raise UsageError(f"{name} {value!r}: expected {_WHAT[kind]}, greater than zero")
    return round(number) if kind in ("size", "rows") else number


def parse_bytes(text: str | int | float, option: str = "--size") -> int:
    """Bytes from ``500MB`` / ``2 TB`` / ``1.5GiB`` / ``4096``; errors name ``option``."""
    return int(parse_quantity(text, "size", option))


def parse_count(text: str | int | float, option: str = "--rows") -> int:
    """A count from ``10000`` / ``10k`` / ``2.5M`` / ``1B``; errors name ``option``."""
    return int(parse_quantity(text, "rows", option))
