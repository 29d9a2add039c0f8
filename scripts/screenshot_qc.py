"""Screenshot of the QC layer and its legend, before any analysis: cmu_small_region.svs with a few
of its tiles spoiled the way slides are (a green marker line, a blurred patch, a fold, a tile
with twice its stain), checked with Analysis > Check quality.

Run under a display or Xvfb, from the repository root:

    xvfb-run -a -s "-screen 0 1600x1000x24" python3 scripts/screenshot_qc.py docs/screenshots/slide-qc-layer.png
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtWidgets import QScrollArea

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from shot_app import start_app, wait  # noqa: E402 - scripts/shot_app.py
from bcviewer.gui.main_window import MainWindow  # noqa: E402
from bcviewer.slides import open_slide  # noqa: E402
from pyramid_fixture import write_pyramid_tiff  # noqa: E402

SVS = ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs"


def scale_stain(rgb: np.ndarray, k: float) -> np.ndarray:
    od = -np.log(np.clip(rgb.astype(np.float32) / 255.0, 1 / 255.0, 1.0))
    return np.clip(255.0 * np.exp(-k * od), 0, 255).round().astype(np.uint8)


def spoiled_slide(folder: Path) -> Path:
    """cmu_small_region.svs with a few tiles spoiled (level-0 rectangles x, y, w, h)."""
    with open_slide(SVS) as slide:
        rgb = slide.read_region(0, 0, 0, *slide.dimensions).copy()

    def patch(x: int, y: int, w: int, h: int, change) -> None:  # type: ignore[no-untyped-def]
        rgb[y:y + h, x:x + w] = change(rgb[y:y + h, x:x + w])

    # Rectangles on the idc-wsi grid of this slide (401 px tiles from x 401, y 0), so each spoils whole tiles.
    patch(1202, 1603, 401, 401, lambda t: scale_stain(t, 2.0))  # overstained
    patch(1603, 2405, 401, 401, lambda t: (t * 0.12).astype(np.uint8))  # a fold: dark
    patch(802, 2004, 802, 401, lambda t: cv2.GaussianBlur(t, (0, 0), 4))  # out of focus
    cv2.line(rgb, (700, 620), (1700, 560), (40, 170, 60), 110)  # a green marker line
    return write_pyramid_tiff(folder / "spoiled.svs", rgb, levels=3, aperio_mag=20)




def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bcviewer-shot-"))
    app = start_app(str(folder / "data"))
    window = MainWindow()
    window.resize(1500, 960)
    window.show()
    slide = window.slide
    slide.session.mpp_override = 0.499  # the fixture writer records no pixel size; the SVS's own
    window.open_path(spoiled_slide(folder))
    wait(app, lambda: slide.view.reader is not None and slide.jobs.pending == 0)
    quality = slide.quality
    quality.check_action.trigger()
    wait(app, lambda: quality.usable() is not None and window.is_idle())
    quality.layer_action.setChecked(True)
    slide.view.fit()
    page = slide.side.currentWidget()
    if isinstance(page, QScrollArea):
        page.ensureWidgetVisible(quality.panel)
    wait(app, lambda: False, 1.5)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ok = window.grab().save(str(args.out), "PNG")
    print(quality.panel.legend_rows(), file=sys.stderr)
    window.close()
    print(f"screenshot saved to {args.out}" if ok else f"cannot write {args.out}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
