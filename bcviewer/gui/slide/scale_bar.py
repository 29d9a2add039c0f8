"""A scale bar in µm: a round length (1, 2 or 5 x 10^k µm) close to a target width on screen."""

from __future__ import annotations

import math

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QPainter


def nice_length(um_per_pixel: float, target_px: float = 120.0) -> tuple[float, float]:
    """(length in µm, length in screen pixels) of the round length nearest below ``target_px``."""
    if um_per_pixel <= 0 or not math.isfinite(um_per_pixel):
        raise ValueError(f"µm per pixel must be positive, got {um_per_pixel}")
    raw = um_per_pixel * target_px
    exponent = math.floor(math.log10(raw))
    best = 10.0**exponent
    for step in (1.0, 2.0, 5.0, 10.0):
        if step * 10.0**exponent <= raw:
            best = step * 10.0**exponent
    return best, best / um_per_pixel


def format_length(um: float) -> str:
    """'500 µm', '2 mm', '0.5 µm'."""
    if um >= 1000:
        return f"{um / 1000:g} mm"
    return f"{um:g} µm"


def paint_scale_bar(painter: QPainter, bottom_left_x: int, bottom_y: int, um_per_pixel: float) -> QRect:
    """Draw the bar with its label on a translucent plate; returns the plate's rectangle."""
    um, px = nice_length(um_per_pixel)
    label = format_length(um)
    font = QFont(painter.font())
    font.setPointSizeF(9)
    painter.save()
    painter.setFont(font)
    text_w = painter.fontMetrics().horizontalAdvance(label)
    text_h = painter.fontMetrics().height()
    width = max(int(round(px)), text_w) + 16
    plate = QRect(bottom_left_x, bottom_y - text_h - 18, width, text_h + 18)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
    painter.fillRect(plate, QColor(255, 255, 255, 200))
    bar = QRect(plate.left() + 8, plate.bottom() - 9, int(round(px)), 4)
    painter.fillRect(bar, QColor(20, 20, 20))
    painter.setPen(QColor(20, 20, 20))
    painter.drawText(QRect(plate.left() + 8, plate.top() + 3, width - 16, text_h), Qt.AlignmentFlag.AlignLeft, label)
    painter.restore()
    return plate
