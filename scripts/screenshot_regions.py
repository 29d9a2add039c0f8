"""Screenshot of the Regions tab: two regions drawn on cmu_small_region.svs, analysed inside.

Run under a display or Xvfb, from the repository root:

    xvfb-run -s "-screen 0 1400x900x24" python3 scripts/screenshot_regions.py docs/screenshots/slide-regions.png

The regions are saved in a temporary data folder, so the user's own are neither read nor changed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6.QtWidgets import QScrollArea
from shapely.geometry import Polygon, box

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shot_app import start_app, wait  # noqa: E402 - scripts/shot_app.py
from bcviewer.gui.main_window import MainWindow  # noqa: E402




def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    app = start_app()
    window = MainWindow()
    window.resize(1400, 880)
    window.show()
    slide = window.slide
    window.open_path(ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs")
    wait(app, lambda: slide.view.reader is not None and slide.jobs.pending == 0)
    slide.regions.add(box(802, 0, 1604, 802))
    slide.regions.add(Polygon([(900, 1300), (1500, 1200), (1650, 1900), (1100, 2300), (800, 1900)]))
    slide.regions.rename(1, "invasive front")
    slide.regions.reclass(1, "Tumor")
    slide.regions.select(1)
    slide.run(inside_regions=True)
    wait(app, lambda: slide.session.scores is not None and len(slide.regions.stats) == 2 and window.is_idle())
    side = slide.side
    side.setCurrentIndex(1)
    page = side.currentWidget()
    if isinstance(page, QScrollArea):
        page.ensureVisible(0, 0)
    wait(app, lambda: False, 1.0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ok = window.grab().save(str(args.out), "PNG")
    window.close()
    print(f"screenshot saved to {args.out}" if ok else f"cannot write {args.out}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
