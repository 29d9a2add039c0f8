"""File names that are not valid UTF-8, shown and reused safely.

On POSIX a file name is bytes; Python hands the bytes that are not UTF-8 over as lone surrogates
("surrogateescape": ``b"bad_\\xff.png"`` becomes ``"bad_\\udcff.png"``). Such a string opens the
file, but cannot be encoded as UTF-8: printing it, writing it into a UTF-8 CSV or JSON file, or
hashing it raises ``UnicodeEncodeError``. Two renderings cover every use:

* :func:`escaped_text`: for people and text files (console, summary.csv, GeoJSON, dialogs): each
  undecodable byte as a backslash escape (``bad_\\xff.png``), every other character unchanged;
* :func:`safe_folder_name`: for names of output files and folders: each undecodable byte as
  ``%FF``, so the output name is valid UTF-8 everywhere and still tells the inputs apart.

Names that are valid UTF-8 come back unchanged from both, so nothing changes for them.
"""

from __future__ import annotations

import codecs
import os
from pathlib import PurePath

_PERCENT = "bcviewer-percent"


def _percent(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return "".join(f"%{b:02X}" for b in error.object[error.start:error.end]), error.end


codecs.register_error(_PERCENT, _percent)


def _raw(name: str | PurePath) -> bytes:
    text = os.fspath(name)
    try:
        return text.encode("utf-8", "surrogateescape")  # the bytes the file system holds
    except UnicodeEncodeError:  # a surrogate that no file name decodes to: show it escaped
        return text.encode("utf-8", "backslashreplace")


def escaped_text(name: str | PurePath) -> str:
    """``name`` (a file name, or any text holding one) as UTF-8-safe text: bytes that are not UTF-8
    as ``\\xff`` escapes."""
    return _raw(name).decode("utf-8", "backslashreplace")


def safe_folder_name(name: str | PurePath) -> str:
    """``name`` usable as an output file or folder name: bytes that are not UTF-8 as ``%FF``."""
    return _raw(name).decode("utf-8", _PERCENT)


def is_escaped(name: str | PurePath) -> bool:
    """True when ``name`` holds bytes that are not UTF-8 (its shown form differs from it)."""
    return escaped_text(name) != os.fspath(name)


def recovered_path(text: str) -> str:
    """The real name of a file a toolkit handed over as decoded text: Qt turns each byte that is not
    UTF-8 into U+FFFD, so such a path no longer opens. When ``text`` does not exist and its name
    holds U+FFFD, the one entry of its folder that decodes (with replacement) to the same name is
    the file meant; ``text`` comes back unchanged otherwise (no match, or several)."""
    path = os.fspath(text)
    if "\ufffd" not in path or os.path.lexists(path):
        return path
    folder, name = os.path.split(path)
    try:
        entries = os.listdir(os.fsencode(folder or "."))
    except OSError:
        return path
    matches = [e for e in entries if e.decode("utf-8", "replace") == name]
    return os.path.join(folder, os.fsdecode(matches[0])) if len(matches) == 1 else path
