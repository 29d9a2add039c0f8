"""``SubImageGrid``: the sub-images of one image, laid out as in the image with gaps between them.

Each cell shows the sub-image's pixels. The border colour is the label (green benign, red
malignant); the border pattern and a badge give the source (dashed: inherited from the image,
solid: set by a self-learning round, double: set by a person). A padlock marks locked
sub-images, an amber badge a pending proposal with the model's confidence, and a grey badge the
latest round's ``p_malignant``. Mouse and arrow keys select: click, Ctrl+click toggles,
Shift+click or Shift+arrow extends, Ctrl+A selects every sub-image.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from bcviewer.labels import SubImageRow

LABEL_COLOURS = {"benign": QColor(46, 160, 67), "malignant": QColor(211, 47, 47)}
SOURCE_COLOURS = {"inherited": QColor(97, 97, 97), "model": QColor(21, 101, 192), "human": QColor(123, 31, 162)}
SOURCE_PENS = {"inherited": Qt.PenStyle.DashLine, "model": Qt.PenStyle.SolidLine, "human": Qt.PenStyle.SolidLine}
PROPOSAL_COLOUR = QColor(255, 179, 0)
SELECTION_COLOUR = QColor(0, 172, 230)
GAP = 10
MARGIN = 8
BORDER = 5
ARROWS = {Qt.Key.Key_Left: (0, -1), Qt.Key.Key_Right: (0, 1), Qt.Key.Key_Up: (-1, 0), Qt.Key.Key_Down: (1, 0)}


def cell_texts(row: SubImageRow, compact: bool) -> tuple[str, str, str, str]:
    """Badge texts of a cell: label, source, p_malignant and proposal ("" when there is none)."""
    round_text = f" r{row.round}" if row.source == "model" and row.round else ""
    p_text = "" if row.p_malignant is None else f"{'' if compact else 'p '}{row.p_malignant:.2f}"
    proposal = ""
    if row.proposed_label is not None and row.p_malignant is not None:
        confidence = 1.0 - row.p_malignant if row.proposed_label == "benign" else row.p_malignant
        name = row.proposed_label[0].upper() if compact else row.proposed_label
        proposal = f"→ {name} {confidence:.2f}"
    if compact:
        return row.label[0].upper(), {"inherited": "inh", "model": "mod", "human": "hum"}[row.source] + round_text, \
            p_text, proposal
    return row.label, row.source + round_text, p_text, proposal


class SubImageGrid(QWidget):
    """Cells of one image's sub-images, with a selection the labeling keys act on."""

    selection_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(360, 260)
        self._rows: list[SubImageRow] = []
        self._image_size = (1, 1)
        self._thumbs: dict[int, QImage] = {}
        self._selected: set[int] = set()
        self._current: int | None = None  # index into _rows
        self.placeholder = "No image"

    # ---- content ------------------------------------------------------------------------------
    def set_subimages(self, rows: Sequence[SubImageRow], image_size: tuple[int, int]) -> None:
        """Show these sub-images; the selection is kept when they belong to the same image."""
        same_image = bool(self._rows and rows and self._rows[0].image_id == rows[0].image_id)
        keep_ids = self.selected_ids() if same_image else []
        current_row = self.current_row()
        keep_current = current_row.id if same_image and current_row is not None else None
        self._rows = list(rows)
        self._image_size = (max(1, image_size[0]), max(1, image_size[1]))
        if not same_image:
            self._thumbs = {}
        ids = [r.id for r in self._rows]
        self._selected = {ids.index(i) for i in keep_ids if i in ids}
        self._current = ids.index(keep_current) if keep_current in ids else None
        if self._current is None and self._rows:
            self._current = 0
            self._selected = {0}
        self.update()
        self.selection_changed.emit()

    def set_thumbnails(self, images: dict[int, QImage]) -> None:
        """Pixels per sub-image id (read on a worker thread)."""
        self._thumbs.update(images)
        self.update()

    def has_thumbnail(self, subimage_id: int) -> bool:
        return subimage_id in self._thumbs

    @property
    def rows(self) -> list[SubImageRow]:
        return list(self._rows)

    def selected_ids(self) -> list[int]:
        """Ids of the selected sub-images, in row-major order."""
        return [self._rows[i].id for i in sorted(self._selected) if i < len(self._rows)]

    def selected_rows(self) -> list[SubImageRow]:
        return [self._rows[i] for i in sorted(self._selected) if i < len(self._rows)]

    def current_row(self) -> SubImageRow | None:
        return None if self._current is None or self._current >= len(self._rows) else self._rows[self._current]

    def select_ids(self, ids: Sequence[int], current: int | None = None) -> None:
        """Select these sub-images; ``current`` (default: the first) gets the keyboard focus."""
        index = {r.id: i for i, r in enumerate(self._rows)}
        self._selected = {index[i] for i in ids if i in index}
        chosen = current if current is not None else (ids[0] if ids else None)
        self._current = index.get(chosen) if chosen is not None else None
        self.update()
        self.selection_changed.emit()

    def move_current(self, d_row: int, d_col: int, extend: bool = False) -> None:
        """Move the current sub-image by one cell (stopping at the edges); ``extend`` adds to the selection."""
        if self._current is None:
            return
        here = self._rows[self._current]
        target = self._at(here.row + d_row, here.col + d_col)
        if target is None:
            return
        self._current = target
        self._selected = (self._selected | {target}) if extend else {target}
        self.update()
        self.selection_changed.emit()

    def _at(self, row: int, col: int) -> int | None:
        return next((i for i, r in enumerate(self._rows) if (r.row, r.col) == (row, col)), None)

    # ---- geometry -----------------------------------------------------------------------------
    def cell_rects(self) -> list[QRectF]:
        """Where each sub-image is drawn, in widget coordinates (same order as :attr:`rows`)."""
        if not self._rows:
            return []
        n_rows = max(r.row for r in self._rows) + 1
        n_cols = max(r.col for r in self._rows) + 1
        img_w, img_h = self._image_size
        free_w = self.width() - 2 * MARGIN - GAP * (n_cols - 1)
        free_h = self.height() - 2 * MARGIN - GAP * (n_rows - 1)
        scale = max(1e-6, min(free_w / img_w, free_h / img_h))
        left = (self.width() - (img_w * scale + GAP * (n_cols - 1))) / 2
        top = (self.height() - (img_h * scale + GAP * (n_rows - 1))) / 2
        return [QRectF(left + r.x * scale + r.col * GAP, top + r.y * scale + r.row * GAP, r.w * scale, r.h * scale)
                for r in self._rows]

    def index_at(self, point: QPointF) -> int | None:
        return next((i for i, rect in enumerate(self.cell_rects()) if rect.contains(point)), None)

    def sizeHint(self) -> QSize:
        return QSize(640, 440)

    # ---- input --------------------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, mods = event.key(), event.modifiers()
        if key in ARROWS and self._rows:
            self.move_current(*ARROWS[Qt.Key(key)], extend=bool(mods & Qt.KeyboardModifier.ShiftModifier))
        elif key == Qt.Key.Key_A and mods & Qt.KeyboardModifier.ControlModifier:
            current_row = self.current_row()
            self.select_ids([r.id for r in self._rows], current_row.id if current_row is not None else None)
        else:
            super().keyPressEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        hit = self.index_at(event.position())
        if hit is None or event.button() != Qt.MouseButton.LeftButton:
            return
        mods = event.modifiers()
        if mods & Qt.KeyboardModifier.ControlModifier:
            self._selected ^= {hit}
        elif mods & Qt.KeyboardModifier.ShiftModifier and self._current is not None:
            a, b = self._rows[self._current], self._rows[hit]
            self._selected = {i for i, r in enumerate(self._rows)
                              if min(a.row, b.row) <= r.row <= max(a.row, b.row)
                              and min(a.col, b.col) <= r.col <= max(a.col, b.col)}
        else:
            self._selected = {hit}
        self._current = hit
        self.update()
        self.selection_changed.emit()

    # ---- painting -----------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), self.palette().window())
        if not self._rows:
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            return
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.9))
        font.setBold(True)
        painter.setFont(font)
        for i, (row, rect) in enumerate(zip(self._rows, self.cell_rects())):
            self._paint_cell(painter, row, rect, i in self._selected, i == self._current)
        painter.end()

    def _paint_cell(self, p: QPainter, row: SubImageRow, rect: QRectF, selected: bool, current: bool) -> None:
        thumb = self._thumbs.get(row.id)
        if thumb is not None:
            p.drawImage(rect, thumb)
        else:
            p.fillRect(rect, QColor(225, 225, 225))
        if selected:
            p.fillRect(rect, QColor(SELECTION_COLOUR.red(), SELECTION_COLOUR.green(), SELECTION_COLOUR.blue(), 50))
            p.setPen(QPen(SELECTION_COLOUR, 4))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(rect.adjusted(-4, -4, 4, 4))
        inner = rect.adjusted(BORDER / 2, BORDER / 2, -BORDER / 2, -BORDER / 2)
        p.setBrush(Qt.BrushStyle.NoBrush)
        colour = LABEL_COLOURS.get(row.label, QColor("black"))
        p.setPen(QPen(colour, BORDER, SOURCE_PENS.get(row.source, Qt.PenStyle.SolidLine), Qt.PenCapStyle.FlatCap))
        p.drawRect(inner)
        if row.source == "human":  # the double line of a person's label
            p.setPen(QPen(colour, 2))
            p.drawRect(inner.adjusted(BORDER + 1, BORDER + 1, -BORDER - 1, -BORDER - 1))
        if current and self.hasFocus():
            p.setPen(QPen(QColor("white"), 1, Qt.PenStyle.DotLine))
            p.drawRect(rect.adjusted(-7, -7, 7, 7))
        p.save()
        p.setClipRect(rect)
        texts = cell_texts(row, compact=False)
        metrics = p.fontMetrics()
        room = rect.width() - 2 * BORDER - 30  # leave the padlock's corner free
        if (metrics.horizontalAdvance(texts[0] + texts[1]) + 22 > room
                or metrics.horizontalAdvance(texts[2] + texts[3]) + 22 > room):
            texts = cell_texts(row, compact=True)
        label_text, source_text, p_text, proposal_text = texts
        x = self._badge(p, rect.left() + BORDER + 3, rect.top() + BORDER + 3, label_text, colour)
        self._badge(p, x + 3, rect.top() + BORDER + 3, source_text, SOURCE_COLOURS[row.source])
        if row.locked:
            self._padlock(p, QPointF(rect.right() - BORDER - 16, rect.top() + BORDER + 4))
        bottom = rect.bottom() - BORDER - 3 - self._badge_height(p)
        if p_text:
            self._badge(p, rect.left() + BORDER + 3, bottom, p_text, QColor(33, 33, 33, 200))
        if proposal_text:
            width = metrics.horizontalAdvance(proposal_text) + 8
            self._badge(p, rect.right() - BORDER - 3 - width, bottom, proposal_text, PROPOSAL_COLOUR, QColor("black"))
        p.restore()

    @staticmethod
    def _badge_height(p: QPainter) -> float:
        return p.fontMetrics().height() + 2

    def _badge(self, p: QPainter, x: float, y: float, text: str, fill: QColor,
               ink: QColor = QColor("white")) -> float:
        """Draw a small filled label at (x, y); returns its right edge."""
        width = p.fontMetrics().horizontalAdvance(text) + 8
        box = QRectF(x, y, width, self._badge_height(p))
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(fill)
        p.drawRoundedRect(box, 3, 3)
        p.setPen(ink)
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        return box.right()

    @staticmethod
    def _padlock(p: QPainter, at: QPointF) -> None:
        """A padlock 12 px wide whose top-left is ``at``, on a dark disc so it shows on any tissue."""
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 170))
        p.drawEllipse(QRectF(at.x() - 4, at.y() - 2, 20, 20))
        p.setPen(QPen(QColor("white"), 2))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawArc(QRectF(at.x() + 2, at.y() + 1, 8, 9), 0, 180 * 16)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("white"))
        p.drawRoundedRect(QRectF(at.x(), at.y() + 6, 12, 9), 2, 2)
