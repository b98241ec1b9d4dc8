"""Arrow IPC: the file format (= Feather v2), the stream format and legacy Feather v1 are read;
samples are written in the IPC file format."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa

from storeadvise.bench.formats.source import BATCH_ROWS, Source, arrow_message, fail


class ArrowSource(Source):
    """Arrow IPC file format (= Feather v2), IPC stream format, or a legacy Feather v1 file."""

    def __init__(self, path: Path, name: str) -> None:
        super().__init__(path, name)
        self._table: pa.Table | None = None
        self._kind = ""
        for kind, opener in (("file", pa.ipc.open_file), ("stream", pa.ipc.open_stream)):
            try:
                self.schema = opener(pa.memory_map(str(path))).schema
                self._kind = kind
                return
            except (pa.ArrowInvalid, OSError):
                continue
        try:
            import pyarrow.feather as feather

            self._table = feather.read_table(str(path))
            self.schema = self._table.schema
        except (pa.ArrowInvalid, OSError) as exc:
            raise fail(path, f"is not an Arrow IPC or Feather file ({arrow_message(exc)})",
                       "check the file, or give the right --input-format") from None

    def stream(self) -> Iterator[pa.RecordBatch]:
        if self._table is not None:
            yield from self._table.to_batches(BATCH_ROWS)
            return
        source = pa.memory_map(str(self.path))
        try:
            if self._kind == "file":
                reader = pa.ipc.open_file(source)
                for i in range(reader.num_record_batches):
                    yield reader.get_batch(i)
            else:
                yield from pa.ipc.open_stream(source)
        except (pa.ArrowInvalid, OSError) as exc:
            raise fail(self.path, f"is a damaged Arrow file ({arrow_message(exc)})",
                       "write or copy it again") from None


def write_arrow(schema: pa.Schema, batches: Iterable[pa.RecordBatch], target: Path, name: str) -> None:
    with pa.ipc.new_file(str(target), schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
