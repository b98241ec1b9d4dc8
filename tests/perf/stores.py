"""storeadvise backends written once with the suite's data, shared by the file and server cases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def written_stores(table: Any, key_column: str | None, scratch: Path, servers: dict | None = None
                   ) -> Iterator[dict[str, Any]]:
    """A dict of storeadvise backends holding ``table``: each opened and written on first use, all
    cleaned up when the generator resumes. ``servers`` holds the status of each service by name;
    server backends whose server is unavailable skip the test."""
    from storeadvise.backends import backend_class
    from storeadvise.backends.base import BackendSettings

    opened: dict[str, Any] = {}

    class Stores(dict):
        def __missing__(self, name: str) -> Any:
            cls = backend_class(name)
            server = (servers or {}).get(cls.service.name) if cls.service else None
            ok, why = cls.available(BackendSettings(run_id="perf", scratch_dir=scratch, service=server))
            if not ok:
                pytest.skip(f"{name}: {why}")
            settings = BackendSettings(run_id="perf", scratch_dir=scratch, key_column=key_column, service=server)
            backend = cls(settings)
            backend.open()
            backend.write(table.schema, table.to_batches(max_chunksize=65_536))
            self[name] = opened[name] = backend
            return backend

    yield Stores()
    for backend in opened.values():
        backend.cleanup()
