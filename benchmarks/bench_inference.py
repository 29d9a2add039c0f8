"""Benchmark the inference pipeline against the bare forward pass and a naive loop.

Usage: python benchmarks/bench_inference.py [--model NAME|DIR] [--images N] [--batch-size N]
       [--device auto|cpu|cuda] [--threads N] [--workers N]

Two workloads, with the same model, batch size and device in one run:

* ``slide``: cmu_small_region.svs cut into square tiles of ``--tile-um`` µm (all tiles, no tissue
  filter), so the whole slide is read;
* ``breakhis``: the first ``--images`` BreakHis images (sorted) of ``--breakhis``, 3x3 sub-images.

For each it prints (a) the bare forward pass on tensors prepared beforehand (the ceiling),
(b) the pipeline, slide to scores (``Predictor.iter_results``: background reads, bounded queue,
batches spanning images), and (c) a naive loop that opens, reads, transforms and forwards one
batch at a time without overlap (best of ``--repeats`` interleaved runs each); then b/a (goal >= 0.9) and b/c (goal >= 2), the CPU time per
tile of each (all threads; for (a) the forward alone), and the peak RSS. (b) and (c) include
opening the files and tissue detection; (a) includes neither. On a CPU-only machine the reads
and the forward pass share the same cores, so overlap can only hide the reads when cores are
idle; the b/c goal assumes the forward pass runs on a GPU.

Model: ``--model`` if given, else the shipped ``breakhis-100x`` if installed, else a model with
the CPU training plan's architecture (resnet18 x0.5 "rows" + resnet34 x0.5 "feature_map",
128x84 input, LSTM 128, fusion 128) and random weights: speed does not depend on the weights.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from bcviewer.inference import Predictor, SlideJob
from bcviewer.nets import (
    Ensemble, HybridConfig, HybridNet, InputSpec, LoadedModel, ModelNotFoundError, load_model,
)
from bcviewer.slides import open_slide
from bcviewer.tiling import TileGrid, physical_grid, subimage_grid

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SLIDE = ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs"
DEFAULT_BREAKHIS = ROOT.parent / "shared" / "data" / "breakhis"
FALLBACK_SPEC = InputSpec(128, 84, (0.79, 0.62, 0.77), (0.12, 0.17, 0.11), tile_scheme="breakhis-3x3")


def fallback_model() -> Ensemble:
    common = dict(rnn_hidden=128, rows_size=32, fusion_width=128)
    return Ensemble([HybridNet(HybridConfig(backbone="resnet18", width=0.5, rnn_mode="rows", **common)),
                     HybridNet(HybridConfig(backbone="resnet34", width=0.5, rnn_mode="feature_map", **common))])


def get_model(name: str | None) -> tuple[Ensemble | LoadedModel, InputSpec, str]:
    try:
        loaded = load_model(name or "breakhis-100x")
        return loaded, loaded.spec, f"{loaded.name} ({loaded.directory})"
    except ModelNotFoundError:
        if name:
            raise
        return fallback_model(), FALLBACK_SPEC, "fallback: CPU-plan architecture, random weights"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


class Workload:
    """A list of inputs and how each is cut into tiles."""

    def __init__(self, name: str, paths: list[Path], tile_um: float | None) -> None:
        self.name, self.paths, self.tile_um = name, paths, tile_um

    def grid(self, slide) -> TileGrid:  # type: ignore[no-untyped-def]
        if self.tile_um is None:
            return subimage_grid(slide, 3, 3)
        return physical_grid(slide, tile_um=self.tile_um)

    def jobs(self) -> Iterator[SlideJob]:
        for path in self.paths:
            slide = open_slide(path)
            yield SlideJob(path, slide, self.grid(slide), close_slide=True)


def run_pipeline(predictor: Predictor, work: Workload, batch_size: int) -> tuple[int, float]:
    start, tiles = time.perf_counter(), 0
    for result in predictor.iter_results(work.jobs(), batch_size):
        assert result.ok and result.scores is not None, result.error
        tiles += len(result.scores)
    return tiles, time.perf_counter() - start


def run_naive(predictor: Predictor, work: Workload, batch_size: int) -> tuple[int, float]:
    from bcviewer.nets import preprocess

    start, tiles, pending = time.perf_counter(), 0, []
    for path in work.paths:
        with open_slide(path) as slide:
            grid = work.grid(slide)
            for tile in grid:
                pending.append(grid.read_tile(slide, tile))
                if len(pending) == batch_size:
                    predictor.score_tensor(preprocess(pending, predictor.spec))
                    tiles, pending = tiles + len(pending), []
    if pending:
        predictor.score_tensor(preprocess(pending, predictor.spec))
        tiles += len(pending)
    return tiles, time.perf_counter() - start


def run_bare(predictor: Predictor, work: Workload, batch_size: int) -> tuple[int, float]:
    from bcviewer.nets import preprocess

    tiles = []
    for path in work.paths:
        with open_slide(path) as slide:
            grid = work.grid(slide)
            tiles += [grid.read_tile(slide, t) for t in grid]
    batches = [preprocess(tiles[i:i + batch_size], predictor.spec).to(predictor.device)
               for i in range(0, len(tiles), batch_size)]
    if predictor.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for x in batches:
        predictor.score_tensor(x)  # returns numpy, so each batch is synchronised
    return len(tiles), time.perf_counter() - start


def timed(runner: Callable[[Predictor, Workload, int], tuple[int, float]], predictor: Predictor, work: Workload,
          batch_size: int) -> tuple[int, float, float]:
    """(tiles, wall seconds, CPU seconds of the whole process) of one runner."""
    cpu = time.process_time()
    tiles, seconds = runner(predictor, work, batch_size)
    return tiles, seconds, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model name or folder (default: breakhis-100x, else the fallback)")
    parser.add_argument("--slide", default=str(DEFAULT_SLIDE))
    parser.add_argument("--breakhis", default=str(DEFAULT_BREAKHIS),
                        help="folder of BreakHis PNGs (searched recursively)")
    parser.add_argument("--images", type=int, default=48, help="BreakHis images to use")
    parser.add_argument("--tile-um", type=float, default=64.0, help="slide tile side in µm")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: stable timings on a shared CPU)")
    parser.add_argument("--workers", type=int, default=2, help="pipeline reader threads")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each measurement; the best is shown")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model, spec, model_text = get_model(args.model)
    predictor = Predictor(model, spec, device=args.device, read_workers=args.workers)
    breakhis = sorted(Path(args.breakhis).rglob("*.png"))[: args.images]
    works = [Workload("slide", [Path(args.slide)], args.tile_um)]
    if breakhis:
        works.append(Workload("breakhis", breakhis, None))
    else:
        print(f"(no BreakHis images under {args.breakhis}; slide workload only)")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{args.threads} torch threads, {args.workers} reader threads")
    print(f"device: {predictor.device} (amp={predictor.amp}, channels_last={predictor.channels_last}), "
          f"batch {args.batch_size}, input {spec.width}x{spec.height}")
    print(f"model: {model_text}")
    print(f"peak RSS after loading: {peak_rss_mb():.0f} MB")
    run_pipeline(predictor, works[0], args.batch_size)  # warm-up: first-call costs out of the timings

    results: dict[str, dict[str, tuple[int, float, float]]] = {w.name: {} for w in works}
    rss_streaming = 0.0
    for repeat in range(args.repeats):  # interleaved, best of N: the CPU is shared with other work
        for key, runner in (("b", run_pipeline), ("c", run_naive), ("a", run_bare)):
            if key == "a" and repeat == 0:
                rss_streaming = peak_rss_mb()  # before (a) holds every tile in memory
            for work in works:
                got = timed(runner, predictor, work, args.batch_size)
                best = results[work.name].get(key)
                if best is None or got[0] / got[1] > best[0] / best[1]:
                    results[work.name][key] = got

    print(f"\n{'workload':<9} {'tiles':>6} {'(a) bare/s':>11} {'(b) pipeline/s':>15} {'(c) naive/s':>12} "
          f"{'b/a':>6} {'b/c':>6}   CPU ms/tile a / b / c")
    for name, r in results.items():
        rate = {k: n / s for k, (n, s, _) in r.items()}
        cpu = {k: 1000 * c / n for k, (n, _, c) in r.items()}
        print(f"{name:<9} {r['b'][0]:>6} {rate['a']:>11.1f} {rate['b']:>15.1f} {rate['c']:>12.1f} "
              f"{rate['b'] / rate['a']:>6.2f} {rate['b'] / rate['c']:>6.2f}   "
              f"{cpu['a']:.1f} / {cpu['b']:.1f} / {cpu['c']:.1f}")
    print(f"(best of {args.repeats} interleaved runs each)")
    print(f"\npeak RSS during pipeline + naive runs: {rss_streaming:.0f} MB; "
          f"overall (incl. all tiles held for (a)): {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
