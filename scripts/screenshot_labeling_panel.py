"""Screenshot of the labeling panel after self-learning rounds on real BreakHis images.

Run under a display or Xvfb, from the repository root:

    xvfb-run -s "-screen 0 1400x900x24" python3 scripts/screenshot_labeling_panel.py docs/screenshots/labeling-panel.png

The project (in a temporary folder) holds the images of ``--data`` (default: the shared BreakHis
folder, else the four fixtures of tests/data/breakhis). The panel then does what its Run button
does with the default fast trainer: three automatic rounds (tau 0.1, 0.2, 0.3) and one review
round (tau 0.4), on a worker, holding out 20% of the patients; the rounds view plots the held-out
accuracy of each. A person then labels one sub-image and locks another, so every source shows.

``--next-proposal`` instead shows the first listed image without a proposal, then presses the
next-proposal key (``]``), as docs/screenshots/labeling-next-proposal.png shows:

    xvfb-run -s "-screen 0 1400x900x24" python3 scripts/screenshot_labeling_panel.py --next-proposal \
        docs/screenshots/labeling-next-proposal.png
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer
from PySide6.QtTest import QTest
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
    parser.add_argument("--next-proposal", action="store_true",
                        help="press the next-proposal key (]) from an image without proposals")
    parser.add_argument("--annotator", metavar="NAME", help="label as NAME, add a reason to the label and show "
                        "its history (the viewer's own settings are not touched)")
    args = parser.parse_args()
    app = QApplication(sys.argv[:1])
    collect_garbage_on_gui_thread()
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder) / "breakhis.bcv"
        with LabelStore.create(project) as store:
            import_images(store, [args.data])
        window = QMainWindow()
        window.setWindowTitle("bcviewer – labeling")
        panel = LabelingPanel(project)
        if args.annotator:  # before the rounds, so that they name the annotator too
            panel.annotator.settings = QSettings(str(Path(folder) / "settings.ini"), QSettings.Format.IniFormat)
            panel.annotator.set_name(args.annotator)
        window.setCentralWidget(panel)
        window.resize(1400, 900)
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
        if args.next_proposal:
            return _next_proposal_shot(panel, window, args.out)
        panel.browser.set_order("disagreement")
        pause(300)
        dc = next(i for i in panel.browser.visible_image_ids() if "_M_DC" in str(panel.store.image(i).path))
        panel.browser.select_image(dc)
        rows = panel.grid.rows
        plain = [s for s in rows if s.proposal_id is None]
        panel.grid.select_ids([plain[0].id])
        panel.label_selection("malignant")
        if args.annotator:
            panel.annotator.add_reason("tumour cells at the lower edge")
        panel.grid.select_ids([plain[-1].id])
        panel.toggle_lock()
        proposed = [s.id for s in panel.grid.rows if s.proposal_id is not None]
        panel.grid.select_ids([plain[0].id] if args.annotator else proposed[:1])
        panel.grid.setFocus()
        pause(800)
        ok = window.grab().save(args.out)
        panel.shutdown()
    print(f"wrote {args.out}" if ok else f"could not write {args.out}")
    return 0 if ok else 1


def _next_proposal_shot(panel: LabelingPanel, window: QMainWindow, out: str) -> int:
    """From the first listed image without a pending proposal, press ] and save the window."""
    first = next(i for i in panel.browser.visible_image_ids() if panel.store.image(i).n_pending == 0)
    panel.browser.select_image(first)
    panel.grid.setFocus()
    pause(800)
    QTest.keyClick(panel.grid, Qt.Key.Key_BracketRight)
    pause(1200)
    ok = window.grab().save(out)
    print(panel.ui.status.text())
    panel.shutdown()
    print(f"wrote {out}" if ok else f"could not write {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
