"""How storeadvise writes numbers and tables for people: sizes, durations, counts, ratios, Markdown tables.

The other half of ``units`` (which reads quantities): the advisor, the benchmark report and the perf suite
all write through here, so a size reads the same everywhere: decimal units (MB = 10⁶ bytes, the same MB
as MB/s and as disks and cloud bills count) up to PB. Standard library only, so importing it costs nothing.

Two presentations of one scale: measured values keep three significant figures (``1.50 MB``,
``40.0 ms``), so that a column of them lines up and shows the precision measured; a quantity the user
gave is echoed without trailing zeros (``1.5 MB``, ``2 TB``). ``rich.filesize.decimal`` is not used: it
writes ``950 bytes``, always one decimal (``40.0 GB``, ``123.5 MB``) and ``1,000.0 kB`` for 999,960 bytes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

DASH = "–"
"""What a missing value (None, NaN, infinite) is written as."""

_BYTES = ((" PB", 1e15), (" TB", 1e12), (" GB", 1e9), (" MB", 1e6), (" kB", 1e3))
_SECONDS = ((" s", 1.0), (" ms", 1e-3), (" µs", 1e-6), (" ns", 1e-9))
_COUNTS = (("G", 1e9), ("M", 1e6), ("k", 1e3))
_ROUNDS_UP = 0.9995  # 999.96 µs prints as "1.00 ms", not "1000 µs"


def number(value: Any) -> float | None:
    """A finite float, or None for missing / NaN / infinite values (a saved run may hold either)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def _digits(value: float, trim: bool = False) -> str:
    """Three significant digits without scientific notation (12.3, 1.23, 123); ``trim`` drops trailing
    zeros (1.5, 2)."""
    if abs(value) >= 99.95:
        text = f"{value:.0f}"
    elif abs(value) >= 9.995:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return text.rstrip("0").rstrip(".") if trim and "." in text else text


def _scaled(value: float, units: tuple[tuple[str, float], ...], trim: bool = False) -> str | None:
    """``value`` in the largest of ``units`` (name, scale; largest first) it reaches after rounding."""
    for unit, scale in units:
        if abs(value) >= scale * _ROUNDS_UP:
            return f"{_digits(value / scale, trim)}{unit}"
    return None


def fmt_time(seconds: Any, *, trim: bool = False) -> str:
    """Seconds in the unit a person reads without counting zeros: ns, µs, ms or s."""
    value = number(seconds)
    if value is None:
        return DASH
    if value == 0:
        return "0 s"
    return _scaled(value, _SECONDS, trim) or f"{_digits(value / 1e-9, trim)} ns"


def fmt_bytes(size: Any, *, trim: bool = False) -> str:
    """Bytes in decimal units, kB to PB."""
    value = number(size)
    if value is None:
        return DASH
    return _scaled(value, _BYTES, trim) or f"{value:.0f} B"


def fmt_count(count: Any) -> str:
    """A measured rate or count with k / M / G suffixes (1.23M)."""
    value = number(count)
    if value is None:
        return DASH
    return _scaled(value, _COUNTS) or _digits(value)


def fmt_ratio(ratio: Any) -> str:
    """A ratio such as "× best" or "÷ Arrow" (0.50×)."""
    value = number(ratio)
    return DASH if value is None else f"{_digits(value)}×"


def fmt_change(ratio: float | None) -> str:
    """A run-vs-baseline ratio of medians (new ÷ old), said in words as a factor of at least one: twice
    the time is "2.00× slower", half of it "2.00× faster", never "0.50× faster"."""
    if ratio is None:
        return "new"
    if ratio <= 0:
        return DASH
    factor = ratio if ratio >= 1 else 1 / ratio
    text = f"{factor:.2f}×"
    if text == "1.00×":
        return text
    return f"{text} slower" if ratio > 1 else f"{text} faster"


def fmt_plain(value: Any) -> str:
    """A measured number with no unit, to three significant figures."""
    number_value = number(value)
    return _digits(number_value) if number_value is not None else DASH


def format_quantity(value: float | None, kind: str) -> str:
    """A quantity as ``units.parse_quantity`` returns it (bytes, a count, milliseconds), written back
    for the person who gave it: ``500 MB``, ``10,000``, ``5 ms``."""
    if value is None:
        return DASH
    if kind == "rows":
        return f"{int(value):,}"
    if kind == "latency":
        return fmt_time(value / 1000, trim=True)
    return fmt_bytes(value, trim=True)


# -- text from outside (a user's file, a server, an exception) ---------------------------------------
# C0 controls, DEL and C1 controls (ESC starts ANSI sequences; C1 0x9b is a one-byte CSI), plus the
# bidirectional overrides and isolates that make a terminal show text in an order it is not in.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: Any, keep: str = "\n\t") -> str:
    """``text`` safe to print on a terminal: every control character except those in ``keep`` is written
    as a visible escape (``\\x1b``, ``\\u202e``), so bytes quoted from a user's file (a column name, a
    value, a path) can never move the cursor, retitle the window or recolour what follows. Applied where
    text leaves storeadvise for a person: the CLI's error line, report tables, advice."""

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        if char in keep:
            return char
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _UNPRINTABLE.sub(escape, str(text))


# -- Markdown ----------------------------------------------------------------------------------------
EXAMPLE_CHARS = 40
"""A value quoted from the data as an example is cut to this many characters."""


def fmt_example(value: Any) -> str:
    """A value quoted from the data as an example ("01234" → "'01234'"): text quoted, null as null, cut
    to ``EXAMPLE_CHARS`` with an ellipsis, control characters escaped (``printable``)."""
    text = "null" if value is None else repr(value) if isinstance(value, (str, bytes)) else str(value)
    return printable(text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…")


def markdown_text(text: Any) -> str:
    """Text safe inside a Markdown line or table cell: backslashes and pipes escaped, line breaks as spaces."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown_table(head: Sequence[Any], rows: Sequence[Sequence[Any]],
                   numeric: Sequence[bool] | None = None) -> list[str]:
    """A GitHub-flavoured Markdown table, every cell escaped (``markdown_text``), ``numeric`` columns
    right-aligned. Cells may carry inline Markdown such as ``**bold**``."""
    align = numeric if numeric is not None else [False] * len(head)
    line = lambda cells: "| " + " | ".join(markdown_text(c) for c in cells) + " |"  # noqa: E731
    return [line(head), "|" + "|".join("---:" if right else "---" for right in align) + "|", *map(line, rows)]
