"""``run_gui``: the desktop viewer's entry point (``bcviewer`` and ``bcviewer open ...``).

``--screenshot OUT.png`` makes a scripted run: the window opens the file, waits until every
visible tile is drawn (and the analysis has ended, with ``--run``), saves a PNG of the window and
exits. It works with ``QT_QPA_PLATFORM=offscreen``; messages that would be dialogs go to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication

from bcviewer.gui import errors
from bcviewer.gui.actions import icon
from bcviewer.gui.gui_thread_gc import collect_garbage_on_gui_thread
from bcviewer.gui.main_window import MainWindow
from bcviewer.gui.workspaces import label_project_of
from bcviewer.paths import sample_image

SAMPLE = sample_image()


STYLES = ("tiles", "smooth", "uncertainty")  # in the order of the Style box
# Start-up benchmarks (benchmarks/bench_bundle_startup.py) set this: at the main window's first
# paint the viewer prints the wall-clock time on stderr and quits.
FIRST_PAINT_ENV = "BCVIEWER_QUIT_AFTER_FIRST_PAINT"


def build_parser(labels: bool = False) -> argparse.ArgumentParser:
    """``bcviewer open``'s options; ``labels``: those of ``bcviewer labels open PROJECT``."""
    if labels:
        p = argparse.ArgumentParser(prog="bcviewer labels open",
                                    description="Open a label project in the desktop viewer's Labeling tab.")
        p.add_argument("path", metavar="project", help="project file (e.g. labels.bcv)")
        _screenshot_options(p)
        p.set_defaults(model=None, mpp=None, run=False, style=None, stain="off")  # the slide view's
        return p
    p = argparse.ArgumentParser(prog="bcviewer open", description="Open the desktop viewer.")
    p.add_argument("path", nargs="?", help="slide or image to open (default: the bundled sample image); a label "
                   "project (.bcv) opens in the Labeling tab")
    p.add_argument("--model", help="model name or folder to analyse with (default: chosen by image type)")
    p.add_argument("--mpp", type=float, metavar="UM",
                   help="µm per pixel of a whole slide that does not record it, for this session "
                        "(default: ask, and remember the answer per file)")
    p.add_argument("--run", action="store_true", help="start the analysis as soon as the file is open")
    p.add_argument("--style", choices=STYLES, help="heatmap style to show: tiles, smooth, or uncertainty (tiles "
                   "coloured by uncertainty, 'review' and outside-training tiles outlined)")
    p.add_argument("--stain", choices=("off", "macenko", "reinhard"), default="off",
                   help="show the slide stain-normalised to the shipped reference (View > Stain; the model's "
                        "input is normalised only as its card says)")
    _screenshot_options(p)
    return p


def _screenshot_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--screenshot",
        metavar="OUT.png",
        help="wait until the view (and the analysis, with --run) is done, save the window as PNG, exit",
    )
    p.add_argument("--size", default="1400x860", metavar="WxH", help="window size for --screenshot (default 1400x860)")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S", help="give up a --screenshot after S seconds")


def project_problem(project: Path, command: str) -> str | None:
    """One line when ``project`` cannot be opened as a label project (checked before any window)."""
    from bcviewer.errors import BcviewerError
    from bcviewer.labels import LabelStore

    try:
        LabelStore.open(project, readonly=True).close()
    except BcviewerError as exc:
        return f"bcviewer {command}: {exc}"
    return None


