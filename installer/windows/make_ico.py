"""Render resources/icons/bcviewer.svg to installer/windows/bcviewer.ico (16-256 px) with Qt.

Run by build.ps1 (and by installer/macos/build.sh for the .icns source PNG) so the only icon
drawn by hand stays the SVG.
"""

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parents[2]


def render(size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    QSvgRenderer(str(ROOT / "resources" / "icons" / "bcviewer.svg")).render(painter)
    painter.end()
    return image


def main() -> None:
    app = QGuiApplication.instance() or QGuiApplication(["make_ico", "-platform", "offscreen"])  # noqa: F841
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "installer" / "windows" / "bcviewer.ico"
    from PIL import Image

    png = out.with_suffix(".png")
    render(256).save(str(png))
    Image.open(png).save(out, sizes=[(s, s) for s in (16, 24, 32, 48, 64, 128, 256)])
    print(out)


if __name__ == "__main__":
    main()
