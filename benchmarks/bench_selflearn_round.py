"""Time self-learning rounds on the 20-patient BreakHis dev set, per trainer, on the same data.

Usage: PYTHONPATH=. python3 benchmarks/bench_selflearn_round.py [--data ../shared/data/breakhis] [--rounds 3]
       [--trainers probe,lite]

Imports the 307 images (2,763 sub-images) into a fresh project, holds out 20% of the patients as
``bcviewer selflearn`` does, then for each trainer (``probe``: the torch-free default, a logistic
regression on pooled features of the ONNX trunk; ``lite``: the Lite hybrid's LSTM, fusion and head
in PyTorch) on its own copy of that project times: the trunk features of every sub-image computed
cold (no cache), the same read back from the on-disk cache (a project reopened later), and
``--rounds`` automatic rounds with warm features, each split into train / score / commit by the
engine's progress calls, with each round's held-out image accuracy. The goal of issue 14 is a
round under 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bcviewer.labels import LabelStore, SelfLearningEngine
from bcviewer.labels.importer import import_images
from bcviewer.labels.split import choose_heldout_patients
from bcviewer.labels.trainers import TRAINER_KINDS

GOAL_S = 30.0


def make_trainer(kind: str, cache: Path) -> Any:
    """A trainer of ``kind`` whose features persist in ``cache``."""
    if kind == "probe":
        from bcviewer.labels.probe_trainer import probe_trainer

        return probe_trainer(cache_folder=cache)
    if kind == "lite":
        from bcviewer.labels.lite_trainer import lite_trainer

        return lite_trainer(cache_folder=cache)
    raise SystemExit(f"bench_selflearn_round: no cached-feature trainer {kind!r} (probe or lite)")


def bench(kind: str, base: Path, tmp: Path, rounds_wanted: int) -> dict[str, Any]:
    project, cache = tmp / f"{kind}.bcv", tmp / f"cache-{kind}"
    shutil.copyfile(base, project)
    with LabelStore.open(project) as store:
        refs = store.subimage_refs()
        held = store.heldout_patients() or frozenset()
        trainer = make_trainer(kind, cache)
        started = time.perf_counter()
        trainer.cache.maps(refs)
        cold = time.perf_counter() - started
        warm_reader = make_trainer(kind, cache)
        started = time.perf_counter()
        warm_reader.cache.maps(refs)
        from_disk = time.perf_counter() - started
        marks: list[tuple[str, float]] = []
        engine = SelfLearningEngine(store, trainer=trainer, heldout_patients=held,
                                    progress=lambda stage, k, n: marks.append((stage, time.perf_counter())))
        rounds = []
        for _ in range(rounds_wanted):
            marks.clear()
            begin = time.perf_counter()
            report = engine.run(1)[0]
            end = time.perf_counter()
            at = dict(marks)
            rounds.append({"total": end - begin, "train": at["score"] - at["train"],
                           "score": at["apply"] - at["score"], "commit": at["done"] - at["apply"],
                           "tau": report.tau, "relabelled": report.stats["relabelled"],
                           "image_accuracy": (report.heldout or {}).get("image_accuracy")})
    return {"cold": cold, "from_disk": from_disk, "rounds": rounds, "refs": len(refs),
            "train": len(refs) - sum(r.patient in held for r in refs)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data" / "breakhis")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--trainers", default="probe,lite", help="comma-separated: probe, lite (default both)")
    args = p.parse_args()
    kinds = [k for k in args.trainers.split(",") if k]
    if any(k not in TRAINER_KINDS for k in kinds):
        p.error(f"--trainers takes {', '.join(TRAINER_KINDS)}")
    if not args.data.is_dir():
        print(f"bench_selflearn_round: {args.data} does not exist", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "dev.bcv"
        with LabelStore.create(base) as store:
            import_images(store, [args.data])
            held = choose_heldout_patients(store, 0.2, 0)
            store.set_heldout_patients(sorted(held))
            store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # copies must hold the whole file
        results = {kind: bench(kind, base, Path(tmp), args.rounds) for kind in kinds}
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the end")
    for kind, res in results.items():
        print(f"== {kind}: {res['refs']} sub-images, {res['train']} train")
        print(f"features, cold (trunk on every sub-image): {res['cold']:7.1f} s")
        print(f"features, from the disk cache:             {res['from_disk']:7.1f} s")
        for i, r in enumerate(res["rounds"], start=1):
            acc = "-" if r["image_accuracy"] is None else f"{r['image_accuracy']:.3f}"
            print(f"round {i} (tau {r['tau']:g}): {r['total']:6.1f} s  (train {r['train']:.1f}, score {r['score']:.1f}, "
                  f"commit {r['commit']:.1f}; {r['relabelled']} relabelled; held-out image acc {acc})")
        median = statistics.median(r["total"] for r in res["rounds"])
        print(f"median round: {median:.1f} s; goal < {GOAL_S:.0f} s: {'met' if median < GOAL_S else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
