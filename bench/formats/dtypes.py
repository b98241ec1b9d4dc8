"""Column types the user gives (``--dtype col=type``, ``--schema FILE``) instead of the inferred ones.

A type is an Arrow type name (``int32``, ``float32``, ``timestamp[ms]``, ``timestamp[us, tz=UTC]``,
``decimal128(12, 2)``, ``large_string`` ...) or one of the friendly names in ``FRIENDLY_TYPES``
(``string``, ``int``, ``float``, ``date``, ``timestamp`` ...). ``float`` means float64, as in pandas
and polars (Arrow's own alias ``float`` is float32: write ``float32`` for that).

A schema file is a JSON object of column names to type names, or a Parquet or Arrow/Feather file
whose schema is taken (only its schema is read). Columns are named as in the data file. ``--dtype``
wins over ``--schema`` for a column both name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pyarrow as pa

from storeadvise.errors import UsageError

FRIENDLY_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(), "str": pa.string(), "text": pa.string(),
    "int": pa.int64(), "integer": pa.int64(),
    "float": pa.float64(), "double": pa.float64(),
    "bool": pa.bool_(), "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"), "datetime": pa.timestamp("us"),
}
"""The short names people type, and the Arrow type each one means."""

_TIMESTAMP = re.compile(r"^timestamp\[(s|ms|us|ns)(?:,\s*tz=([^\]]+))?\]$")
_DECIMAL = re.compile(r"^decimal(128|256)?\(\s*(\d+)\s*,\s*(-?\d+)\s*\)$")
_SCHEMA_FILES = (".parquet", ".pq", ".arrow", ".feather", ".ipc")


def parse_type(text: str, option: str = "--dtype") -> pa.DataType:
    """The Arrow type ``text`` names (see the module docstring); a ``UsageError`` naming ``option``
    when it names none."""
    word = str(text).strip()
    lowered = word.lower()
    if lowered in FRIENDLY_TYPES:
        return FRIENDLY_TYPES[lowered]
    timestamp = _TIMESTAMP.match(lowered)
    if timestamp:
        zone = _TIMESTAMP.match(word).group(2)  # the zone's spelling as given: "Europe/Paris"
        return pa.timestamp(timestamp.group(1), tz=zone.strip() if zone else None)
    decimal = _DECIMAL.match(lowered)
    if decimal:
        make = pa.decimal256 if decimal.group(1) == "256" else pa.decimal128
        try:
            return make(int(decimal.group(2)), int(decimal.group(3)))
        except (ValueError, pa.ArrowInvalid) as exc:
            raise UsageError(f"{option}: {word!r} is not a valid decimal type ({exc})") from None
    try:
        return pa.type_for_alias(lowered)
    except ValueError:
        raise UsageError(f"{option}: unknown type {word!r}; use an Arrow type name (int32, float32, "
                         f"timestamp[ms], decimal128(12, 2) ...) or one of {', '.join(FRIENDLY_TYPES)}") from None


def parse_dtypes(given: Mapping[str, str | pa.DataType] | Sequence[str] | str | None) -> dict[str, pa.DataType]:
    """``--dtype`` values: ``"col=type"`` texts (one, or a list of them) or a mapping of column to type
    name or Arrow type."""
    if given is None:
        return {}
    if isinstance(given, Mapping):
        pairs = list(given.items())
    else:
        texts = [given] if isinstance(given, str) else list(given)
        pairs = []
        for text in texts:
            column, sep, type_name = str(text).partition("=")
            if not sep or not column.strip() or not type_name.strip():
                raise UsageError(f"--dtype {text!r}: expected COLUMN=TYPE, e.g. --dtype zip=string")
            pairs.append((column.strip(), type_name))
    return {column: value if isinstance(value, pa.DataType) else parse_type(value, f"--dtype {column}")
            for column, value in pairs}


def schema_file_types(path: str | Path) -> dict[str, pa.DataType]:
    """The column types a ``--schema`` file gives: a JSON object of names to type names, or the schema
    of a Parquet or Arrow file."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--schema {path}: no such file; give a JSON object of column types or a Parquet/Arrow file")
    if path.suffix.lower() in _SCHEMA_FILES:
        return {f.name: f.type for f in _stored_schema(path)}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"--schema {path}: is not valid JSON ({exc}); give an object such as "
                         '{"zip": "string", "ts": "timestamp[us]"}') from None
    if not isinstance(document, dict) or not all(isinstance(v, str) for v in document.values()):
        raise UsageError(f"--schema {path}: must be a JSON object of column names to type names, such as "
                         '{"zip": "string", "ts": "timestamp[us]"}')
    return {column: parse_type(type_name, f"--schema {path}: column {column!r}")
            for column, type_name in document.items()}


def _stored_schema(path: Path) -> pa.Schema:
    import pyarrow.parquet as pq

    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            return pq.read_schema(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise UsageError(f"--schema {path}: is not a readable Parquet file ({exc})") from None
    for opener in (pa.ipc.open_file, pa.ipc.open_stream):
        try:
            return opener(pa.memory_map(str(path))).schema
        except (pa.ArrowInvalid, OSError):
            continue
    raise UsageError(f"--schema {path}: is not a readable Arrow IPC or Feather file")


def column_types(dtype: Mapping[str, str | pa.DataType] | Sequence[str] | str | None = None,
                 schema: str | Path | None = None) -> dict[str, pa.DataType]:
    """The types the user gave: the schema file's, then ``dtype``'s over them."""
    types = schema_file_types(schema) if schema is not None else {}
    types.update(parse_dtypes(dtype))
    return types


def check_columns(types: Mapping[str, pa.DataType], names: Sequence[str]) -> None:
    """A ``UsageError`` when a given type names a column the data does not have."""
    unknown = [column for column in types if column not in names]
    if unknown:
        raise UsageError(f"--dtype/--schema name {', '.join(map(repr, unknown))}, which the data does not have; "
                         f"its columns are {', '.join(names)}")
