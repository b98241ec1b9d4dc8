"""Input formats: one registry entry per format that a dataset is read from or a sample written to.

An entry holds everything about its format: its name, the file extensions and aliases that select
it, its reader (and writer, when samples can be written in it) and, for a format stored as a folder
(a table format, a dataset of files, a folder of items), how to recognise such a folder. Everything
that resolves or lists formats reads the registry: ``--input-format``, the extension of a data file,
``sample -o``, the help texts and the error messages naming the choices. A new input format is one
module in this package and one entry in ``REGISTRY``.

Readers and writers live in the format's module, which imports pyarrow; entries name them as
``module:attribute`` and they are imported only when a file is opened or written, so that listing
formats (for the command line's help) stays cheap.
"""

from __future__ import annotations

import importlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storeadvise.errors import UsageError

if TYPE_CHECKING:
    import pyarrow as pa

    from storeadvise.bench.formats.source import Source


def _resolve(target: str) -> Any:
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


@dataclass(frozen=True)
class InputFormat:
    """One input format: the words that select it and where its code lives."""

    name: str
    reader: str
    """``module:callable`` called as ``reader(path, name)``; returns a ``Source``. It may look at the
    content to choose how to read (a JSON file's first character tells an array from JSON Lines)."""
    extensions: tuple[str, ...] = ()
    """File name extensions that select it, lower case with the dot; the first is the one suggested."""
    aliases: tuple[str, ...] = ()
    """More names ``--input-format`` accepts, besides the name and the extensions without their dot."""
    writer: str | None = None
    """``module:callable`` called as ``writer(schema, batches, target, name)`` to write a new file;
    None when samples cannot be written in this format."""
    holds_nested: bool = True
    """False when the format has no struct or list columns (CSV): nested data is refused before writing."""
    folder: str | None = None
    """For a format stored as a folder: ``module:callable`` called as ``folder(path)`` on a folder,
    True when that folder holds this format. None for a format stored as one file."""
    tables: bool = False
    """True when one input holds several tables (a database file): its reader then takes ``table=``,
    the one to read (``--table``)."""
    folder_holds: str = ""
    """For a folder format: what such a folder holds, in words ("images, video, audio or text
    documents"), for the message that refuses a folder no format claims."""

    def names(self) -> tuple[str, ...]:
        """Every word that selects this format: its name, its aliases, its extensions without the dot."""
        return (self.name, *self.aliases, *(e.lstrip(".") for e in self.extensions))

    def claims(self, folder: Path) -> bool:
        """Whether ``folder`` holds data in this format (always False for a one-file format)."""
        return self.folder is not None and bool(_resolve(self.folder)(folder))

    def open(self, path: Path, table: str | None = None) -> Source:
        """Open ``path`` with this format's reader (``table``: which of its tables, for a database)."""
        if not self.tables:
            if table is not None:
                raise UsageError(f"--table {table!r}: {path} is {self.name}, which holds one table; "
                                 f"--table applies to {', '.join(n for n, e in REGISTRY.items() if e.tables)}")
            return _resolve(self.reader)(path, self.name)
        return _resolve(self.reader)(path, self.name, table=table)


_FORMATS = "storeadvise.bench.formats"
REGISTRY: dict[str, InputFormat] = {entry.name: entry for entry in (
    InputFormat("csv", f"{_FORMATS}.csv:CsvSource", (".csv",), writer=f"{_FORMATS}.csv:write_csv",
                holds_nested=False),
    InputFormat("tsv", f"{_FORMATS}.csv:CsvSource", (".tsv", ".tab"), writer=f"{_FORMATS}.csv:write_csv",
                holds_nested=False),
    InputFormat("parquet", f"{_FORMATS}.parquet:ParquetSource", (".parquet", ".pq"),
                writer=f"{_FORMATS}.parquet:write_parquet"),
    InputFormat("jsonl", f"{_FORMATS}.json:open_json_records", (".jsonl", ".ndjson"),
                aliases=("jsonlines", "json-lines", "ldjson"), writer=f"{_FORMATS}.json:write_jsonl"),
    InputFormat("json", f"{_FORMATS}.json:open_json_records", (".json",),
                writer=f"{_FORMATS}.json:write_json_array"),
    # the Arrow IPC file or stream format, which includes Feather
    InputFormat("arrow", f"{_FORMATS}.arrow:ArrowSource", (".arrow", ".feather", ".ipc", ".arrows"),
                aliases=("arrow-ipc",), writer=f"{_FORMATS}.arrow:write_arrow"),
    # nested columns would come back as JSON text
    InputFormat("sqlite", f"{_FORMATS}.sqlite:SqliteSource", (".sqlite", ".sqlite3", ".db"),
                writer=f"{_FORMATS}.sqlite:write_sqlite", holds_nested=False, tables=True),
    # a folder of images, video, audio or text documents: one row per file, its bytes as on disk
    InputFormat("media", f"{_FORMATS}.media:MediaSource", aliases=("folder", "items"),
                folder=f"{_FORMATS}.media:is_media_folder", folder_holds="images, video, audio or text documents"),
)}
"""Every input format by name, in the order the help and the error messages list them."""


def writable_formats() -> list[str]:
    """The formats a sample can be written in."""
    return [name for name, entry in REGISTRY.items() if entry.writer]


