"""What quality control costs next to the analysis: ``bcviewer qc`` against ``bcviewer predict
--qc off`` on the same slide, each in its own process, wall time and peak RSS.

Usage: python benchmarks/bench_qc.py [--size 100000] [--repeats 3]

Slides: ``tests/data/slides/cmu_small_region.svs`` and a synthetic tiled JPEG pyramid of
``--size`` px a side (``synthetic_slide.py``: 0.25 µm/px, levels 1, 4, 16, 64; pattern tiles, so
QC's flags on it mean nothing, only its cost). ``predict`` writes only the tile table. Best of
``--repeats`` runs of each, interleaved; the ratio is QC / analysis.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_slide import write_pyramid  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SMALL_SVS = ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs"


def timed(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one child process."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    err = child.stderr.read().decode() if child.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed: {err.strip().splitlines()[-1:]}")
    return wall, usage.ru_maxrss / 1024


def compare(slide: Path, out: Path, repeats: int) -> dict[str, float]:
    python = [sys.executable, "-m", "bcviewer"]
    qc = python + ["qc", str(slide), "--quiet"]
    predict = python + ["predict", str(slide), "--qc", "off", "--formats", "csv", "--quiet", "--out", str(out)]
    best = {"qc_s": float("inf"), "qc_mb": 0.0, "predict_s": float("inf"), "predict_mb": 0.0}
    for _ in range(repeats):
        for name, command in (("qc", qc), ("predict", predict)):
            wall, mb = timed(command)
            best[f"{name}_s"] = min(best[f"{name}_s"], wall)
            best[f"{name}_mb"] = max(best[f"{name}_mb"], mb)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="side of the synthetic slide in px")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-qc-") as tmp:
        synthetic = write_pyramid(Path(tmp) / f"synthetic-{args.size}.tif", args.size)
        print("| slide | QC s | analysis s | QC / analysis | QC peak MB | analysis peak MB |")
        print("|---|---|---|---|---|---|")
        for slide in (SMALL_SVS, synthetic):
            r = compare(slide, Path(tmp) / "out", args.repeats)
            print(f"| {slide.name} | {r['qc_s']:.1f} | {r['predict_s']:.1f} | {r['qc_s'] / r['predict_s']:.2f} "
                  f"| {r['qc_mb']:.0f} | {r['predict_mb']:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
