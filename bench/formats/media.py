"""A folder of media items (images, video, audio, text documents) read as the media table.

The folder is walked recursively (hidden files and folders skipped); a file is an item when its
extension is one of a media modality's (``modalities.MODALITIES[...].extensions``). The folder's
modality is the one most of its items have; items of another modality are left out, and the profile
says so. An optional labels or metadata file at the folder's top (CSV or JSON Lines) joins by file
name: its first column named ``file``, ``filename``, ``file_name``, ``path``, ``name`` or ``id`` holds
each item's path relative to the folder, or just its file name when those are unique.

Items are read in batches of about ``BATCH_BYTES`` (a folder may not fit in memory), as the media table
of ``storeadvise.media``: the bytes exactly as on disk. The folder is only read, never changed.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storeadvise.backends.batching import BATCH_BYTES
from storeadvise.bench.formats.source import Source, fail
from storeadvise.errors import DataError
from storeadvise.media import BYTES_COLUMN, FORMAT_COLUMN, ID_COLUMN, SIZE_COLUMN, media_schema
from storeadvise.modalities import MODALITIES

if TYPE_CHECKING:
    import pyarrow as pa

LABEL_SUFFIXES = (".csv", ".jsonl", ".ndjson")
NAME_COLUMNS = ("file", "filename", "file_name", "path", "name", "id")
"""Columns of a labels file that name the item, looked for in this order."""


@dataclass(frozen=True)
class Item:
    """One file of the folder."""

    id: str  # path relative to the folder, ``/``-separated
    size: int
    format: str


def _modality_of(suffix: str) -> str | None:
    ext = suffix.lower().lstrip(".")
    return next((name for name, m in MODALITIES.items() if ext in m.extensions), None)


def walk(folder: Path) -> Iterator[tuple[Path, str]]:
    """Every file below ``folder`` that is a media item (path, modality), hidden ones skipped, in
    sorted order so that the table's row order does not depend on the file system's."""
    return ((path, modality) for path, modality in _files(folder) if modality is not None)


def _files(folder: Path) -> Iterator[tuple[Path, str | None]]:
    """Every file below ``folder`` that is not hidden, with its media modality (None for another kind
    of file), in sorted order."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name, _modality_of(Path(name).suffix)


def is_media_folder(folder: Path) -> bool:
    """Whether ``folder`` holds at least one media item (the registry's folder test)."""
    return next(walk(folder), None) is not None


def folder_profile(folder: Path, items: list[Item] | None = None) -> dict[str, Any]:
    """Count, total and size distribution (p50, p95, max) of the items, and how many of each format."""
    items = items if items is not None else [_item(folder, p) for p, _ in walk(folder)]
    return items_profile([i.size for i in items], [i.format for i in items])


def items_profile(sizes: Sequence[int], formats: Sequence[str]) -> dict[str, Any]:
    """The profile of items of these sizes and formats (``folder_profile``; also of a folder's first
    items, which a scaling sweep measures)."""
    import numpy as np

    array = np.array(list(sizes) or [0])
    return {
        "items": len(sizes),
        "bytes": int(array.sum()),
        "size_p50": int(np.percentile(array, 50)),
        "size_p95": int(np.percentile(array, 95)),
        "size_max": int(array.max()),
        "formats": dict(Counter(formats).most_common()),
    }


def profile_line(profile: dict[str, Any]) -> str:
    """The profile in one sentence: "2,000 items, 196.1 MB; size p50 98.0 kB, p95 ...; jpg 1,800, png 200"."""
    from storeadvise.formatting import fmt_bytes

    formats = ", ".join(f"{name} {count:,}" for name, count in profile["formats"].items())
    return (f"{profile['items']:,} items, {fmt_bytes(profile['bytes'])}; size p50 {fmt_bytes(profile['size_p50'])}, "
            f"p95 {fmt_bytes(profile['size_p95'])}, max {fmt_bytes(profile['size_max'])}; {formats}")


def _item(folder: Path, path: Path) -> Item:
    return Item(path.relative_to(folder).as_posix(), path.stat().st_size, path.suffix.lower().lstrip("."))


