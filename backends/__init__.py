"""Storage backends: one module per store, found in this folder.

A module is a backend when it defines a class named after it (``csv.py`` → ``CsvBackend``,
``files_index.py`` → ``FilesIndexBackend``): the registry maps the backend's name (the same word as
its module and its CLI name) to where that class lives. It is found by reading the module's text,
not by importing it, so that adding a backend is adding its module, and listing names imports
nothing. Private modules (``_partfiles.py``) and modules without such a class (``batching.py``) are helpers.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storeadvise.errors import UsageError

if TYPE_CHECKING:
    from storeadvise.backends.base import Backend

DEFAULT_BACKENDS: tuple[str, ...] = ("csv", "jsonl", "parquet", "sqlite", "mongo", "kafka")
"""What ``bench`` runs when no ``--backends`` is given: the six storage options of the mission."""


def _discover(folder: Path = Path(__file__).parent) -> dict[str, str]:
    """``name -> "module:Class"`` for every backend module in ``folder``: the default six first,
    then the others by name."""
    found: dict[str, str] = {}
    for module in pkgutil.iter_modules([str(folder)]):
        if module.ispkg or module.name.startswith("_"):
            continue
        cls = "".join(part.capitalize() for part in module.name.split("_")) + "Backend"
        text = (folder / f"{module.name}.py").read_text(encoding="utf-8")
        if re.search(rf"^class {cls}\(", text, re.MULTILINE):
            found[module.name] = f"{__name__}.{module.name}:{cls}"
    order = [n for n in DEFAULT_BACKENDS if n in found] + sorted(n for n in found if n not in DEFAULT_BACKENDS)
    return {name: found[name] for name in order}


REGISTRY: dict[str, str] = _discover()


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


def runnable_here(names: Sequence[str], options: Mapping[str, Any] | None = None) -> tuple[list[str], dict[str, str]]:
    """Which of ``names`` can run here, judged without connecting (the client library imports; a server
    address is given or the embedded server is installed), and why each of the others cannot."""
    runnable: list[str] = []
    why_not: dict[str, str] = {}
    for name in names:
        try:
            cls = backend_class(name)
        except ImportError as exc:
            why_not[name] = f"cannot import its client library ({exc.name or exc})"
            continue
        service = cls.needs_service(options)
        ok, reason = service.availability(None, options) if service else (True, "")
        if ok:
            runnable.append(name)
        else:
            why_not[name] = reason
    return runnable, why_not


def _aliases() -> dict[str, str]:
    """Every other name a backend declares for itself (imports the backend modules: only asked for
    when a name is not a registry key)."""
    found: dict[str, str] = {}
    for name in REGISTRY:
        try:
            found.update(dict.fromkeys(backend_class(name).aliases, name))
        except ImportError:
            continue
    return found


def parse_backend_names(text: str | None) -> list[str]:
    """Split a comma-separated ``--backends`` value, checking every name (aliases become their backend)."""
    if text is None or not text.strip():
        return list(DEFAULT_BACKENDS)
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if any(n not in REGISTRY for n in names):
        aliases = _aliases()
        names = [aliases.get(n, n) for n in names]
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise UsageError(
            f"unknown backend {', '.join(map(repr, unknown))}; choose from {', '.join(REGISTRY)}"
        )
    return list(dict.fromkeys(names))
