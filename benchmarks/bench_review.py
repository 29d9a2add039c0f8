"""Benchmark the review tools' work off the GUI thread and on it.

Usage: python benchmarks/bench_review.py [--tiles 100000] [--pictures 24] [--repeats 20]

1. Ranking: :func:`bcviewer.inference.ranking.rank_tiles` by p and by uncertainty over ``--tiles``
   random scores (5% NaN, 2% left out by quality control): what each N / U / P key press and each
   gallery refresh computes on the GUI thread. Median of ``--repeats`` calls.
2. Pictures: :func:`bcviewer.gui.slide.gallery.read_tile_pictures` for the ``--pictures`` first 200 µm
   tiles of ``tests/data/slides/cmu_small_region.svs`` (401 px at level 0, a single-level slide, so
   each is read at full resolution and shrunk): what the gallery reads on a worker per refresh.
   Median of ``--repeats`` reads.

The machine's load average is printed with the numbers, since they depend on what else runs.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from PySide6.QtGui import QGuiApplication

from bcviewer.gui.slide.gallery import read_tile_pictures
from bcviewer.inference.ranking import rank_tiles
from bcviewer.inference.trust import margin_uncertainty
from bcviewer.slides import open_slide

ROOT = Path(__file__).resolve().parent.parent


def median_ms(fn: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=100_000)
    parser.add_argument("--pictures", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    _app = QGuiApplication.instance() or QGuiApplication([])  # QImage scaling needs no window

    rng = np.random.default_rng(0)
    p = rng.random(args.tiles)
    p[rng.random(args.tiles) < 0.05] = np.nan
    u = margin_uncertainty(p)
    qc = rng.random(args.tiles) < 0.02
    for key in ("p", "uncertainty"):
        ms = median_ms(lambda k=key: rank_tiles(p, u, k, qc), args.repeats)  # type: ignore[misc]
        print(f"rank_tiles by {key} over {args.tiles} tiles: {ms:.1f} ms (median of {args.repeats})")

    with open_slide(ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs") as slide:
        side = round(200 / slide.mpp) if slide.mpp else 401
        cols = slide.dimensions[0] // side
        rects = [(float((i % cols) * side), float((i // cols) * side), float(side), float(side))
                 for i in range(args.pictures)]
        ms = median_ms(lambda: read_tile_pictures(slide, rects), args.repeats)
    print(f"read_tile_pictures, {args.pictures} tiles of {side} px: {ms:.0f} ms (median of {args.repeats})")
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
