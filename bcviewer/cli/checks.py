"""Argument checks shared by the sub-commands: numbers that must be finite, outputs that must not
replace an input.

The argparse types turn ``nan``, ``inf`` and out-of-range values into argparse's own one-line
usage error (exit code 2) before a command starts, so that ``--tile-um inf`` cannot overflow in
the tiler and ``--min-coverage nan`` cannot switch a comparison off (every comparison with nan
is false).
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Iterable

from bcviewer.safety import protected_files, refuse_overwriting


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def finite_float(text: str) -> float:
    """A finite number (no nan or inf)."""
    return _number(text)


def positive_float(text: str) -> float:
    """A finite number above 0."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A finite number from 0 to 1."""
    value = _number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text!r}")
    return value


def bounded_float(low: float, high: float, *, high_open: bool = False) -> Callable[[str], float]:
    """A finite number in [low, high] (or [low, high) with ``high_open``)."""

    def parse(text: str) -> float:
        value = _number(text)
        if value < low or value > high or (high_open and value == high):
            end = ")" if high_open else "]"
            raise argparse.ArgumentTypeError(f"must be in [{low:g}, {high:g}{end}, got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


def guard_outputs(outputs: Iterable[tuple[str, str | os.PathLike[str] | None]], *,
                  inputs: Iterable[str | os.PathLike[str]] = (),
                  projects: Iterable[str | os.PathLike[str]] = ()) -> None:
    """Refuse any ``(option, path)`` output that names an input, a project or its -wal/-shm file."""
    protected = protected_files(inputs, projects)
    for option, path in outputs:
        refuse_overwriting(path, protected, option)