class ScreenshotTaker(QObject):
    """Polls the window until it is idle, then saves it and quits the application."""

    def __init__(self, window: MainWindow, out: Path, wait_for_analysis: bool, timeout_s: float) -> None:
        super().__init__(window)
        self.window, self.out, self.wait_for_analysis = window, out, wait_for_analysis
        self.deadline = time.monotonic() + timeout_s
        self.opened = self.failed = False
        self.analysis_done = not wait_for_analysis
        self.exit_code = 0
        self._stable = 0
        window.slide.opened.connect(self._on_opened)
        window.slide.open_failed.connect(self._on_open_failed)
        c = window.slide.analysis
        c.finished.connect(self._on_analysis_end)
        c.cancelled.connect(self._on_analysis_end)
        c.failed.connect(self._on_analysis_failed)
        self._timer = QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._poll)
        self._timer.start()

    def _on_opened(self, _path: str) -> None:
        self.opened = True

    def _on_open_failed(self, _message: str) -> None:
        self.failed = True
        self.exit_code = 2
        self._finish(save=False)

    def _on_analysis_end(self, _scores: object) -> None:
        self.analysis_done = True

    def _on_analysis_failed(self, _exc: object) -> None:
        self.analysis_done = True
        self.exit_code = 2

    def _poll(self) -> None:
        if time.monotonic() > self.deadline:
            print(
                f"bcviewer: gave up waiting for the view after the --timeout; saving {self.out} as it is",
                file=sys.stderr,
            )
            self.exit_code = 1
            self._finish(save=True)
            return
        ready = self.opened and self.analysis_done and self.window.is_idle()
        self._stable = self._stable + 1 if ready else 0
        if self._stable >= 3:  # idle for three polls in a row: late repaints have landed
            self._finish(save=True)

    def _finish(self, save: bool) -> None:
        self._timer.stop()
        if save:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            if not self.window.grab().save(str(self.out), "PNG"):
                print(f"bcviewer: cannot write the screenshot {self.out}", file=sys.stderr)
                self.exit_code = self.exit_code or 1
            else:
                print(f"screenshot saved to {self.out}", file=sys.stderr)
        QTimer.singleShot(0, lambda: QApplication.instance().exit(self.exit_code))  # type: ignore[union-attr]


class FirstPaintProbe(QObject):
    """Prints ``bcviewer: first paint at <epoch seconds>`` on stderr at the window's first paint
    event, then quits the application (set :data:`FIRST_PAINT_ENV` to use it)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.done = False
        # A copy of stderr taken now: opening a slide captures file descriptor 2 for a moment
        # (native library output), and the first paint can fall inside that moment.
        self.stderr_fd = os.dup(sys.stderr.fileno())
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if not self.done and event.type() == QEvent.Type.Paint:
            self.done = True
            os.write(self.stderr_fd, f"bcviewer: first paint at {time.time():.3f}\n".encode())
            os.close(self.stderr_fd)
            QTimer.singleShot(0, lambda: QApplication.instance().exit(0))  # type: ignore[union-attr]
        return False


def _window_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"bcviewer open: --size must look like 1400x860, got {text!r}") from None
    return max(w, 400), max(h, 300)


def run_gui(argv: list[str], *, labels: bool = False) -> int:
    """Start the viewer; returns the process exit code. ``labels``: ``argv`` is ``labels open``'s."""
    try:
        args = build_parser(labels).parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    path = args.path or str(SAMPLE)
    project = Path(path) if labels else label_project_of(path)
    problem = project_problem(project, "labels open" if labels else "open") if project is not None else None
    if project is not None and (args.run or args.model or args.mpp or args.style or args.stain != "off"):
        problem = "bcviewer open: --run, --model, --mpp, --style and --stain are for slides, not a label project"
    if problem:
        print(problem, file=sys.stderr)
        return 2
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0] if sys.argv else "bcviewer"])
    app.setApplicationName("bcviewer")
    app.setOrganizationName("bcviewer")
    app.setWindowIcon(icon("bcviewer"))
    collect_garbage_on_gui_thread()
    errors.setup_logging()
    window: MainWindow | None = None
    hook = errors.ExceptionHook(lambda: window)
    hook.install()
    taker = None
    try:
        window = MainWindow()
        window.slide.session.model_override = args.model
        window.slide.session.mpp_override = args.mpp if args.mpp and args.mpp > 0 else None
        if args.screenshot:
            errors.set_headless(True)
            window.resize(*_window_size(args.size))
            taker = ScreenshotTaker(window, Path(args.screenshot), args.run, args.timeout)
        if args.run:

            def run_once(_path: str) -> None:
                window.slide.opened.disconnect(run_once)  # type: ignore[union-attr]
                window.slide.run()  # type: ignore[union-attr]

            window.slide.opened.connect(run_once)
        if args.style:
            window.slide.overlay_controls.style_box.setCurrentIndex(STYLES.index(args.style))
        if args.stain != "off":
            window.slide.stain.set_method(args.stain)
        if os.environ.get(FIRST_PAINT_ENV):
            FirstPaintProbe(window)
        window.show()
        if project is not None:
            opened = window.workspaces.open_labeling_project(project)
            if taker is not None:  # the labeling panel's reads count as the window's work (is_idle)
                taker.opened = True
                if not opened:
                    taker._on_open_failed("")
        else:
            window.open_path(path)
        code = app.exec()
        if window.isVisible():
            window.close()
        return code if taker is None else taker.exit_code or code
    finally:
        hook.uninstall()
        errors.set_headless(False)
