"""Which pages of a buffer this process has mapped in, and an Arrow backend that keeps what it returned.

Linux's /proc/self/pagemap holds one 64-bit entry per virtual page; bit 63 says the page is present
in this process's page table. A fresh memory mapping has no page present until something reads it,
so after a result went through ``consume`` every page of its buffers must be present.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from storeadvise.backends.arrow import ArrowBackend
from storeadvise.backends.base import Predicate

PAGE = mmap.PAGESIZE
PAGEMAP = "/proc/self/pagemap"


def pagemap_readable() -> bool:
    try:
        with open(PAGEMAP, "rb") as f:
            return len(f.read(8)) == 8
    except OSError:
        return False


def absent_pages(address: int, size: int) -> int:
    """How many of the pages that bytes ``address .. address + size`` lie on are not present."""
    if size <= 0:
        return 0
    first, last = address // PAGE, (address + size - 1) // PAGE
    with open(PAGEMAP, "rb") as f:
        f.seek(first * 8)
        entries = f.read((last - first + 1) * 8)
    return sum(1 for i in range(0, len(entries), 8) if not entries[i + 7] & 0x80)


class LazyMemory:
    """Anonymous memory that no one has read yet: reading a page maps it in (huge pages off, so that a
    read maps one page, not two megabytes). All bytes read as zero."""

    def __init__(self, pages: int) -> None:
        self.map = mmap.mmap(-1, pages * PAGE)
        self.map.madvise(mmap.MADV_NOHUGEPAGE)
        import pyarrow as pa

        self.buffer = pa.py_buffer(self.map)

    def absent(self) -> int:
        return absent_pages(self.buffer.address, self.buffer.size)


def result_buffers(result: Any) -> Iterator[Any]:
    """Every buffer of a table, a batch, or a list of either (children and dictionaries included)."""
    items = [result] if hasattr(result, "num_rows") else result
    for item in items:
        for column in item.columns:
            for chunk in getattr(column, "chunks", [column]):
                yield from (b for b in chunk.buffers() if b is not None)
                if hasattr(chunk, "dictionary"):
                    yield from (b for b in chunk.dictionary.buffers() if b is not None)


class KeptArrowBackend(ArrowBackend):
    """The Arrow IPC backend (its reads are memory-mapped: they return before a byte of data is read),
    keeping every table and batch it returned so that a test can look at their pages afterwards."""

    name: ClassVar[str] = "kept_arrow"
    returned: ClassVar[list[Any]] = []

    def read(self, columns: Sequence[str] | None = None, where: Predicate | None = None) -> Any:
        table = super().read(columns, where)
        self.returned.append(table)
        return table

    def scan(self, columns: Sequence[str] | None = None, batch_rows: int = 65_536) -> Iterator[Any]:
        for batch in super().scan(columns, batch_rows):
            self.returned.append(batch)
            yield batch
