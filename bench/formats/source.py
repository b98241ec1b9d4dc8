"""What every input reader shares: the ``Source`` interface, ``SchemaConflict`` and the error helpers.

A ``Source`` re-opens its input on every ``stream()``, so a dataset never holds the whole input in
memory (a JSON array, being one document, is read whole).

Type inference happens before all rows are seen (pyarrow's streaming CSV reader looks at its first
block). When a later value does not fit, the stream raises ``SchemaConflict``; the loader calls
``repair()``, which widens that one column, and profiles again from the start. So a file never fails
or loses values because of where its odd value sits.

Every user-facing failure is a ``DataError`` or ``UsageError`` naming the input, the problem and what
to do; no reader writes anything.

Also here, about what is read rather than how: the file's ``Fingerprint`` (taken before reading, to
notice a file that changes under the benchmark) and the renaming of columns whose names a backend
would refuse (empty or repeated).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from storeadvise.errors import DataError
from storeadvise.formatting import fmt_example

CSV_BLOCK_BYTES = 4 << 20
"""pyarrow's CSV block (it infers types from the first one): 4 MiB reads as fast as the 1 MiB default
and sees four times more rows before deciding (docs/decisions.md, 'CSV inputs read in 4 MiB blocks')."""
BATCH_ROWS = 65_536

INTEGER_PATTERN = r"^\s*[+-]?\d+\s*$"
"""Text that writes one integer (any size)."""
_INTEGER = re.compile(INTEGER_PATTERN)


def integer_text(text: str) -> bool:
    """Whether ``text`` writes one integer (any size)."""
    return bool(_INTEGER.match(text))


_EXACT_INTEGERS = (  # the narrowest first; decimal128(38, 0) holds every integer of up to 38 digits
    ("int64", -(2**63), 2**63 - 1), ("uint64", 0, 2**64 - 1), ("decimal128(38, 0)", -(10**38 - 1), 10**38 - 1),
)


def integer_type(texts: list[str], at_least: pa.DataType | None = None) -> pa.DataType | None:
    """The narrowest of int64, uint64 and decimal128(38, 0) that holds every integer written in
    ``texts`` exactly (and every value of ``at_least``, a type already chosen); string for longer
    integers; None if some text is not an integer."""
    if not all(integer_text(t) for t in texts):
        return None
    numbers = [int(t) for t in texts]
    names = [name for name, _, _ in _EXACT_INTEGERS]
    start = names.index(str(at_least)) if str(at_least) in names else 0
    for name, low, high in _EXACT_INTEGERS[start:]:
        if all(low <= n <= high for n in numbers):
            return pa.decimal128(38, 0) if name.startswith("decimal") else pa.type_for_alias(name)
    return pa.string()


_NONZERO_OFFSET = r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*[+-](0[1-9]|1\d|\d{2}:?(0[1-9]|[1-5]\d))"


def offset_note(field: pa.Field, texts: pa.Array) -> str | None:
    """The note (``Source.column_notes``) for a zoned timestamp column read from text with UTC offsets
    other than zero: the instants are kept, the offsets are not (every value is read as UTC)."""
    import pyarrow.compute as pc

    if not (pa.types.is_timestamp(field.type) and field.type.tz is not None) or not len(texts):
        return None
    matches = pc.match_substring_regex(texts, _NONZERO_OFFSET)
    if not pc.any(matches).as_py():
        return None
    example = fmt_example(texts.filter(matches)[0].as_py())
    return (f"timestamps with UTC offsets such as {example} are read as the same instants "
            f"in UTC; the offsets are not kept (--dtype {field.name}=string keeps the text)")


_EIGHTEEN_SIGNIFICANT_DIGITS = r"^\s*[+-]?[0.]*[1-9](\.?\d){16}\.?\d*[1-9]"
"""From the first non-zero digit to a later non-zero one, at least 18 digits (the exponent not counted)."""
_LONG_INTEGER = r"^\s*[+-]?\d{16,}\s*$"
"""An integer of 16 digits or more: from 2^53 (9007199254740992) on, float64 skips integers."""


def rounding_note(column: str, texts: pa.Array) -> str | None:
    """The note (``Source.column_notes``) for a float64 column read from text that float64 cannot hold
    exactly: more significant digits than it keeps (17), or an integer beyond 2^53 in a column that
    also holds fractions; None when every value is exact."""
    import pyarrow.compute as pc

    many = texts.filter(pc.match_substring_regex(texts, _EIGHTEEN_SIGNIFICANT_DIGITS)).to_pylist()
    skipped = [t for t in texts.filter(pc.match_substring_regex(texts, _LONG_INTEGER)).to_pylist()
               if int(t) != int(float(t))]
    found = many or skipped
    if not found:
        return None
    return (f"values such as {fmt_example(found[0])} are read as float64, which rounds them (it keeps 17 "
            f"significant digits); --dtype {column}=decimal128(38, S) or =string keeps every digit")


class SchemaConflict(DataError):
    """A value later in the file does not fit the type inferred from its beginning (repairable)."""

    def __init__(self, path: Path, column: str, detail: str) -> None:
        super().__init__(f"{path}: column {column!r} changed type while it was being read ({detail}); "
                         "the file may have changed: load it again")
        self.column = column
        self.detail = detail


def fail(path: Path, problem: str, advice: str) -> DataError:
    """The one-line ``DataError`` every reader raises: the input, what is wrong, what to do."""
    return DataError(f"{path}: {problem}; {advice}")


def translated(batches: Iterator[pa.RecordBatch],
               translate: Callable[[BaseException], DataError]) -> Iterator[pa.RecordBatch]:
    """``batches``, with a reader's error on the way (a damaged block, a bad row) raised as the
    ``DataError`` that ``translate`` makes of it."""
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowInvalid, OSError) as exc:
            raise translate(exc) from None
        yield batch


def arrow_message(exc: BaseException) -> str:
    """The useful first line of a pyarrow / polars message."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.rstrip(".")


