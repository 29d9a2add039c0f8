"""Screenshot of the explain panel on the bundled BreakHis sample, analysed with the shipped
breakhis-100x model: the tile with the lowest p of the nine, explained by occlusion (ONNX runtime).

Run under a display or Xvfb, from the repository root:

    xvfb-run -a -s "-screen 0 1600x1000x24" python3 scripts/screenshot_explain.py docs/screenshots

writes explain-panel.png there. Settings and data go to a temporary folder, so the user's own are
neither read nor changed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from screenshot_review import save, show_tab  # noqa: E402 - scripts/screenshot_review.py
from shot_app import shot_window, wait  # noqa: E402 - scripts/shot_app.py

SAMPLE = ROOT / "resources" / "sample" / "SOB_M_MC-14-13413-100-003.png"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for explain-panel.png")
    args = parser.parse_args()
    app, window = shot_window()
    slide = window.slide
    window.open_path(SAMPLE)
    wait(app, lambda: slide.view.reader is not None and slide.jobs.pending == 0)
    slide.run()
    wait(app, lambda: slide.session.scores is not None and window.is_idle())
    scores = slide.session.scores
    assert scores is not None
    lowest = int(np.nanargmin(scores.p_malignant))
    slide.explain.select(lowest, outline=True)  # as a right-click on it does
    slide.explain.explain()
    wait(app, lambda: slide.explain.panel.explanation is not None, 120)
    show_tab(window, 3)
    args.out.mkdir(parents=True, exist_ok=True)
    return 0 if save(app, window, args.out / "explain-panel.png") else 1


if __name__ == "__main__":
    raise SystemExit(main())
