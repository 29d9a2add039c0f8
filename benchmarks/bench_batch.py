"""Benchmark ``bcviewer predict`` on many slides: one process versus a Dask LocalCluster.

Usage: python benchmarks/bench_batch.py [--slides 20] [--workers 2] [--device cpu]

Inputs: ``--slides`` files made from the fixtures in a temporary folder: half are variants of the
bundled BreakHis sample (flips and rotations, 700 x 460 or 460 x 700, 3x3 sub-images, scored by
``breakhis-100x``), half are copies of ``tests/data/slides/cmu_small_region.svs`` (a whole slide,
200 µm tiles, scored by ``idc-wsi``). The shipped models are used when installed.

1. Sequential: ``bcviewer predict DIR`` in this process (the default path: no Dask), wall time
   from the call to its return, so including the model loads; threads of this process before and
   after.
2. Dask: a LocalCluster of ``--workers`` processes (one thread each) scoring the same inputs with
   the same per-slide code and writing the same files (``score_on_cluster`` + ``write_outcome``,
   what ``--workers`` runs). Wall time with and without the cluster start. Per worker: peak RSS
   after its first slides (the model loaded) and at the end, the growth between them (goal < 10%),
   and live threads before the first slide and after the last (no leaked threads: the only new one
   is Dask's task thread, which a worker starts with its first task).

Slides/s of both and their ratio are printed, with the machine's load average, since the numbers
depend on what else runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bcviewer.batch import PredictOptions, model_ref, write_outcome
from bcviewer.batch.cluster import SlideTask, open_client, process_stats, score_on_cluster
from bcviewer.cli.main import main
from bcviewer.slides import open_slide

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "resources" / "sample" / "SOB_M_MC-14-13413-100-003.png"
SVS = ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs"
VARIANTS = [lambda a: a, np.fliplr, np.flipud, lambda a: np.rot90(a, 2), lambda a: np.rot90(a, 1)]


def make_inputs(folder: Path, n: int) -> list[Path]:
    """n files: variants of the sample image and copies of the small whole slide, alternating."""
    folder.mkdir(parents=True, exist_ok=True)
    rgb = np.asarray(Image.open(SAMPLE).convert("RGB"))
    paths = []
    for i in range(n):
        if i % 2 == 0:
            p = folder / f"img{i:02d}.png"
            Image.fromarray(np.ascontiguousarray(VARIANTS[(i // 2) % len(VARIANTS)](rgb))).save(p)
        else:
            p = folder / f"wsi{i:02d}.svs"
            shutil.copy(SVS, p)
        paths.append(p)
    return paths


def run_sequential(folder: Path, out: Path, device: str) -> tuple[float, list[str]]:
    """Wall seconds, and the names of threads alive after the run that were not before it."""
    before = set(threading.enumerate())
    start = time.perf_counter()
    code = main(["predict", str(folder), "--out", str(out), "--device", device, "--quiet"])
    seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"sequential run failed with exit code {code}")
    return seconds, sorted(t.name for t in set(threading.enumerate()) - before)


def run_cluster(paths: list[Path], out: Path, workers: int, device: str) -> dict[str, object]:
    options = PredictOptions(device=device)
    models = {name: model_ref(name) for name in ("breakhis-100x", "idc-wsi")}  # each worker chooses per slide
    tasks = [SlideTask(i, p, models) for i, p in enumerate(paths)]
    folders = [out / p.stem for p in paths]
    client_threads = set(threading.enumerate())
    start = time.perf_counter()
    with open_client(workers=workers) as client:
        started = time.perf_counter()
        idle = client.run(process_stats)  # before any slide: no model, no reader threads
        warm: dict[str, dict[str, int]] = {}
        seen: dict[str, int] = {}
        failed = 0
        for n, outcome in enumerate(score_on_cluster(client, tasks, options), 1):
            row = write_outcome(folders[outcome.index], outcome, options)
            failed += row.status != "ok"
            seen[outcome.scored_by] = seen.get(outcome.scored_by, 0) + 1
            if not warm and len(seen) == workers and min(seen.values()) >= 2:
                # every worker has scored two slides (both models loaded on most): the baseline
                warm = client.run(process_stats)
        end = client.run(process_stats)
        finished = time.perf_counter()
    left = sorted(t.name for t in set(threading.enumerate()) - client_threads)
    return {"wall": finished - start, "startup": started - start, "scoring": finished - started,
            "failed": failed, "idle": idle, "warm": warm, "end": end, "per_worker": seen, "client_threads": left}


def main_bench() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slides", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        base = Path(tmp)
        paths = make_inputs(base / "in", args.slides)
        load0 = os.getloadavg()
        seq, seq_threads = run_sequential(base / "in", base / "seq", args.device)
        dist = run_cluster(paths, base / "dask", args.workers, args.device)
        load1 = os.getloadavg()
    n = args.slides
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}, "
          f"load average {load0[0]:.1f} before, {load1[0]:.1f} after")
    print(f"{n} slides ({n - n // 2} images 700x460 3x3, {n // 2} copies of cmu_small_region.svs), "
          f"device {args.device}")
    print(f"sequential (one process, no Dask):   {seq:7.1f} s  {n / seq:6.3f} slides/s  "
          f"new threads left: {seq_threads or 'none'}")
    wall, scoring = dist["wall"], dist["scoring"]
    print(f"dask, {args.workers} workers, incl. start:   {wall:7.1f} s  {n / wall:6.3f} slides/s  "
          f"ratio {seq / wall:.2f}x")
    print(f"dask, {args.workers} workers, after start:   {scoring:7.1f} s  {n / scoring:6.3f} slides/s  "
          f"ratio {seq / scoring:.2f}x  (cluster start {dist['startup']:.1f} s)")
    print(f"errors: {dist['failed']}; slides per worker: {sorted(dist['per_worker'].values())}")
    idle, warm, end = dist["idle"], dist["warm"], dist["end"]
    for addr in sorted(end):
        i, w, e = idle.get(addr), warm.get(addr), end[addr]
        if i is None or w is None:
            print(f"worker {addr}: no baseline (joined late)")
            continue
        growth = (e["peak_rss"] - w["peak_rss"]) / w["peak_rss"] * 100
        print(f"worker pid {e['pid']}: peak RSS {w['peak_rss'] / 2**20:.0f} MiB after 2 slides -> "
              f"{e['peak_rss'] / 2**20:.0f} MiB at the end ({growth:+.1f}%, goal < 10%); RSS now "
              f"{e['rss'] / 2**20:.0f} MiB; threads idle before the first slide {i['threads']}, after the last "
              f"{e['threads']} (new: {sorted(set(e['thread_names']) - set(i['thread_names'])) or 'none'}); "
              f"models loaded {e['models_loaded']}")
    print(f"client: threads left after the cluster closed: {dist['client_threads'] or 'none'}")


if __name__ == "__main__":
    main_bench()
