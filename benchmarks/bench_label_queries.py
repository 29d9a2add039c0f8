"""Time the label-store queries the labeling panel runs, on a project the size of BreakHis.

Usage: python benchmarks/bench_label_queries.py [--images 7909] [--rounds 4] [--project FILE]

Builds (once; reused when ``--project`` exists) a project of ``--images`` synthetic images with
3x3 sub-images and ``--rounds`` completed review rounds of seeded random predictions, then
prints the median wall time of: the full image list (``images()``), the per-image review
summary (``image_reviews()``), one image's list row and summary (after each key press), one
image's sub-images, one sub-image's history and round-by-round predictions, project counts,
and one ``set_label`` write. The panel runs the per-image queries on the GUI thread; the
full-list queries on a worker.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bcviewer.labels import LabelStore, NewImage, SelfLearningEngine, SubImageRect, TauSchedule


class RandomScorer:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def score(self, items: list) -> np.ndarray:  # type: ignore[type-arg]
        return self.rng.random(len(items))


def build(path: Path, images: int, rounds: int) -> None:
    store = LabelStore.create(path)
    rects = [SubImageRect(r, c, c * 233, r * 153, 233, 153, 0.9) for r in range(3) for c in range(3)]
    for i in range(images):
        label = "malignant" if i % 3 else "benign"
        store.add_image(NewImage(Path(f"/data/SOB_{i:05d}.png"), f"{i:064x}", f"14-{i // 30}", 100, label,
                                 700, 460, "DC" if label == "malignant" else "A"), rects)
    for k in range(rounds):
        # a review round waits for a person; the earlier ones are automatic, the last leaves proposals
        mode = "review" if k == rounds - 1 else "auto"
        SelfLearningEngine(store, scorer=RandomScorer(k), mode=mode, schedule=TauSchedule((0.1,))).run_round(k + 1, rounds)
    store.close()


def timed(fn: Callable[[], object], repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=7909)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--project", type=Path)
    args = parser.parse_args()
    path = args.project or Path(tempfile.gettempdir()) / f"bench-labels-{args.images}-{args.rounds}.bcv"
    if not path.exists():
        start = time.perf_counter()
        build(path, args.images, args.rounds)
        print(f"built {path} in {time.perf_counter() - start:.0f} s")
    with LabelStore.open(path) as store:
        image = store.images()[len(store.images()) // 2]
        sub = store.subimages(image.id)[4]
        print(f"{len(store.images())} images, {len(store.rounds())} rounds, "
              f"{len(store.proposals())} pending proposals")
        rows = [
            ("images() (full list)", lambda: store.images()),
            ("image_reviews() (full list)", lambda: store.image_reviews()),
            ("image(id) + image_reviews(id)", lambda: (store.image(image.id), store.image_reviews(image.id))),
            ("subimages(image)", lambda: store.subimages(image.id)),
            ("history(sub) + prediction_history(sub)",
             lambda: (store.history(sub.id), store.prediction_history(sub.id))),
            ("counts() + count_table()", lambda: (store.counts(), store.count_table())),
            ("set_label (one write)", lambda: store.set_label([sub.id], "malignant")),
        ]
        for name, fn in rows:
            print(f"{name:42s} {timed(fn):8.1f} ms")


if __name__ == "__main__":
    main()