class Source:
    """An input opened for streaming: its resolved format, schema and a restartable batch stream.

    Every reader is called as ``reader(path, name)`` with the registry name it was chosen by;
    ``format`` is the format actually read (JSON content can overrule the extension).
    """

    schema: pa.Schema
    modality: str | None = None
    """The modality the input declares (a folder of images is images); None: inferred from its columns."""
    items_profile: dict[str, Any] | None = None
    """For a folder of items: their count, total bytes, size distribution and formats."""

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.format = name
        self.notes: list[str] = []
        """What a user must know about the input as a whole, one sentence each."""
        self.column_notes: dict[str, str] = {}
        """What the reader decided about a column's type that a user must know (a column kept as text,
        zone offsets turned into UTC), one sentence per column; shown with the run's header."""

    def stream(self) -> Iterator[pa.RecordBatch]:
        raise NotImplementedError

    def take_types(self, types: dict[str, pa.DataType]) -> dict[str, pa.DataType]:
        """Read these columns in the types the user gave, where the reader can parse its text straight
        into them (a CSV's "01234" read as a string keeps its zero; cast from int64 it would not);
        return the ones it cannot, which ``TypedSource`` casts after reading."""
        return types

    def repair(self, conflict: SchemaConflict) -> None:
        """Widen the conflicting column so that the next stream reads it; DataError if impossible."""
        raise conflict

    def no_rows(self) -> DataError:
        return fail(self.path, "contains no records", "give a file with at least one row")

    def check_rows(self, rows: int) -> None:
        """Format-specific checks once the row count is known."""

    def bytes_at_rest(self) -> int:
        """The size of the input on disk (a reader of a folder format counts its files)."""
        return self.path.stat().st_size


_COMPRESSED = ((b"\x1f\x8b", "gzip"), (b"PK\x03\x04", "zip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"),
               (b"\x28\xb5\x2f\xfd", "zstd"), (b"PAR1", "Parquet"), (b"ARROW1", "Arrow IPC"))


def compressed_hint(path: Path) -> str:
    """", it is gzip-compressed" (or another container its first bytes say) when a text reader meets
    one, else ""."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError:
        return ""
    kind = next((name for magic, name in _COMPRESSED if head.startswith(magic)), None)
    if kind is None:
        return ""
    return f" (it is a {kind} file)" if kind in ("Parquet", "Arrow IPC") else f" (it is {kind}-compressed)"


def first_char(path: Path) -> str:
    """The first non-whitespace character ('' if there is none), skipping a UTF-8 byte-order mark."""
    with open(path, "rb") as handle:
        start = True
        while chunk := handle.read(1 << 16):
            if start:
                chunk = chunk.removeprefix(b"\xef\xbb\xbf")
                start = False
            stripped = chunk.lstrip()
            if stripped:
                return chr(stripped[0])
    return ""


# -- what is read: the file's fingerprint, column names every backend accepts ---------------------

@dataclass(frozen=True)
class Fingerprint:
    """What identifies the bytes of an input file without reading them: its size, modification time
    and inode (a file replaced by another under the same name gets another inode)."""

    path: str
    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> Fingerprint | None:
        """The file's fingerprint now; None for a folder or a path that cannot be examined."""
        try:
            stat = path.stat()
        except OSError:
            return None
        if not path.is_file():
            return None
        return cls(str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)

    def change(self) -> str | None:
        """How the file differs from this fingerprint now ("grew from 10 to 12 bytes"), or None."""
        now = Fingerprint.of(Path(self.path))
        if now == self:
            return None
        if now is None:
            return "was removed"
        if now.inode != self.inode:
            return "was replaced by another file"
        if now.size != self.size:
            return f"changed size from {self.size} to {now.size} bytes"
        return "was modified (its modification time changed)"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def unique_names(names: list[str]) -> list[str]:
    """Column names every backend accepts: each name unique and non-empty, ignoring case (SQLite and
    DuckDB take ``ID`` and ``id`` for the same column). An empty name becomes ``column_<position>``, a
    repeated one ``<name>_2``, ``_3`` ..., skipping names already in use."""
    taken = {name.casefold() for name in names}
    used: set[str] = set()
    result: list[str] = []
    for position, name in enumerate(names, 1):
        if name and name.casefold() not in used:
            result.append(name)
            used.add(name.casefold())
            continue
        base = name or f"column_{position}"
        candidate, suffix = base, 2 if name else 1
        while candidate.casefold() in taken or candidate.casefold() in used:
            candidate, suffix = f"{base}_{suffix}", suffix + 1
        result.append(candidate)
        used.add(candidate.casefold())
    return result


