"""What the trust signals cost: the pipeline with and without the outside-training descriptors.

Usage: python benchmarks/bench_trust.py [--model NAME] [--repeats N] [--batch-size N]

The same ``Predictor.iter_results`` run over ``cmu_small_region.svs`` and the four BreakHis
fixtures (those the model can tile, each on predict's grid), once with the card's trust (the feeder computes each tile's colour and
texture descriptors, the predictor their distance, and the sets come from the card) and once with
``Trust()`` (nothing computed); best of ``--repeats`` interleaved runs, printed with their ratio.
Also the bare cost of :func:`bcviewer.inference.trust.tile_looks` per tile.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bcviewer.inference.plan import PlanOptions, plan_grid
from bcviewer.inference import Predictor, SlideJob, Trust
from bcviewer.inference.trust import tile_looks
from bcviewer.nets import load_model
from bcviewer.slides import open_slide

ROOT = Path(__file__).resolve().parent.parent
INPUTS = [ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs",
          *sorted((ROOT / "tests" / "data" / "breakhis").glob("*.png"))]


def usable(predictor: Predictor) -> list[Path]:
    """The inputs this model can tile (a microscopy model refuses the whole slide)."""
    found = []
    for path in INPUTS:
        with open_slide(path) as slide:
            try:
                plan_grid(slide, predictor.spec, PlanOptions())
            except Exception:  # noqa: BLE001 - not an input for this model
                continue
        found.append(path)
    return found


def run(predictor: Predictor, batch_size: int, inputs: list[Path]) -> tuple[int, float]:
    def jobs():  # type: ignore[no-untyped-def]
        for path in inputs:
            slide = open_slide(path)
            yield SlideJob(path, slide, plan_grid(slide, predictor.spec, PlanOptions()), close_slide=True)

    start, tiles = time.perf_counter(), 0
    for result in predictor.iter_results(jobs(), batch_size):
        assert result.scores is not None, result.error
        tiles += len(result.scores)
    return tiles, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="idc-wsi")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    model = load_model(args.model)
    with_trust = Predictor(model)
    without = Predictor(model)
    without.trust = Trust()
    assert with_trust.trust.looks is not None, f"{args.model}'s card has no outside-training density"
    best = {"with trust": float("inf"), "without": float("inf")}
    tiles, inputs = 0, usable(with_trust)
    for _ in range(args.repeats):
        for name, predictor in (("with trust", with_trust), ("without", without)):
            tiles, seconds = run(predictor, args.batch_size, inputs)
            best[name] = min(best[name], seconds)
    with open_slide(INPUTS[1]) as slide:  # real tissue: a BreakHis fixture's top-left field
        w, h = model.spec.size
        batch = np.stack([slide.read_region(0, 0, 0, w, h)] * args.batch_size)
    start = time.perf_counter()
    for _ in range(20):
        tile_looks(batch)
    per_tile_ms = (time.perf_counter() - start) / (20 * args.batch_size) * 1000
    print(f"model {model.name}, runtime {with_trust.runtime}, {tiles} tiles a run, best of {args.repeats}")
    for name, seconds in best.items():
        print(f"  {name:<11} {tiles / seconds:8.1f} tiles/s")
    print(f"  ratio with/without trust: {best['without'] / best['with trust']:.3f}")
    print(f"  tile_looks alone: {per_tile_ms:.3f} ms per tile (batch {args.batch_size})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
