"""Sub-image pictures for the grid, read on a worker thread, and a small cache of them per image."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage

from bcviewer.gui.slide.tile_loader import rgb_to_qimage
from bcviewer.gui.workers import Job, JobRunner
from bcviewer.slides import open_slide

Rect = tuple[int, int, int, int, int]  # sub-image id, x, y, w, h (level-0 pixels)


def read_thumbnails(path: str | Path, rects: Sequence[Rect], max_side: int = 400) -> dict[int, QImage]:
    """Each sub-image of the image at ``path``, at most ``max_side`` pixels across (worker thread).

    Large images (whole slides) are read from the pyramid level closest to the size shown.
    """
    out: dict[int, QImage] = {}
    with open_slide(path) as slide:
        for sid, x, y, w, h in rects:
            level = slide.best_level_for_downsample(max(1.0, max(w, h) / max_side))
            d = slide.level_downsamples[level]
            rgb = slide.read_region(level, x, y, max(1, round(w / d)), max(1, round(h / d)))
            image = rgb_to_qimage(rgb)
            if max(image.width(), image.height()) > max_side:
                image = image.scaled(max_side, max_side, Qt.AspectRatioMode.KeepAspectRatio,
                                     Qt.TransformationMode.SmoothTransformation)
            out[sid] = image
    return out


class ThumbnailCache:
    """The pictures of the last few images shown, so going back and forth reads nothing again."""

    def __init__(self, images: int = 24) -> None:
        self._images = images
        self._store: OrderedDict[int, dict[int, QImage]] = OrderedDict()

    def get(self, image_id: int) -> dict[int, QImage] | None:
        found = self._store.get(image_id)
        if found is not None:
            self._store.move_to_end(image_id)
        return found

    def put(self, image_id: int, thumbs: dict[int, QImage]) -> None:
        self._store[image_id] = thumbs
        self._store.move_to_end(image_id)
        while len(self._store) > self._images:
            self._store.popitem(last=False)

    def clear(self) -> None:
        self._store.clear()


class ThumbnailLoader(QObject):
    """Reads an image's sub-image pictures on ``jobs`` (the cache first); one request at a time counts."""

    ready = Signal(int, object)  # image id, {sub-image id: QImage}
    failed = Signal(int, str)  # image id, message

    def __init__(self, jobs: JobRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.cache = ThumbnailCache()
        self._job: Job | None = None

    def request(self, image_id: int, path: Path, rects: Sequence[Rect]) -> None:
        """Emit ``ready`` for this image: at once from the cache, or once a worker has read it."""
        self.cancel()
        cached = self.cache.get(image_id)
        if cached is not None:
            self.ready.emit(image_id, cached)
            return
        self._job = self.jobs.submit(read_thumbnails, str(path), list(rects),
                                     on_success=lambda thumbs: self._done(image_id, thumbs),
                                     on_error=lambda exc: self.failed.emit(image_id, f"cannot show {path.name}: {exc}"))

    def _done(self, image_id: int, thumbs: dict[int, QImage]) -> None:
        self._job = None
        self.cache.put(image_id, thumbs)
        self.ready.emit(image_id, thumbs)

    def cancel(self) -> None:
        """Drop the request in flight (its result is not emitted)."""
        if self._job is not None:
            self._job.cancelled = True
            self._job = None
