"""Console progress: a real ``bcviewer qc`` with stderr piped writes plain lines (no carriage
returns, no escape sequences); PlainProgress's lines by hand."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from bcviewer.cli.progress import PlainProgress

ROOT = Path(__file__).resolve().parent.parent
SMALL_SVS = ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs"


def test_plain_progress_writes_lines_at_the_interval_and_at_the_end() -> None:
    out = io.StringIO()
    bar = PlainProgress(total=3, desc="predict", unit="file", file=out, interval_s=3600)
    bar.set_postfix_str("a.png")
    bar.update(1)  # within the interval: no line
    bar.update(1)
    bar.set_postfix_str("c.png")
    bar.update(1)  # the total: a line
    bar.close()
    assert out.getvalue() == "predict: 3/3 files (c.png)\n"
    out = io.StringIO()
    with PlainProgress(desc="tiles", unit="tile", file=out, interval_s=0.0) as tiles:
        tiles.update(5)
    assert out.getvalue() == "tiles: 5 tiles\n"


def test_piped_qc_prints_plain_progress_lines() -> None:
    done = subprocess.run([sys.executable, "-m", "bcviewer", "qc", str(SMALL_SVS)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr and "\x1b" not in done.stderr
    assert done.stderr.splitlines()[-1] == "qc: 20/20 tiles"
