"""``ViewerStatusBar``: cursor position (px, µm), zoom and magnification, mpp, level, hovered tile."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from bcviewer.errors import BcviewerError
from bcviewer.gui import core
from bcviewer.gui.slide.overlay import TileInfo
from bcviewer.slides import SlideReader

UM_PER_PX_AT_10X = 1.0  # a 10x objective images about 1 µm per camera pixel


def base_magnification(reader: SlideReader, user_mpp: float | None = None) -> float | None:
    """Magnification of level 0: the scanner's objective, else from the mpp (the file's, else the
    user's), else a BreakHis name (known once the core's datasets module has loaded)."""
    if reader.objective_power:
        return float(reader.objective_power)
    mpp = reader.mpp or user_mpp
    if mpp:
        return 10.0 * UM_PER_PX_AT_10X / mpp
    if not core.is_ready():
        return None
    from bcviewer.datasets.breakhis import parse_breakhis_name

    try:
        return float(parse_breakhis_name(reader.path.name).magnification)
    except BcviewerError:
        return None


def format_position(x: float, y: float, mpp: float | None) -> str:
    text = f"x {int(x)}, y {int(y)} px"
    if mpp:
        text += f" · {x * mpp:,.1f}, {y * mpp:,.1f} µm"
    return text


def format_zoom(scale: float, magnification: float | None) -> str:
    text = f"zoom {scale * 100:.0f}%"
    if magnification:
        text += f" · {magnification * scale:.1f}×"
    return text


class ViewerStatusBar(QStatusBar):
    """Permanent fields on the right; transient messages on the left."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.position = QLabel("")
        self.zoom = QLabel("")
        self.mpp = QLabel("")
        self.level = QLabel("")
        self.tile = QLabel("")
        for w, tip in (
            (self.position, "Cursor position in level-0 pixels and micrometres"),
            (self.zoom, "Zoom (100% = one screen pixel per image pixel) and effective magnification"),
            (self.mpp, "Micrometres per image pixel"),
            (self.level, "Pyramid level drawn at this zoom"),
            (self.tile, "Malignant probability of the tile under the cursor"),
        ):
            w.setToolTip(tip)
            self.addPermanentWidget(w)
        self._reader: SlideReader | None = None
        self._magnification: float | None = None
        self._mpp: float | None = None

    def set_slide(self, reader: SlideReader | None, user_mpp: float | None = None) -> None:
        """Show ``reader``'s facts; ``user_mpp`` is the pixel size the user gave when the file has none."""
        self._reader = reader
        self._magnification = base_magnification(reader, user_mpp) if reader is not None else None
        self._mpp = reader.mpp if reader is not None and reader.mpp else user_mpp
        if reader is not None and reader.mpp:
            self.mpp.setText(f"{reader.mpp:.3f} µm/px")
        elif user_mpp:
            self.mpp.setText(f"{user_mpp:.3f} µm/px (entered)")
        else:
            self.mpp.setText("mpp unknown")
        self.position.setText("")
        self.tile.setText("")

    def set_cursor(self, point: tuple[float, float] | None) -> None:
        if point is None or self._reader is None:
            self.position.setText("")
            return
        self.position.setText(format_position(point[0], point[1], self._mpp))

    def set_zoom(self, scale: float) -> None:
        self.zoom.setText(format_zoom(scale, self._magnification))

    def set_level(self, level: int, count: int) -> None:
        self.level.setText(f"level {level} of {count}" if level >= 0 else "")

    def set_tile(self, info: TileInfo | None) -> None:
        """The hovered analysis tile, or None."""
        if info is None:
            self.tile.setText("")
        elif info.probability is None:
            self.tile.setText(f"tile r{info.row + 1} c{info.col + 1}: not scored")
        else:
            self.tile.setText(f"tile r{info.row + 1} c{info.col + 1}: P(malignant) {info.probability:.3f}")
