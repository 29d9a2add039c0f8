"""Progress on the console: tqdm's bar on a terminal, plain lines when stderr is piped or logged.

A bar redraws itself with carriage returns and escape sequences, which fill a log file or a CI
console with garbage; :class:`PlainProgress` writes one ordinary line instead, at most every
:data:`PLAIN_INTERVAL_S` seconds and once at the end, e.g. ``predict: 3/10 files (slide.svs)``.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any, TextIO

from tqdm import tqdm

PLAIN_INTERVAL_S = 10.0


class PlainProgress:
    """The part of tqdm's interface the commands use, written as plain lines."""

    def __init__(self, total: int | None = None, desc: str = "", unit: str = "it", file: TextIO | None = None,
                 disable: bool = False, interval_s: float = PLAIN_INTERVAL_S, line_at_close: bool = True) -> None:
        self.total, self.desc, self.unit, self.disable = total, desc, unit, disable
        self.n = 0
        self._file = file or sys.stderr
        self._interval = interval_s
        self._last = time.monotonic()
        self._postfix = ""
        self._shown = 0  # n in the last line written
        self._closed = False
        self._line_at_close = line_at_close

    def update(self, n: int = 1) -> None:
        """``n`` more done; a line when the interval has passed or the total is reached."""
        self.n += n
        now = time.monotonic()
        if self.total is not None and self.n >= self.total or now - self._last >= self._interval:
            self._line()
            self._last = now

    def set_postfix_str(self, text: str) -> None:
        """What is being worked on (shown in the next line)."""
        self._postfix = text

    def write(self, text: str, file: TextIO | None = None) -> None:
        """A message line (tqdm.write's counterpart)."""
        print(text, file=file or self._file, flush=True)

    def close(self) -> None:
        """A last line if work was done since the previous one."""
        if not self._closed and self._line_at_close and self.n != self._shown:
            self._line()
        self._closed = True

    def _line(self) -> None:
        self._shown = self.n
        if self.disable:
            return
        of = f"/{self.total}" if self.total is not None else ""
        plural = "" if self.unit.endswith("s") or (self.total or self.n) == 1 else "s"
        extra = f" ({self._postfix})" if self._postfix else ""
        print(f"{self.desc}: {self.n}{of} {self.unit}{plural}{extra}", file=self._file, flush=True)

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def progress_bar(total: int | None = None, desc: str = "", unit: str = "it", quiet: bool = False,
                 line_at_close: bool = True, **bar_options: Any) -> Any:
    """A tqdm bar on stderr when it is a terminal, :class:`PlainProgress` lines otherwise; nothing
    when ``quiet``. ``bar_options`` (``leave``, ``position`` ...) only apply to the bar;
    ``line_at_close=False`` keeps a progress that others sum up (predict's tiles) to its
    periodic lines."""
    if quiet:
        return tqdm(total=total, disable=True)
    if sys.stderr.isatty():
        return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, **bar_options)
    return PlainProgress(total=total, desc=desc, unit=unit, file=sys.stderr, line_at_close=line_at_close)
