"""Advisor inputs from a data file: what ``--data FILE`` infers, and a sentence saying so.

The file is read by the harness's ``open_dataset`` (one streaming pass computes its profile); this
module only maps that profile to the advisor's inputs, so the advisor and the benchmark describe a
file the same way. Imported only when ``--data`` is used: it pulls in pyarrow.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from storeadvise.errors import UsageError
from storeadvise.formatting import format_quantity


def _field(profile: Any, name: str) -> Any:
    return profile.get(name) if isinstance(profile, dict) else getattr(profile, name, None)


def _stored_as(file_format: str | None) -> str | None:
    """The advisor's name for a profiled file's format, or None for a format it has no memory factor for
    (a SQLite database, say): then the usual format of the modality is assumed, and said to be."""
    from storeadvise.advisor.inputs import IN_MEMORY_FACTORS, normalise_choice

    try:
        name = normalise_choice("stored_as", str(file_format)) if file_format else None
    except UsageError:
        return None
    return name if name in IN_MEMORY_FACTORS else None


def inputs_from_profile(profile: Any) -> tuple[dict[str, Any], list[str]]:
    """Map a dataset profile (the ``profile`` of the harness's ``open_dataset``, or its dict) to advisor inputs,
    and describe what was inferred in one note."""
    inferred: dict[str, Any] = {}
    modality = _field(profile, "modality")
    if modality:
        inferred["modality"] = modality
    nested = _field(profile, "nested")
    if nested is not None:
        inferred["structure"] = "nested" if nested else "flat"
    rows = _field(profile, "rows")
    if rows:
        inferred["rows"] = int(rows)
    file_bytes = _field(profile, "file_bytes")
    arrow_bytes = _field(profile, "arrow_bytes")
    size = file_bytes or arrow_bytes
    if size:
        inferred["size"] = int(size)
        stored_as = _stored_as(_field(profile, "format")) if file_bytes else "arrow"
        if stored_as:
            inferred["stored_as"] = stored_as  # the size is of this format: its in-memory factor applies
    name = _field(profile, "name") or "the file"
    parts = [f"modality {modality or 'unknown'}"]
    if rows:
        parts.append(f"{format_quantity(rows, 'rows')} row" + ("" if int(rows) == 1 else "s"))
    if file_bytes:
        parts.append(f"{format_quantity(file_bytes, 'size')} on disk")
    if arrow_bytes:
        parts.append(f"{format_quantity(arrow_bytes, 'size')} in memory (Arrow)")
    parts.append("nested columns" if nested else "flat columns")
    key, time = _field(profile, "key_column"), _field(profile, "time_column")
    parts.append(f"key column {key}" if key else "no unique key column")
    if time:
        parts.append(f"time column {time}")
    note = f"Inferred from {name}: {', '.join(parts)}. Flags you give explicitly override these."
    return inferred, [note, *(_field(profile, "notes") or [])]


def profile_inputs(path: str | Path, dtype: Any = None, schema: str | Path | None = None,
                   ) -> tuple[dict[str, Any], list[str]]:
    """Profile the file (its columns in the types ``dtype`` and ``schema`` give, as ``open_dataset``
    takes them) or the folder of media or text files at ``path`` and return the inputs it implies,
    with a note saying what was inferred."""
    if Path(path).is_dir():
        from storeadvise.advisor.folders import folder_inputs

        return folder_inputs(path)
    from storeadvise.advisor.series import SAMPLE_ROWS, profile_series
    from storeadvise.bench.api import open_dataset

    dataset = open_dataset(Path(path), dtype=dtype, schema=schema)
    series = profile_series(dataset)
    profile = dataset.profile
    if series.long_format or series.epoch_unit:
        profile = replace(profile, modality="time-series")
    inferred, notes = inputs_from_profile(profile)
    return inferred, [*notes, *series.notes(SAMPLE_ROWS)]
