"""Storage backends: one module per store, one registry entry each.

The registry maps the backend's name (the same word as its module and its CLI name) to where its
class lives, so that listing names never imports pyarrow, pymongo or kafka-python.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from storeadvise.errors import UsageError

if TYPE_CHECKING:
    from storeadvise.backends.base import Backend

REGISTRY: dict[str, str] = {
    "csv": "storeadvise.backends.csv:CsvBackend",
    "jsonl": "storeadvise.backends.jsonl:JsonlBackend",
    "parquet": "storeadvise.backends.parquet:ParquetBackend",
    "arrow": "storeadvise.backends.arrow:ArrowBackend",
    "sqlite": "storeadvise.backends.sqlite:SqliteBackend",
    "duckdb": "storeadvise.backends.duckdb:DuckdbBackend",
    "mongo": "storeadvise.backends.mongo:MongoBackend",
    "kafka": "storeadvise.backends.kafka:KafkaBackend",
}

DEFAULT_BACKENDS: tuple[str, ...] = ("csv", "jsonl", "parquet", "sqlite", "mongo", "kafka")
"""What ``bench`` runs when no ``--backends`` is given: the six storage options of the mission."""


def backend_class(name: str) -> type[Backend]:
    """The class registered under ``name``; a ``UsageError`` naming the valid ones otherwise."""
    try:
        target = REGISTRY[name]
    except KeyError:
        raise UsageError(
            f"unknown backend {name!r}; choose from {', '.join(REGISTRY)}"
        ) from None
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def parse_backend_names(text: str | None) -> list[str]:
    """Split a comma-separated ``--backends`` value, checking every name."""
    if text is None or not text.strip():
        return list(DEFAULT_BACKENDS)
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise UsageError(
            f"unknown backend {', '.join(map(repr, unknown))}; choose from {', '.join(REGISTRY)}"
        )
    return list(dict.fromkeys(names))
