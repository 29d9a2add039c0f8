"""Screenshots of the verdict: the analysis panel on the bundled BreakHis sample, and the Regions
tab on cmu_small_region.svs with a tissue region and a glass region ("no verdict").

Run under a display or Xvfb, from the repository root:

    xvfb-run -a -s "-screen 0 1600x1000x24" python3 scripts/screenshot_verdict.py docs/screenshots

The regions are saved in a temporary data folder, so the user's own are neither read nor changed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication, QScrollArea
from shapely.geometry import box

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bcviewer.gui.main_window import MainWindow  # noqa: E402
from shot_app import start_app, wait  # noqa: E402 - scripts/shot_app.py


def shoot(app: QApplication, window: MainWindow, tab: int, out: Path) -> bool:
    side = window.slide.side
    side.setCurrentIndex(tab)
    page = side.currentWidget()
    if isinstance(page, QScrollArea):
        page.ensureVisible(0, 0)
    wait(app, lambda: False, 1.0)
    ok = window.grab().save(str(out), "PNG")
    print(f"screenshot saved to {out}" if ok else f"cannot write {out}", file=sys.stderr)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for verdict-analysis.png and verdict-regions.png")
    args = parser.parse_args()
    app = start_app()
    args.out.mkdir(parents=True, exist_ok=True)
    window = MainWindow()
    window.resize(1400, 880)
    window.show()
    slide = window.slide
    window.open_path(ROOT / "resources" / "sample" / "SOB_M_MC-14-13413-100-003.png")
    wait(app, lambda: slide.view.reader is not None and slide.jobs.pending == 0)
    slide.run()
    wait(app, lambda: slide.session.scores is not None and slide.session.scores.complete and window.is_idle())
    ok = shoot(app, window, 0, args.out / "verdict-analysis.png")

    window.open_path(ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs")
    wait(app, lambda: slide.view.reader is not None and slide.jobs.pending == 0 and window.is_idle())
    slide.regions.add(box(802, 0, 1604, 802))
    slide.regions.add(box(0, 0, 600, 400))  # the slide's top-left corner: bare glass
    slide.regions.rename(1, "glass corner")
    slide.regions.select(1)
    slide.run(inside_regions=True)
    wait(app, lambda: slide.session.scores is not None and len(slide.regions.stats) == 2 and window.is_idle())
    ok = shoot(app, window, 1, args.out / "verdict-regions.png") and ok
    window.close()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
