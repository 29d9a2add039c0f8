"""Benchmark the viewer's stain normalisation: per-tile cost of reading vs reading + mapping, and the
one-off fit of the slide's own stain.

Usage: python benchmarks/bench_stain_view.py [SLIDE] [--repeats N]

Every 256x256 view tile of level 0 is read (one untimed pass first fills OpenSlide's cache), then
plain reads and read + map passes alternate for each method and the best of each is kept, in one
run. The mapping is :class:`bcviewer.nets.stain_mapping.StainMapping` to the shipped reference,
exactly what the tile loader's reader threads run.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

from bcviewer.nets.stain import METHODS, default_reference
from bcviewer.nets.stain_mapping import StainMapping, slide_mapping
from bcviewer.slides import SlideReader, open_slide

DEFAULT_SLIDE = Path(__file__).resolve().parent.parent / "tests" / "data" / "slides" / "cmu_small_region.svs"
TILE = 256


def ms_per_tile(slide: SlideReader, coords: list[tuple[int, int]], mapping: StainMapping | None) -> float:
    start = time.perf_counter()
    for x, y in coords:
        rgb = slide.read_region(0, x, y, TILE, TILE)
        if mapping is not None:
            mapping(rgb)
    return (time.perf_counter() - start) * 1000 / len(coords)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("slide", nargs="?", default=str(DEFAULT_SLIDE))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {args.slide}")
    with open_slide(args.slide) as slide:
        w, h = slide.dimensions
        coords = [(x, y) for y in range(0, h - TILE + 1, TILE) for x in range(0, w - TILE + 1, TILE)]
        ms_per_tile(slide, coords, None)
        for method in METHODS:
            start = time.perf_counter()
            mapping = slide_mapping(slide, default_reference(method))
            fit_s = time.perf_counter() - start
            plain, mapped = [], []
            for _ in range(args.repeats):
                plain.append(ms_per_tile(slide, coords, None))
                mapped.append(ms_per_tile(slide, coords, mapping))
            extra = min(mapped) - min(plain)
            print(f"{method:9s} fit of the slide's stain {fit_s:5.2f} s | {len(coords)} tiles of {TILE} px: "
                  f"read {min(plain):5.2f} ms, read + map {min(mapped):5.2f} ms (+{extra:.2f} ms a tile, "
                  f"{min(mapped) / min(plain):.1f} x)")


if __name__ == "__main__":
    main()
