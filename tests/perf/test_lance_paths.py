"""The lance backend against pylance called directly, per operation (the gate of file backends, 1.10).

Writes: the same in-memory Arrow table (the runner's record batches) through ``lance.write_dataset``
into a folder of their own, then the BTREE index on the key column that storeadvise also builds inside
its write. Reads: one dataset opened on the folder storeadvise wrote, then ``to_table`` (columns, a
filter as a pyarrow expression or as SQL text, names in backticks), ``take``. A lookup run is a
fixed set of keys looked up one after the other; a take run a fixed set of training batches of random
positions.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pairs
import pytest

OPS = ("write", "read", "project", "filter", "lookup", "take")
LOOKUP_KEYS = 200
TAKE_BATCHES = 50


@pytest.mark.parametrize("op", OPS)
def test_storeadvise_vs_direct(benchmark: Any, file_stores: dict[str, Any], file_data: Any, perf_scratch: Path,
                               op: str) -> None:
    table, plan, _ = file_data
    backend = file_stores["lance"]
    inputs = plan.take_positions[:TAKE_BATCHES] if op == "take" else plan.lookup_keys[:LOOKUP_KEYS]
    storeadvise = pairs.storeadvise_side(backend, op, plan, inputs)
    if op == "write":
        candidates = writer_sides(table, plan.key_column, perf_scratch / "direct" / "lance")
    else:
        candidates = reader_sides(backend.location, op, plan, inputs)
    notes = {"lookup": f"{len(inputs)} keys per lookup run", "take": f"{len(inputs)} batches per take run"}
    result = pairs.run_case(benchmark, "lance", op, backend.kind, table.num_rows, storeadvise, candidates,
                            notes=notes.get(op, ""))
    if not result.passed:
        pytest.fail(result.message(), pytrace=False)


def writer_sides(table: Any, key: str, out: Path) -> list[pairs.Side]:
    import lance
    import pyarrow as pa

    def from_reader(path: Path) -> None:
        reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
        lance.write_dataset(reader, str(path)).create_scalar_index(key, "BTREE")

    def from_table(path: Path) -> None:
        lance.write_dataset(table, str(path)).create_scalar_index(key, "BTREE")

    a, b = out / "reader.lance", out / "table.lance"
    return [
        pairs.Side("lance write_dataset(RecordBatchReader) + BTREE", lambda: from_reader(a),
                   setup=lambda: shutil.rmtree(a, ignore_errors=True)),
        pairs.Side("lance write_dataset(Table) + BTREE", lambda: from_table(b),
                   setup=lambda: shutil.rmtree(b, ignore_errors=True)),
    ]


def reader_sides(folder: Path, op: str, plan: Any, inputs: list) -> list[pairs.Side]:
    import lance

    dataset = lance.dataset(str(folder))
    if op == "read":
        return [pairs.Side("lance to_table", lambda: dataset.to_table())]
    if op == "project":
        return [pairs.Side("lance to_table(columns)", lambda: dataset.to_table(columns=plan.projection))]
    if op == "take":
        return [pairs.Side("lance take", lambda: [dataset.take(positions) for positions in inputs])]
    where = plan.predicate if op == "filter" else None
    expression = where.to_arrow(dataset.schema.field(where.column).type) if where is not None else None
    sql = f"`{where.column}` {'=' if where.op == '==' else where.op} {where.value!r}" if where else ""
    if op == "filter":
        return [
            pairs.Side("lance to_table(filter=pyarrow expression)", lambda: dataset.to_table(filter=expression)),
            pairs.Side("lance to_table(filter=SQL text)", lambda: dataset.to_table(filter=sql)),
        ]
    import pyarrow.compute as pc

    column = pc.field(plan.key_column)
    name = f"`{plan.key_column}`"
    return [
        pairs.Side("lance to_table(filter=key == value), BTREE",
                   lambda: [dataset.to_table(filter=column == k) for k in inputs]),
        pairs.Side("lance to_table(filter='key = value' SQL), BTREE",
                   lambda: [dataset.to_table(filter=f"{name} = {k!r}") for k in inputs]),
    ]
