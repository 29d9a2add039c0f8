"""How many of the label-error queue's top-k are real errors, when known labels are flipped on purpose?

The BreakHis dev set (``../shared/data/breakhis``: 307 images of 20 patients at 100X, labels from
the file names, taken as true) is imported once. For each of ``--repeats`` seeds, ``--fraction`` of
the images are chosen at random and their label flipped (image label and all nine inherited
sub-image labels; benign -> malignant and malignant -> benign in proportion to the classes). The queue
(:func:`bcviewer.labels.label_issues.out_of_sample_p` and :func:`~bcviewer.labels.label_issues.issue_queue`,
the code behind ``bcviewer labels issues``) then runs on the flipped labels, with the default
probe trainer and 5 person folds, exactly as on a project that held those labels.

Reported per k: precision@k (share of the queue's first k images that are planted flips), the
random-ranking baseline (the planted share, its expectation), recall of the planted flips in the
whole queue, and which directions were found. Images of the unflipped set that the queue flags
count as misses here, although some may be real BreakHis label or content problems.

Usage (from the project root; about a minute once the probe's features are cached)::

    python3 scripts/label_issue_precision.py --out runs/label-issues
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bcviewer.labels import LabelStore, SubImageRef
from bcviewer.labels.importer import import_images
from bcviewer.labels.label_issues import issue_queue, out_of_sample_p
from bcviewer.labels.trainers import trainer_for

KS = (5, 10, 20, 31, 50)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "breakhis")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "label-issues")
    p.add_argument("--fraction", type=float, default=0.10, help="share of images flipped (default 0.10)")
    p.add_argument("--repeats", type=int, default=5, help="flip seeds 0 .. repeats-1")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--unit", default="image,person", metavar="LIST",
                   help="fold units to compare, comma-separated (image: folds of whole images, the default of "
                        "'labels issues'; person: folds of persons)")
    return p.parse_args()


def flipped(refs: list[SubImageRef], images: list[int]) -> list[SubImageRef]:
    """``refs`` with the image label and sub-image label of ``images`` swapped."""
    other = {"benign": "malignant", "malignant": "benign"}
    chosen = set(images)
    return [dataclasses.replace(r, image_label=other[r.image_label], label=other[r.image_label])
            if r.image_id in chosen else r for r in refs]


def measure(refs: list[SubImageRef], image_ids: list[int], truth: dict[int, str], trainer: object, unit: str,
            args: argparse.Namespace) -> dict[str, object]:
    """Precision@k of the queue over ``args.repeats`` flip seeds, folds of ``unit``."""
    planted_n = round(args.fraction * len(image_ids))
    runs = []
    for seed in range(args.repeats):
        rng = np.random.default_rng(seed)
        planted = sorted(int(i) for i in rng.choice(image_ids, planted_n, replace=False))
        noisy = flipped(refs, planted)
        t0 = time.monotonic()
        p = out_of_sample_p(noisy, trainer, args.folds, seed=0, unit=unit)  # type: ignore[arg-type]
        queue = issue_queue(noisy, p, "image", args.folds)
        seconds = time.monotonic() - t0
        ranked = queue.image_ids()
        hits = [i in set(planted) for i in ranked]
        row = {"seed": seed, "planted": planted, "planted_b_to_m": sum(truth[i] == "benign" for i in planted),
               "queue": len(ranked), "seconds": round(seconds, 1),
               "hits_at": {k: int(sum(hits[:k])) for k in KS},
               "recall": sum(hits) / planted_n,
               "found_b_to_m": sum(1 for i in ranked if i in set(planted) and truth[i] == "benign"),
               "found_m_to_b": sum(1 for i in ranked if i in set(planted) and truth[i] == "malignant"),
               "queue_ids": ranked}
        runs.append(row)
        print(f"{unit} folds, seed {seed}: queue {len(ranked)}, hits@k {row['hits_at']}, recall {row['recall']:.2f}, "
              f"found B->M {row['found_b_to_m']}/{row['planted_b_to_m']}, "
              f"M->B {row['found_m_to_b']}/{planted_n - row['planted_b_to_m']} ({seconds:.1f} s)", flush=True)
    summary = {k: {"mean_precision": float(np.mean([r["hits_at"][k] / k for r in runs])),
                   "min": min(r["hits_at"][k] / k for r in runs), "max": max(r["hits_at"][k] / k for r in runs),
                   "mean_recall": float(np.mean([r["hits_at"][k] / planted_n for r in runs]))}
               for k in KS}
    return {"summary": summary, "runs": runs,
            "mean_queue": float(np.mean([r["queue"] for r in runs])),
            "mean_recall_whole_queue": float(np.mean([r["recall"] for r in runs]))}


def main() -> int:
    args = parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    project = args.out / "dev.bcv"
    for stale in (project, Path(f"{project}-wal"), Path(f"{project}-shm")):
        stale.unlink(missing_ok=True)
    started = time.monotonic()
    with LabelStore.create(project) as store:
        import_images(store, [args.data])
        refs = store.subimage_refs()
    image_ids = sorted({r.image_id for r in refs})
    truth = {r.image_id: r.image_label for r in refs}
    trainer = trainer_for("probe", threads=1)
    results = {}
    for unit in args.unit.split(","):
        results[unit] = measure(refs, image_ids, truth, trainer, unit, args)
    result = {"images": len(image_ids), "planted_per_seed": round(args.fraction * len(image_ids)),
              "random_baseline_precision": round(args.fraction * len(image_ids)) / len(image_ids),
              "folds": args.folds, "repeats": args.repeats, "by_unit": results,
              "wall_seconds": round(time.monotonic() - started, 1),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores ({platform.processor() or 'cpu'})"}
    (args.out / "precision.json").write_text(json.dumps(result, indent=2))
    print(f"random ranking: precision {result['random_baseline_precision']:.3f} at every k")
    for unit, r in results.items():
        for k, s in r["summary"].items():
            print(f"{unit} folds: precision@{k}: mean {s['mean_precision']:.3f} (min {s['min']:.3f}, max {s['max']:.3f})"
                  f"; recall@{k} {s['mean_recall']:.3f}")
    print(f"total {result['wall_seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