def writable_extensions(*, nested: bool = False) -> list[str]:
    """The usual extension of each format a sample can be written in (only those that hold nested
    columns when ``nested``)."""
    return [REGISTRY[n].extensions[0] for n in writable_formats() if REGISTRY[n].holds_nested or not nested]


def format_named(name: str) -> InputFormat:
    """The format a name, alias or extension selects (``ndjson``, ``feather``, ``.pq`` ...)."""
    word = str(name).strip().lower().lstrip(".")
    entry = next((e for e in REGISTRY.values() if word in e.names()), None)
    if entry is None:
        raise UsageError(f"unknown format {name!r}; use one of {', '.join(REGISTRY)}")
    return entry


def format_of_file(path: Path, option: str = "--input-format") -> InputFormat:
    """The format a file name's extension says, or a UsageError asking for ``option``."""
    suffix = path.suffix.lower()
    entry = next((e for e in REGISTRY.values() if suffix in e.extensions), None)
    if entry is None:
        shown = f"extension {suffix!r}" if suffix else "no extension"
        raise UsageError(f"{path}: cannot tell the format from {shown}; pass {option} (one of {', '.join(REGISTRY)})")
    return entry


def format_of_folder(path: Path) -> InputFormat | None:
    """The first folder format that recognises the folder ``path``, or None."""
    return next((entry for entry in REGISTRY.values() if entry.claims(path)), None)


def open_input(path: Path, name: str | None = None, table: str | None = None) -> Source:
    """Open the file or folder ``path`` in the format ``name`` selects, else the one it is recognised as
    (``table``: which table of a database file).

    A ``UsageError`` for an unknown format, a missing path, a folder no format claims and an
    extension no format has; a ``DataError`` for a file that is empty or blank.
    """
    chosen = format_named(name) if name else None
    _check_is_data(path)
    if path.is_dir():
        claimed = chosen or format_of_folder(path)
        if claimed is None or claimed.folder is None:
            raise _not_a_folder_input(path, chosen)
        return claimed.open(path, table)
    chosen = chosen or format_of_file(path)
    _check_has_content(path)
    return chosen.open(path, table)


_NOT_REGULAR = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
                (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def _check_is_data(path: Path) -> None:
    """A ``UsageError`` for a path that is missing, a symbolic link that loops or leads nowhere, or
    not a regular file or folder: reading a FIFO or a device could wait forever or never end."""
    import errno

    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UsageError(f"{path}: is a symbolic link that loops back on itself; give the data file") from None
        if exc.errno == errno.ENOENT and os.path.islink(path):
            raise UsageError(f"{path}: is a symbolic link to {os.readlink(path)!r}, which does not exist") from None
        if exc.errno == errno.ENOENT:
            raise UsageError(f"{path}: no such file; check the path") from None
        raise UsageError(f"{path}: cannot be examined ({exc.strerror}); check the path and its permissions") from None
    for test, what in _NOT_REGULAR:
        if test(mode):
            raise UsageError(f"{path}: is {what}, not a regular file; copy the data into a file first")


def _not_a_folder_input(path: Path, chosen: InputFormat | None) -> UsageError:
    """Why the folder ``path`` cannot be read: the chosen format is one file, or no format claims it."""
    folders = [f"{entry.folder_holds} (format {name})" if entry.folder_holds else f"format {name}"
               for name, entry in REGISTRY.items() if entry.folder]
    if chosen is not None or not folders:
        return UsageError(f"{path}: is a folder, not a file; give the path of one data file")
    return UsageError(f"{path}: is a folder that no input format recognises; give the path of one data file "
                      f"or of a folder of {'; or of '.join(folders)}")


def _check_has_content(path: Path) -> None:
    """A ``DataError`` for a file that cannot be read, is empty or holds only whitespace."""
    from storeadvise.bench.formats.source import fail, first_char

    try:
        size = path.stat().st_size
        first = first_char(path) if size else ""
    except OSError as exc:
        raise fail(path, f"cannot be read ({exc.strerror})", "check its permissions") from None
    if size == 0:
        raise fail(path, "is empty (0 bytes)", "give a file that contains data")
    if not first:
        raise fail(path, "contains only whitespace", "give a file that contains data")


def write_output(schema: pa.Schema, batches: Iterable[pa.RecordBatch], path: Path, name: str | None = None,
                 *, force: bool = False) -> Path:
    """Write the stream to ``path`` (format: ``name``, else the extension), checked by
    ``outputs.prepare_output`` first and written by ``outputs.write_atomically``: an existing file is
    replaced only with ``force``, and only by a complete one."""
    import pyarrow as pa

    from storeadvise.outputs import prepare_output, write_atomically

    chosen = format_named(name) if name else format_of_file(path, option="--format")
    if chosen.writer is None:
        raise UsageError(f"{path}: a sample cannot be written as {chosen.name}; "
                         f"use one of {', '.join(writable_formats())}")
    nested = [f.name for f in schema if pa.types.is_nested(f.type)]
    if nested and not chosen.holds_nested:
        suggested = writable_extensions(nested=True)
        raise UsageError(f"{path}: {chosen.name.upper()} cannot hold nested columns ({', '.join(nested)}); "
                         f"write {', '.join(suggested[:-1])} or {suggested[-1]} instead")
    prepare_output(path, force=force, option="-o")
    write = _resolve(chosen.writer)
    return write_atomically(path, lambda temporary: write(schema, batches, temporary, chosen.name))
