"""Advisor inputs from a folder of media or text files: what ``--data DIR`` infers.

A folder of images, video, audio or text documents is counted, not loaded: the modality with the most
files (by the extensions ``modalities.py`` lists), how many there are, their median size and formats.
Symbolic links are not followed (a loop would never end), hidden files are skipped, and a folder with
more than ``MAX_FILES`` entries is judged on the first ones found, which the note says. Standard library
only.
"""

from __future__ import annotations

import os
import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from storeadvise.errors import DataError
from storeadvise.formatting import format_quantity, printable
from storeadvise.modalities import MODALITIES

MAX_FILES = 200_000
"""How many files a folder profile looks at before it stops walking."""

_BY_EXTENSION = {ext: name for name, m in MODALITIES.items() for ext in m.extensions}


def _walk(root: Path) -> tuple[dict[str, list[int]], Counter[str], int, bool]:
    """Sizes of the recognised files by modality, their formats, the count of other files, and
    whether the walk stopped at ``MAX_FILES``."""
    sizes: dict[str, list[int]] = defaultdict(list)
    formats: Counter[str] = Counter()
    others = seen = 0
    stack = [root]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError as exc:
            raise DataError(f"cannot read folder {printable(str(root))}: {exc.strerror or exc}") from None
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
                continue
            if not entry.is_file(follow_symlinks=False):
                continue
            seen += 1
            if seen > MAX_FILES:
                return sizes, formats, others, True
            ext = entry.name.rsplit(".", 1)[-1].lower() if "." in entry.name else ""
            if ext in _BY_EXTENSION:
                sizes[_BY_EXTENSION[ext]].append(entry.stat(follow_symlinks=False).st_size)
                formats[ext] += 1
            else:
                others += 1
    return sizes, formats, others, False


def folder_inputs(path: str | Path) -> tuple[dict[str, Any], list[str]]:
    """The inputs a folder of media or text files implies (modality, items and item size, or rows and
    size for text), and a note saying what was counted."""
    root = Path(path)
    sizes, formats, others, stopped = _walk(root)
    if not sizes:
        known = ", ".join(name for name, m in MODALITIES.items() if m.extensions)
        raise DataError(f"{printable(root.name)} holds no {known} files (by extension); "
                        "give --modality and --items instead")
    modality = max(sizes, key=lambda name: (len(sizes[name]), name))
    items, total = len(sizes[modality]), sum(sizes[modality])
    median = int(statistics.median(sizes[modality]))
    inferred: dict[str, Any] = {"modality": modality, "size": total}
    if MODALITIES[modality].media:
        inferred.update(items=items, item_size=max(median, 1))
    else:
        inferred["rows"] = items
    kinds = ", ".join(f"{ext} {count:,}" for ext, count in formats.most_common()
                      if _BY_EXTENSION[ext] == modality)
    parts = [f"{items:,} {modality} files ({kinds})", f"median {format_quantity(median, 'size')}",
             f"{format_quantity(total, 'size')} in all"]
    parts += [f"{len(v):,} {name} files" for name, v in sizes.items() if name != modality]
    if others:
        parts.append(f"{others:,} other files ignored")
    note = f"Inferred from the folder {root.name}: {', '.join(parts)}."
    if stopped:
        note += f" Only the first {MAX_FILES:,} files were looked at: counts and sizes are lower bounds."
    return inferred, [note + " Flags you give explicitly override these."]