class _SourceView:
    """A source seen with its fields changed (``_field``) and its columns converted to match
    (``_column``); everything else (reading, repairs, errors, notes) is delegated to the source, whose
    own methods must run (not ``Source``'s defaults)."""

    def __init__(self, source: Source) -> None:
        self.source = source

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.source, attribute)

    def _field(self, position: int, field: pa.Field) -> pa.Field:
        raise NotImplementedError

    def _column(self, field: pa.Field, column: pa.Array) -> pa.Array:
        return column

    @property
    def schema(self) -> pa.Schema:
        schema = self.source.schema
        return pa.schema([self._field(i, f) for i, f in enumerate(schema)], metadata=schema.metadata)

    def stream(self) -> Iterator[pa.RecordBatch]:
        schema = self.schema
        for batch in self.source.stream():
            columns = [self._column(f, column) for f, column in zip(schema, batch.columns, strict=True)]
            yield pa.RecordBatch.from_arrays(columns, schema=schema)


class RenamedSource(_SourceView):
    """A source whose columns are given other names."""

    def __init__(self, source: Source, names: list[str]) -> None:
        super().__init__(source)
        self.names = names

    def _field(self, position: int, field: pa.Field) -> pa.Field:
        return field.with_name(self.names[position])


class TypedSource(_SourceView):
    """A source whose columns are cast to the types the user gave (``--dtype``, ``--schema``) as they
    are read; a value the type cannot take is a ``DataError`` naming the column, the type and the value."""

    def __init__(self, source: Source, types: dict[str, pa.DataType]) -> None:
        super().__init__(source)
        self.types = types

    def _field(self, position: int, field: pa.Field) -> pa.Field:
        return field.with_type(self.types.get(field.name, field.type))

    def _column(self, field: pa.Field, column: pa.Array) -> pa.Array:
        if field.name not in self.types or column.type.equals(field.type):
            return column
        try:
            return column.cast(field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise untypable(self.path, field.name, field.type, first_uncastable(column, field.type), exc) from None


def first_uncastable(column: pa.Array, target: pa.DataType,
                     cast: Callable[[pa.Array, pa.DataType], Any] | None = None) -> Any:
    """The first value of ``column`` that ``cast`` cannot convert to ``target`` (error path only; the
    arrays' own cast unless another is given)."""
    for i in range(len(column)):
        value = column.slice(i, 1)
        try:
            value.cast(target) if cast is None else cast(value, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ValueError):
            return value[0].as_py()
    return None


def untypable(path: Path, column: str, target: pa.DataType, value: Any, exc: BaseException | None = None) -> DataError:
    """The one-line error for a column that cannot be read in the type the user gave."""
    shown = fmt_example(value) if value is not None else arrow_message(exc) if exc is not None else "a value"
    return fail(path, f"column {column!r} cannot be read as {target} (--dtype/--schema): {shown} does not fit "
                      "that type", f"give {column!r} a type that holds it, such as string")


def with_column_types(source: Source, types: dict[str, pa.DataType]) -> Source | TypedSource:
    """The source reading its columns in ``types``: the reader parses those it can, the rest are cast."""
    from storeadvise.bench.formats.dtypes import check_columns

    if not types:
        return source
    check_columns(types, source.schema.names)
    for name in types:
        source.column_notes.pop(name, None)  # the user decided this column's type
    rest = source.take_types(dict(types))
    return TypedSource(source, rest) if rest else source


def with_unique_names(source: Source) -> tuple[Source | RenamedSource, list[dict[str, Any]]]:
    """The source with names every backend accepts (see ``unique_names``), and what was renamed."""
    names = source.schema.names
    fixed = unique_names(names)
    renamed = [{"position": i, "from": old, "to": new}
               for i, (old, new) in enumerate(zip(names, fixed, strict=True), 1) if old != new]
    return (RenamedSource(source, fixed) if renamed else source), renamed


def renaming_note(renamed: list[dict[str, Any]]) -> str:
    """The sentence a run shows about renamed columns."""
    changes = ", ".join(f"column {r['position']} {r['from']!r} -> {r['to']!r}" for r in renamed)
    return f"columns renamed, since every backend needs unique, non-empty names: {changes}"
