"""How long explaining one tile takes (issue 25: under 2 s for idc-wsi, under 10 s for
breakhis-100x with occlusion, on 2 CPU cores).

Usage: PYTHONPATH=. python3 benchmarks/bench_explain.py [--tiles 9] [--threads 2] [--repeats 2]

Workloads: ``idc-wsi`` on ``tests/data/slides/cmu_small_region.svs`` (its analysis grid: 200 µm
tiles read at 4 µm/px), ``breakhis-100x`` on the bundled sample image (its 3x3 sub-images). Each
tile is explained as ``bcviewer explain`` and the viewer do it (:func:`explain_tile`: read the
tile, preprocess, the method's forward passes). "cold" is building the explainer (the ONNX Runtime
session, or loading the torch weights) plus the first tile; "per tile" the best of ``--repeats``
passes over ``--tiles`` tiles, afterwards. Grad-CAM rows appear when PyTorch and captum are installed.
The load average is printed with the figures: the cores may be shared.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import time
from pathlib import Path

from bcviewer.inference.explain import explain_tile, make_explainer
from bcviewer.inference.plan import PlanOptions, plan_input
from bcviewer.nets.stored import open_model
from bcviewer.slides import open_slide

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = (
    ("idc-wsi", ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs", 2.0),
    ("breakhis-100x", ROOT / "resources" / "sample" / "SOB_M_MC-14-13413-100-003.png", 10.0),
)


def measure(model_name: str, path: Path, runtime: str, tiles: int, threads: int, repeats: int) -> dict[str, object]:
    """Cold and per-tile seconds of explaining ``tiles`` tiles of ``path``."""
    model = open_model(model_name)
    with open_slide(path) as slide:
        grid = plan_input(slide, PlanOptions(model=model_name)).grid
        indices = list(range(0, len(grid), max(1, len(grid) // tiles)))[:tiles]
        start = time.perf_counter()
        explainer = make_explainer(model, runtime, threads=threads)
        first = explain_tile(slide, grid, indices[0], explainer)
        cold = time.perf_counter() - start
        best: list[float] = [float("inf")] * len(indices)
        for _ in range(repeats):
            for i, index in enumerate(indices):
                t0 = time.perf_counter()
                explain_tile(slide, grid, index, explainer)
                best[i] = min(best[i], time.perf_counter() - t0)
    return {"model": model_name, "method": first.method, "detail": first.method_detail, "tiles": len(indices),
            "cold_s": cold, "median_s": statistics.median(best), "max_s": max(best)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=9, help="tiles explained per model")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads (the cores to use)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    runtimes = ["onnx"] + (["torch"] if importlib.util.find_spec("captum") and importlib.util.find_spec("torch") else [])
    if "torch" in runtimes:
        import torch

        torch.set_num_threads(args.threads)
    print(f"cores available: {len(os.sched_getaffinity(0))}, ORT threads: {args.threads}, "
          f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"| {'model':14} | {'method':10} | tiles | cold s | per tile s (median) | max s | goal s | met |")
    print(f"|{'-' * 16}|{'-' * 12}|-------|--------|---------------------|-------|--------|-----|")
    details = []
    for model_name, path, goal in WORKLOADS:
        for runtime in runtimes:
            row = measure(model_name, path, runtime, args.tiles, args.threads, args.repeats)
            met = "yes" if float(row["max_s"]) < goal else "no"  # type: ignore[arg-type]
            print(f"| {model_name:14} | {row['method']!s:10} | {row['tiles']:5} | {row['cold_s']:6.2f} | "
                  f"{row['median_s']:19.3f} | {row['max_s']:5.3f} | {goal:6.1f} | {met:3} |")
            details.append(f"{model_name}: {row['detail']}")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for line in details:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
