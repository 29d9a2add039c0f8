"""Console entry point: routes to the GUI or to the Qt-free command line.

This module sits outside the core on purpose: it is the one place allowed to choose between the
shell (``bcviewer.gui``) and the core CLI, so that ``bcviewer.cli`` never imports Qt.
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from collections.abc import Mapping

GUI_COMMANDS = {"open"}
QT_PROBE = "_qtprobe"  # hidden: run by `bcviewer doctor` in a child process (bcviewer.cli.doctor)
_HEADLESS_PLATFORMS = {"offscreen", "minimal", "vnc", "eglfs", "linuxfb", "vkkhrdisplay"}


def display_problem(env: Mapping[str, str] = os.environ, platform: str = sys.platform) -> str | None:
    """Why the viewer cannot open a window here (one line), or None.

    Without a display, Qt aborts the process (exit 134) with a hint about xcb-cursor0 that sends
    people after the wrong problem; this check runs before Qt is loaded.
    """
    if not platform.startswith("linux"):
        return None
    chosen = env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip().lower()
    if chosen in _HEADLESS_PLATFORMS:
        return None
    wayland, x11 = bool(env.get("WAYLAND_DISPLAY")), bool(env.get("DISPLAY"))
    if chosen.startswith("wayland"):
        return None if wayland else ("QT_QPA_PLATFORM asks for Wayland, but WAYLAND_DISPLAY is not set; start "
                                     "bcviewer from a desktop session")
    if not wayland and not x11:
        return ("no display: the desktop viewer needs a desktop session (neither DISPLAY nor WAYLAND_DISPLAY is "
                "set). Use the command line instead (bcviewer --help), or set QT_QPA_PLATFORM=offscreen for "
                "'bcviewer open --screenshot'")
    if x11 and not wayland and not _local_x_server_exists(env["DISPLAY"]):
        return (f"no display: DISPLAY is {env['DISPLAY']!r} but no X server answers there. Use the command line "
                "instead (bcviewer --help), or set QT_QPA_PLATFORM=offscreen for 'bcviewer open --screenshot'")
    if (chosen == "xcb" or not wayland) and ctypes.util.find_library("xcb-cursor") is None:
        return ("the X11 display cannot be used: Qt needs the system library libxcb-cursor "
                "(install it, e.g. 'apt install libxcb-cursor0'), or run under Wayland")
    return None


def _local_x_server_exists(display: str) -> bool:
    """False only when DISPLAY names a local server (":0") whose socket is missing; remote: True."""
    host, _, number = display.partition(":")
    number = number.split(".")[0]
    if host not in ("", "unix") or not number.isdigit():
        return True  # a remote or unusual display: let Qt try
    name = f"/tmp/.X11-unix/X{number}"
    if os.path.exists(name):
        return True
    try:
        with open("/proc/net/unix", encoding="utf-8", errors="replace") as fh:
            return any(line.rstrip().endswith(name) for line in fh)  # abstract "@/tmp/.X11-unix/X0"
    except OSError:
        return True


def main(argv: list[str] | None = None) -> int:
    """Run ``bcviewer``; no arguments, ``open`` or ``labels open`` start the desktop viewer."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == [QT_PROBE]:
        from bcviewer.gui.probe import main as probe

        return probe()
    labels = args[:2] == ["labels", "open"]  # the labeling panel: a GUI command among the label commands
    if labels or not args or args[0] in GUI_COMMANDS:
        wants_help = any(a in ("-h", "--help") for a in args[1:])
        problem = None if wants_help else display_problem()
        if problem:
            print(f"bcviewer: {problem}", file=sys.stderr)
            return 2
        try:
            from bcviewer.gui.app import run_gui
        except ImportError as exc:  # the GUI is optional for headless installs
            print(f"bcviewer: the desktop viewer is not available ({exc})", file=sys.stderr)
            return 2
        return run_gui(args[2:], labels=True) if labels else run_gui(args[1:] if args else [])
    from bcviewer.cli.main import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
