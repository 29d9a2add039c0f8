"""Console entry point: routes to the GUI or to the Qt-free command line.

This module sits outside the core on purpose: it is the one place allowed to choose between the
shell (``bcviewer.gui``) and the core CLI, so that ``bcviewer.cli`` never imports Qt.
"""

from __future__ import annotations

import sys

GUI_COMMANDS = {"open"}
QT_PROBE = "_qtprobe"  # hidden: run by `bcviewer doctor` in a child process (bcviewer.cli.doctor)


def main(argv: list[str] | None = None) -> int:
    """Run ``bcviewer``; no arguments or ``open`` start the desktop viewer."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == [QT_PROBE]:
        from bcviewer.gui.probe import main as probe

        return probe()
    if not args or args[0] in GUI_COMMANDS:
        try:
            from bcviewer.gui.app import run_gui
        except ImportError as exc:  # the GUI is optional for headless installs
            print(f"bcviewer: the desktop viewer is not available ({exc})", file=sys.stderr)
            return 2
        return run_gui(args[1:] if args else [])
    from bcviewer.cli.main import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
