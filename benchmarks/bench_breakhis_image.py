"""Seconds to score one BreakHis image end to end with the shipped ``breakhis-100x`` model.

    python3 benchmarks/bench_breakhis_image.py [--threads 2] [--repeats 10] [IMAGE]

Measures, in one run: open + 3x3 grid + read + stain normalisation + forward (the whole
``Predictor.run`` on one image), and separately the stain normalisation and the bare forward, as
medians over ``--repeats`` runs after one warm-up. Budget (issue 9): <= 1 s on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bcviewer.inference import Predictor  # noqa: E402
from bcviewer.inference.grids import analysis_grid  # noqa: E402
from bcviewer.nets import load_model, preprocess  # noqa: E402
from bcviewer.slides import open_slide  # noqa: E402


def _median_seconds(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image", nargs="?", type=Path,
                        default=ROOT / "resources" / "sample" / "SOB_M_MC-14-13413-100-003.png")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--model", default="breakhis-100x")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    predictor = Predictor(model, device="cpu")

    def whole() -> None:
        with open_slide(args.image) as slide:
            predictor.run(slide, analysis_grid(slide, model.spec))

    with open_slide(args.image) as slide:
        grid = analysis_grid(slide, model.spec)
        tiles = [grid.read_tile(slide, t) for t in grid]
    bare_spec = type(model.spec)(**{**model.spec.__dict__, "stain": None})
    x = preprocess(tiles, bare_spec)
    end_to_end = _median_seconds(whole, args.repeats)
    stain = _median_seconds(lambda: preprocess(tiles, model.spec), args.repeats) - \
        _median_seconds(lambda: preprocess(tiles, bare_spec), args.repeats)
    forward = _median_seconds(lambda: model.ensemble.predict_proba(x), args.repeats)
    print(f"machine: {platform.machine()}, {args.threads} torch threads, CPU; model {model.name} "
          f"({len(model.ensemble.members)} members, shared trunk: {model.ensemble.shared_trunk})")
    print("| step (one image, 9 tiles) | median s |")
    print("|---|---|")
    print(f"| end to end (open, grid, read, stain, forward) | {end_to_end:.3f} |")
    print(f"| stain normalisation of 9 tiles | {stain:.3f} |")
    print(f"| bare forward | {forward:.3f} |")
    print(f"budget <= 1 s: {'met' if end_to_end <= 1.0 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
