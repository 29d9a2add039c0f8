"""Screenshots of the review tools on cmu_small_region.svs, analysed with the shipped idc-wsi model:
the Tiles gallery after two presses of N (the view centred on the second most malignant tile), and
the uncertainty layer with a ruler line measured across the tissue.

Run under a display or Xvfb, from the repository root:

    xvfb-run -a -s "-screen 0 1600x1000x24" python3 scripts/screenshot_review.py docs/screenshots

writes slide-gallery.png and slide-uncertainty-ruler.png there. Settings and data go to a
temporary folder, so the user's own are neither read nor changed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QScrollArea

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shot_app import shot_window, wait  # noqa: E402 - scripts/shot_app.py
from bcviewer.gui.main_window import MainWindow  # noqa: E402


def show_tab(window: MainWindow, index: int) -> None:
    side = window.slide.side
    side.setCurrentIndex(index)
    page = side.currentWidget()
    if isinstance(page, QScrollArea):
        page.ensureVisible(0, 0)


def save(app: QApplication, window: MainWindow, out: Path) -> bool:
    wait(app, window.is_idle, 60)
    wait(app, lambda: False, 1.0)
    ok = window.grab().save(str(out), "PNG")
    print(f"screenshot saved to {out}" if ok else f"cannot write {out}", file=sys.stderr)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the two PNG files")
    args = parser.parse_args()
    app, window = shot_window()
    slide, acts = window.slide, window.action_set.review
    window.open_path(ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs")
    wait(app, lambda: slide.view.reader is not None and slide.jobs.pending == 0)
    slide.run()
    wait(app, lambda: slide.session.scores is not None and window.is_idle())
    wait(app, lambda: slide.review.gallery.indices.size > 0 and not slide.review.gallery.pictures_pending)
    args.out.mkdir(parents=True, exist_ok=True)

    show_tab(window, 2)
    acts.next_malignant.trigger()
    acts.next_malignant.trigger()
    ok = save(app, window, args.out / "slide-gallery.png")

    show_tab(window, 0)
    slide.view.fit()
    acts.uncertainty.setChecked(True)
    acts.ruler.setChecked(True)
    view = slide.view
    start, end = view.transform.to_screen(700, 900), view.transform.to_screen(1500, 2100)
    QTest.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start.toPoint())
    QTest.mouseMove(view, QPoint(end.toPoint()))
    QTest.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end.toPoint())
    ok = save(app, window, args.out / "slide-uncertainty-ruler.png") and ok
    window.close()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
