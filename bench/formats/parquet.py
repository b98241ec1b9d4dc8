"""Parquet: read row group by row group with pyarrow, written with pyarrow's ParquetWriter."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from storeadvise.bench.formats.source import BATCH_ROWS, Source, arrow_message, fail, translated
from storeadvise.errors import DataError


class ParquetSource(Source):
    def __init__(self, path: Path, name: str) -> None:
        super().__init__(path, name)
        self.schema = self._open().schema_arrow

    def _open(self) -> Any:
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(self.path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise fail(self.path, f"is not a readable Parquet file ({arrow_message(exc)})",
                       "check that it was copied completely, or give the right --input-format") from None

    def stream(self) -> Iterator[pa.RecordBatch]:
        def damaged(exc: BaseException) -> DataError:
            return fail(self.path, f"is a damaged Parquet file ({arrow_message(exc)})", "write or copy it again")

        yield from translated(self._open().iter_batches(batch_size=BATCH_ROWS), damaged)


def write_parquet(schema: pa.Schema, batches: Iterable[pa.RecordBatch], target: Path, name: str) -> None:
    import pyarrow.parquet as pq

    with pq.ParquetWriter(str(target), schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
