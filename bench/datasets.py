"""Datasets: an Arrow schema, a restartable record-batch stream and a profile.

Everything downstream (the advisor's profile, the backends, the runner) sees data one way: a
``Dataset`` whose ``batches()`` streams the rows from the start each time it is called, and whose
``profile`` was computed in one streaming pass when the dataset was created. Nothing here holds a
whole file in memory (a JSON array, being a single document, is the exception), so the same code
serves a 2,000-row CSV and a 20-million-row generated sample.

The input formats (their registry, readers and writers) live in ``bench.formats``, the sample
generators in ``bench.samples``; readers, writers and generators import pyarrow, so this module
imports them only inside functions and stays cheap to import for the CLI's option parsing.

Modality inference for files (``infer_modality``), first match wins:

1. ``nested`` if any column is a struct, list or map;
2. ``time-series`` if there is a time column that is sorted or named like ts / time / timestamp /
   date / datetime, and more than half of the other columns (not the time column, not the key) are
   numeric;
3. ``text`` if a string column averages more than ``TEXT_AVG_CHARS`` bytes per value;
4. ``tabular`` otherwise.

Key inference (``key_column``): the candidates are int or string columns named like an id (``id``,
``_id``, ``key``, ``uuid``, ``pk``, ``*_id``, ``*_key``, ``*_uuid``, ``userId``), or else the first column; at most
``MAX_KEY_CANDIDATES``. A candidate must have no nulls and be unique. Uniqueness is proved in the
same pass, in bounded memory: a column whose values strictly increase is unique whatever its length
(auto-increment ids, row numbers); otherwise its values are kept and counted distinct only up to
``KEY_CHECK_ROWS`` rows. A larger file whose candidate is not increasing gets no inferred key (pass
``key=`` to name one); a named key is checked the same way, and trusted when the file is too large
to check. Generated samples know their key (``id``) is unique and skip the check.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storeadvise.errors import DataError, UsageError
from storeadvise.media import FORMAT_COLUMN, SIZE_COLUMN
from storeadvise.modalities import MEDIA_SAMPLE_KINDS, SAMPLE_KINDS
from storeadvise.units import parse_count

if TYPE_CHECKING:
    import pyarrow as pa

    from storeadvise.bench.formats.source import Fingerprint

DEFAULT_BATCH_ROWS = 65_536
KEY_CHECK_ROWS = 2_000_000
MAX_KEY_CANDIDATES = 3
TEXT_AVG_CHARS = 200
MAX_REPAIRS = 64
_KEY_NAMES = re.compile(r"^(?i:id|_id|key|uuid|pk)$|.*(?i:_id|_key|_uuid)$|.*[a-z0-9](Id|ID)$")
_TIME_NAMES = re.compile(r"^(ts|time|timestamp|date|datetime)$|.*_(ts|time|timestamp|date|datetime|at)$",
                         re.IGNORECASE)
_TIME_LIKE = re.compile(r"^(ts|time|timestamp|date|datetime)$", re.IGNORECASE)


def decoded(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """The column with its values spelled out (dictionary-encoded columns decoded), for the compute
    functions that have no kernel for dictionaries (binary_length, greater, quantiles ...)."""
    import pyarrow as pa

    return column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column


def column_kind(arrow_type: pa.DataType) -> str:
    """int | float | string | bool | timestamp | date | binary | nested | decimal | other."""
    import pyarrow as pa

    from storeadvise.backends._selection import value_type

    t = value_type(arrow_type)
    checks = (
        ("bool", pa.types.is_boolean), ("int", pa.types.is_integer), ("float", pa.types.is_floating),
        ("decimal", pa.types.is_decimal), ("timestamp", pa.types.is_timestamp), ("date", pa.types.is_date),
        ("string", lambda x: pa.types.is_string(x) or pa.types.is_large_string(x) or pa.types.is_string_view(x)),
        ("binary", lambda x: pa.types.is_binary(x) or pa.types.is_large_binary(x)
         or pa.types.is_fixed_size_binary(x) or pa.types.is_binary_view(x)),
        ("nested", pa.types.is_nested),
    )
    return next((kind for kind, check in checks if check(t)), "other")


@dataclass
class ColumnProfile:
    """One column as the advisor and the report see it."""

    name: str
    type: str
    kind: str
    null_count: int


@dataclass
class DatasetProfile:
    """What the advisor needs to know about a dataset and what a run file records about it."""

    name: str
    source: str
    format: str
    modality: str
    rows: int
    arrow_bytes: int
    file_bytes: int | None
    columns: list[ColumnProfile] = field(default_factory=list)
    key_column: str | None = None
    time_column: str | None = None
    nested: bool = False
    renamed_columns: list[dict[str, Any]] = field(default_factory=list)
    """Columns renamed so that every backend accepts them: ``{"position", "from", "to"}`` each."""
    notes: list[str] = field(default_factory=list)
    """What a user must know about the input, one sentence each (shown with the run's header)."""
    fingerprint: dict[str, Any] | None = None
    """The input FILE's size, modification time and inode when it was read (``Fingerprint``): did the
    file change during the run. Not the data's identity: that is ``data_fingerprint``."""
    changed_during_run: bool = False
    """True when the input file changed while a benchmark ran: its numbers may mix two versions."""

    items: dict[str, Any] | None = None
    """For a folder of media items: their count, total bytes, size p50/p95/max and formats."""
    data_fingerprint: dict[str, Any] | None = None
    """The DATA as loaded (``DataFingerprint``): rows, schema and a content hash, the same for the
    same rows from any file format; two runs are compared only when it matches."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DataFingerprint:
    """What makes two runs' datasets the same data: rows, schema (names and Arrow types) and the
    verifier's order-independent content hash (``bench.verify.ContentHash``). ``content`` is None
    when unknown: a run file older than the fingerprint, or data DuckDB cannot hash."""

    rows: int | None
    schema: tuple[tuple[str, str], ...] | None
    content: str | None = None
    content_method: str | None = None

    @classmethod
    def of(cls, dataset: dict[str, Any]) -> DataFingerprint:
        """The fingerprint a run file records under ``dataset``; an older file's rows and columns stand
        in for it, with the content unknown."""
        recorded = dataset.get("data_fingerprint")
        if isinstance(recorded, dict):
            schema = recorded.get("schema")
            return cls(recorded.get("rows"), tuple(map(tuple, schema)) if schema is not None else None,
                       recorded.get("content"), recorded.get("content_method"))
        columns = dataset.get("columns")
        schema = tuple((c["name"], c["type"]) for c in columns) if isinstance(columns, list) else None
        return cls(dataset.get("rows"), schema)

    def differences(self, other: DataFingerprint) -> list[str]:
        """What differs, one phrase each ("rows 50,000 vs 100,000"); empty when nothing known does."""
        found = []
        if self.rows is not None and other.rows is not None and self.rows != other.rows:
            found.append(f"rows {self.rows:,} vs {other.rows:,}")
        if self.schema is not None and other.schema is not None and self.schema != other.schema:
            found.append(f"schema {_schema_change(self.schema, other.schema)}")
        if self.content_known_in(other) and self.content != other.content and not found:
            found.append("content (same rows and schema, different values)")
        return found

    def content_known_in(self, other: DataFingerprint) -> bool:
        """Both contents are known and were hashed the same way, so comparing them means something."""
        return bool(self.content and other.content and self.content_method == other.content_method)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _schema_change(mine: tuple[tuple[str, str], ...], theirs: tuple[tuple[str, str], ...]) -> str:
    """The first columns that differ, e.g. "(id int64, x double vs id int64, x string)"."""
    mine_only = [f"{n} {t}" for n, t in mine if (n, t) not in theirs]
    theirs_only = [f"{n} {t}" for n, t in theirs if (n, t) not in mine]
    if not mine_only and not theirs_only:
        return "(same columns in another order)"
    return f"({', '.join(mine_only[:3]) or 'nothing else'} vs {', '.join(theirs_only[:3]) or 'nothing else'})"


# -- the profile pass --------------------------------------------------------------------------------

class _KeyCheck:
    """Bounded-memory uniqueness of one column: strictly increasing, or distinct within a limit."""

    def __init__(self) -> None:
        self.has_nulls = False
        self.increasing = True
        self.last: Any = None
        self.kept: list[pa.Array] | None = []
        self.rows = 0

    def add(self, values: pa.Array) -> None:
        import pyarrow.compute as pc

        if self.has_nulls or len(values) == 0:
            return
        if values.null_count:
            self.has_nulls = True
            return
        self.rows += len(values)
        if self.increasing:
            inside = len(values) < 2 or pc.all(pc.greater(values.slice(1), values.slice(0, len(values) - 1))).as_py()
            self.increasing = bool(inside) and (self.last is None or pc.greater(values[0], self.last).as_py())
            self.last = values[len(values) - 1]
        if self.kept is not None:
            self.kept.append(values)
            if self.rows > KEY_CHECK_ROWS:
                self.kept = None

    def unique(self) -> bool | None:
        """True / False when known; None when too large to check and not increasing."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if self.has_nulls:
            return False
        if self.increasing:
            return True
        if self.kept is None:
            return None
        return pc.count_distinct(pa.chunked_array(self.kept)).as_py() == self.rows


class _Scan:
    """Everything the profile needs, gathered batch by batch."""

    def __init__(self, schema: pa.Schema, key_candidates: list[str]) -> None:
        self.schema = schema
        self.kinds = [column_kind(f.type) for f in schema]
        self.rows = 0
        self.arrow_bytes = 0
        self.nulls = [0] * len(schema)
        self.text_bytes = {i: 0 for i, kind in enumerate(self.kinds) if kind == "string"}
        self.sorted = {i: True for i, kind in enumerate(self.kinds) if kind in ("timestamp", "date")}
        self.last_time: dict[int, Any] = {}
        self.keys = {name: _KeyCheck() for name in key_candidates}
        from storeadvise.bench.verify import ContentHash

        self.content: ContentHash | None = ContentHash(schema.names)

    def add(self, batch: pa.RecordBatch) -> None:
        import numpy as np
        import pyarrow.compute as pc

        self._hash(batch)
        self.rows += batch.num_rows
        self.arrow_bytes += batch.nbytes
        for i, column in enumerate(batch.columns):
            self.nulls[i] += column.null_count
        for i in self.text_bytes:
            self.text_bytes[i] += pc.sum(pc.binary_length(decoded(batch.column(i)))).as_py() or 0
        for i, still in self.sorted.items():
            if still:
                values = decoded(batch.column(i)).drop_null().to_numpy(zero_copy_only=False)
                if len(values):
                    before = self.last_time.get(i)
                    self.sorted[i] = bool(np.all(values[1:] >= values[:-1])) and (before is None or values[0] >= before)
                    self.last_time[i] = values[-1]
        for name, check in self.keys.items():
            check.add(decoded(batch.column(batch.schema.get_field_index(name))))

    def _hash(self, batch: pa.RecordBatch) -> None:
        """Adds the batch to the content hash; a type DuckDB cannot hash leaves the content unknown
        rather than refusing data the backends may still store."""
        import duckdb

        if self.content is None:
            return
        try:
            self.content.add(batch)
        except duckdb.Error:
            self.content = None

    def fingerprint(self) -> DataFingerprint:
        return DataFingerprint(
            self.rows, tuple((f.name, str(f.type)) for f in self.schema),
            self.content.hexdigest() if self.content else None, self.content.method() if self.content else None,
        )

    def columns(self) -> list[ColumnProfile]:
        return [ColumnProfile(f.name, str(f.type), kind, nulls)
                for f, kind, nulls in zip(self.schema, self.kinds, self.nulls, strict=True)]

    def text_average(self) -> float:
        """The largest average byte length of a string column."""
        return max((total / max(self.rows - self.nulls[i], 1) for i, total in self.text_bytes.items()),
                   default=0.0)


def _key_candidates(schema: pa.Schema) -> list[str]:
    import pyarrow as pa

    # a dictionary-encoded column is a category, not an identifier (and new keys cannot be made for it)
    eligible = [f.name for f in schema
                if column_kind(f.type) in ("int", "string") and not pa.types.is_dictionary(f.type)]
    named = [n for n in eligible if _KEY_NAMES.match(n)]
    named.sort(key=lambda n: (0 if n.lower() in ("id", "_id", "key", "uuid", "pk") else 1))
    if not named and eligible and eligible[0] == schema.names[0]:
        named = [eligible[0]]
    return named[:MAX_KEY_CANDIDATES]


def _check_column(schema: pa.Schema, name: str | None, what: str, kinds: tuple[str, ...]) -> None:
    if name is None:
        return
    if name not in schema.names:
        raise UsageError(f"{what} {name!r} is not a column; the columns are {', '.join(schema.names)}")
    kind = column_kind(schema.field(name).type)
    if kind not in kinds:
        raise UsageError(f"{what} {name!r} is a {kind} column; it must be {' or '.join(kinds)}")


def _choose_time(scan: _Scan) -> str | None:
    names = scan.schema.names
    order = sorted(scan.sorted, key=lambda i: (not scan.sorted[i], not _TIME_NAMES.match(names[i]), i))
    return names[order[0]] if order else None


def infer_modality(columns: list[ColumnProfile], time_column: str | None, time_sorted: bool,
                   key_column: str | None, text_average: float) -> str:
    """The modality of a file's data (the heuristic is in the module docstring)."""
    if any(c.kind == "nested" for c in columns):
        return "nested"
    if time_column and (time_sorted or _TIME_LIKE.match(time_column)):
        others = [c for c in columns if c.name not in (time_column, key_column)]
        numeric = sum(c.kind in ("int", "float", "decimal") for c in others)
        if others and numeric / len(others) > 0.5:
            return "time-series"
    if text_average > TEXT_AVG_CHARS:
        return "text"
    return "tabular"


def _profile(name: str, source: str, fmt: str, scan: _Scan, file_bytes: int | None, key: str | None,
             time_column: str | None, modality: str | None) -> DatasetProfile:
    columns = scan.columns()
    time_column = time_column or _choose_time(scan)
    time_sorted = bool(time_column) and scan.sorted.get(scan.schema.get_field_index(time_column), False)
    return DatasetProfile(
        name=name, source=source, format=fmt,
        modality=modality or infer_modality(columns, time_column, time_sorted, key, scan.text_average()),
        rows=scan.rows, arrow_bytes=scan.arrow_bytes, file_bytes=file_bytes, columns=columns,
        key_column=key, time_column=time_column, nested=any(c.kind == "nested" for c in columns),
        data_fingerprint=scan.fingerprint().to_dict(),
    )


# -- the dataset ---------------------------------------------------------------------------------------

class Dataset:
    """A schema, a restartable batch stream and the profile of what it streams."""

    def __init__(self, schema: pa.Schema, stream: Callable[[], Iterator[pa.RecordBatch]],
                 profile: DatasetProfile, batch_rows: int = DEFAULT_BATCH_ROWS,
                 fingerprint: Fingerprint | None = None) -> None:
        self.schema = schema
        self.profile = profile
        self._stream = stream
        self._batch_rows = batch_rows
        self.fingerprint = fingerprint
        """The input file as it was when the profile read it (None for generated data)."""

    def input_change(self) -> str | None:
        """How the input file changed since the profile read it ("changed size from ..."), or None."""
        return None if self.fingerprint is None else self.fingerprint.change()

    def __repr__(self) -> str:
        p = self.profile
        return f"Dataset({p.name!r}, {p.format}, {p.modality}, rows={p.rows}, columns={len(p.columns)})"

    def batches(self, batch_rows: int | None = None) -> Iterator[pa.RecordBatch]:
        """Stream the data from the start; each call starts over (re-reads the file / regenerates
        deterministically). Never holds the whole dataset in memory. Batches have ``batch_rows`` rows
        (default: the dataset's, 65,536 unless given to ``sample_dataset``); the last may be shorter."""
        rows = self._batch_rows if batch_rows is None else batch_rows
        if not isinstance(rows, int) or rows <= 0:
            raise UsageError("batch_rows must be a positive integer")
        from storeadvise.backends.batching import rebatch

        return rebatch(self._stream(), rows)

    def head(self, rows: int) -> Dataset:
        """The first ``rows`` rows as a dataset of their own (a scaling sweep over a file uses it)."""
        if isinstance(rows, bool) or not isinstance(rows, int) or rows <= 0:
            raise UsageError("the number of rows must be a positive integer")

        def stream() -> Iterator[pa.RecordBatch]:
            left = rows
            for batch in self._stream():
                if left <= 0:
                    return
                yield batch.slice(0, left) if batch.num_rows > left else batch
                left -= batch.num_rows

        scan = _Scan(self.schema, [])  # a prefix of a unique key stays unique
        sizes: list[int] = []
        formats: list[str] = []
        for batch in stream():
            scan.add(batch)
            if self.profile.items is not None:
                sizes += batch.column(SIZE_COLUMN).to_pylist()
                formats += batch.column(FORMAT_COLUMN).to_pylist()
        p = self.profile
        profile = _profile(f"{p.name}[:{scan.rows}]", p.source, p.format, scan, p.file_bytes, p.key_column,
                           p.time_column, p.modality)
        profile.renamed_columns, profile.notes, profile.fingerprint = p.renamed_columns, list(p.notes), p.fingerprint
        if p.items is not None:  # the items measured are the first ones: their profile, for the per-item check
            from storeadvise.bench.formats.media import items_profile

            profile.items = items_profile(sizes, formats)
        return Dataset(self.schema, stream, profile, self._batch_rows, self.fingerprint)

    def to_table(self) -> pa.Table:
        """The whole dataset in memory (what a DataFrame user does)."""
        import pyarrow as pa

        return pa.Table.from_batches(list(self._stream()), schema=self.schema)

    def sample_rows(self, n: int, seed: int = 0) -> pa.Table:
        """n rows drawn uniformly at random over the whole dataset, without replacement, in random order
        (all rows when n >= rows); used for lookup keys and append batches.

        The row count is known from the profile, so this draws n row numbers and collects them in one
        streaming pass: the same result as reservoir sampling, holding only the n chosen rows.
        """
        import numpy as np
        import pyarrow as pa

        if not isinstance(n, int) or n < 0:
            raise UsageError("the number of rows to sample must be a non-negative integer")
        total = self.profile.rows
        rng = np.random.default_rng(seed)
        wanted = np.sort(rng.choice(total, size=min(n, total), replace=False))
        picked: list[pa.RecordBatch] = []
        offset = 0
        for batch in self._stream():
            lo, hi = np.searchsorted(wanted, [offset, offset + batch.num_rows])
            if hi > lo:
                picked.append(batch.take(pa.array(wanted[lo:hi] - offset)))
            offset += batch.num_rows
            if hi == len(wanted):
                break
        table = pa.Table.from_batches(picked, schema=self.schema)
        return table.take(pa.array(rng.permutation(table.num_rows)))


def _run_scan(source: Any, key_candidates: list[str]) -> _Scan:
    """One profile pass over a file, repairing inferred types that later rows contradict."""
    from storeadvise.bench.formats.source import SchemaConflict

    for _ in range(MAX_REPAIRS):
        scan = _Scan(source.schema, [k for k in key_candidates if k in source.schema.names])
        try:
            for batch in source.stream():
                scan.add(batch)
            return scan
        except SchemaConflict as conflict:
            source.repair(conflict)
    raise DataError(f"{source.path}: column types keep changing further into the file; "
                    "convert it to Parquet or give a cleaner export")


def load_dataset(path: str | Path, input_format: str | None = None, key: str | None = None,
                 time_column: str | None = None, table: str | None = None,
                 column_types: dict[str, pa.DataType] | None = None) -> Dataset:
    """Open a data file as a Dataset (format from ``input_format``, else what ``bench.formats``
    recognises: a file's extension, a folder's content).

    ``key`` and ``time_column`` override inference; a key must be a non-null, unique int or string
    column (DataError otherwise), a time column a timestamp or date column. ``table`` chooses the
    table of a database file that holds several. ``column_types`` gives columns (named as in the
    file) the types to read them in instead of the inferred ones (``bench.formats.dtypes``).
    """
    from storeadvise.bench.formats import open_input
    from storeadvise.bench.formats.source import Fingerprint, renaming_note, with_column_types, with_unique_names

    file_path = Path(path)
    before = Fingerprint.of(file_path)
    opened = open_input(file_path, input_format, table)
    typed = with_column_types(opened, column_types or {})
    source, renamed = with_unique_names(typed)
    _check_column(source.schema, key, "key column", ("int", "string"))
    _check_column(source.schema, time_column, "time column", ("timestamp", "date"))
    scan = _run_scan(source, [key] if key else _key_candidates(source.schema))
    if scan.rows == 0:
        raise source.no_rows()
    source.check_rows(scan.rows)
    chosen = key
    if key is not None:
        check = scan.keys[key]
        if check.has_nulls:
            raise DataError(f"{file_path}: key column {key!r} has null values; choose a column without nulls")
        if check.unique() is False:
            raise DataError(f"{file_path}: key column {key!r} has duplicate values; choose a unique column")
    else:
        chosen = next((name for name, check in scan.keys.items() if check.unique()), None)
    profile = _profile(file_path.name, str(path), source.format, scan, source.bytes_at_rest(), chosen,
                       time_column, opened.modality)
    profile.notes += opened.notes
    profile.items = opened.items_profile
    if renamed:
        profile.renamed_columns = renamed
        profile.notes.append(renaming_note(renamed))
    profile.notes += [f"column {name!r}: {note}" for name, note in source.column_notes.items()]
    change = before.change() if before is not None else None
    if change:
        raise DataError(f"{file_path}: {change} while it was being read; run again once it is complete")
    if before is not None:
        profile.fingerprint = before.to_dict()
    return Dataset(source.schema, source.stream, profile, fingerprint=before)


def _check_sample_args(kind: str, rows: int | str, seed: int) -> int:
    """The number of rows (``10k`` as well as 10000), once the kind and seed are known to be valid."""
    if kind not in SAMPLE_KINDS:
        raise UsageError(f"unknown sample kind {kind!r}; choose from {', '.join((*SAMPLE_KINDS, *MEDIA_SAMPLE_KINDS))}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError("--seed must be a non-negative integer")
    return parse_count(rows, "--rows")


def sample_dataset(kind: str, rows: int | str, seed: int = 0, batch_rows: int = DEFAULT_BATCH_ROWS) -> Dataset:
    """A generated dataset of one of ``SAMPLE_KINDS``: the same (kind, rows, seed) gives the same data,
    whatever ``batch_rows`` (the default batch size of ``batches()``)."""
    from storeadvise.bench.samples import GENERATORS, KEY_COLUMN

    rows = _check_sample_args(kind, rows, seed)
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows <= 0:
        raise UsageError("batch_rows must be a positive integer")
    schema, generate = GENERATORS[kind]
    scan = _Scan(schema, [])  # the key is unique by construction
    for batch in generate(rows, seed):
        scan.add(batch)
    profile = _profile(f"sample:{kind}", f"generated (seed={seed})", "generated", scan, None, KEY_COLUMN,
                       None, kind)
    return Dataset(schema, lambda: generate(rows, seed), profile, batch_rows)


def write_sample(kind: str, rows: int | str, path: str | Path, seed: int = 0, output_format: str | None = None,
                 *, force: bool = False) -> Path:
    """Write a generated sample to ``path`` (format from ``output_format`` or the extension).

    It streams chunk by chunk, into a temporary file in the same folder that is renamed at the end:
    an existing file is replaced only with ``force``, only by a complete one, and a failure leaves
    nothing behind.
    """
    from storeadvise.bench.formats import write_output
    from storeadvise.bench.samples import GENERATORS

    rows = _check_sample_args(kind, rows, seed)
    schema, generate = GENERATORS[kind]
    return write_output(schema, generate(rows, seed), Path(path), output_format, force=force)
