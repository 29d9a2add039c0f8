"""The start-up benchmark's hook: with BCVIEWER_QUIT_AFTER_FIRST_PAINT set, the viewer prints the
time of its main window's first paint and quits (benchmarks/bench_bundle_startup.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from bcviewer.gui.app import FIRST_PAINT_ENV

ROOT = Path(__file__).resolve().parent.parent


def test_the_viewer_reports_its_first_paint_and_quits(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BCVIEWER_")}
    env.update(QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT), XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_CACHE_HOME=str(tmp_path / "cache"), XDG_CONFIG_HOME=str(tmp_path / "config"), **{FIRST_PAINT_ENV: "1"})
    start = time.time()
    done = subprocess.run([sys.executable, "-m", "bcviewer", "open"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=180, check=False)
    end = time.time()
    assert done.returncode == 0, done.stderr
    found = re.search(r"bcviewer: first paint at ([0-9.]+)", done.stderr)
    assert found is not None, done.stderr
    assert start < float(found.group(1)) < end
