"""``--annotator`` and ``--reason``: who makes a command's label changes, and why (the audit log).

Commands that change labels add these options with :func:`add_annotator_options` and name the
person on the store they opened with :func:`apply_annotator`.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bcviewer.labels import LabelStore

ANNOTATOR_HELP = "who makes these changes, as the audit log names them (default: the OS user)"
REASON_HELP = "why: free text kept with each change in the audit log ('labels history')"


def annotator_name(text: str) -> str:
    """A name with something in it: an empty one would silently record nobody."""
    name = " ".join(text.split())
    if not name:
        raise argparse.ArgumentTypeError("needs a name (leave the option out to record the OS user)")
    return name


def add_annotator_options(parser: argparse.ArgumentParser, *, reason: bool = True) -> None:
    """Add ``--annotator NAME`` (and, with ``reason``, ``--reason TEXT``) to a command."""
    parser.add_argument("--annotator", metavar="NAME", type=annotator_name, help=ANNOTATOR_HELP)
    if reason:
        parser.add_argument("--reason", metavar="TEXT", default="", help=REASON_HELP)


def apply_annotator(store: LabelStore, args: argparse.Namespace) -> None:
    """Name ``--annotator`` (when given) as the person writing through ``store``."""
    name = getattr(args, "annotator", None)
    if name is not None:
        store.annotator = name
