"""Benchmark ``SlideReader.read_region``: tiles/s at 224, 256 and 512 px, sequential vs 2 threads.

Usage: python benchmarks/bench_read.py [SLIDE] [--repeats N]

Each configuration reads the same list of tile positions covering the slide. One untimed pass
first fills OpenSlide's tile cache, so that neither timed mode gets the other's decoding for free;
then sequential and threaded passes alternate and the best of each is kept. The ratio column is
threaded / sequential throughput, measured in this one run on this machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bcviewer.slides import SlideReader, open_slide

DEFAULT_SLIDE = Path(__file__).resolve().parent.parent / "tests" / "data" / "slides" / "cmu_small_region.svs"


def positions(slide: SlideReader, size: int) -> list[tuple[int, int]]:
    w, h = slide.dimensions
    return [(x, y) for y in range(0, h - size + 1, size) for x in range(0, w - size + 1, size)]


def tiles_per_second(slide: SlideReader, coords: list[tuple[int, int]], size: int, threads: int, repeats: int) -> float:
    def read(c: tuple[int, int]) -> int:
        return int(slide.read_region(0, c[0], c[1], size, size)[0, 0, 0])

    work = coords * repeats
    start = time.perf_counter()
    if threads == 1:
        for c in work:
            read(c)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(read, work))
    return len(work) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("slide", nargs="?", default=str(DEFAULT_SLIDE))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}")
    with open_slide(args.slide) as slide:
        print(f"slide: {slide}")
        print(f"{'tile':>5} {'tiles':>6} {'seq tiles/s':>12} {'2-thread tiles/s':>17} {'ratio':>6}")
        for size in (224, 256, 512):
            coords = positions(slide, size)
            tiles_per_second(slide, coords, size, 1, 1)  # untimed: warm the tile cache and code paths
            seq = par = 0.0
            for _ in range(args.repeats):
                seq = max(seq, tiles_per_second(slide, coords, size, 1, 1))
                par = max(par, tiles_per_second(slide, coords, size, 2, 1))
            print(f"{size:>5} {len(coords):>6} {seq:>12.1f} {par:>17.1f} {par / seq:>6.2f}")


if __name__ == "__main__":
    main()
