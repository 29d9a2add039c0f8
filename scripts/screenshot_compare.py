"""Screenshot of the side-by-side view: cmu_small_region.svs analysed, shown twice, the left
heatmap at threshold 0 and the right one at 0.5, pan and zoom linked.

Run under a display or Xvfb, from the repository root:

    xvfb-run -s "-screen 0 1600x1000x24" python3 scripts/screenshot_compare.py docs/screenshots/slide-compare.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


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
    window.resize(1500, 900)
    window.show()
    slide = window.slide
    window.open_path(ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs")
    wait(app, lambda: slide.view.reader is not None and slide.jobs.pending == 0)
    slide.run()
    wait(app, lambda: slide.session.scores is not None and window.is_idle())
    slide.compare.compare_thresholds()
    wait(app, lambda: slide.compare.mode == "thresholds" and slide.compare.pane.view.is_settled())
    slide.view.zoom_to(0.3)
    slide.view.center_on(1110, 1480)
    wait(app, lambda: window.is_idle() and slide.compare.pane.view.is_settled(), 30)
    wait(app, lambda: False, 1.0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ok = window.grab().save(str(args.out), "PNG")
    window.close()
    print(f"screenshot saved to {args.out}" if ok else f"cannot write {args.out}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
