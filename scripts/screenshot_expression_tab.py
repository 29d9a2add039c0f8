"""Screenshot of the expression-profile tab with the shipped ER-status models on a fixture table.

Run under a display or Xvfb, from the repository root:

    xvfb-run -s "-screen 0 1400x900x24" python3 scripts/screenshot_expression_tab.py docs/screenshots/expression-tab.png

``--centre`` subtracts each gene's median first, as two-colour arrays give log ratios, so that the
automatic scaling sees another platform (docs/screenshots/expression-auto-scaling.png):

    xvfb-run -s "-screen 0 1400x900x24" python3 scripts/screenshot_expression_tab.py \
        docs/screenshots/expression-auto-scaling.png --centre --models deepcme,gexpnet --details deepcme

``--truth COLUMN`` compares the shown model with a truth column of the table (AUC, ROC, confusion):

    xvfb-run -s "-screen 0 1400x900x24" python3 scripts/screenshot_expression_tab.py \
        docs/screenshots/expression-truth-roc.png --profile tests/data/genes/gse1992_pam50_40.csv.gz \
        --models deepcme,gexpnet --details gexpnet --sample BR00-0504 --truth fac_er_positive
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd
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


def centred_copy(path: Path, folder: Path) -> str:
    """The profile (samples in rows, an id and maybe a label first) with each gene's median subtracted."""
    frame = pd.read_csv(path)
    genes = frame.select_dtypes("number").columns
    frame[genes] = frame[genes] - frame[genes].median()
    out = folder / f"centred-{path.name}"
    frame.to_csv(out, index=False)
    return str(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="PNG file to write")
    parser.add_argument("--profile", default=str(ROOT / "tests" / "data" / "genes" / "tcga_er_pam50_160.csv"))
    parser.add_argument("--task", default="er-status")
    parser.add_argument("--models", default="deepcme,gexpnet,ensemble")
    parser.add_argument("--sample", default="TCGA-AN-A049-01A-21R-A00Z-07")
    parser.add_argument("--details", default="ensemble", help="architecture whose genes are shown")
    parser.add_argument("--scale", default="auto", help="auto, model, cohort, quantile or rank")
    parser.add_argument("--centre", action="store_true",
                        help="subtract each gene's median from the profile first (log ratios: another platform)")
    parser.add_argument("--truth", help="compare with this column of the table (AUC, ROC, confusion table)")
    args = parser.parse_args()
    if args.centre:
        args.profile = centred_copy(Path(args.profile), Path(tempfile.mkdtemp()))
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
    tab.picker.set_standardise(args.scale)
    tab.open_path(args.profile)
    wait_for(tab.profile_loaded)
    tab.predict()
    wait_for(tab.prediction_finished)
    tab.select_sample(args.sample)
    tab.show_details_for(f"{args.task}/{args.details}")
    if args.truth:
        tab.truth.choose_column(args.truth)
    QTimer.singleShot(500, app.quit)
    app.exec()
    ok = window.grab().save(args.out)
    tab.shutdown()
    print(f"wrote {args.out}" if ok else f"could not write {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
