"""The "Tiles" tab: the top N suspicious tiles of the run as thumbnails, click one to go there.

``GalleryPanel`` shows them (rank, p and uncertainty under each picture; N and the order, by p or
by uncertainty, are the user's); ``TileGallery`` keeps it in step with the heatmap: it ranks the
scored tissue tiles (:func:`bcviewer.inference.ranking.rank_tiles`), lists them at once and reads
their pictures on a worker, never on the GUI thread. While scores stream in it refreshes at most
once per :data:`REFRESH_MS`; pictures already read are kept until the grid changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from bcviewer.gui.slide.tile_loader import rgb_to_qimage
from bcviewer.gui.slide.tile_queue import RANK_NAMES, TileNavigator
from bcviewer.gui.slide.view import SlideView
from bcviewer.gui.workers import JobRunner
from bcviewer.slides import SlideReader

if TYPE_CHECKING:
    from bcviewer.inference.ranking import RankKey

DEFAULT_COUNT = 24
MAX_COUNT = 200
THUMB_PX = 96
REFRESH_MS = 1500  # while streaming: one refresh per this many ms at most
HINT = "Run the analysis: the most suspicious tiles of the slide appear here, most suspicious first."


def read_tile_pictures(reader: SlideReader, rects: Sequence[tuple[float, float, float, float]],
                       side: int = THUMB_PX) -> list[QImage]:
    """Each level-0 rectangle's pixels, at most ``side`` pixels across (worker thread), read from the
    pyramid level closest to that size."""
    out: list[QImage] = []
    for x, y, w, h in rects:
        level = reader.best_level_for_downsample(max(1.0, max(w, h) / side))
        d = reader.level_downsamples[level]
        rgb = reader.read_region(level, round(x), round(y), max(1, round(w / d)), max(1, round(h / d)))
        image = rgb_to_qimage(rgb)
        if max(image.width(), image.height()) > side:
            image = image.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                 Qt.TransformationMode.SmoothTransformation)
        out.append(image)
    return out


def caption(rank: int, p: float, u: float) -> str:
    """The text under a thumbnail: its rank, p and uncertainty (in full in its tooltip)."""
    return f"#{rank + 1}  p {p:.3f}\nunc. {u:.3f}"


class GalleryPanel(QWidget):
    """See the module docstring; emits the rank clicked and the user's N and order."""

    rank_clicked = Signal(int)
    options_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.count = QSpinBox()
        self.count.setRange(1, MAX_COUNT)
        self.count.setValue(DEFAULT_COUNT)
        self.count.setToolTip("How many tiles to show")
        self.order = QComboBox()
        for key, name in RANK_NAMES.items():
            self.order.addItem(name, key)
        self.order.setToolTip("most malignant: highest p first; most uncertain: p closest to 0.5 first")
        options = QHBoxLayout()
        options.addWidget(QLabel("Show"))
        options.addWidget(self.count)
        options.addWidget(self.order, 1)
        self.summary = QLabel(HINT)
        self.summary.setWordWrap(True)
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(THUMB_PX, THUMB_PX))
        self.list.setGridSize(QSize(THUMB_PX + 12, THUMB_PX + 38))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setWordWrap(True)
        self.list.setUniformItemSizes(True)
        self.list.setMinimumHeight(3 * (THUMB_PX + 38) + 8)
        self.list.setToolTip("Click a tile to centre the slide on it; N and P then walk on from there")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(options)
        layout.addWidget(self.summary)
        layout.addWidget(self.list, 1)
        self._blank = QPixmap(THUMB_PX, THUMB_PX)
        self._blank.fill(QColor(200, 200, 200))
        self.count.valueChanged.connect(lambda _: self.options_changed.emit())
        self.order.currentIndexChanged.connect(lambda _: self.options_changed.emit())
        self.list.itemClicked.connect(lambda item: self.rank_clicked.emit(self.list.row(item)))

    @property
    def key(self) -> RankKey:
        return self.order.currentData()  # type: ignore[no-any-return]

    def show_tiles(self, texts: list[str], tips: list[str], summary: str) -> None:
        """One item per tile, grey until its picture arrives."""
        self.list.clear()
        for text, tip in zip(texts, tips):
            item = QListWidgetItem(_icon(self._blank), text)
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            item.setToolTip(tip)
            self.list.addItem(item)
        self.summary.setText(summary)

    def set_picture(self, row: int, image: QImage) -> None:
        item = self.list.item(row)
        if item is not None:
            item.setIcon(_icon(QPixmap.fromImage(image)))


