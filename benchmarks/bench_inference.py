"""Benchmark CPU inference: torch eager vs ONNX Runtime (fp32, int8), and the pipeline vs the
bare forward pass and a naive loop, all in one run; printed as a table.

Usage: python benchmarks/bench_inference.py [--model NAME|DIR] [--images N] [--batch-size N]
       [--threads N] [--workers N] [--repeats N] [--sweep] [--no-memory]

Two workloads, with the same model and batch size:

* ``slide``: cmu_small_region.svs cut into square tiles of ``--tile-um`` µm (all tiles, no tissue
  filter), so the whole slide is read;
* ``breakhis``: the first ``--images`` BreakHis images (sorted) of ``--breakhis``, 3x3 sub-images.

For each: (a) the bare forward pass on tensors prepared beforehand (the ceiling), for torch eager,
ONNX Runtime fp32 and ONNX Runtime int8; (b) the pipeline, slide to scores
(``Predictor.iter_results``: background reads, bounded queue, batches spanning images) and (c) a
naive loop that opens, reads, transforms and forwards one batch at a time without overlap, each
with ORT (the CPU default) and with torch. Best of ``--repeats`` interleaved runs. Goals: ORT fp32
>= 1.5x torch (a), pipeline >= 0.9x bare (same runtime), pipeline >= 2x the naive loop. (b) and (c)
include opening the files and tissue detection; (a) includes neither. Both runtimes get
``--threads`` intra-op threads (default: the automatic plan of ``bcviewer.inference.thread_plan``).

int8: the model card's int8 file when it ships one, else a quantisation made here, calibrated on
the workload's own tiles (speed does not depend on the calibration; accuracy is measured by
``bcviewer quantize``). ``--sweep`` adds pipeline rates for other splits of threads between the
forward pass and the readers. The memory benchmark (``bench_slide_memory.py``, a 100k x 100k px
slide through ``bcviewer predict``) runs last unless ``--no-memory``.

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

from bcviewer.inference import OnnxEnsemble, Predictor, SlideJob, thread_plan
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


def print_table(name: str, r: dict[str, tuple[int, float]], sweep: list[tuple[int, int]]) -> None:
    rate = {k: n / s for k, (n, s) in r.items()}
    tiles = r["pipe_onnx"][0]
    rows = [("bare forward, torch eager", "bare_torch", None, None),
            ("bare forward, ORT fp32", "bare_onnx", ("bare_torch", "x torch eager"), 1.5),
            ("bare forward, ORT int8", "bare_int8", ("bare_torch", "x torch eager"), None),
            ("pipeline, ORT fp32 (default)", "pipe_onnx", ("bare_onnx", "x bare ORT fp32"), 0.9),
            ("naive loop, ORT fp32", "naive_onnx", None, None),
            ("  pipeline ORT over naive ORT", "pipe_onnx", ("naive_onnx", "x naive ORT"), 2.0),
            ("naive loop, torch (old path)", "naive_torch", None, None),
            ("  pipeline ORT over naive torch", "pipe_onnx", ("naive_torch", "x naive torch"), 2.0),
            ("pipeline, torch", "pipe_torch", ("bare_torch", "x bare torch"), 0.9)]
    print(f"\n{name}: {tiles} tiles")
    print(f"| {'measure':<34} | {'tiles/s':>8} | {'ratio':>20} | {'goal':>6} | met |")
    print(f"|{'-' * 36}|{'-' * 10}|{'-' * 22}|{'-' * 8}|-----|")
    for label, key, ratio, goal in rows:
        if key not in rate:
            continue
        text, met = "", ""
        if ratio is not None and ratio[0] in rate:
            value = rate[key] / rate[ratio[0]]
            text = f"{value:.2f} {ratio[1]}"
            met = "" if goal is None else ("yes" if value >= goal else "no")
        shown = f"{rate[key]:.1f}" if not label.startswith("  ") else ""
        print(f"| {label:<34} | {shown:>8} | {text:>20} | {'' if goal is None else f'>= {goal}':>6} | {met:>3} |")
    for threads, workers in sweep:
        key = f"sweep_{threads}_{workers}"
        if key in rate:
            print(f"| {f'  pipeline ORT, {threads} ORT + {workers} reader thr.':<34} | {rate[key]:>8.1f} | "
                  f"{rate[key] / rate['bare_onnx']:>5.2f} x bare ORT fp32 | {'':>6} |     |")


def main() -> None:
    plan = thread_plan()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model name or folder (default: breakhis-100x, else the fallback)")
    parser.add_argument("--slide", default=str(DEFAULT_SLIDE))
    parser.add_argument("--breakhis", default=str(DEFAULT_BREAKHIS),
                        help="folder of BreakHis PNGs (searched recursively)")
    parser.add_argument("--images", type=int, default=48, help="BreakHis images to use")
    parser.add_argument("--tile-um", type=float, default=64.0, help="slide tile side in µm")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=plan.intra_op, help="intra-op threads, torch and ORT")
    parser.add_argument("--workers", type=int, default=plan.readers, help="pipeline reader threads")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each measurement; the best is shown")
    parser.add_argument("--sweep", action="store_true", help="also time other thread splits of the pipeline")
    parser.add_argument("--no-memory", action="store_true", help="skip the 100k px slide memory benchmark")
    parser.add_argument("--memory-model", default="idc-wsi", help="whole-slide model of the memory benchmark")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model, spec, model_text = get_model(args.model)
    kw = dict(device="cpu", threads=args.threads, read_workers=args.workers)
    onnx = Predictor(model, spec, runtime="onnx", **kw)  # type: ignore[arg-type]
    eager = Predictor(model, spec, runtime="torch", **kw)  # type: ignore[arg-type]
    sweep = [(t, w) for t, w in ((1, 1), (2, 1), (2, 2), (1, 2)) if (t, w) != (args.threads, args.workers)]
    sweepers = {(t, w): Predictor(model, spec, runtime="onnx", device="cpu", threads=t, read_workers=w)
                for t, w in (sweep if args.sweep else [])}
    breakhis = sorted(Path(args.breakhis).rglob("*.png"))[: args.images]
    works = [Workload("slide", [Path(args.slide)], args.tile_um)]
    if breakhis:
        works.append(Workload("breakhis", breakhis, None))
    else:
        print(f"(no BreakHis images under {args.breakhis}; slide workload only)")
    batches = {w.name: prepared_batches(w, spec, args.batch_size) for w in works}
    int8, int8_text = int8_runner(model, onnx, batches[works[0].name], args.threads)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
          f"torch {torch.__version__}, onnxruntime {__import__('onnxruntime').__version__}")
    print(f"threads: {args.threads} intra-op (torch and ORT), {args.workers} reader threads; "
          f"batch {args.batch_size}, input {spec.width}x{spec.height}")
    print(f"model: {model_text}; {int8_text}")
    run_pipeline(onnx, works[0], args.batch_size)  # warm-up: first-call costs out of the timings
    run_pipeline(eager, works[0], args.batch_size)

    results: dict[str, dict[str, tuple[int, float]]] = {w.name: {} for w in works}
    for _ in range(args.repeats):  # interleaved, best of N: the CPU is shared with other work
        for work in works:
            r, xs = results[work.name], batches[work.name]
            best(r, "pipe_onnx", run_pipeline(onnx, work, args.batch_size))
            best(r, "bare_onnx", run_bare(onnx.score_tensor, xs))
            best(r, "bare_torch", run_bare(eager.score_tensor, xs))
            best(r, "bare_int8", run_bare(int8.predict, xs))
            best(r, "naive_onnx", run_naive(onnx, work, args.batch_size))
            best(r, "naive_torch", run_naive(eager, work, args.batch_size))
            best(r, "pipe_torch", run_pipeline(eager, work, args.batch_size))
            for (t, w), predictor in sweepers.items():
                best(r, f"sweep_{t}_{w}", run_pipeline(predictor, work, args.batch_size))
    for name, r in results.items():
        print_table(name, r, sweep)
    print(f"(best of {args.repeats} interleaved runs each; load average now {os.getloadavg()[0]:.1f})")
    print(f"peak RSS of this benchmark process: {peak_rss_mb():.0f} MB")
    if not args.no_memory:
        from bench_slide_memory import measure

        m = measure(100_000, args.memory_model, "auto", args.batch_size, False)
        print(f"\n100k x 100k px pyramidal JPEG TIFF through 'bcviewer predict' ({m['model']}): {m['tiles']} tiles "
              f"in {m['predict_s']} s, peak RSS {m['peak_rss_mb']} MB (goal < 1500 MB: "
              f"{'met' if float(m['peak_rss_mb']) < 1500 else 'MISSED'})")


if __name__ == "__main__":
    main()
