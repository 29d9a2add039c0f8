"""``TileFeeder``: reads and preprocesses tiles of a stream of slides in background threads.

A small thread pool reads tiles (OpenSlide and OpenCV release the GIL while decoding and
resizing) and keeps up to two batches of reads in flight. One feeder thread pulls jobs from the
caller's iterable (so opening slides and building grids also happens in the background), packs
tiles into batches, possibly spanning several small images, normalises them with
:func:`bcviewer.nets.preprocess` (a torch tensor) or, for ONNX Runtime, with the bit-identical
:func:`bcviewer.nets.preprocess_numpy` (a numpy array, no PyTorch), and hands messages to the
consumer through a bounded ``queue.Queue``: at most ``prefetch`` prepared batches wait there, so
memory stays flat however large the input. Per job, :class:`JobStarted` comes first, then the :class:`TileBatch` es holding
its tiles; :class:`JobFailed` ends a job that could not be read (the consumer knows a job is
complete when all its tiles were scored).
:meth:`TileFeeder.close` stops the feeder, drains the queue and joins every thread it started.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from bcviewer.inference.trust import tile_looks
from bcviewer.nets.preprocess import InputSpec, preprocess, preprocess_numpy, resize_tiles
from bcviewer.slides import SlideReader
from bcviewer.tiling import TileGrid

if TYPE_CHECKING:
    import torch

_POLL_S = 0.05


@dataclass(frozen=True, eq=False)
class SlideJob:
    """One slide to score. ``key`` identifies it to the caller (e.g. its path).

    A job whose slide could not be prepared carries the ``error`` instead of a slide and grid.
    With ``close_slide`` the pipeline closes the slide once the job's result has been handed over.
    ``notes`` are what the caller must tell the user about this input (e.g. scale warnings).
    """

    key: Any
    slide: SlideReader | None = None
    grid: TileGrid | None = None
    error: BaseException | None = None
    close_slide: bool = False
    notes: tuple[str, ...] = ()
    qc_flags: tuple[str, ...] | None = None  # per tile; tiles not "ok" are never read or scored

    def scored_tiles(self) -> list[int]:
        """The indices of the tiles to score: all of them, less those quality control flagged."""
        n = len(self.grid) if self.grid is not None else 0
        return [i for i in range(n) if self.qc_flags is None or self.qc_flags[i] == "ok"]


@dataclass(frozen=True)
class JobStarted:
    job_id: int
    job: SlideJob


@dataclass(frozen=True)
class TileBatch:
    """Preprocessed tiles; row i is tile ``tile_ids[i]`` of job ``job_ids[i]``. ``x`` is a torch
    tensor, or a numpy array from a feeder made with ``as_numpy``. ``looks`` holds each
    tile's colour and texture descriptors (:func:`bcviewer.inference.trust.tile_looks`) when the
    feeder was asked for them."""

    job_ids: np.ndarray
    tile_ids: np.ndarray
    x: torch.Tensor | np.ndarray
    looks: np.ndarray | None = None


@dataclass(frozen=True)
class JobFailed:
    job_id: int
    error: BaseException


FeederMessage = Union[JobStarted, TileBatch, JobFailed]


class _End:
    pass


class _Fatal:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Stopped(Exception):
    pass


class TileFeeder:
    """Iterate :data:`FeederMessage` s for ``jobs``; use as a context manager.

    ``as_numpy``: batches hold numpy arrays (:func:`bcviewer.nets.preprocess_numpy`, for ONNX
    Runtime) instead of torch tensors; ``pin_memory`` applies to tensors only.
    """

    def __init__(self, jobs: Iterable[SlideJob], spec: InputSpec, batch_size: int, *, workers: int = 2,
                 prefetch: int = 2, pin_memory: bool = False, looks: bool = False, as_numpy: bool = False) -> None:
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        self._jobs, self._spec, self._batch_size, self._pin = jobs, spec, batch_size, pin_memory
        self._looks, self._numpy = looks, as_numpy
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, prefetch))
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="bcviewer-read")
        self._thread = threading.Thread(target=self._feed, name="bcviewer-feeder", daemon=True)
        self._started = False
        self.jobs_seen: list[SlideJob] = []  # every job pulled from ``jobs``, for clean-up by the owner

    # ---- consumer side --------------------------------------------------------------------
    def __enter__(self) -> TileFeeder:
        self._thread.start()
        self._started = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def messages(self, cancel: threading.Event | None = None) -> Iterator[FeederMessage]:
        """Messages in order until every job is done; stops early (no error) once ``cancel`` is set.

        An unexpected error in the feeder (not a per-job read error) is re-raised here.
        """
        while not (cancel is not None and cancel.is_set()):
            try:
                item = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if isinstance(item, _End):
                return
            if isinstance(item, _Fatal):
                raise item.error
            yield item  # type: ignore[misc]

    def close(self) -> None:
        """Stop reading and join the feeder and reader threads. Safe to call twice."""
        self._stop.set()
        if self._started:
            while self._thread.is_alive():
                self._drain()
                self._thread.join(timeout=_POLL_S)
            self._drain()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _drain(self) -> None:
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    # ---- feeder thread --------------------------------------------------------------------
    def _feed(self) -> None:
        try:
            self._feed_jobs()
            self._put(_End())
        except _Stopped:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, who re-raises it
            try:
                self._put(_Fatal(exc))
            except _Stopped:
                pass

    def _feed_jobs(self) -> None:
        jobs = iter(self._jobs)
        pending: deque[tuple[int, int, Future[np.ndarray]]] = deque()
        buffer: list[tuple[int, int, np.ndarray]] = []
        current: tuple[int, SlideJob, Iterator[int]] | None = None
        next_id, exhausted, window = 0, False, 2 * self._batch_size
        while True:
            while len(pending) < window and not exhausted:  # keep the readers busy
                if current is None:
                    job = next(jobs, None)
                    if job is None:
                        exhausted = True
                        break
                    current = self._start(next_id, job)
                    next_id += 1
                    continue
                job_id, job, tiles = current
                tile = next(tiles, None)
                if tile is None:
                    current = None
                    continue
                pending.append((job_id, tile, self._pool.submit(self._load, job, tile)))
            if not pending:
                break
            job_id, tile, future = pending.popleft()
            try:
                pixels = self._result(future)
            except _Stopped:
                raise
            except Exception as exc:  # noqa: BLE001 - one unreadable slide fails its own job only
                for other, _, f in pending:
                    if other == job_id:
                        f.cancel()
                pending = deque(p for p in pending if p[0] != job_id)
                buffer = [b for b in buffer if b[0] != job_id]
                if current is not None and current[0] == job_id:
                    current = None
                self._put(JobFailed(job_id, exc))
                continue
            buffer.append((job_id, tile, pixels))
            if len(buffer) == self._batch_size:
                self._emit(buffer)
                buffer = []
        if buffer:
            self._emit(buffer)

    def _start(self, job_id: int, job: SlideJob) -> tuple[int, SlideJob, Iterator[int]] | None:
        self.jobs_seen.append(job)
        self._put(JobStarted(job_id, job))
        if job.error is not None or job.slide is None or job.grid is None:
            self._put(JobFailed(job_id, job.error or ValueError(f"job {job.key!r} has no slide or grid")))
            return None
        return job_id, job, iter(job.scored_tiles())

    def _load(self, job: SlideJob, index: int) -> np.ndarray:
        assert job.grid is not None and job.slide is not None
        rgb = job.grid.read_tile(job.slide, job.grid.tiles[index])
        return np.asarray(resize_tiles(rgb[None], self._spec.size)[0])

    def _emit(self, buffer: list[tuple[int, int, np.ndarray]]) -> None:
        rgb = np.stack([b[2] for b in buffer])
        x: torch.Tensor | np.ndarray
        if self._numpy:
            x = preprocess_numpy(rgb, self._spec)
        else:
            x = preprocess(rgb, self._spec)
            if self._pin:
                x = x.pin_memory()
        job_ids = np.array([b[0] for b in buffer], dtype=np.int64)
        # on the resized tile the model sees, before stain normalisation and scaling
        looks = tile_looks(rgb) if self._looks else None
        self._put(TileBatch(job_ids, np.array([b[1] for b in buffer], dtype=np.int64), x, looks))

    def _result(self, future: Future[np.ndarray]) -> np.ndarray:
        while not future.done():
            if self._stop.is_set():
                raise _Stopped
            wait([future], timeout=_POLL_S)
        return future.result()

    def _put(self, item: object) -> None:
        while True:
            if self._stop.is_set():
                raise _Stopped
            try:
                self._queue.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue
