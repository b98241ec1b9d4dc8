"""Writing a file the user named: checked before any work, never over their data, atomic.

Every command and API function that writes a file (``bench --out``, ``sample -o``, ``report -o``,
``benchmark(out=...)``, ``write_sample``, ``write_report``) goes through these two functions:

- ``prepare_output`` runs first, before anything is measured or generated: an existing file is
  replaced only with ``force``; a path that is one of the inputs (the same file, also through a symlink
  or a hard link) is refused even with ``force``; the folder must exist (or be creatable) and accept a
  new file, which is tried for real because permission bits do not tell (root passes every check).
- ``write_atomically`` writes a temporary file in the same folder and renames it over the target, so
  a reader never sees half a file and a failure leaves the old one as it was. The temporary file is
  created with mode 0666 minus the umask, as any program that opens a new file gets, so the result
  has the permissions the user expects (``tempfile.mkstemp`` would make it 0600).

Standard library only, so importing it costs nothing.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path

from storeadvise.errors import UsageError

FORCE_HINT = "pass --force to replace it"


def _target(path: Path) -> Path:
    """Where the bytes go: a symlink's target, so that the link the user made stays a link."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _same_file(path: Path, other: str | os.PathLike[str]) -> bool:
    try:
        return os.path.samefile(path, other)
    except OSError:  # either one does not exist (yet): they cannot be the same file
        return False


def _new_temporary(folder: Path, name: str) -> Path:
    """A new, empty file in ``folder`` whose mode is 0666 minus the umask (the kernel applies it)."""
    while True:
        candidate = folder / f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return candidate


def _check_writable(folder: Path, label: str) -> None:
    try:
        os.unlink(_new_temporary(folder, "storeadvise-probe"))
    except OSError as exc:
        raise UsageError(f"{label}: cannot write in {folder} ({exc.strerror or exc})") from None


def prepare_output(
    path: str | os.PathLike[str],
    *,
    force: bool = False,
    inputs: Iterable[str | os.PathLike[str] | None] = (),
    option: str = "",
    create_folder: bool = False,
) -> Path:
    """Check that ``path`` may and can be written, before any work is done; ``UsageError`` if not.

    ``inputs`` are the files the command reads (never overwritten, even with ``force``); ``option`` names
    the option in messages (``--out``); ``create_folder`` lets a missing folder be created later (the
    default ``results/``) as long as its nearest existing parent accepts new files.
    """
    path = Path(path)
    label = f"{option} {path}" if option else str(path)
    if path.is_dir():
        raise UsageError(f"{label}: is a folder; give a file name")
    for source in inputs:
        if source is not None and _same_file(path, source):
            raise UsageError(f"{label}: is the input {source}; storeadvise never writes over its input, "
                             "even with --force")
    if path.exists() and not _target(path).is_file():
        # A device (/dev/null), a FIFO or a socket would be replaced by a plain file: never, even with --force.
        raise UsageError(f"{label}: is not a regular file; give the name of a file to write")
    if (path.exists() or path.is_symlink()) and not force:
        raise UsageError(f"{label}: already exists; {FORCE_HINT}")
    folder = _target(path).parent
    if not folder.is_dir():
        if not create_folder:
            raise UsageError(f"{label}: folder {folder} does not exist; create it first")
        folder = next(p for p in folder.parents if p.exists())
    _check_writable(folder, label)
    return path


def write_atomically(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(temporary)`` to fill a new file beside ``path``, then rename it over ``path``.

    Whatever ``write`` raises (Ctrl-C included), the temporary file is removed and ``path`` is as it was.
    """
    path = Path(path)
    target = _target(path)
    temporary = _new_temporary(target.parent, target.name)
    try:
        write(temporary)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return path


def write_text_atomically(path: str | os.PathLike[str], text: str) -> Path:
    """``write_atomically`` for text, as UTF-8."""
    return write_atomically(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))
