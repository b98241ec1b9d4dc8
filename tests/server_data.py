"""Small tables shared by the MongoDB and Kafka tests: every type family their mappings document."""

from __future__ import annotations

import datetime as dt
import decimal

import pyarrow as pa

KEY = "id"


def typed_table(rows: int = 300) -> pa.Table:
    """``rows`` rows with ints, floats, unicode, bools, timestamps (with and without zone), dates,
    decimals, binary, nested structs and lists, and nulls in every column but the key."""
    base = dt.datetime(2024, 3, 1, 12, 0, 0)
    utc = dt.timezone.utc

    def maybe(i: int, value: object) -> object:
        return None if i % 7 == 3 else value

    return pa.table(
        {
            KEY: pa.array(range(rows), pa.int64()),
            "small": pa.array([maybe(i, i % 100 - 50) for i in range(rows)], pa.int16()),
            "big_unsigned": pa.array([maybe(i, 2**64 - 1 - i) for i in range(rows)], pa.uint64()),
            "x": pa.array([maybe(i, i / 3) for i in range(rows)], pa.float64()),
            "name": pa.array([maybe(i, f"naïve-{i}-日本-🙂") for i in range(rows)]),
            "flag": pa.array([maybe(i, i % 2 == 0) for i in range(rows)]),
            "at": pa.array(
                [maybe(i, base + dt.timedelta(seconds=i, milliseconds=i)) for i in range(rows)], pa.timestamp("ms")
            ),
            "at_utc": pa.array(
                [maybe(i, (base + dt.timedelta(minutes=i)).replace(tzinfo=utc)) for i in range(rows)],
                pa.timestamp("ms", tz="UTC"),
            ),
            "day": pa.array([maybe(i, dt.date(2020, 1, 1) + dt.timedelta(days=i)) for i in range(rows)]),
            "price": pa.array([maybe(i, decimal.Decimal(i) / 100) for i in range(rows)], pa.decimal128(12, 2)),
            "blob": pa.array([maybe(i, bytes([i % 256, 0, 255])) for i in range(rows)], pa.binary()),
            "point": pa.array(
                [maybe(i, {"lat": i / 10, "tag": f"t{i}", "seen": dt.date(2021, 1, 1)}) for i in range(rows)]
            ),
            "tags": pa.array([maybe(i, [f"a{j}" for j in range(i % 4)]) for i in range(rows)]),
        }
    )


def with_microseconds(table: pa.Table) -> pa.Table:
    """``table`` plus a microsecond timestamp column (MongoDB keeps only its milliseconds)."""
    base = dt.datetime(2024, 3, 1, 12, 0, 0)
    micros = [base + dt.timedelta(microseconds=1_234 * i + 7) for i in range(table.num_rows)]
    return table.append_column("at_us", pa.array(micros, pa.timestamp("us")))
