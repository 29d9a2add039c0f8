"""What an output path may be before a command writes to it: a regular file of the same kind, or nothing.

Two ways to lose a file are closed here, for every command that writes a file:

* an output path that exists and is not a regular file (a device such as ``/dev/full``, a named
  pipe, a socket, a folder) is refused before anything is written: the atomic writer's rename
  would otherwise replace the device node with a regular file, and opening a named pipe without
  a reader blocks forever. ``-`` (and ``/dev/stdout``) mean this process's standard output, which
  is written to directly, never renamed over;
* an existing output file whose *content* is of another kind than the one about to be written (a
  label project or any SQLite database, a slide, an image, JSON where a CSV is written...) is
  refused unless the user passes ``--force``; an SQLite database (a label project, whose labels
  exist nowhere else) is never replaced by another kind, even with ``--force``. The kind is read
  from the first bytes, not from the suffix: a project named ``b.csv`` is still a project.

Read the target before the process opens an SQLite connection to it (see ``labels/guard.py``:
closing any descriptor of a file drops this process's SQLite locks on it); the CLI commands check
their outputs before they open anything.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from bcviewer.safety import FileSafetyError, atomic_write_text, special_kind

STDOUT_NAMES = ("-", "/dev/stdout")
FORCE_HELP = ("replace an existing output file that holds another kind of content (an image, JSON for a "
              "CSV...); a label project or other SQLite file, a device, pipe or folder is never replaced")
_HEAD_BYTES = 4096

# First bytes of the binary kinds a bcviewer output must never replace by accident.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"SQLite format 3\x00", "sqlite"),
    (b"II*\x00", "tiff"), (b"MM\x00*", "tiff"), (b"II+\x00", "tiff"), (b"MM\x00+", "tiff"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"PK\x03\x04", "zip"),
    (b"\x1f\x8b", "gzip"),
    (b"%PDF-", "pdf"),
)

DESCRIPTIONS = {
    "sqlite": "an SQLite database (a label project or another program's database)",
    "tiff": "a TIFF image or slide",
    "png": "a PNG image",
    "jpeg": "a JPEG image",
    "zip": "a ZIP archive (a model, a NumPy .npz or an office file)",
    "gzip": "a gzip-compressed file",
    "pdf": "a PDF document",
    "binary": "binary data",
    "json": "JSON",
    "text": "text",
    "empty": "nothing",
}

# Never replaced by another kind, even with --force: a label project's labels exist nowhere else.
NEVER_REPLACED = frozenset({"sqlite"})
WRITTEN = {"csv": "CSV", "json": "JSON", "jsonl": "JSON Lines", "geojson": "GeoJSON", "png": "a PNG image", "pdf": "a PDF document"}

# The kinds of existing content each written kind may replace: the same kind, or an empty file.
# CSV and plain text cannot be told apart from their bytes, so a CSV may replace any text but JSON.
ACCEPTS: dict[str, frozenset[str]] = {
    "csv": frozenset({"text", "empty"}),
    "json": frozenset({"json", "empty"}),
    "jsonl": frozenset({"json", "empty"}),
    "geojson": frozenset({"json", "empty"}),
    "png": frozenset({"png", "empty"}),
    "pdf": frozenset({"pdf", "empty"}),
}


def is_stdout(path: str | os.PathLike[str] | None) -> bool:
    """Whether ``path`` names this process's standard output (``-`` or ``/dev/stdout``)."""
    return path is not None and os.fspath(path) in STDOUT_NAMES


def content_kind(path: Path) -> str:
    """The kind of a regular file's content, from its first bytes (see ``DESCRIPTIONS``).

    A file with a ``-wal`` or ``-shm`` companion is an SQLite database in use and is not opened:
    closing a descriptor of it would drop the SQLite locks this process (the viewer) may hold.
    """
    if any(path.with_name(path.name + s).exists() for s in ("-wal", "-shm")):
        return "sqlite"
    with open(path, "rb") as fh:
        head = fh.read(_HEAD_BYTES)
    if not head:
        return "empty"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if b"\x00" in head:
        return "binary"
    return "json" if head.lstrip()[:1] in (b"{", b"[") else "text"


def check_output_file(path: str | os.PathLike[str] | None, kind: str, option: str, *, force: bool = False) -> None:
    """Refuse an output file path that is not a regular file, or that holds content of another kind.

    ``kind`` is what will be written (a key of ``ACCEPTS``); ``force`` allows replacing a regular
    file of another kind, never an SQLite database (a project), a device, pipe, socket or folder.
    """
    if path is None or is_stdout(path):
        return
    target = Path(path).expanduser()
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        return  # a new file (or a dangling link, which the writer replaces like a new file)
    except OSError as exc:
        raise FileSafetyError(f"{option} {target} cannot be checked ({exc.strerror or exc}); nothing was written") \
            from None
    if stat.S_ISDIR(mode):
        raise FileSafetyError(f"{option} {target} is a folder; give a file name for the {kind.upper()} output. "
                              "Nothing was written")
    if not stat.S_ISREG(mode):
        raise FileSafetyError(f"{option} {target} is a {special_kind(mode)}, not a regular file; bcviewer writes "
                              "outputs only to regular files (give - for standard output). Nothing was written")
    try:
        existing = content_kind(target)
    except OSError as exc:
        raise FileSafetyError(f"{option} {target} cannot be read to check what it holds "
                              f"({exc.strerror or exc}); nothing was written") from None
    if existing in ACCEPTS[kind] or (force and existing not in NEVER_REPLACED):
        return
    remedy = ("give another name (it is never replaced by another kind of file, even with --force)"
              if existing in NEVER_REPLACED else "give another name, or add --force to replace it")
    raise FileSafetyError(f"{option} {target} already holds {DESCRIPTIONS[existing]}, not {WRITTEN[kind]}; it was "
                          f"left unchanged: {remedy}")


def check_output_folder(path: str | os.PathLike[str] | None, option: str) -> bool:
    """Refuse an output folder path that exists and is not a folder (a file, device, pipe or socket).

    Returns whether the folder exists (when it does not, nothing in it needs checking).
    """
    if path is None:
        return False
    target = Path(path).expanduser()
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise FileSafetyError(f"{option} {target} cannot be checked ({exc.strerror or exc}); nothing was written") \
            from None
    if stat.S_ISDIR(mode):
        return True
    what = "a file" if stat.S_ISREG(mode) else f"a {special_kind(mode)}"
    raise FileSafetyError(f"{option} {target} is {what}, not a folder; give a folder for the outputs. "
                          "Nothing was written")


def write_text_output(path: str | os.PathLike[str], text: str) -> str:
    """Write ``text`` to ``path`` atomically, or straight to standard output for ``-``; return where."""
    if is_stdout(path):
        sys.stdout.write(text)
        sys.stdout.flush()
        return "standard output"
    return str(atomic_write_text(path, text))
