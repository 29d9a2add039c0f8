"""``TileFeeder``: reads and preprocesses batches of tiles in background threads, in grid order.

A small thread pool reads tiles (OpenSlide and OpenCV release the GIL while decoding and
resizing); one feeder thread keeps the reads of the next batch in flight while it stacks and
normalises the current one, and hands finished batches to the consumer through a bounded
``queue.Queue``. At most ``prefetch`` prepared batches plus two batches of raw tiles exist at any
time, so memory stays flat however large the slide is. :meth:`TileFeeder.close` stops the feeder,
drains the queue and joins every thread it started.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

import numpy as np
import torch

from bcviewer.nets import InputSpec, preprocess, resize_tiles
from bcviewer.slides import SlideReader
from bcviewer.tiling import TileGrid

_END = object()
_POLL_S = 0.05


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class TileFeeder:
    """Iterate ``(indices, tensor)`` batches of one grid; use as a context manager."""

    def __init__(self, slide: SlideReader, grid: TileGrid, spec: InputSpec, batch_size: int, *,
                 workers: int = 2, prefetch: int = 2, pin_memory: bool = False) -> None:
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        self._slide, self._grid, self._spec = slide, grid, spec
        self._batch_size = batch_size
        self._pin = pin_memory
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, prefetch))
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="bcviewer-read")
        self._thread = threading.Thread(target=self._feed, name="bcviewer-feeder", daemon=True)
        self._started = False

    # ---- consumer side --------------------------------------------------------------------
    def __enter__(self) -> TileFeeder:
        self._thread.start()
        self._started = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def batches(self, cancel: threading.Event | None = None) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """Prepared batches in grid order; stops early (without error) once ``cancel`` is set.

        An error raised while reading a tile is re-raised here, with its own type.
        """
        while True:
            if cancel is not None and cancel.is_set():
                return
            try:
                item = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if item is _END:
                return
            if isinstance(item, _Failure):
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
    def _load(self, index: int) -> np.ndarray:
        tile = self._grid.tiles[index]
        rgb = self._grid.read_tile(self._slide, tile)
        return resize_tiles(rgb[None], self._spec.size)[0]

    def _submit(self, start: int) -> list[Future[np.ndarray]]:
        stop = min(len(self._grid), start + self._batch_size)
        return [self._pool.submit(self._load, i) for i in range(start, stop)]

    def _feed(self) -> None:
        try:
            n = len(self._grid)
            pending = self._submit(0) if n else []
            start = 0
            while pending and not self._stop.is_set():
                nxt = start + self._batch_size
                ahead = self._submit(nxt) if nxt < n else []  # keep the readers busy meanwhile
                tiles = self._gather(pending)
                if tiles is None:  # stopped: drop the reads still queued
                    for f in (*pending, *ahead):
                        f.cancel()
                    return
                x = preprocess(np.stack(tiles), self._spec)
                if self._pin:
                    x = x.pin_memory()
                if not self._put((np.arange(start, start + len(tiles)), x)):
                    return
                pending, start = ahead, nxt
            self._put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, who re-raises it
            self._put(_Failure(exc))

    def _gather(self, futures: list[Future[np.ndarray]]) -> list[np.ndarray] | None:
        """Results in order, or None as soon as the feeder is stopped."""
        out = []
        for f in futures:
            while True:
                if self._stop.is_set():
                    return None
                try:
                    out.append(f.result(timeout=_POLL_S))
                    break
                except TimeoutError:
                    continue
        return out

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False
