"""Background work for the GUI: :class:`BackgroundRun`, the base of every worker, and ``JobRunner``,
which runs plain functions on a thread pool and hands results back to the GUI thread.

Qt delivers the result and error signals through the receiving thread's event loop, so callbacks
run on the GUI thread. The runner keeps each job alive until its callback has run, and
:meth:`JobRunner.wait` lets windows and tests make sure no worker thread outlives them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class BackgroundRun(QRunnable):
    """Work on a pool thread whose outcome reaches the GUI thread only through ``signals``.

    :meth:`work` runs on the pool thread; what it returns goes to ``signals.finished``, and any
    exception to ``signals.failed`` (the GUI decides how to show it). The owner keeps the run alive
    (no auto-delete) until its last signal has arrived, and :meth:`cancel` sets ``cancel_event``,
    which :meth:`work` polls at its safe points.
    """

    def __init__(self, signals: QObject, cancel_event: threading.Event | None = None) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.signals = signals
        self.cancel_event = cancel_event if cancel_event is not None else threading.Event()

    def cancel(self) -> None:
        """Ask :meth:`work` to stop at its next safe point."""
        self.cancel_event.set()

    def work(self) -> Any:
        """The job itself (pool thread); its result is what ``finished`` carries."""
        raise NotImplementedError

    def emit_finished(self, result: Any) -> None:
        """Hand the result on; runs whose ``finished`` has several arguments spread it."""
        self.signals.finished.emit(result)  # type: ignore[attr-defined]

    def run(self) -> None:
        try:
            result = self.work()
        except BaseException as exc:  # noqa: BLE001 (handed to the GUI, which decides how to show it)
            self.signals.failed.emit(exc)  # type: ignore[attr-defined]
            return
        self.emit_finished(result)


class _JobSignals(QObject):
    finished = Signal(object)
    failed = Signal(object)  # the exception, traceback attached


class Job(BackgroundRun):
    """One call of ``fn(*args)`` on a pool thread."""

    signals: _JobSignals

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        super().__init__(_JobSignals())  # the runner drops its reference once the callback has run
        self._fn = fn
        self._args = args
        self.cancelled = False  # set on the GUI thread: neither callback runs

    def work(self) -> Any:
        return self._fn(*self._args)


class JobRunner(QObject):
    """A small private thread pool for short background calls (opening files, building grids)."""

    def __init__(self, threads: int = 2, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._jobs: set[Job] = set()

    def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_success: Callable[[Any], object] | None = None,
        on_error: Callable[[BaseException], object] | None = None,
    ) -> Job:
        """Run ``fn(*args)`` in the background; exactly one callback runs on the GUI thread after.

        A job marked ``cancelled`` before it finishes calls neither callback.
        """
        job = Job(fn, args)

        def done(result: object) -> None:
            self._jobs.discard(job)
            if not job.cancelled and on_success is not None:
                on_success(result)

        def failed(exc: object) -> None:
            self._jobs.discard(job)
            if not job.cancelled and on_error is not None:
                on_error(exc)  # type: ignore[arg-type]

        job.signals.finished.connect(done)
        job.signals.failed.connect(failed)
        self._jobs.add(job)
        self._pool.start(job)
        return job

    @property
    def pending(self) -> int:
        """Jobs whose callback has not run yet."""
        return len(self._jobs)

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Block until every started job has returned; True when the pool is idle."""
        return self._pool.waitForDone(timeout_ms)


class SingleRunWorker(QObject):
    """One :class:`BackgroundRun` at a time on a thread of its own; its signals arrive on the GUI thread.

    A subclass makes its run with the stop event from :meth:`new_stop`, connects the run's signals
    (finishing ones through :meth:`done`, which forgets the run) and hands it to :meth:`launch`.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._run: BackgroundRun | None = None
        self._stop = threading.Event()

    @property
    def running(self) -> bool:
        return self._run is not None

    @property
    def cancelling(self) -> bool:
        return self._run is not None and self._stop.is_set()

    def new_stop(self) -> threading.Event:
        """A fresh stop event for the next run (an earlier run keeps its own)."""
        self._stop = threading.Event()
        return self._stop

    def launch(self, run: BackgroundRun) -> None:
        self._run = run
        self._pool.start(run)

    def done(self, run: BackgroundRun, signal: Any, *args: Any) -> None:
        """Forget ``run`` if it is the current one, then emit ``signal(*args)``."""
        if self._run is run:
            self._run = None
        signal.emit(*args)

    def cancel(self) -> None:
        """Ask the run to stop at its next check."""
        self._stop.set()

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Block until the worker thread is idle; True when it is."""
        return self._pool.waitForDone(timeout_ms)
