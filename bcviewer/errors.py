"""Exception hierarchy shared by the core.

Every error a user can cause derives from :class:`BcviewerError`; its message is written for a
pathologist or a researcher, not for a developer. The CLI prints it as one line and exits with 2;
the GUI shows it in a dialog.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar


class BcviewerError(Exception):
    """Base class for every expected, user-facing failure."""


K = TypeVar("K")
V = TypeVar("V")


def remembered(cache: dict[K, V | BcviewerError], key: K, make: Callable[[], V]) -> V:
    """``cache[key]``, made by ``make()`` the first time. A :class:`BcviewerError` that ``make``
    raised is remembered and raised again, so a bad model fails every time without being reloaded."""
    if key not in cache:
        try:
            cache[key] = make()
        except BcviewerError as exc:
            cache[key] = exc
    found = cache[key]
    if isinstance(found, BcviewerError):
        raise found
    return found
