"""Help formatting shared by every ``bcviewer`` command: each option's help ends with its default."""

from __future__ import annotations

import argparse


class DefaultsFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the text already states it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if not action.option_strings or action.required or "default" in text or action.default is argparse.SUPPRESS:
            return text
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            shown = "on" if action.default else "off"
        elif action.default is None:
            shown = "not set"
        else:
            shown = "%(default)s"
        return f"{text} (default: {shown})" if text else f"(default: {shown})"


class EpilogDefaultsFormatter(argparse.RawDescriptionHelpFormatter, DefaultsFormatter):
    """Defaults in the option help, and a hand-laid-out epilog (examples) kept as written."""
