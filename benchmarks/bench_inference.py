"""Benchmark CPU inference: torch eager vs ONNX Runtime (fp32, int8), and the pipeline vs the
bare forward pass and a naive loop, all in one run; printed as a table.

Usage: python benchmarks/bench_inference.py [--model NAME|DIR] [--images N] [--batch-size N]
       [--threads N] [--repeats N] [--sweep] [--no-memory] [--memory-model NAME|DIR]

Two workloads, with the same model and batch size:

* ``slide``: cmu_small_region.svs cut into square tiles of ``--tile-um`` µm (all tiles, no tissue
  filter), so the whole slide is read;
* ``breakhis``: the first ``--images`` BreakHis images (sorted) of ``--breakhis``, 3x3 sub-images.

For each: (a) the bare forward pass on tensors prepared beforehand (the ceiling): torch eager and
ONNX Runtime fp32 with ``--threads`` threads (default: every core) and with one thread, and ORT
int8; (b) the pipeline, slide to scores (``Predictor.iter_results`` with its default thread plan:
background reads, bounded queue, batches spanning images); (c) a naive loop that opens, reads,
transforms and forwards one batch at a time without overlap, with ORT and with torch (the path
before ONNX Runtime). Best of ``--repeats`` interleaved runs. Goals: ORT fp32 >= 1.5x torch,
pipeline >= 0.9x bare ORT fp32, pipeline >= 2x the naive loop. (b) and (c) include opening the
files and tissue detection; (a) includes neither.

int8: the model card's int8 file when it ships one, else a quantisation made here, calibrated on
the workload's own tiles (speed does not depend on the calibration; accuracy is measured by
``bcviewer quantize``). ``--sweep`` adds pipeline rates for other splits of threads between the
forward pass and the readers. The memory benchmark (``bench_slide_memory.py``, a 100k x 100k px
slide through ``bcviewer predict``, in a separate process) runs last unless ``--no-memory``.

Model: ``--model`` if given, else the shipped ``breakhis-100x`` if installed, else a model with
the CPU training plan's architecture (resnet18 x0.5 "rows" + resnet34 x0.5 "feature_map",
128x84 input, LSTM 128, fusion 128) and random weights: speed does not depend on the weights.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from bcviewer.inference import OnnxEnsemble, Predictor, SlideJob
from bcviewer.nets import (
    Ensemble, HybridConfig, HybridNet, InputSpec, LoadedModel, ModelError, ModelNotFoundError, load_model, preprocess,
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


def prepared_batches(work: Workload, spec: InputSpec, batch_size: int) -> list[torch.Tensor]:
    tiles = []
    for path in work.paths:
        with open_slide(path) as slide:
            grid = work.grid(slide)
            tiles += [grid.read_tile(slide, t) for t in grid]
    return [preprocess(tiles[i:i + batch_size], spec) for i in range(0, len(tiles), batch_size)]


def run_bare(score: Callable[[torch.Tensor], object], batches: list[torch.Tensor]) -> tuple[int, float]:
    start = time.perf_counter()
    for x in batches:
        score(x)  # returns numpy, so each batch is complete
    return sum(len(x) for x in batches), time.perf_counter() - start


def int8_runner(model: Ensemble | LoadedModel, fp32: Predictor, batches: list[torch.Tensor],
                threads: int) -> tuple[OnnxEnsemble, str]:
    """The card's int8 file if the model ships one, else one quantised here for speed only."""
    from bcviewer.nets.onnx_export import export_bytes
    from bcviewer.nets.quantize import quantize_int8, read_int8

    weights = fp32.ensemble.member_weights.double().numpy()
    if isinstance(model, LoadedModel):
        try:
            return OnnxEnsemble(read_int8(model), weights, threads), "shipped int8 file"
        except ModelError:
            pass
    data = quantize_int8(export_bytes(fp32.ensemble, fp32.spec.height, fp32.spec.width),
                         (x.numpy() for x in batches[:8]))
    return OnnxEnsemble(data, weights, threads), "int8 made here (calibrated on these tiles; speed only)"


