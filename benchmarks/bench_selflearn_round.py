"""Time one self-learning round on the 20-patient BreakHis dev set with the default (fast) trainer.

Usage: PYTHONPATH=. python3 benchmarks/bench_selflearn_round.py [--data ../shared/data/breakhis] [--rounds 3]

Imports the 307 images (2,763 sub-images) into a fresh project, holds out 20% of the patients as
``bcviewer selflearn`` does, then times: the trunk features of every sub-image computed cold (no
cache), the same read back from the on-disk cache (a project reopened later), and ``--rounds``
automatic rounds with warm features, each split into train / score / commit by the engine's
progress calls. The goal of issue 14 is a round under 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from bcviewer.labels import LabelStore, SelfLearningEngine
from bcviewer.labels.importer import import_images
from bcviewer.labels.lite_trainer import lite_trainer
from bcviewer.labels.split import choose_heldout_patients

GOAL_S = 30.0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data" / "breakhis")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    if not args.data.is_dir():
        print(f"bench_selflearn_round: {args.data} does not exist", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        project, cache = Path(tmp) / "dev.bcv", Path(tmp) / "cache"
        with LabelStore.create(project) as store:
            import_images(store, [args.data])
            refs = store.subimage_refs()
            held = choose_heldout_patients(store, 0.2, 0)
            store.set_heldout_patients(sorted(held))
            trainer = lite_trainer(cache_folder=cache)
            started = time.perf_counter()
            trainer.cache.maps(refs)
            cold = time.perf_counter() - started
            warm_reader = lite_trainer(cache_folder=cache)
            started = time.perf_counter()
            warm_reader.cache.maps(refs)
            from_disk = time.perf_counter() - started
            marks: list[tuple[str, float]] = []
            engine = SelfLearningEngine(store, trainer=trainer, heldout_patients=held,
                                        progress=lambda stage, k, n: marks.append((stage, time.perf_counter())))
            rounds = []
            for _ in range(args.rounds):
                marks.clear()
                begin = time.perf_counter()
                report = engine.run(1)[0]
                end = time.perf_counter()
                at = dict(marks)
                rounds.append({"total": end - begin, "train": at["score"] - at["train"],
                               "score": at["apply"] - at["score"], "commit": at["done"] - at["apply"],
                               "tau": report.tau, "relabelled": report.stats["relabelled"]})
        print(f"machine: {torch.get_num_threads()} torch threads for features, 1 for the head; "
              f"{len(refs)} sub-images, {len(refs) - sum(r.patient in held for r in refs)} train")
        print(f"features, cold (trunk on every sub-image): {cold:7.1f} s")
        print(f"features, from the disk cache:             {from_disk:7.1f} s")
        for i, r in enumerate(rounds, start=1):
            print(f"round {i} (tau {r['tau']:g}): {r['total']:6.1f} s  (train {r['train']:.1f}, score {r['score']:.1f}, "
                  f"commit {r['commit']:.1f}; {r['relabelled']} relabelled)")
        median = statistics.median(r["total"] for r in rounds)
        print(f"median round: {median:.1f} s; goal < {GOAL_S:.0f} s: {'met' if median < GOAL_S else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