class MediaSource(Source):
    """A folder of items as a restartable stream of media-table batches."""

    def __init__(self, path: Path, name: str) -> None:
        super().__init__(path, name)
        every = list(_files(path))
        found = [(p, modality) for p, modality in every if modality is not None]
        counts = Counter(modality for _, modality in found)
        self.modality = counts.most_common(1)[0][0] if counts else "images"
        self.items = [_item(path, p) for p, modality in found if modality == self.modality]
        left_out = {m: n for m, n in counts.items() if m != self.modality}
        if left_out:
            self.notes.append("left out, as the folder is mostly " + self.modality + ": "
                              + ", ".join(f"{n:,} {m} file" + ("s" if n > 1 else "") for m, n in left_out.items()))
        self.labels, self.label_file = _labels(path, self.items)
        from storeadvise.bench.mediasamples import PROFILE_FILE

        others = [p.relative_to(path).as_posix() for p, modality in every  # besides its labels, a sample's profile
                  if modality is None and p != self.label_file and p != path / PROFILE_FILE]
        if others:  # a reader that drops files says so (a folder may hold what the user meant as items)
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            files = f"{len(others):,} file" + ("s" if len(others) > 1 else "")
            self.notes.append(f"left out, not images, video, audio or text by their extension: {files} ({shown})")
        extra = list(self.labels.schema) if self.labels is not None else []
        self.schema = media_schema(self.modality, extra)
        self.items_profile = folder_profile(path, self.items)
        self.notes.append(profile_line(self.items_profile))
        if self.label_file is not None:
            self.notes.append(f"labels joined by file name from {self.label_file.name}: "
                              + ", ".join(f.name for f in extra))

    def stream(self) -> Iterator[pa.RecordBatch]:
        start = 0
        while start < len(self.items):
            end, size = start, 0
            while end < len(self.items) and (end == start or size + self.items[end].size <= BATCH_BYTES):
                size += self.items[end].size
                end += 1
            yield self._batch(start, end)
            start = end

    def _batch(self, start: int, end: int) -> pa.RecordBatch:
        import pyarrow as pa

        chosen = self.items[start:end]
        data = [_read(self.path, item) for item in chosen]
        columns = [
            pa.array([i.id for i in chosen], pa.string()),
            pa.array(data, pa.large_binary()),
            pa.array([len(d) for d in data], pa.int64()),
            pa.array([i.format for i in chosen], pa.string()),
        ]
        if self.labels is not None:
            columns += [c.combine_chunks() for c in self.labels.slice(start, end - start).columns]
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)

    def no_rows(self) -> DataError:
        examples = ", ".join(e for m in MODALITIES.values() for e in m.extensions[:2])
        return fail(self.path, "holds no image, video, audio or text files", f"give a folder of items ({examples} ...)")

    def bytes_at_rest(self) -> int:
        return sum(i.size for i in self.items)


def _read(folder: Path, item: Item) -> bytes:
    try:
        return (folder / item.id).read_bytes()
    except OSError as exc:
        raise fail(folder / item.id, f"cannot be read ({exc.strerror})",
                   "check its permissions, or that nothing removes it during the run") from None


def _label_file(folder: Path) -> Path | None:
    """The labels file at the folder's top: the only CSV / JSON Lines file there, or the one named
    labels or metadata among several."""
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in LABEL_SUFFIXES)
    if len(found) <= 1:
        return found[0] if found else None
    named = [p for p in found if p.stem.lower() in ("labels", "metadata")]
    if len(named) == 1:
        return named[0]
    raise fail(folder, f"holds several tables ({', '.join(p.name for p in found[:4])})",
               "keep one labels file at its top, or name the one to join labels.csv")


def _read_labels(path: Path) -> pa.Table:
    import pyarrow as pa
    import pyarrow.csv as csv
    import pyarrow.json as pj

    try:
        if path.suffix.lower() == ".csv":
            return csv.read_csv(path)
        return pj.read_json(path)
    except (pa.ArrowInvalid, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise fail(path, f"cannot be read as a labels table ({first})",
                   "fix the file or move it out of the folder") from None


def _label_row(rows: dict[str | None, int], item: str, base_counts: Counter[str]) -> int | None:
    """The labels row of an item: the one naming its relative path, else its file name when no other
    item has that name."""
    if item in rows:
        return rows[item]
    base = item.rsplit("/", 1)[-1]
    return rows.get(base) if base_counts[base] == 1 else None


def _labels(folder: Path, items: list[Item]) -> tuple[pa.Table | None, Path | None]:
    """The labels table in the items' order (nulls for an item it does not name), its columns renamed
    away from the media table's own; None when the folder has no labels file."""
    import pyarrow as pa

    path = _label_file(folder)
    if path is None:
        return None, None
    table = _read_labels(path)
    lowered = {n.lower(): n for n in table.column_names}
    column = next((lowered[n] for n in NAME_COLUMNS if n in lowered), None)
    if column is None:
        raise fail(path, f"has no column naming the files ({', '.join(NAME_COLUMNS)})",
                   "add one holding each file's path relative to the folder")
    names = [None if v is None else str(v) for v in table.column(column).to_pylist()]
    if len(set(names)) != len(names):
        raise fail(path, f"names a file twice in column {column!r}", "keep one row per file")
    rows = {n: i for i, n in enumerate(names)}
    base_counts = Counter(i.id.rsplit("/", 1)[-1] for i in items)
    order = [_label_row(rows, i.id, base_counts) for i in items]
    if all(o is None for o in order):
        raise fail(path, f"names none of the folder's files in column {column!r}",
                   "give each file's path relative to the folder, or its name")
    rest = table.drop_columns([column]).take(pa.array(order, pa.int64()))
    taken = {ID_COLUMN, BYTES_COLUMN, SIZE_COLUMN, FORMAT_COLUMN}
    rest = rest.rename_columns([f"label_{n}" if n.lower() in taken else n for n in rest.column_names])
    return rest.combine_chunks(), path