def _icon(pixmap: QPixmap) -> QIcon:
    """The picture as it is, selected or not: a selection tint would change the stain's colours."""
    icon = QIcon(pixmap)
    icon.addPixmap(pixmap, QIcon.Mode.Selected)
    return icon


class TileGallery(QObject):
    """Keeps a :class:`GalleryPanel` in step with the heatmap (see the module docstring)."""

    def __init__(self, view: SlideView, jobs: JobRunner, navigator: TileNavigator,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.view, self._jobs, self.navigator = view, jobs, navigator
        self.panel = GalleryPanel()
        self.indices = np.zeros(0, dtype=np.int64)  # grid indices listed, in rank order
        self.pictures: dict[int, QImage] = {}  # by grid index, for the grid in ``_rects``
        self._rects: np.ndarray | None = None
        self._reading = False
        self._stale = False
        self.refresh_ms = REFRESH_MS
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.refresh)
        self.panel.options_changed.connect(self.refresh)
        self.panel.rank_clicked.connect(lambda rank: navigator.show_rank(self.panel.key, rank))
        navigator.tile_shown.connect(self._select)

    def schedule(self, now: bool = False) -> None:
        """Refresh now (a run ended), or in ``refresh_ms`` unless a refresh is already due (scores
        streaming in)."""
        if now or not self._timer.isActive():
            self._timer.start(0 if now else self.refresh_ms)

    def clear(self) -> None:
        """A new slide or a new run: nothing to show until scores arrive."""
        self._timer.stop()
        self.indices = np.zeros(0, dtype=np.int64)
        self.pictures, self._rects = {}, None
        self.panel.show_tiles([], [], HINT)

    def refresh(self) -> None:
        """Rank the scored tiles, list the top N and read the pictures not read yet."""
        self._timer.stop()
        layer = self.view.heatmap
        if self._rects is not layer.rects:
            self.pictures, self._rects = {}, layer.rects
        key = self.panel.key
        ranked = self.navigator.ranking(key)
        self.indices = ranked[: self.panel.count.value()]
        if not len(self.indices):
            self.panel.show_tiles([], [], HINT)
            return
        p, u = layer.probabilities, layer.uncertainties
        texts = [caption(rank, p[i], u[i]) for rank, i in enumerate(self.indices)]
        tips = [f"{rank + 1} of {len(ranked)} {RANK_NAMES[key]}: p = {p[i]:.3f}, uncertainty = {u[i]:.3f} "
                f"(row {layer.rows[i] + 1}, col {layer.cols[i] + 1}); click to go there"
                for rank, i in enumerate(self.indices)]
        scored = f"{len(ranked)} scored tissue tile{'s' if len(ranked) != 1 else ''}"
        self.panel.show_tiles(texts, tips, f"The {len(self.indices)} {RANK_NAMES[key]} of {scored}.")
        for row, index in enumerate(self.indices.tolist()):
            if index in self.pictures:
                self.panel.set_picture(row, self.pictures[index])
        self._read_missing()

    def _read_missing(self) -> None:
        reader = self.view.reader
        missing = [int(i) for i in self.indices if int(i) not in self.pictures]
        if reader is None or not missing:
            return
        if self._reading:  # one read at a time: the newest list is read when this one lands
            self._stale = True
            return
        self._reading, self._stale = True, False
        rects, generation = self._rects, self.view.generation
        boxes = [tuple(float(v) for v in self.view.heatmap.rects[i]) for i in missing]

        def done(images: list[QImage]) -> None:
            self._reading = False
            if rects is self._rects and generation == self.view.generation:
                self.pictures.update(zip(missing, images))
                for row, index in enumerate(self.indices.tolist()):
                    if index in missing:
                        self.panel.set_picture(row, self.pictures[index])
            if self._stale:
                self._read_missing()

        def failed(exc: BaseException) -> None:
            self._reading = False
            if generation == self.view.generation:  # a replaced slide's reader may be closed: no news
                self.panel.summary.setText(f"{self.panel.summary.text()} Pictures cannot be read: {exc}")

        self._jobs.submit(read_tile_pictures, reader, boxes, on_success=done, on_error=failed)

    @property
    def pictures_pending(self) -> bool:
        """True while pictures of listed tiles are still being read."""
        return self._reading or any(int(i) not in self.pictures for i in self.indices)

    def _select(self, key: str, rank: int, _index: int) -> None:
        """Mark the tile the keys walked to, when the gallery lists it in that order."""
        if key == self.panel.key and 0 <= rank < self.panel.list.count():
            self.panel.list.setCurrentRow(rank)
            self.panel.list.scrollToItem(self.panel.list.item(rank))
        else:
            self.panel.list.clearSelection()
