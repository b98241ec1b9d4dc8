"""The one way numbers and tables are written: sizes, times, counts, user quantities and Markdown."""

from __future__ import annotations

import pytest

from storeadvise.formatting import (
    DASH,
    fmt_bytes,
    fmt_count,
    fmt_ratio,
    fmt_time,
    format_quantity,
    markdown_table,
    markdown_text,
)
from storeadvise.units import parse_quantity


@pytest.mark.parametrize(("n", "measured", "given"), [
    (950, "950 B", "950 B"),
    (1_500_000, "1.50 MB", "1.5 MB"),
    (1_234_567, "1.23 MB", "1.23 MB"),
    (999_700, "1.00 MB", "1 MB"),  # rounds into the next unit, never "1000 kB"
    (40 * 10**9, "40.0 GB", "40 GB"),
    (2 * 10**12, "2.00 TB", "2 TB"),  # the same unit whether measured or given
    (3.5 * 10**15, "3.50 PB", "3.5 PB"),
])
def test_a_size_has_one_scale_measured_or_given(n: float, measured: str, given: str) -> None:
    assert fmt_bytes(n) == measured
    assert format_quantity(n, "size") == given


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 s"), (4e-8, "40.0 ns"), (0.0009999, "1.00 ms"), (0.04, "40.0 ms"), (12.345, "12.3 s"),
])
def test_times(seconds: float, text: str) -> None:
    assert fmt_time(seconds) == text


def test_counts_ratios_and_missing_values() -> None:
    assert fmt_count(1_234_567) == "1.23M"
    assert fmt_count(512) == "512"
    assert fmt_ratio(0.5) == "0.50×"
    assert [f(None) for f in (fmt_bytes, fmt_time, fmt_count, fmt_ratio)] == [DASH] * 4
    assert fmt_time(float("nan")) == DASH
    assert format_quantity(None, "size") == DASH


@pytest.mark.parametrize(("text", "kind", "shown"), [
    ("40GB", "size", "40 GB"), ("2k", "size", "2 kB"), ("1.5M", "rows", "1,500,000"),
    ("500us", "latency", "500 µs"), ("10ms", "latency", "10 ms"), ("2s", "latency", "2 s"),
])
def test_a_parsed_quantity_is_written_back_as_the_user_would_say_it(text: str, kind: str, shown: str) -> None:
    assert format_quantity(parse_quantity(text, kind), kind) == shown
    # What is written back parses to the same number (rule listings print conditions this way).
    assert parse_quantity(shown.replace(" ", "").replace(",", ""), kind) == parse_quantity(text, kind)


def test_markdown_escapes_every_cell_the_same_way() -> None:
    lines = markdown_table(["name", "n"], [["a|b", 1], ["back\\slash\nnext", "**2**"]], numeric=[False, True])
    assert lines == [
        "| name | n |",
        "|---|---:|",
        "| a\\|b | 1 |",
        "| back\\\\slash next | **2** |",
    ]
    assert markdown_table(["x|y"], [])[0] == "| x\\|y |"
    assert markdown_text("a|b\nc") == "a\\|b c"
