"""Scoring slides on Dask distributed: a LocalCluster of worker processes, or an existing cluster.

Imported only for ``--workers`` / ``--scheduler``: the default single-process run never imports
Dask. One task per slide (:func:`bcviewer.batch.work.score_one`); a task carries the model's name
and sha256, never its weights, and each worker process loads a model once and keeps it. Results
stream back as slides finish (``as_completed``) and the caller writes them.

Faults: a bad slide is an error outcome computed on the worker, like any other result. A worker
process that dies loses the slides it held; Dask reports them as ``KilledWorker`` and they are
submitted again, at most ``retries`` times each, and then get an error row. Our LocalCluster lets
``retries`` be the only bound (scheduler ``allowed-failures`` 0); an existing scheduler first
applies its own ``distributed.scheduler.allowed-failures`` (Dask's default: 3). Each slide is
yielded exactly once. Closing the generator cancels every task still queued or running.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import uuid
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bcviewer.batch.work import (
    DEFAULT_RETRIES,
    WORKER_PREDICTORS,
    ModelRef,
    PredictOptions,
    SlideOutcome,
    error_outcome,
    one_line,
    score_one,
)
from bcviewer.errors import BcviewerError


class ClusterError(BcviewerError):
    """Dask is missing, or the cluster cannot be started or reached."""


try:
    import dask
    from distributed import Client, Future, KilledWorker, LocalCluster, as_completed, get_worker
except ImportError as exc:  # the optional extra is not installed
    raise ClusterError("--workers and --scheduler need Dask distributed: pip install 'bcviewer[cluster]'") from exc

CONNECT_TIMEOUT = "20s"


@dataclass(frozen=True)
class SlideTask:
    """One slide for the cluster: its position in the run, its path, the model asked for ("": the
    worker chooses by the slide's kind when it opens it) and the references of the models it may
    choose, resolved once by the client."""

    index: int
    path: Path
    models: dict[str, ModelRef | str]  # a model the client could not resolve: why
    model: str = ""


@contextmanager
def open_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Client]:
    """A client of a new LocalCluster of ``workers`` processes (one thread each), or of ``scheduler``.

    The LocalCluster is shut down on exit, also after Ctrl+C; an existing cluster is left running.
    """
    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {one_line(exc)}") from exc
        with client:
            yield client
        return
    if not workers or workers < 1:
        raise ClusterError(f"--workers must be at least 1, got {workers}")
    try:
        # allowed-failures 0: a dead worker's slides come back as KilledWorker and score_on_cluster
        # resubmits them itself, so --retries is the one bound.
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            # Logs off: what matters reaches the user as a slide's error row, and shutting down
            # (after Ctrl+C too) makes workers log heartbeat tracebacks that mean nothing.
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   silence_logs=logging.CRITICAL, preload=[__name__])
    except (OSError, TimeoutError, RuntimeError) as exc:
        raise ClusterError(f"cannot start {workers} local Dask workers: {one_line(exc)}") from exc
    with cluster, Client(cluster) as client:
        yield client


def dask_setup(worker: object) -> None:
    """Preload of our LocalCluster's workers. Ctrl+C in the terminal reaches every process of the
    group; the client alone handles it (cancels, then shuts the workers down), so workers ignore it.
    Their logs are off, as the client's (``silence_logs``, which does not reach worker processes)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.getLogger("distributed").setLevel(logging.CRITICAL)


def process_stats() -> dict[str, Any]:
    """This process's pid, models loaded, live threads (count and names), current and peak RSS in bytes.

    Run on every worker with ``client.run(process_stats)`` (the tests and benchmarks/bench_batch.py do).
    """
    import psutil  # a dependency of distributed

    stats = {"pid": os.getpid(), "models_loaded": WORKER_PREDICTORS.loads, "threads": threading.active_count(),
             "thread_names": sorted(t.name for t in threading.enumerate()),
             "rss": int(psutil.Process().memory_info().rss)}
    try:
        import resource  # Unix only; ru_maxrss is in KiB on Linux, bytes on macOS
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        stats["peak_rss"] = int(peak if sys.platform == "darwin" else peak * 1024)
    except ImportError:
        stats["peak_rss"] = stats["rss"]
    return stats


def describe(client: Client) -> str:
    """One line for the user: the scheduler, its workers and where the dashboard is."""
    info = client.scheduler_info()
    n = len(info.get("workers", {}))
    where = f"Dask cluster at {info.get('address', '?')} with {n} worker{'s' if n != 1 else ''}"
    if n == 0:
        where += " (none yet: slides wait until workers join)"
    if "dashboard" in info.get("services", {}):
        return f"{where}; dashboard: {client.dashboard_link}"
    return f"{where}; dashboard: not available (it needs bokeh: pip install 'bcviewer[cluster]')"


def worker_name() -> str:
    """This worker's address, or the host's name outside a worker."""
    try:
        return str(get_worker().address)
    except ValueError:  # not running in a worker (a task called directly)
        import socket

        return socket.gethostname()


def score_visible(index: int, path: str, models: dict[str, ModelRef | str], options: PredictOptions,
                  model: str = "") -> SlideOutcome:
    """The Dask task: :func:`score_one`, after checking this worker can see the file. The client
    checked that it exists on its side; a worker on another machine may not mount that folder."""
    if not os.path.exists(path):
        return error_outcome(index, path, f"file not visible on worker {worker_name()}: use a shared path that every "
                                          "worker can read")
    return score_one(index, path, models, options, model)


def score_on_cluster(client: Client, tasks: Sequence[SlideTask], options: PredictOptions,
                     retries: int = DEFAULT_RETRIES) -> Generator[SlideOutcome, None, None]:
    """Submit one task per slide and yield each slide's outcome once, in the order they finish."""
    run = uuid.uuid4().hex[:8]
    pending: dict[str, tuple[Future[Any], SlideTask, int]] = {}

    def submit(task: SlideTask, attempt: int) -> Future[Any]:
        key = f"bcviewer-slide-{run}-{task.index}-{attempt}"
        # Absolute: a worker resolves a relative path in its own working folder, not the client's.
        future = client.submit(score_visible, task.index, str(Path(task.path).absolute()), task.models, options,
                               task.model, key=key, pure=False)
        pending[key] = (future, task, attempt)
        return future

    queue = as_completed([submit(task, 0) for task in tasks])
    done: set[int] = set()
    try:
        for future in queue:
            _, task, attempt = pending.pop(future.key)
            outcome = _outcome_of(future, task, attempt, retries)
            if outcome is None:
                queue.add(submit(task, attempt + 1))
                continue
            future.release()  # the worker may drop the result now
            if task.index not in done:
                done.add(task.index)
                # The row names the input as the user gave it, as a single-process run does.
                yield replace(outcome, row=replace(outcome.row, path=str(task.path)))
    finally:
        if pending:
            client.cancel([f for f, _, _ in pending.values()], force=True)
            pending.clear()


def _outcome_of(future: Future[Any], task: SlideTask, attempt: int, retries: int) -> SlideOutcome | None:
    """The slide's outcome, or None when its worker died and it should be submitted again."""
    if future.status == "finished":
        try:
            outcome: SlideOutcome = future.result()
            return outcome
        except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be unpickled here
            return error_outcome(task.index, task.path, exc)
    if future.status == "cancelled":
        return error_outcome(task.index, task.path, "cancelled by the Dask scheduler (was the cluster shut down?)")
    error = future.exception()
    if isinstance(error, KilledWorker):
        if attempt < retries:
            return None
        return error_outcome(task.index, task.path,
                             f"the worker process scoring this slide died {attempt + 1} times (out of memory, "
                             "or a crash in the slide reader?)")
    return error_outcome(task.index, task.path, error if isinstance(error, BaseException) else str(error))
