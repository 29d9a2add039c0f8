"""Screenshots of issue 23's bad names and bad cells: the expression tab with an infinite value in
the profile (shown as a bad cell, not as imputed), and the viewer having scored a PNG whose file
name is not UTF-8.

Run under a display or Xvfb, from the repository root:

    xvfb-run -a -s "-screen 0 1600x1000x24" python3 scripts/screenshot_bad_cells.py docs/screenshots

The profile and the oddly named PNG are written to a temporary folder; settings and data go to
temporary folders too, so the user's own are neither read nor changed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bcviewer.gui.expression import ExpressionTab  # noqa: E402

SAMPLE = "TCGA-A8-A076-01A-21R-A00Z-07"


def wait(app: QApplication, until: object, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not until() and time.monotonic() < deadline:  # type: ignore[operator]
        app.processEvents()
        time.sleep(0.02)


def bad_cells_shot(app: QApplication, tmp: Path, out: Path) -> None:
    frame = pd.read_csv(ROOT / "tests" / "data" / "genes" / "tcga_er_pam50_160.csv")
    frame.loc[frame["sample_id"] == SAMPLE, "ESR1"] = np.inf
    frame.loc[frame["sample_id"] == SAMPLE, "PGR"] = -np.inf
    profile = tmp / "profile_with_inf.csv"
    frame.to_csv(profile, index=False)
    tab = ExpressionTab()
    tab.resize(1400, 860)
    tab.show()
    tab.open_path(profile)
    wait(app, lambda: tab.table is not None and tab.is_idle())
    tab.select_sample(SAMPLE)
    wait(app, lambda: False, 1.0)  # let the layout settle
    tab.grab().save(str(out))
    tab.shutdown(30_000)


def bad_name_shot(tmp: Path, out: Path) -> None:
    raw = os.path.join(os.fsencode(tmp), b"bad_\xff\xfe_name.png")
    shutil.copyfile(ROOT / "tests" / "data" / "breakhis" / "SOB_B_A-14-22549AB-100-001.png", raw)
    env = {**os.environ, "XDG_DATA_HOME": str(tmp / "data"), "XDG_CONFIG_HOME": str(tmp / "config"),
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "bcviewer", "open", os.fsdecode(raw), "--run", "--screenshot",
                           str(out)], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    print(done.stderr.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for expression-bad-cells.png and viewer-non-utf8-name.png")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bcviewer-shot-"))
    os.environ["XDG_DATA_HOME"] = str(tmp / "data")
    app = QApplication.instance() or QApplication([])
    bad_cells_shot(app, tmp, args.out / "expression-bad-cells.png")
    bad_name_shot(tmp, args.out / "viewer-non-utf8-name.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
