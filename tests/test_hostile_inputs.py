"""The hostile-input corpus: real-world files that break naive readers, each run through the CLI.

Every input is generated here (nothing big is committed) and benchmarked on the file backends. Each
must end in one of two ways:

- ``OK``: a verified benchmark: exit 0, every backend ran, every round trip verified (a loss only
  where the backend's type mapping documents it), no operation failed;
- ``REFUSED``: one clear line on stderr and a non-zero exit, no run file.

Never a traceback, never a hang, and the input is byte-for-byte and time-stamp unchanged.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from storeadvise.bench.results import FAILED, OK, load_run
from storeadvise.cli import cli

OK_RUN, REFUSED = "verified benchmark", "one-line refusal"
BENCH_ARGS = ["-b", "csv,jsonl,parquet,arrow,sqlite,duckdb", "--repeat", "1", "--warmup", "0", "--lookups", "5",
              "--ops", "write,read,filter,lookup,append"]
ROWS = 60


# -- makers: each writes one hostile input at the given path ------------------------------------------

def _bytes(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def _csv_rows(header: str, row: Callable[[int], str], rows: int = ROWS, newline: str = "\n") -> bytes:
    return (header + newline + "".join(row(i) + newline for i in range(rows))).encode()


def _parquet(columns: dict[str, pa.Array] | pa.Table) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        table = columns if isinstance(columns, pa.Table) else pa.table(columns)
        pq.write_table(table, path)
    return make


def _parquet_bytes() -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"id": range(ROWS), "v": [i * 0.5 for i in range(ROWS)]}), sink)
    return sink.getvalue()


def _jsonl(records: list[dict]) -> Callable[[Path], None]:
    return lambda path: path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth):
        value = {"inner": value}
    return value


def _symlink_loop(path: Path) -> None:
    os.symlink(path.name, path)


def _directory(path: Path) -> None:
    path.mkdir()
    (path / "part.csv").write_text("id\n1\n")


def _unreadable(path: Path) -> None:
    if os.geteuid() == 0:  # root reads anything: a path that no one can open instead
        blocker = path.parent / "not_a_folder"
        blocker.write_text("x")
        os.symlink(blocker / "data.csv", path)
        return
    path.write_text("id,v\n1,2\n")
    path.chmod(0)


IDS = pa.array(range(ROWS))
UTC_DAYS = [dt.datetime(2024, 1, 1) + dt.timedelta(days=i) for i in range(ROWS)]

CASES: dict[str, tuple[str, Callable[[Path], None], str]] = {
    # text: emptiness, structure, encodings, line ends
    "empty file": ("empty.csv", _bytes(b""), REFUSED),
    "only whitespace": ("blank.csv", _bytes(b"  \n\n\t\n"), REFUSED),
    "header only": ("header.csv", _bytes(b"id,name\n"), REFUSED),
    "ragged rows": ("ragged.csv", _bytes(b"id,v\n1,2\n3,4,5\n6,7\n"), REFUSED),
    "not UTF-8 (latin-1)": ("latin1.csv", _bytes("id,name\n1,caf\xe9\n2,na\xefve\n".encode("latin-1")), REFUSED),
    "UTF-8 byte-order mark": ("bom.csv", _bytes(b"\xef\xbb\xbf" + _csv_rows("id,name", lambda i: f"{i},n{i}")), OK_RUN),
    "CRLF line ends": ("crlf.csv", _bytes(_csv_rows("id,name", lambda i: f"{i},n{i}", newline="\r\n")), OK_RUN),
    "truncated gzip": ("truncated.csv", _bytes(gzip.compress(_csv_rows("id,v", str))[:40]), REFUSED),
    "gzip file extension": ("data.csv.gz", _bytes(gzip.compress(_csv_rows("id,v", str))), REFUSED),
    "NUL bytes in a value": ("nul.csv", _bytes(b"id,v\n1,a\x00b\n2,c\n"), OK_RUN),
    "escape sequences in values": ("escapes.csv", _bytes(_csv_rows("id,v", lambda i: f"{i},\x1b]0;title\x07x{i}")),
                                   OK_RUN),
    "quoted line breaks": ("breaks.csv", _bytes(_csv_rows("id,v", lambda i: f'{i},"line\nbreak {i}"')), OK_RUN),
    "TSV": ("data.tsv", _bytes(_csv_rows("id\tv", lambda i: f"{i}\t{i * 2}")), OK_RUN),
    "unknown extension": ("data.xyz", _bytes(b"id\n1\n"), REFUSED),
    "a 10 MB cell": ("long_cell.csv", _bytes(b"id,text\n1,short\n2," + b"x" * (10 << 20) + b"\n3,end\n"), OK_RUN),
    "a very long JSON line": ("long_line.jsonl", _jsonl([{"id": 1, "text": "y" * (5 << 20)}, {"id": 2, "text": "z"}]),
                              OK_RUN),
    # columns: how many, their names, their contents
    "one column of nulls and empty strings": ("blanks.parquet", _parquet({"s": ["", None, "x"] * (ROWS // 3)}),
                                              OK_RUN),
    "one column": ("one.csv", _bytes(_csv_rows("v", lambda i: str(i % 7))), OK_RUN),
    "2,000 columns": ("wide.csv", _bytes(_csv_rows(",".join(f"c{j}" for j in range(2000)),
                                                   lambda i: ",".join(str(i + j) for j in range(2000)), rows=5)),
                      OK_RUN),
    "zero columns (Parquet)": ("zero.parquet", _parquet(pa.table({})), REFUSED),
    "records without fields": ("nofields.jsonl", _bytes(b"{}\n{}\n"), REFUSED),
    "duplicate names": ("dup.csv", _bytes(_csv_rows("id,a,a", lambda i: f"{i},{i},x{i}")), OK_RUN),
    "empty names": ("unnamed.csv", _bytes(_csv_rows(",a,", lambda i: f"{i},{i * 2},{i * 3}")), OK_RUN),
    "names with quotes, newlines and escapes": (
        "names.parquet", _parquet({"id": IDS, 'say "hi"': IDS, "it's": IDS, "two\nlines": IDS,
                                   "\x1b[31mred": IDS, "back\\slash": IDS, "tab\there": IDS}), OK_RUN),
    "all-null column": ("nulls.csv", _bytes(_csv_rows("id,nothing,v", lambda i: f"{i},,{i}")), OK_RUN),
    "mixed types in a column": ("mixed.csv", _bytes(_csv_rows("id,v", lambda i: f"{i},{i if i < 50 else 'text'}")),
                                OK_RUN),
    "mixed JSON value types": ("mixed.jsonl", _jsonl([{"id": i, "v": i if i % 2 else str(i)} for i in range(ROWS)]),
                               OK_RUN),
    # numbers
    "integers beyond 2^53": ("snowflake.parquet", _parquet({"id": pa.array([2**62 + 7 * i for i in range(ROWS)]),
                                                            "ns": pa.array([2**60 + i for i in range(ROWS)])}),
                             OK_RUN),
    "uint64 beyond int64": ("u64.parquet", _parquet({"id": IDS, "u": pa.array([2**64 - 1 - i for i in range(ROWS)],
                                                                                pa.uint64())}), OK_RUN),
    "uint64 in CSV": ("u64.csv", _bytes(_csv_rows("id,u", lambda i: f"{i},{2**64 - 1 - i}")), OK_RUN),
    "uint64 in JSON Lines": ("u64.jsonl", _jsonl([{"id": i, "u": 2**64 - 1 - i} for i in range(ROWS)]), OK_RUN),
    "integers beyond uint64 in a JSON array": ("huge.json", lambda path: path.write_text(json.dumps(
        [{"id": i, "h": -(2**64) - i} for i in range(ROWS)])), OK_RUN),
    "integers beyond uint64 in CSV": ("huge.csv", _bytes(_csv_rows("id,h", lambda i: f"{i},{10**30 + i}")), OK_RUN),
    "decimal(38)": ("dec.parquet", _parquet({"id": IDS, "d": pa.array([10**37 + i for i in range(ROWS)],
                                                                        pa.decimal128(38, 0))}), OK_RUN),
    "half floats": ("half.feather", lambda path: feather.write_feather(pa.table({
        "id": IDS, "h": pa.array([0.5, -2.0, None, 65504.0, float("inf"), 1e-3] * (ROWS // 6), pa.float32())
        .cast(pa.float16())}), path), OK_RUN),
    "256-bit decimals of 38 digits": ("decimal256.parquet", _parquet({
        "id": IDS, "d": pa.array([Decimal(f"{(i - 30) * 10**34 + i}.25") for i in range(ROWS)], pa.decimal256(38, 2))}),
        OK_RUN),
    "NaN and infinities": ("nan.parquet", _parquet({"id": IDS, "f": [float("nan"), float("inf"), float("-inf"),
                                                                      1.0, None, -0.0] * (ROWS // 6)}), OK_RUN),
    # time
    "years 1 and 9999": ("years.parquet", _parquet({
        "id": pa.array(range(4)), "d": [dt.date(1, 1, 1), dt.date(9999, 12, 31), None, dt.date(2000, 1, 1)],
        "t": pa.array([dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59), None, dt.datetime(2000, 1, 1)],
                      pa.timestamp("us", tz="UTC"))}), OK_RUN),
    "durations and times of day": ("spans.parquet", _parquet({
        "id": IDS, "wait": pa.array([dt.timedelta(days=i - 30, microseconds=7 * i) if i % 7 else None
                                     for i in range(ROWS)], pa.duration("us")),
        "at": pa.array([dt.time(i % 24, i, 59, i * 1000) if i % 9 else None for i in range(ROWS)], pa.time64("us")),
        "span_ns": pa.array([i * 1_000_000_007 for i in range(ROWS)], pa.int64()).cast(pa.duration("ns"))}), OK_RUN),
    "fixed-offset time zone": ("offset.parquet", _parquet({
        "id": IDS, "t": pa.array(UTC_DAYS, pa.timestamp("us")).cast(pa.timestamp("us", tz="+05:30"))}), OK_RUN),
    "named time zone at the year ends": ("zones.parquet", _parquet({
        "id": pa.array(range(3)), "t": pa.array([dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23), None],
                                                pa.timestamp("ms")).cast(pa.timestamp("ms", tz="America/New_York"))}),
        OK_RUN),
    "offsets in CSV text (seconds)": ("offsets.csv", _bytes(_csv_rows(
        "id,t", lambda i: f"{i},2024-03-01T10:00:{i % 60:02d}{('+05:30', 'Z', '-08:00')[i % 3]}")), OK_RUN),
    "time zones in JSON text": ("tz.jsonl", _jsonl([{"id": i, "t": f"2024-03-{i % 28 + 1:02d}T10:00:00+05:30"}
                                                    for i in range(ROWS)]), OK_RUN),
    # shapes
    "dictionary columns": ("categories.feather", lambda path: feather.write_feather(pa.table({
        "id": IDS, "s": pa.array(["red", "green", "blue"] * (ROWS // 3)).dictionary_encode(),
        "n": pa.array([i % 4 for i in range(ROWS)]).dictionary_encode()}), path), OK_RUN),
    "nested lists and structs": ("nested.parquet", _parquet({
        "id": IDS, "tags": [[f"t{i}", None] if i % 3 else [] for i in range(ROWS)],
        "point": [{"x": i, "y": [i, i]} if i % 5 else None for i in range(ROWS)]}), OK_RUN),
    "deeply nested JSON": ("deep.jsonl", _jsonl([{"id": i, "doc": _nested(40)} for i in range(ROWS)]), OK_RUN),
    "binary column": ("blob.parquet", _parquet({"id": IDS, "b": [bytes([i, 0, 255]) * 3 for i in range(ROWS)]}),
                      OK_RUN),
    "JSON array of records": ("array.json", lambda path: path.write_text(json.dumps(
        [{"id": i, "v": i * 1.5} for i in range(ROWS)])), OK_RUN),
    "JSON Lines named .json": ("lines.json", _jsonl([{"id": i, "v": i} for i in range(ROWS)]), OK_RUN),
    "a single JSON object": ("object.json", _bytes(b'{"rows": [{"id": 1}, {"id": 2}]}'), REFUSED),
    "a JSON scalar": ("scalar.json", _bytes(b"42\n"), REFUSED),
    "Arrow IPC stream": ("stream.arrows", lambda path: _write_stream(path), OK_RUN),
    # damaged binary files
    "truncated Parquet": ("cut.parquet", _bytes(_parquet_bytes()[:200]), REFUSED),
    "corrupt Parquet footer": ("footer.parquet", _bytes(_parquet_bytes()[:-12] + b"\xff" * 8 + b"PAR1"), REFUSED),
    "Parquet bytes named .csv": ("parquet.csv", _bytes(_parquet_bytes()), REFUSED),
    # what is at the path
    "a directory": ("folder.csv", _directory, REFUSED),
    "a symbolic link loop": ("loop.csv", _symlink_loop, REFUSED),
    "no such file": ("missing.csv", lambda path: None, REFUSED),
    "a file it cannot read": ("locked.csv", _unreadable, REFUSED),
}


def _write_stream(path: Path) -> None:
    table = pa.table({"id": IDS, "v": [str(i) for i in range(ROWS)]})
    with pa.ipc.new_stream(str(path), table.schema) as writer:
        writer.write_table(table)


# -- the check ----------------------------------------------------------------------------------------

def _state(path: Path) -> tuple | None:
    """What must not change: the bytes and time stamps of a regular file (None for anything else)."""
    try:
        if not path.is_file() or not os.access(path, os.R_OK):
            return None
        stat = path.stat()
        return hashlib.sha256(path.read_bytes()).hexdigest(), stat.st_size, stat.st_mtime_ns, stat.st_mode
    except OSError:
        return None


def _assert_outcome(expected: str, exit_code: int, stderr: str, out: Path) -> None:
    assert "Traceback" not in stderr, stderr
    if expected == REFUSED:
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert exit_code != 0 and len(lines) == 1, (exit_code, stderr)
        assert not out.exists()
        return
    assert exit_code == 0, stderr
    run = load_run(out)
    assert [b.backend for b in run.backends] == ["csv", "jsonl", "parquet", "arrow", "sqlite", "duckdb"]
    for b in run.backends:
        assert b.status == OK, (b.backend, b.reason)
        assert b.verification is not None and not b.verification.flagged, (b.backend, b.verification.message)
        assert all(c.documented for c in b.verification.columns), b.backend
        failed = [(m.op, m.reason) for m in b.measurements if m.status == FAILED]
        assert not failed, (b.backend, failed)


SLOW = {"2,000 columns", "a 10 MB cell", "a very long JSON line"}


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c in SLOW else c for c in sorted(CASES)])
def test_hostile_input(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    name, make, expected = CASES[case]
    path = tmp_path / name
    make(path)
    before = _state(path)
    out = tmp_path / "run.json"
    result = CliRunner().invoke(cli, ["bench", str(path), *BENCH_ARGS, "--out", str(out)], catch_exceptions=False)
    _assert_outcome(expected, result.exit_code, result.stderr, out)
    assert _state(path) == before


def test_the_corpus_has_at_least_forty_inputs_of_both_outcomes() -> None:
    outcomes = [expected for _, _, expected in CASES.values()]
    assert len(CASES) + 1 >= 40 and outcomes.count(OK_RUN) >= 15 and outcomes.count(REFUSED) >= 15


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    """Opening a FIFO for reading blocks until someone writes: run in a process of its own with a
    deadline, so that a regression fails instead of hanging the suite."""
    path = tmp_path / "pipe.csv"
    os.mkfifo(path)
    out = tmp_path / "run.json"
    done = subprocess.run([sys.executable, "-m", "storeadvise.cli", "bench", str(path), *BENCH_ARGS, "--out", str(out)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    _assert_outcome(REFUSED, done.returncode, done.stderr, out)
    assert "named pipe" in done.stderr


@pytest.mark.parametrize(("column", "refusing"), [
    (pa.array([Decimal(f"{i}.5") * 10**38 for i in range(ROWS)], pa.decimal256(42, 1)), {"duckdb"}),
    (pa.array([{"": i, "b": str(i)} for i in range(ROWS)], pa.struct([("", pa.int64()), ("b", pa.string())])),
     {"duckdb", "jsonl"}),
], ids=["decimals wider than 38 digits", "a struct field without a name"])
def test_a_table_a_store_cannot_hold_is_refused_there_with_its_reason(
        column: pa.Array, refusing: set[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "odd.parquet"
    pq.write_table(pa.table({"id": IDS, "odd": column}), path)
    out = tmp_path / "run.json"
    result = CliRunner().invoke(cli, ["bench", str(path), *BENCH_ARGS, "--out", str(out)], catch_exceptions=False)
    assert "Traceback" not in result.stderr and "panic" not in result.stderr.lower(), result.stderr
    run = load_run(out)
    for b in run.backends:
        write = next(m for m in b.measurements if m.op == "write")
        if b.backend in refusing:
            assert write.status == "unsupported" and "column odd" in write.reason, (b.backend, write.reason)
        else:
            assert b.status == OK and not b.verification.flagged, (b.backend, b.reason, b.verification.message)
