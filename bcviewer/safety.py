"""File safety shared by every command and the viewer: what may be read, and how outputs are written.

* Inputs must be regular files: a FIFO or a device named ``x.svs`` would block ``open()``
  forever, so :func:`require_regular_file` checks with ``stat`` before anything opens the path,
  and :func:`read_regular_bytes` / :func:`read_regular_text` (manifests, caches, cards, tables)
  open non-blocking and check the open descriptor too. Every file the app reads goes through them.
* Outputs never replace an input: :func:`refuse_overwriting` compares files by identity (device
  and inode, so links and ``./`` spellings are caught), including a label project's ``-wal`` and
  ``-shm`` companions, whose loss would lose committed labels.
* Outputs are atomic and respect the umask: :func:`atomic_write_bytes` writes a temporary file
  next to the target, syncs it, gives it the permissions a plain ``open()`` would have given
  (``mkstemp`` creates 0600 files, unreadable to the rest of a lab group) and renames it. It
  never renames over a device, pipe or socket (``/dev/full`` once became a 3 KB regular file);
  :mod:`bcviewer.output_kinds` refuses such outputs, and others of another kind, up front.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from bcviewer.errors import BcviewerError

PROJECT_COMPANIONS = ("-wal", "-shm", "-journal")


class FileSafetyError(BcviewerError):
    """An input that is not a regular file, or an output that would destroy an input."""


class OutputWriteError(BcviewerError):
    """An output file could not be written."""


def require_regular_file(path: str | os.PathLike[str], what: str = "file") -> Path:
    """``path`` as a Path if it is an existing regular file (links followed); else one clear error."""
    p = Path(path).expanduser()
    try:
        mode = p.stat().st_mode
    except OSError as exc:
        raise FileSafetyError(unreadable_reason(p, exc)) from None
    _require_regular_mode(p, mode, what)
    return p


def _require_regular_mode(p: Path, mode: int, what: str) -> None:
    if stat.S_ISDIR(mode):
        raise FileSafetyError(f"{p} is a folder, not a {what}")
    why = not_regular_reason(p, mode, what)
    if why is not None:
        raise FileSafetyError(why)


def not_regular_reason(p: Path, mode: int, what: str) -> str | None:
    """None for a regular file's ``st_mode``; else the one line every reader gives (slides included)."""
    if stat.S_ISREG(mode):
        return None
    return f"{p} is not a regular file (it is a {special_kind(mode)}); bcviewer reads only regular files, so give the {what} itself"


def unreadable_reason(p: Path, exc: OSError) -> str:
    """Why ``p`` could not be stat'ed or opened, in words: a symlink loop is not a missing file."""
    if exc.errno == errno.ELOOP:
        return f"{p} is a symlink loop (a link that leads back to itself); point it at a real file"
    if isinstance(exc, FileNotFoundError):
        return f"{p} does not exist" if not os.path.islink(p) else f"{p} is a broken symlink (its target does not exist)"
    if isinstance(exc, PermissionError):
        return f"{p} cannot be read: permission denied"
    return f"{p} cannot be read ({exc.strerror or exc})"


def missing_reason(path: str | os.PathLike[str]) -> str | None:
    """None when ``path`` exists (links followed); else why not, naming a symlink loop as one."""
    p = Path(path).expanduser()
    try:
        p.stat()
    except OSError as exc:
        return unreadable_reason(p, exc)
    return None


def read_regular_bytes(path: str | os.PathLike[str], what: str = "file", limit: int | None = None) -> bytes:
    """The bytes of ``path`` if it is a regular file; FileSafetyError otherwise, never a hang.

    The file is opened non-blocking and checked with ``fstat`` on that descriptor, so a FIFO put in
    place between a check and the open is refused as well (opening a FIFO for reading blocks until
    a writer appears; non-blocking, it returns at once). ``limit``: refuse files larger than this.
    """
    p = require_regular_file(path, what)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(p, flags)
    except OSError as exc:
        raise FileSafetyError(unreadable_reason(p, exc)) from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        _require_regular_mode(p, st.st_mode, what)
        if limit is not None and st.st_size > limit:
            raise FileSafetyError(f"{p} is {st.st_size / 2**20:.1f} MiB, more than a {what} can be "
                                  f"({limit / 2**20:.0f} MiB at most)")
        try:
            return fh.read()
        except OSError as exc:
            raise FileSafetyError(unreadable_reason(p, exc)) from None


