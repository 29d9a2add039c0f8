"""Screenshot of the pixel-size question the viewer asks for a whole slide that records none.

Run under a display or Xvfb, from the repository root:

    xvfb-run -s "-screen 0 1400x900x24" python3 scripts/screenshot_pixel_size.py docs/screenshots/pixel-size.png

The slide is the TCGA-like case, written to a temporary folder: the CMU sample's pixels as a
two-level Aperio TIFF that names a 20x objective (AppMag) but records no pixel size, so the
dialog starts at the usual 20x value (0.5 µm/px) and says where the value comes from.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from pyramid_fixture import write_pyramid_tiff  # noqa: E402

from bcviewer.gui.gui_thread_gc import collect_garbage_on_gui_thread  # noqa: E402
from bcviewer.gui.slide.pixel_size import PixelSizeDialog  # noqa: E402
from bcviewer.inference import OBJECTIVE_MPP  # noqa: E402
from bcviewer.slides import open_slide  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    collect_garbage_on_gui_thread()
    with open_slide(ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs") as s:
        rgb = s.read_region(0, 0, 0, *s.dimensions)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_pyramid_tiff(Path(tmp) / "TCGA-like.svs", rgb, levels=2, aperio_mag=20)
        with open_slide(path) as reader:
            dialog = PixelSizeDialog(reader, OBJECTIVE_MPP, None)
            dialog.show()
            QTimer.singleShot(300, app.quit)
            app.exec()
            args.out.parent.mkdir(parents=True, exist_ok=True)
            ok = dialog.grab().save(str(args.out), "PNG")
            dialog.close()
    print(f"screenshot saved to {args.out}" if ok else f"cannot write {args.out}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
