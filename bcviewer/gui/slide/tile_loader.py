"""``TileLoader``: reads slide tiles in a small pool of background threads.

The view calls :meth:`TileLoader.request` with the tiles it wants, most urgent first, every time
it moves; the new list *replaces* the old one, so tiles that scrolled out of view before a reader
picked them up are never read. Each opened file has a generation number; a tile read for an older
generation (the user opened another file meanwhile) is dropped instead of being shown. A tile
whose key names a stain mapping (:meth:`TileLoader.set_stain`) is normalised here, on the reader
thread, never on the GUI thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage

from bcviewer.errors import BcviewerError
from bcviewer.gui.slide.tile_cache import TileKey
from bcviewer.gui.slide.view_geometry import TileLayout
from bcviewer.slides import SlideReader

log = logging.getLogger(__name__)


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """A QImage owning its pixels, from an (h, w, 3) uint8 RGB array; safe off the GUI thread.

    The result is in the painter's native 32-bit format, so drawing it never converts per frame.
    """
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    view = QImage(rgb.data, w, h, rgb.strides[0], QImage.Format.Format_RGB888)
    return view.convertToFormat(QImage.Format.Format_RGB32)


class _Signals(QObject):
    # Emitted from reader threads; the receivers live in the GUI thread, so delivery is queued.
    tile_ready = Signal(object, QImage)
    tile_failed = Signal(object, str)
    idle = Signal()


class _ReadLoop(QRunnable):
    """One reader thread: takes the most urgent wanted tile until none is left."""

    def __init__(self, loader: TileLoader) -> None:
        super().__init__()
        self._loader = loader

    def run(self) -> None:
        self._loader._read_until_empty()


class TileLoader(QObject):
    """Background tile reads for one slide at a time; results arrive as Qt signals."""

    def __init__(self, threads: int = 2, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._signals = _Signals()
        self.tile_ready = self._signals.tile_ready
        self.tile_failed = self._signals.tile_failed
        self.idle = self._signals.idle
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._lock = threading.Lock()
        self._wanted: list[TileKey] = []
        self._in_progress: set[TileKey] = set()
        self._loops = 0
        self._reader: SlideReader | None = None
        self._layout: TileLayout | None = None
        self._generation = 0
        self._failed = False
        self._stain_maps: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
        self.stain = ""  # the identity new tile keys carry ("" = original pixels); see set_stain
        self.reads = 0

    @property
    def thread_count(self) -> int:
        return self._pool.maxThreadCount()

    def set_source(self, reader: SlideReader | None, layout: TileLayout | None, generation: int) -> None:
        """Read from ``reader`` from now on; wanted tiles of the previous source are forgotten."""
        with self._lock:
            self._reader, self._layout, self._generation = reader, layout, generation
            self._wanted = []
            self._failed = False
            self._stain_maps.clear()
            self.stain = ""

    def set_stain(self, identity: str, mapping: Callable[[np.ndarray], np.ndarray] | None) -> None:
        """Key new tiles by ``identity`` ("" = original pixels) and normalise them with ``mapping``;
        mappings stay known, so switching back and forth never re-fits."""
        with self._lock:
            if identity and mapping is not None:
                self._stain_maps[identity] = mapping
            self.stain = identity

    def request(self, keys: Sequence[TileKey]) -> None:
        """Replace the wanted tiles (most urgent first); tiles already being read are skipped."""
        with self._lock:
            if self._failed:
                return
            self._wanted = [k for k in keys if k not in self._in_progress and k.generation == self._generation]
            spare = min(self._pool.maxThreadCount() - self._loops, len(self._wanted))
            self._loops += max(spare, 0)
        for _ in range(max(spare, 0)):
            self._pool.start(_ReadLoop(self))

    def is_pending(self, key: TileKey) -> bool:
        with self._lock:
            return key in self._in_progress or key in self._wanted

    @property
    def busy(self) -> bool:
        """True while any tile is wanted or being read."""
        with self._lock:
            return bool(self._wanted or self._in_progress)

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Forget wanted tiles and wait for reads in flight; True when every thread has finished."""
        with self._lock:
            self._wanted = []
            self._reader = None
        return self._pool.waitForDone(timeout_ms)

    def close_reader_later(self, reader: SlideReader) -> None:
        """Close a replaced reader on a pool thread: ``close`` waits for its reads in flight."""

        class _Close(QRunnable):
            def run(self) -> None:
                reader.close()

        self._pool.start(_Close())

    # ---- reader threads -------------------------------------------------------------------
    def _next(self) -> tuple[TileKey, SlideReader, TileLayout, Callable[[np.ndarray], np.ndarray] | None] | None:
        with self._lock:
            if not self._wanted or self._reader is None or self._layout is None or self._failed:
                self._loops -= 1
                return None
            key = self._wanted.pop(0)
            self._in_progress.add(key)
            return key, self._reader, self._layout, self._stain_maps.get(key.stain) if key.stain else None

    def _read_until_empty(self) -> None:
        while (job := self._next()) is not None:
            key, reader, layout, mapping = job
            try:
                rgb = reader.read_region(*layout.read_args(key.level, key.col, key.row))
                if key.stain:
                    if mapping is None:  # the slide changed since the key was made
                        self._finish(key, None, None)
                        continue
                    rgb = mapping(rgb)
                image = rgb_to_qimage(rgb)
            except BcviewerError as exc:
                self._finish(key, None, str(exc))
                continue
            except Exception as exc:  # a reader thread must never die with the tile still pending
                log.exception("reading tile %s failed", key)
                self._finish(key, None, f"reading the slide failed unexpectedly: {exc}")
                continue
            self._finish(key, image, None)
        with self._lock:
            idle = not self._wanted and not self._in_progress
        if idle:
            self.idle.emit()

    def _finish(self, key: TileKey, image: QImage | None, error: str | None) -> None:
        with self._lock:
            self._in_progress.discard(key)
            self.reads += 1
            if key.generation != self._generation or (image is None and error is None):
                return  # the file was replaced while this tile was read (or its stain mapping with it)
            if error is not None:
                # OpenSlide latches read errors: every later read of this handle fails the same way.
                self._failed = True
                self._wanted = []
            # Emitting under the lock orders it before any later set_source (delivery is queued).
            if image is not None:
                self.tile_ready.emit(key, image)
            else:
                self.tile_failed.emit(key, error or "")