def read_regular_text(path: str | os.PathLike[str], what: str = "file", encoding: str = "utf-8",
                      limit: int | None = None) -> str:
    """:func:`read_regular_bytes` decoded (UnicodeDecodeError is left to the caller's message)."""
    return read_regular_bytes(path, what, limit).decode(encoding)


def special_kind(mode: int) -> str:
    """What a file that is not a regular file is: named pipe, socket, device or special file."""
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


class Protected:
    """Files an output must never replace, looked up by path and by identity in O(1)."""

    def __init__(self, files: Iterable[Path]) -> None:
        self._by_path: dict[str, Path] = {}
        self._by_id: dict[tuple[int, int], Path] = {}
        for p in files:
            self._by_path.setdefault(os.path.abspath(p), p)
            ident = _identity(p)
            if ident is not None:
                self._by_id.setdefault(ident, p)

    def find(self, output: Path) -> Path | None:
        """The protected file ``output`` would replace, or None."""
        hit = self._by_path.get(os.path.abspath(output))
        if hit is None and self._by_id:
            ident = _identity(output)
            hit = self._by_id.get(ident) if ident is not None else None
        return hit


def protected_files(inputs: Iterable[str | os.PathLike[str]] = (),
                    projects: Iterable[str | os.PathLike[str]] = ()) -> Protected:
    """The files an output must never replace: the inputs, the projects and their companions."""
    files = [Path(p).expanduser() for p in inputs]
    for project in projects:
        p = Path(project).expanduser()
        files += [p, *(p.with_name(p.name + suffix) for suffix in PROJECT_COMPANIONS)]
    return Protected(files)


def refuse_overwriting(output: str | os.PathLike[str] | None, protected: Protected, option: str) -> None:
    """Raise when ``output`` names one of the ``protected`` files (same file, or same path)."""
    if output is None:
        return
    out = Path(output).expanduser()
    hit = protected.find(out)
    if hit is not None:
        raise FileSafetyError(f"{option} {out} would overwrite {hit}, which this command reads; "
                              "choose another output")


# ---- atomic writes ------------------------------------------------------------------------------
_UMASK: int | None = None
_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask (read once: setting and restoring it is the only portable way)."""
    global _UMASK
    with _UMASK_LOCK:
        if _UMASK is None:
            _UMASK = os.umask(0o022)
            os.umask(_UMASK)
        return _UMASK


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` via a synced temporary file in the same folder and ``os.replace``.

    The file gets mode ``0o666 & ~umask``, like a file created with ``open(path, "w")``.
    """
    target = Path(path)
    _refuse_special_target(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as exc:
        raise OutputWriteError(f"cannot write {target}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if hasattr(os, "fchmod"):  # POSIX; on Windows mkstemp's mode is not a group matter
                os.fchmod(fh.fileno(), 0o666 & ~current_umask())
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputWriteError(f"cannot write {target}: {exc.strerror or exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _refuse_special_target(target: Path) -> None:
    """The rename would replace a device node, pipe or socket with a regular file: never do it."""
    try:
        mode = target.stat().st_mode
    except OSError:
        return  # missing (or unreadable: the write itself then says why)
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        raise OutputWriteError(f"{target} is a {special_kind(mode)}, not a regular file; it was not replaced")


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write text as UTF-8 atomically; file names that are not UTF-8 keep their original bytes."""
    return atomic_write_bytes(path, text.encode("utf-8", errors="surrogateescape"))