def best(results: dict[str, tuple[int, float]], key: str, got: tuple[int, float]) -> None:
    old = results.get(key)
    if old is None or got[0] / got[1] > old[0] / old[1]:
        results[key] = got


ROWS = (  # label, key, (denominator key, ratio text) or None, goal or None
    ("bare forward, torch eager, all threads", "bare_torch", None, None),
    ("bare forward, ORT fp32, all threads", "bare_onnx", ("bare_torch", "x torch eager"), 1.5),
    ("bare forward, torch eager, 1 thread", "bare_torch_1", None, None),
    ("bare forward, ORT fp32, 1 thread", "bare_onnx_1", ("bare_torch_1", "x torch eager"), 1.5),
    ("bare forward, ORT int8, all threads", "bare_int8", ("bare_onnx", "x ORT fp32"), None),
    ("pipeline, ORT fp32, default threads", "pipe_onnx", ("bare_onnx", "x bare ORT fp32"), 0.9),
    ("naive loop, ORT fp32, all threads", "naive_onnx", ("pipe_onnx", "(pipeline = x)"), None),
    ("naive loop, torch, all threads (old)", "naive_torch", None, None),
)


def print_table(name: str, r: dict[str, tuple[int, float]], sweep: list[tuple[int, int]]) -> None:
    rate = {k: n / s for k, (n, s) in r.items()}
    print(f"\n{name}: {r['pipe_onnx'][0]} tiles")
    print(f"| {'measure':<40} | {'tiles/s':>8} | {'ratio':>22} | {'goal':>6} | met |")
    print(f"|{'-' * 42}|{'-' * 10}|{'-' * 24}|{'-' * 8}|-----|")

    def row(label: str, value: float | None, text: str = "", goal: float | None = None, got: float | None = None
            ) -> None:
        met = "" if goal is None or got is None else ("yes" if got >= goal else "no")
        shown = "" if value is None else f"{value:.1f}"
        print(f"| {label:<40} | {shown:>8} | {text:>22} | {'' if goal is None else f'>= {goal}':>6} | {met:>3} |")

    for label, key, ratio, goal in ROWS:
        if key in rate:
            value = rate[key] / rate[ratio[0]] if ratio and ratio[0] in rate else None
            row(label, rate[key], "" if value is None else f"{value:.2f} {ratio[1]}",  # type: ignore[index]
                goal if value is not None else None, value)
    for base, text in (("naive_onnx", "x naive ORT"), ("naive_torch", "x naive torch")):
        if base in rate:
            value = rate["pipe_onnx"] / rate[base]
            row(f"  pipeline over naive ({base[6:]})", None, f"{value:.2f} {text}", 2.0, value)
    for threads, workers in sweep:
        key = f"sweep_{threads}_{workers}"
        if key in rate:
            value = rate[key] / rate["bare_onnx"]
            row(f"  pipeline, {threads} ORT + {workers} reader threads", rate[key], f"{value:.2f} x bare ORT fp32")


def with_torch_threads(threads: int, score: Callable[[torch.Tensor], object]) -> Callable[[torch.Tensor], object]:
    def run(x: torch.Tensor) -> object:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return score(x)
        finally:
            torch.set_num_threads(previous)
    return run


