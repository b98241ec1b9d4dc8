"""The media table: how a folder of images, video, audio or documents is held as one Arrow table.

One row per item (one file): its id, its bytes exactly as they were on disk (never re-encoded), and
what is known about it. Every layout that stores media (the files + manifest folder, tar shards, LMDB,
Parquet with a binary column, SQLite BLOBs, ...) stores this table, so the harness reads items, shuffles
them and verifies them the same way whatever the layout. The schema carries the modality in its
metadata so a backend can tell a media table from ordinary rows without a flag passed around.

Standard library and pyarrow only (pyarrow imported when a schema is built), beside ``modalities``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

ID_COLUMN = "id"
"""The item's path relative to the folder, with ``/`` separators: unique, the key of ``take``/lookup."""
BYTES_COLUMN = "data"
"""The item's encoded bytes (``large_binary``), byte-identical to the file."""
SIZE_COLUMN = "size"
"""Bytes of the item (``int64``)."""
FORMAT_COLUMN = "format"
"""The file's format as its lower-case extension without the dot (``jpg``, ``wav``, ``txt``)."""
MODALITY_KEY = b"storeadvise.media"
"""Schema metadata key whose value is the modality name (``images``, ``video``, ``audio``, ``text``)."""


def media_schema(modality: str, extra: list[pa.Field] | None = None) -> pa.Schema:
    """The media table's schema for ``modality``: id, data, size, format, then ``extra`` (labels and
    other metadata joined from a CSV or JSON Lines file beside the items)."""
    import pyarrow as pa

    fields = [
        pa.field(ID_COLUMN, pa.string(), nullable=False),
        pa.field(BYTES_COLUMN, pa.large_binary(), nullable=False),
        pa.field(SIZE_COLUMN, pa.int64(), nullable=False),
        pa.field(FORMAT_COLUMN, pa.string(), nullable=False),
        *(extra or []),
    ]
    return pa.schema(fields, metadata={MODALITY_KEY: modality.encode()})


def media_modality(schema: pa.Schema) -> str | None:
    """The modality a media table's schema declares; None for ordinary rows."""
    value = (schema.metadata or {}).get(MODALITY_KEY)
    return value.decode() if value else None
