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

With ``--issues`` (docs/screenshots/labeling-label-issues.png) the panel instead finds the likely
label errors (its "Find likely label errors" button: one probe per fold of images, confident
learning) and shows the image list filtered to them, the first one chosen. ``--flip 0.1`` imports the
images through a labels CSV over links to them (the project records the originals' paths, so cached
features are reused and the BreakHis name still shows the true class) in which 10% of the labels
(seed 0) are flipped on purpose, as ``scripts/label_issue_precision.py``
does; on the true BreakHis labels the queue is empty.

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
    parser.add_argument("--issues", action="store_true", help="show the label-error queue instead of rounds")
    parser.add_argument("--flip", type=float, default=0.0, help="share of image labels flipped on purpose")
    parser.add_argument("--size", default="1400x900", help="window size WxH (default 1400x900)")
    parser.add_argument("--status", help="text for the status line at the end (default: the last action's)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    app = QApplication(sys.argv[:1])
    collect_garbage_on_gui_thread()
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder) / "breakhis.bcv"
        with LabelStore.create(project) as store:
            import_images(store, [flipped_csv(args.data, Path(folder), args.flip) if args.flip else args.data])
        window = QMainWindow()
        window.setWindowTitle("bcviewer – labeling")
        panel = LabelingPanel(project)
        if args.annotator:  # before the rounds, so that they name the annotator too
            panel.annotator.settings = QSettings(str(Path(folder) / "settings.ini"), QSettings.Format.IniFormat)
            panel.annotator.set_name(args.annotator)
        window.setCentralWidget(panel)
        window.resize(width, height)
        window.show()
        pause(1000)
        if args.issues:
            return label_issues_shot(window, panel, args.out)
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
        if args.status:
            panel.say(args.status)
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
def flipped_csv(data: Path, folder: Path, share: float) -> Path:
    """A labels CSV over neutral-named links to the BreakHis images of ``data``, ``share`` of them
    (seed 0) with the other label."""
    import numpy as np

    from bcviewer.labels.sources import collect_sources

    images = collect_sources([data]).images
    flip = set(np.random.default_rng(0).choice(len(images), round(share * len(images)), replace=False).tolist())
    rows = ["image,label,patient,magnification"]
    for i, item in enumerate(images):
        link = folder / f"case{i + 1:03d}.png"
        link.symlink_to(Path(item.path).resolve())
        label = {"benign": "malignant", "malignant": "benign"}[item.label] if i in flip else item.label
        rows.append(f"{link.name},{label},{item.patient},{item.magnification or ''}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    print(f"{len(flip)} of {len(images)} labels flipped on purpose")
    return folder / "labels.csv"


def label_issues_shot(window: QMainWindow, panel: LabelingPanel, out: str) -> int:
    """Find the likely label errors, show the filtered list with the first one chosen, save ``out``."""
    loop = QEventLoop()
    panel.issues.worker.finished.connect(loop.quit)
    panel.issues.worker.failed.connect(loop.quit)
    panel.ui.issues.search.click()
    loop.exec()
    pause(1500)
    ids = panel.browser.visible_image_ids()
    if ids:
        panel.browser.select_image(ids[0])
    panel.grid.setFocus()
    pause(800)
    ok = window.grab().save(out)
    print(f"wrote {out} ({panel.ui.issues.state.text()})" if ok else f"could not write {out}")
    panel.shutdown()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