def main() -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model name or folder (default: breakhis-100x, else the fallback)")
    parser.add_argument("--slide", default=str(DEFAULT_SLIDE))
    parser.add_argument("--breakhis", default=str(DEFAULT_BREAKHIS),
                        help="folder of BreakHis PNGs (searched recursively)")
    parser.add_argument("--images", type=int, default=24, help="BreakHis images to use")
    parser.add_argument("--tile-um", type=float, default=64.0, help="slide tile side in µm")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=cores, help="threads of the bare forward passes (all cores)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each measurement; the best is shown")
    parser.add_argument("--sweep", action="store_true", help="also time other thread splits of the pipeline")
    parser.add_argument("--no-memory", action="store_true", help="skip the 100k px slide memory benchmark")
    parser.add_argument("--memory-model", default="idc-wsi", help="whole-slide model of the memory benchmark")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model, spec, model_text = get_model(args.model)
    onnx = Predictor(model, spec, runtime="onnx", device="cpu", threads=args.threads)
    onnx_1 = Predictor(model, spec, runtime="onnx", device="cpu", threads=1)
    eager = Predictor(model, spec, runtime="torch", device="cpu")
    pipe = Predictor(model, spec, runtime="onnx", device="cpu")  # the default thread plan
    sweep = [(t, w) for t, w in ((1, 1), (2, 1), (2, 2), (1, 2)) if (t, w) != (pipe.threads, pipe.read_workers)]
    sweepers = {(t, w): Predictor(model, spec, runtime="onnx", device="cpu", threads=t, read_workers=w)
                for t, w in (sweep if args.sweep else [])}
    breakhis = sorted(Path(args.breakhis).rglob("*.png"))[: args.images]
    works = [Workload("slide", [Path(args.slide)], args.tile_um)]
    if breakhis:
        works.append(Workload("breakhis", breakhis, None))
    else:
        print(f"(no BreakHis images under {args.breakhis}; slide workload only)")
    batches = {w.name: prepared_batches(w, spec, args.batch_size) for w in works}
    int8, int8_text = int8_runner(model, onnx, batches[works[-1].name], args.threads)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
          f"torch {torch.__version__}, onnxruntime {__import__('onnxruntime').__version__}")
    print(f"bare forward: {args.threads} threads (torch and ORT) and 1 thread; pipeline: the default plan, "
          f"{pipe.threads} ORT + {pipe.read_workers} reader threads; batch {args.batch_size}, "
          f"input {spec.width}x{spec.height}")
    print(f"model: {model_text}; {int8_text}")
    run_pipeline(pipe, works[0], args.batch_size)  # warm-up: first-call costs out of the timings
    run_bare(eager.score_tensor, batches[works[0].name][:2])

    results: dict[str, dict[str, tuple[int, float]]] = {w.name: {} for w in works}
    for _ in range(args.repeats):  # interleaved, best of N: the CPU is shared with other work
        for work in works:
            r, xs = results[work.name], batches[work.name]
            best(r, "pipe_onnx", run_pipeline(pipe, work, args.batch_size))
            best(r, "bare_onnx", run_bare(onnx.score_tensor, xs))
            best(r, "bare_torch", run_bare(eager.score_tensor, xs))
            best(r, "bare_onnx_1", run_bare(onnx_1.score_tensor, xs))
            best(r, "bare_torch_1", run_bare(with_torch_threads(1, eager.score_tensor), xs))
            best(r, "bare_int8", run_bare(int8.predict, xs))
            best(r, "naive_onnx", run_naive(onnx, work, args.batch_size))
            best(r, "naive_torch", run_naive(eager, work, args.batch_size))
            for (t, w), predictor in sweepers.items():
                best(r, f"sweep_{t}_{w}", run_pipeline(predictor, work, args.batch_size))
        print(f"(repeat done, load average {os.getloadavg()[0]:.1f})", flush=True)
    for name, r in results.items():
        print_table(name, r, sweep)
    print(f"(best of {args.repeats} interleaved runs each; load average now {os.getloadavg()[0]:.1f})")
    print(f"peak RSS of this benchmark process: {peak_rss_mb():.0f} MB")
    if not args.no_memory:
        # A separate small process: a child forked from this one would start with (and report) its RSS.
        out = Path(tempfile.mkdtemp(prefix="bcviewer-bench-")) / "memory.json"
        subprocess.run([sys.executable, str(Path(__file__).with_name("bench_slide_memory.py")), "--model",
                        args.memory_model, "--batch-size", str(args.batch_size), "--json", str(out)], check=True,
                       stdout=subprocess.DEVNULL)
        m = json.loads(out.read_text())
        print(f"\n100k x 100k px pyramidal JPEG TIFF through 'bcviewer predict' ({m['model']}): {m['tiles']} tiles "
              f"in {m['predict_s']} s, peak RSS {m['peak_rss_mb']} MB (goal < 1500 MB: "
              f"{'met' if float(m['peak_rss_mb']) < 1500 else 'MISSED'})")


if __name__ == "__main__":
    main()
