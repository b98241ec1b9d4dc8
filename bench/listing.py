"""``storeadvise backends``: what each backend is, supports, and whether it can run here."""

from __future__ import annotations

from typing import Any

from storeadvise.backends import REGISTRY, backend_class
from storeadvise.backends.masking import mask_secrets
from storeadvise.backends.operations import operations_of


def list_backends() -> list[dict[str, Any]]:
    """One entry per registered backend: name, available, reason, kind, supports, type mapping.

    Server backends report whether their client library and the embedded server are installed;
    no connection is attempted (that happens when a benchmark runs).
    """
    rows: list[dict[str, Any]] = []
    for name in REGISTRY:
        try:
            cls = backend_class(name)
        except ImportError as exc:
            rows.append({"name": name, "available": False, "reason": f"cannot import ({exc.name or exc})"})
            continue
        ok, reason = cls.available(None)
        rows.append(
            {
                "name": name,
                "available": ok,
                "reason": reason,
                "kind": cls.kind,
                "aliases": list(cls.aliases),
                "service": cls.service.describe() if cls.service else None,
                "supports": operations_of(cls),
                "type_mapping": dict(cls.type_mapping),
            }
        )
    return mask_secrets(rows)  # a reason may quote an address from the environment
