"""The base class of the text file backends (csv, jsonl): one polars-written file, optionally gzip.

``TextFileBackend`` adds to ``FileBackend`` what CSV and JSON Lines share: writing with polars chunk
by chunk, optional gzip, the schema saved beside the data and their documented losses.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

from storeadvise.backends import _typemap
from storeadvise.backends._partfiles import FILE_OPERATIONS, FileBackend
from storeadvise.backends._text_columns import is_binary, is_nested, text_safe_schema, to_text_column, to_text_safe
from storeadvise.backends.base import TypeLoss
from storeadvise.backends.batching import chunked

if TYPE_CHECKING:
    import pyarrow as pa


def open_output(path: Path, mode: str) -> BinaryIO:
    """A plain or (by its ``.gz`` suffix) gzip file for a text writer; gzip level 6, the usual
    speed/size trade-off."""
    if path.name.endswith(".gz"):
        import gzip

        return gzip.open(path, mode, compresslevel=6)  # type: ignore[return-value]
    return open(path, mode)


POLARS_CHUNK_ROWS = 1_000_000
"""Rows handed to a polars writer per call: polars is fast on large frames, and memory stays bounded
by one chunk without losing speed against one call for the whole table (docs/decisions.md, 'Text
files: polars writes in chunks of a million rows'; figures not recorded)."""


def polars_write(
    out: BinaryIO, schema: pa.Schema, batches: Iterable[pa.RecordBatch],
    write: Callable[[Any, BinaryIO, bool], None], *, keep_nested: bool, at_start: bool = True,
) -> None:
    """Feed a batch stream to a polars text writer chunk by chunk; ``write(frame, out, first)``
    writes one frame (``first`` is True for the chunk that starts the file, e.g. to write a CSV
    header; never when ``at_start`` is False, i.e. when appending to an existing file)."""
    import polars as pl

    utc = _typemap.storage_schema(schema, _typemap.polars_text_leaf)
    target = text_safe_schema(utc, keep_nested=keep_nested)
    safe = (to_text_safe(_typemap.to_storage(b, utc), utc, keep_nested=keep_nested) for b in batches)
    first = at_start
    for table in chunked(safe, target, POLARS_CHUNK_ROWS):
        write(pl.from_arrow(table, rechunk=False), out, first)
        first = False


class TextFileBackend(FileBackend):
    """One text file written by polars (gzip-compressed when the format's option asks), grown in place
    by appends, with the Arrow schema saved beside it; subclasses write one polars frame."""

    saves_schema: ClassVar[bool] = True
    appends_in_place: ClassVar[bool] = True
    supports: ClassVar[frozenset[str]] = FILE_OPERATIONS | {"write_one"}
    gzip_option: ClassVar[str] = ""
    """The option that asks for a gzip-compressed file, e.g. ``csv_gzip``."""
    keeps_nested: ClassVar[bool] = False
    """True when the format holds nested struct/list values natively (JSON); otherwise they become
    JSON text."""

    def part_suffix(self) -> str:
        return self.suffix + (".gz" if self.settings.options.get(self.gzip_option) else "")

    def type_loss(self, field: pa.Field) -> TypeLoss | None:
        if is_nested(field.type) and not self.keeps_nested:
            return TypeLoss("stored as JSON text", to_text_column)
        if is_binary(field.type):
            return TypeLoss("stored as base64 text", to_text_column)
        return None

    def write_part(self, path: Path, schema: pa.Schema, batches: Iterable[pa.RecordBatch], *, new: bool) -> None:
        with self._text_output(path, new) as out:
            polars_write(out, schema, batches, self.write_frame, keep_nested=self.keeps_nested, at_start=new)

    @contextlib.contextmanager
    def _text_output(self, path: Any, new: bool) -> Iterator[BinaryIO]:
        """The part opened for writing text: a local file (appended to unless ``new``), or an object's upload
        stream; gzip-compressed by its name, at the same level either way."""
        if self.remote is None:
            with open_output(path, "wb" if new else "ab") as out:
                yield out
            return
        with self.output(path) as stream:
            if not str(path).endswith(".gz"):
                yield stream
                return
            import gzip

            with gzip.GzipFile(fileobj=stream, mode="wb", compresslevel=6) as out:
                yield out  # type: ignore[misc]

    @abc.abstractmethod
    def write_frame(self, frame: Any, out: BinaryIO, first: bool) -> None:
        """Write one polars frame to ``out``; ``first`` is True for the frame that starts the file."""
