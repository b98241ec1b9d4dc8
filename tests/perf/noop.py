"""A backend that does nothing, to measure what the runner itself costs per counted run."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from storeadvise.backends.base import Backend, Predicate


class NoopBackend(Backend):
    """Keeps the written batches by reference; every read returns the same table at once."""

    name: ClassVar[str] = "noop"
    kind: ClassVar[str] = "file"
    supports: ClassVar[frozenset[str]] = frozenset({"write", "read", "project"})

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self._table: Any = None

    def write(self, schema: Any, batches: Iterable[Any]) -> None:
        import pyarrow as pa

        self._table = pa.Table.from_batches(list(batches), schema=schema)

    def read(self, columns: Sequence[str] | None = None, where: Predicate | None = None) -> Any:
        return self._table

    def size_bytes(self) -> int:
        return 0
