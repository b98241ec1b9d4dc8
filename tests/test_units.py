"""The project's one quantity parser: sizes, counts and latencies, and errors that name the option."""

from __future__ import annotations

import pytest

from storeadvise.errors import UsageError
from storeadvise.units import parse_bytes, parse_count, parse_quantity


@pytest.mark.parametrize(
    ("text", "expected"),
    [("500MB", 500 * 10**6), ("2 TB", 2 * 10**12), ("1.5GiB", int(1.5 * 2**30)), ("4096", 4096), (10, 10)],
)
def test_parse_bytes(text: str, expected: int) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize(("text", "expected"), [("10k", 10_000), ("2.5M", 2_500_000), ("1_000", 1000)])
def test_parse_count(text: str, expected: int) -> None:
    assert parse_count(text) == expected


@pytest.mark.parametrize(("text", "kind", "expected"), [
    ("500MB", "size", 500_000_000), ("2 TB", "size", 2_000_000_000_000), ("1.5GiB", "size", 1.5 * 2**30),
    ("10k", "rows", 10_000), ("1.5M", "rows", 1_500_000), ("1,000", "rows", 1000), ("2e6", "rows", 2_000_000),
    ("12,345,678", "rows", 12_345_678),
    ("500us", "latency", 0.5), ("10ms", "latency", 10), ("1s", "latency", 1000), ("7", "latency", 7),
    (4096, "size", 4096),
])
def test_parse_quantity(text: object, kind: str, expected: float) -> None:
    assert parse_quantity(text, kind) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "MB", "12XB", "-5MB", "0", "1..5GB", "1,5GB", True])
def test_malformed_sizes_name_the_option(bad: object) -> None:
    with pytest.raises(UsageError, match=r"^--size .*: expected a size like 500MB, 2TB or 1\.5GiB"):
        parse_bytes(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(("call", "message"), [
    (lambda: parse_bytes("12XB", option="--memory-limit"),
     "--memory-limit '12XB': expected a size like 500MB, 2TB or 1.5GiB"),
    (lambda: parse_count("ten", option="--scale"), "--scale 'ten': expected a count like 20000, 10k or 1.5M"),
    (lambda: parse_count(0), "--rows 0: expected a count like 20000, 10k or 1.5M, greater than zero"),
    (lambda: parse_quantity("5 parsecs", "latency"),
     "--latency '5 parsecs': expected a latency like 500us, 10ms or 1s"),
])
def test_every_error_is_one_sentence_naming_the_option_with_an_example(call, message: str) -> None:
    with pytest.raises(UsageError) as info:
        call()
    assert str(info.value) == message
