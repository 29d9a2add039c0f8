"""Argument parsing and the error contract of the command line.

Each sub-command lives in its own module exposing ``register(subparsers)``, which adds a parser
whose ``func`` default takes the parsed namespace and returns an exit code. Any
:class:`~bcviewer.errors.BcviewerError` (or a bad path, an unusable database, an input too large
for memory) becomes one line on stderr and exit code 2; any other exception is a bug and keeps its
traceback. With the environment variable ``BCVIEWER_DEBUG=1`` the expected errors are re-raised
too, so their traceback is shown.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sqlite3
import sys
from typing import Any

from bcviewer.cli.help_format import DefaultsFormatter as _DefaultsFormatter
from bcviewer import __version__
from bcviewer.capabilities import missing_torch_module, torch_missing_message
from bcviewer.errors import BcviewerError
from bcviewer.filenames import escaped_text

# Command name -> module; the order is the order of ``bcviewer --help``. Only the module of the
# command being run is imported, so ``bcviewer info`` does not pay for importing PyTorch.
COMMANDS = {
    "info": "bcviewer.cli.info",
    "tiles": "bcviewer.cli.tiles",
    "qc": "bcviewer.cli.qc",
    "predict": "bcviewer.cli.predict",
    "explain": "bcviewer.cli.explain",
    "genes": "bcviewer.cli.genes",
    "train": "bcviewer.cli.train",
    "evaluate": "bcviewer.cli.evaluate",
    "quantize": "bcviewer.cli.quantize",
    "export-onnx": "bcviewer.cli.export_onnx",
    "labels": "bcviewer.cli.labels",
    "selflearn": "bcviewer.cli.selflearn",
    "doctor": "bcviewer.cli.doctor",
}
COMMAND_MODULES = list(COMMANDS.values())
DEBUG_ENV = "BCVIEWER_DEBUG"
"""Set to 1 to see the traceback of an error the CLI would print as one line."""


def debug_mode() -> bool:
    """True when ``BCVIEWER_DEBUG`` asks for tracebacks (any value but empty, 0, false, no, off)."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


class _Parser(argparse.ArgumentParser):
    """argparse exits with 2 on usage errors already; keep its message to one line that names the
    sub-command (``bcviewer predict: error: ...``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The innermost sub-command parser that ``args`` went through (``bcviewer labels export``)."""
    current = parser
    while True:
        subs = [a for a in current._actions if isinstance(a, argparse._SubParsersAction)]
        chosen = getattr(args, subs[0].dest, None) if subs else None
        if not subs or chosen not in subs[0].choices:
            return current
        current = subs[0].choices[chosen]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Build the parser with ``command``'s sub-parser only, or with every sub-command."""
    parser = _Parser(prog="bcviewer", description="Breast-cancer histopathology viewer and models.")
    parser.add_argument("--version", action="version", version=f"bcviewer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.add_parser("open", help="open the desktop viewer (see 'bcviewer open --help')")
    modules = [COMMANDS[command]] if command in COMMANDS else COMMAND_MODULES
    for name in modules:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one CLI command and return its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--version"]:  # answered without importing every sub-command (and PyTorch)
        print(f"bcviewer {__version__}")
        return 0
    parser = build_parser(argv[0] if argv else None)
    args, extra = parser.parse_known_args(argv)
    if extra:  # argparse would blame "bcviewer"; name the sub-command the options were given to
        command_parser(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BcviewerError as exc:
        if debug_mode():
            raise
        print(escaped_text(f"bcviewer {args.command}: {exc}"), file=sys.stderr)  # names that are not UTF-8
        return 2
    except ImportError as exc:
        if debug_mode() or not missing_torch_module(exc):
            raise
        # A feature that needs PyTorch, in an install without it (the CPU bundle): say which.
        print(f"bcviewer {args.command}: {torch_missing_message(f'bcviewer {args.command}')}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error of the command.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"bcviewer {args.command}: interrupted", file=sys.stderr)
        return 130
    except (OSError, sqlite3.Error) as exc:
        # A bad path, a full disk, a locked or damaged database: the user's to fix, one line.
        # (Any other exception, a ValueError included, is a bug and keeps its traceback.)
        if debug_mode():
            raise
        print(escaped_text(f"bcviewer {args.command}: {' '.join(str(exc).split())}"), file=sys.stderr)
        return 2
    except MemoryError:
        if debug_mode():
            raise
        print(f"bcviewer {args.command}: not enough memory for this input (it declares sizes far beyond a "
              "real slide, image or table)", file=sys.stderr)
        return 2
