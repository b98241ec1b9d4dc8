from __future__ import annotations

import pytest

from storeadvise.errors import UsageError
from storeadvise.units import format_bytes, parse_bytes, parse_count


@pytest.mark.parametrize(
    ("text", "expected"),
    [("500MB", 500 * 10**6), ("2 TB", 2 * 10**12), ("1.5GiB", int(1.5 * 2**30)), ("4096", 4096), (10, 10)],
)
def test_parse_bytes(text: str, expected: int) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize(("text", "expected"), [("10k", 10_000), ("2.5M", 2_500_000), ("1_000", 1000)])
def test_parse_count(text: str, expected: int) -> None:
    assert parse_count(text) == expected


@pytest.mark.parametrize("bad", ["", "MB", "12XB", "-5MB", "0", "1..5GB", True])
def test_malformed_sizes_name_the_option(bad: object) -> None:
    with pytest.raises(UsageError, match="--size"):
        parse_bytes(bad)  # type: ignore[arg-type]


def test_format_bytes() -> None:
    assert format_bytes(950) == "950 B"
    assert format_bytes(1_500_000) == "1.5 MB"
    assert format_bytes(None) == "-"
