"""Screenshot of the expression-profile tab with the shipped ER-status models on a fixture table.

Run under a display or Xvfb, from the repository root:

    xvfb-run -s "-screen 0 1400x900x24" python3 scripts/screenshot_expression_tab.py docs/screenshots/expression-tab.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bcviewer.gui.gui_thread_gc import collect_garbage_on_gui_thread  # noqa: E402
from bcviewer.gui.expression import ExpressionTab  # noqa: E402


def wait_for(signal, seconds: float = 300) -> None:  # type: ignore[no-untyped-def]
    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="PNG file to write")
    parser.add_argument("--profile", default=str(ROOT / "tests" / "data" / "genes" / "tcga_er_pam50_160.csv"))
    parser.add_argument("--task", default="er-status")
    parser.add_argument("--models", default="deepcme,gexpnet,ensemble")
    parser.add_argument("--sample", default="TCGA-AN-A049-01A-21R-A00Z-07")
    parser.add_argument("--details", default="ensemble", help="architecture whose genes are shown")
    args = parser.parse_args()
    torch.set_num_threads(1)
    app = QApplication(sys.argv[:1])
    collect_garbage_on_gui_thread()
    window = QMainWindow()
    window.setWindowTitle("bcviewer – expression profile")
    tab = ExpressionTab()
    window.setCentralWidget(tab)
    window.resize(1400, 900)
    window.show()
    tab.picker.set_task(args.task, args.models.split(","))
    tab.open_path(args.profile)
    wait_for(tab.profile_loaded)
    tab.predict()
    wait_for(tab.prediction_finished)
    tab.select_sample(args.sample)
    tab.show_details_for(f"{args.task}/{args.details}")
    QTimer.singleShot(500, app.quit)
    app.exec()
    ok = window.grab().save(args.out)
    tab.shutdown()
    print(f"wrote {args.out}" if ok else f"could not write {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
