"""``QcController``: quality control of the open slide as its own background job, with progress
and cancel, separate from the analysis.

A run plans the grid the analysis would score (the core's :func:`~bcviewer.gui.slide.analysis.preview_grid`,
no regions: the whole slide) and checks its tiles with :func:`bcviewer.qc.qc_grid`. The finished
:class:`~bcviewer.qc.GridQc` is kept for the slide, and the analysis hands it to the core's plan,
which reuses it instead of checking the tiles again. A cancelled run keeps the tiles checked so
far (shown on the QC layer) but is never reused: an analysis needs every tile checked.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThreadPool, Signal, SignalInstance

from bcviewer.gui.workers import BackgroundRun
from bcviewer.slides import SlideReader

if TYPE_CHECKING:
    from bcviewer.inference.plan import PlanOptions
    from bcviewer.qc import GridQc

PROGRESS_EVERY_S = 0.1  # at most ten progress signals a second, however many tiles


class _QcSignals(QObject):
    grid_ready = Signal(object)  # TileGrid
    progress = Signal(int, int)  # tiles checked, tiles in the grid
    finished = Signal(object)  # GridQc: complete, or partial when cancelled
    failed = Signal(object)  # exception


class QcRun(BackgroundRun):
    """One quality-control pass over one slide; ``work`` runs on the controller's worker thread."""

    signals: _QcSignals

    def __init__(self, reader: SlideReader, options: PlanOptions) -> None:
        super().__init__(_QcSignals())
        self.reader, self.options = reader, options

    def work(self) -> GridQc:
        from bcviewer.gui.slide.analysis import preview_grid
        from bcviewer.qc import GridQc, qc_grid

        grid = preview_grid(self.reader, self.options)
        self.signals.grid_ready.emit(grid)
        total, last = len(grid), [0.0]

        def tick(i: int) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY_S or i + 1 == total:
                last[0] = now
                self.signals.progress.emit(i + 1, total)

        results = qc_grid(self.reader, grid, on_tile=tick, cancel=self.cancel_event)
        return GridQc(grid, tuple(results))


class QcController(QObject):
    """Starts, cancels and keeps the quality control of the open slide."""

    started = Signal()
    grid_ready = Signal(object)  # TileGrid being checked
    progress = Signal(int, int)  # tiles checked, total
    finished = Signal(object)  # complete GridQc
    cancelled = Signal(object)  # partial GridQc (tiles checked before Cancel)
    failed = Signal(object)  # exception

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._current: QcRun | None = None
        self._runs: set[QcRun] = set()
        self.result: GridQc | None = None  # the open slide's last QC, complete or partial
        self.runs_started = 0  # how many QC passes ran on this controller (the analysis reuses, not repeats)

    @property
    def running(self) -> bool:
        return self._current is not None

    def usable(self) -> GridQc | None:
        """The finished QC of the open slide, for the analysis; None when none finished."""
        return self.result if self.result is not None and self.result.complete else None

    def start(self, reader: SlideReader, options: PlanOptions) -> None:
        """Check every tile of the grid ``options`` give on ``reader`` (replacing a run in progress)."""
        self.detach()
        run = QcRun(reader, options)
        s = run.signals
        s.grid_ready.connect(lambda g, r=run: self._relay(r, self.grid_ready, g))
        s.progress.connect(lambda done, total, r=run: self._relay(r, self.progress, done, total))
        s.finished.connect(lambda result, r=run: self._on_finished(r, result))
        s.failed.connect(lambda e, r=run: self._on_failed(r, e))
        self._current = run
        self._runs.add(run)
        self.runs_started += 1
        self.started.emit()
        self._pool.start(run)

    def cancel(self) -> bool:
        """Stop the run after the tiles in flight; False when nothing runs."""
        if self._current is None:
            return False
        self._current.cancel()
        return True

    def detach(self) -> None:
        """Forget the open slide's QC and ignore what a run in progress still reports (new slide)."""
        if self._current is not None:
            self._current.cancel()
            self._current = None
        self.result = None

    def wait(self, timeout_ms: int = 60_000) -> bool:
        """Cancel and block until the worker thread is idle (shutdown and tests)."""
        if self._current is not None:
            self._current.cancel()
        return self._pool.waitForDone(timeout_ms)

    def _relay(self, run: QcRun, signal: SignalInstance, *values: object) -> None:
        if run is self._current:
            signal.emit(*values)

    def _on_finished(self, run: QcRun, result: GridQc) -> None:
        self._runs.discard(run)
        if run is not self._current:
            return
        self._current = None
        self.result = result
        (self.finished if result.complete and not run.cancel_event.is_set() else self.cancelled).emit(result)

    def _on_failed(self, run: QcRun, exc: BaseException) -> None:
        self._runs.discard(run)
        if run is not self._current:
            return
        self._current = None
        self.failed.emit(exc)

