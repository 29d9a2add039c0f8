"""Keep the native libraries' console chatter out of the user's terminal.

libtiff, libjpeg and GLib (inside OpenSlide, Pillow and OpenCV) print warnings straight to file
descriptor 2: one damaged SVS produced 547 lines of "TIFFReadDirectory: Warning ...". While a file
is opened, :func:`capture_native_stderr` points descriptor 2 at a temporary file; the text is
written to the log (the viewer's log file) and the caller gets it to summarise in one line.
Opening is serialised by a lock because descriptor 2 is shared by the whole process; pixel reads
are not wrapped, so they stay parallel.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_log = logging.getLogger("bcviewer.slides")
_LOCK = threading.RLock()
_MAX_KEPT = 200_000  # characters of captured text kept for the log


class NativeMessages:
    """The lines the native libraries printed while a file was opened."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def matching(self, *needles: str) -> list[str]:
        return [line for line in self.lines if any(n in line for n in needles)]

    def summary(self, name: str) -> str | None:
        """One line for the terminal, or None when nothing was printed."""
        if not self.lines:
            return None
        first = self.lines[0][:160]
        more = f" (and {len(self.lines) - 1} more)" if len(self.lines) > 1 else ""
        return f"{name}: the image libraries reported problems while reading it: {first}{more}"


@contextmanager
def capture_native_stderr(name: str) -> Iterator[NativeMessages]:
    """Redirect descriptor 2 to a temporary file while the block runs; log what was printed."""
    messages = NativeMessages()
    with _LOCK:
        try:
            sink = tempfile.TemporaryFile()
        except OSError:
            sink = None
        try:
            saved = os.dup(2) if sink is not None else -1
        except OSError:  # no descriptor 2 (a windowed app on Windows): nothing to capture
            saved = -1
        if saved < 0 or sink is None:
            if sink is not None:
                sink.close()
            yield messages
            return
        try:
            _flush()
            os.dup2(sink.fileno(), 2)
            try:
                yield messages
            finally:
                _flush()
                os.dup2(saved, 2)
            sink.seek(0)
            text = sink.read(_MAX_KEPT).decode("utf-8", errors="replace")
        finally:
            os.close(saved)
            sink.close()
    messages.lines = [line.strip() for line in text.splitlines() if line.strip()]
    if messages.lines:
        _log.info("native library output while opening %s:\n%s", name, "\n".join(messages.lines))


def _flush() -> None:
    for stream in (sys.stderr, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
