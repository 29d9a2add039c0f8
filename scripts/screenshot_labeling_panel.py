"""Screenshot of the labeling panel after self-learning rounds on real BreakHis images.

Run under a display or Xvfb, from the repository root:

    xvfb-run -s "-screen 0 1400x900x24" python3 scripts/screenshot_labeling_panel.py docs/screenshots/labeling-panel.png

The project (in a temporary folder) holds the images of ``--data`` (default: the shared BreakHis
folder, else the four fixtures of tests/data/breakhis). The panel then does what its Run button
does with the default fast trainer: three automatic rounds (tau 0.1, 0.2, 0.3) and one review
round (tau 0.4), on a worker, holding out 20% of the patients; the rounds view plots the held-out
accuracy of each. A person then labels one sub-image and locks another, so every source shows.

``--size 1200x720 --status TEXT`` shows a long status line in a laptop-sized window (the side
columns scroll so that the status line stays on screen):

    xvfb-run -s "-screen 0 1400x900x24" python3 scripts/screenshot_labeling_panel.py \
        docs/screenshots/labeling-status-line.png --data tests/data/breakhis --size 1200x720 --status "Imported ..."
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bcviewer.gui.gui_thread_gc import collect_garbage_on_gui_thread  # noqa: E402
from bcviewer.gui.labeling import LabelingPanel  # noqa: E402
from bcviewer.labels import LabelStore  # noqa: E402
from bcviewer.labels.importer import import_images  # noqa: E402


def pause(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="PNG file to write")
    shared = ROOT.parent / "shared" / "data" / "breakhis"
    parser.add_argument("--data", type=Path, default=shared if shared.is_dir() else ROOT / "tests" / "data" / "breakhis")
    parser.add_argument("--size", default="1400x900", help="window size WxH (default 1400x900)")
    parser.add_argument("--status", help="text for the status line at the end (default: the last action's)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    app = QApplication(sys.argv[:1])
    collect_garbage_on_gui_thread()
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder) / "breakhis.bcv"
        with LabelStore.create(project) as store:
            import_images(store, [args.data])
        window = QMainWindow()
        window.setWindowTitle("bcviewer – labeling")
        panel = LabelingPanel(project)
        window.setCentralWidget(panel)
        window.resize(width, height)
        window.show()
        pause(1000)
        box = panel.ui.selflearn
        for mode, rounds in (("auto", 3), ("review", 1)):
            box.mode.setCurrentIndex(box.mode.findData(mode))
            box.rounds.setValue(rounds)
            loop = QEventLoop()
            panel.worker.finished.connect(loop.quit)
            panel.worker.failed.connect(loop.quit)
            box.run.click()
            loop.exec()
            panel.worker.finished.disconnect(loop.quit)
            panel.worker.failed.disconnect(loop.quit)
            pause(1500)
        panel.ui.rounds.table.selectRow(0)
        panel.browser.set_order("disagreement")
        pause(300)
        dc = next(i for i in panel.browser.visible_image_ids() if "_M_DC" in str(panel.store.image(i).path))
        panel.browser.select_image(dc)
        rows = panel.grid.rows
        plain = [s for s in rows if s.proposal_id is None]
        panel.grid.select_ids([plain[0].id])
        panel.label_selection("malignant")
        panel.grid.select_ids([plain[-1].id])
        panel.toggle_lock()
        proposed = [s.id for s in panel.grid.rows if s.proposal_id is not None]
        panel.grid.select_ids(proposed[:1])
        panel.grid.setFocus()
        if args.status:
            panel.say(args.status)
        pause(800)
        ok = window.grab().save(args.out)
        panel.shutdown()
    print(f"wrote {args.out}" if ok else f"could not write {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
