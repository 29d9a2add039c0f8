"""Proof of the self-learning loop: does it raise image accuracy on patients it never trained on?

Runs the loop exactly as ``bcviewer selflearn`` does (automatic mode; tau 0.1, 0.2, 0.3, 0.4) with
each trainer of ``--trainer`` (comma-separated, on the same folds): ``probe`` (the default, no
PyTorch: a logistic regression on pooled frozen ImageNet EfficientNet-Lite0 features from the ONNX
trunk), ``lite`` (the Lite hybrid's LSTM, fusion and head retrained in PyTorch on the same trunk's
maps) or ``hybrid`` (a small CNN+LSTM from scratch), on ``--folds`` patient folds of the
BreakHis images. Patient ids that differ only in trailing letters (14-22549AB/CD/G) stay in one
fold. For each fold a fresh copy of the project holds that fold out; the other patients train.

Round k's model is trained on the labels after round k-1, so the stages read:

* inherited labels        = the model of round 1,
* after round k (k < L)   = the model of round k+1,
* after round L           = one more training on the final labels.

Every held-out image is scored by every stage; image accuracy (mean sub-image p >= 0.5, and the
"any sub-image" rule) is pooled over the folds, so each image counts once. 95% confidence
intervals come from a bootstrap over patient groups, and the gain of each stage over the
inherited-labels baseline from a *paired* bootstrap (the same resampled patients for both).

It also counts how many sub-images of malignant images the loop turns benign (the paper reports
about 40% at 100X), separately for training and held-out patients.

Usage (from the project root; about 5 minutes a trainer on 2 cores once the features are cached)::

    python3 scripts/ablation_selflearn.py --out runs/selflearn-proof          # probe
    python3 scripts/ablation_selflearn.py --trainer probe,lite --out runs/selflearn-trainers  # both, same folds
    python3 scripts/ablation_selflearn.py --crossfit 3 --out runs/selflearn-proof-crossfit   # ablation
    python3 scripts/ablation_selflearn.py --trainer hybrid --out runs/selflearn-proof-hybrid  # ablation
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bcviewer.datasets import patient_kfold
from bcviewer.labels import LabelStore, SelfLearningEngine, SubImageRef, TauSchedule
from bcviewer.labels.importer import import_images
from bcviewer.labels.split import patient_group
from bcviewer.labels.trainers import TRAINER_KINDS, torch_available, trainer_for

PAPER_RELABELLED = 0.40  # share of malignant-image sub-images the paper's loop relabels at 100X


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "breakhis")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "selflearn-proof")
    p.add_argument("--folds", type=int, default=5, help="patient-group folds; each is held out once")
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--tau", default="0.1,0.2,0.3,0.4")
    p.add_argument("--trainer", default="probe", metavar="LIST",
                   help=f"comma-separated trainers, each run on the same folds ({', '.join(TRAINER_KINDS)}; "
                        "default probe)")
    p.add_argument("--crossfit", type=int, default=0, metavar="K", help="cross-fitted scoring (0: off, the default)")
    p.add_argument("--bootstrap", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def heldout_folds(store: LabelStore, k: int, seed: int) -> list[frozenset[str]]:
    """Held-out patients of each of ``k`` label-stratified folds over patient groups."""
    votes: dict[str, list[bool]] = {}
    for image in store.images():
        votes.setdefault(patient_group(image.patient), []).append(image.label == "malignant")
    labels = {g: str(sum(v) * 2 >= len(v)) for g, v in votes.items()}
    return [frozenset(p for p in store.patients() if patient_group(p) in test)
            for _, test in patient_kfold(labels, k, seed)]


def image_scores(refs: list[SubImageRef], p: dict[int, float]) -> dict[int, tuple[float, float]]:
    """Image id -> (mean sub-image p, max sub-image p)."""
    by_image: dict[int, list[float]] = defaultdict(list)
    for ref in refs:
        by_image[ref.image_id].append(p[ref.subimage_id])
    return {i: (float(np.mean(v)), float(np.max(v))) for i, v in by_image.items()}


def relabelled_share(refs: list[SubImageRef], heldout: frozenset[str]) -> dict[str, float]:
    """Share of malignant-image sub-images now labelled benign, for training and held-out patients."""
    out = {}
    for name, keep in (("train", lambda r: r.patient not in heldout), ("heldout", lambda r: r.patient in heldout)):
        subs = [r for r in refs if r.image_label == "malignant" and keep(r)]
        out[name] = sum(r.label == "benign" for r in subs) / max(len(subs), 1)
    return out


def run_fold(base: Path, out: Path, fold: int, heldout: frozenset[str], args: argparse.Namespace,
             trainer: Any, started: float) -> dict[str, Any]:
    """All rounds of one fold on a fresh copy of the project; per-image scores of every stage."""
    project = out / f"fold{fold}.bcv"
    for stale in (project, Path(f"{project}-wal"), Path(f"{project}-shm")):
        stale.unlink(missing_ok=True)
    shutil.copyfile(base, project)
    with LabelStore.open(project) as store:
        store.set_heldout_patients(sorted(heldout))
        refs = store.subimage_refs()
        held = [r for r in refs if r.patient in heldout]
        shares = []

        def on_round(report: Any) -> None:
            shares.append(relabelled_share(store.subimage_refs(), heldout))
            print(f"[{time.monotonic() - started:6.0f}s] fold {fold} round {report.number} tau {report.tau:g}: "
                  f"{report.stats['relabelled']} relabelled, held-out image acc "
                  f"{report.heldout['image_accuracy']:.3f}", flush=True)

        engine = SelfLearningEngine(store, trainer=trainer, schedule=TauSchedule.parse(args.tau),
                                    heldout_patients=heldout, crossfit_folds=args.crossfit,
                                    params={"proof": True})
        reports = engine.run(args.rounds, on_round=on_round)
        stages = [image_scores(held, store.predictions(r.round_id)) for r in reports]
        final_refs = store.subimage_refs()
        train = [r for r in final_refs if r.patient not in heldout]
        if args.crossfit:
            from bcviewer.labels.crossfit import crossfit_groups, crossfit_scores

            groups = crossfit_groups(train, args.crossfit, 0)
            p_held = crossfit_scores(trainer, train, held, groups, 0)[1]
        else:
            p_held = trainer.fit(train, 0).score(held)
        stages.append(image_scores(held, {r.subimage_id: float(v) for r, v in zip(held, p_held)}))
        images = {r.image_id: (r.patient, r.image_label == "malignant") for r in held}
    return {"fold": fold, "heldout_patients": sorted(heldout), "stages": stages, "images": images,
            "relabelled_share": shares, "rounds": [r.stats for r in reports], "taus": [r.tau for r in reports]}


def bootstrap(correct: np.ndarray, groups: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``(n, stages)`` accuracies over patient groups resampled with replacement (paired across stages)."""
    rng = np.random.default_rng(seed)
    names = np.unique(groups)
    members = [np.flatnonzero(groups == g) for g in names]
    out = np.empty((n, correct.shape[1]))
    for b in range(n):
        idx = np.concatenate([members[i] for i in rng.integers(0, len(names), len(names))])
        out[b] = correct[idx].mean(axis=0)
    return out


def summarise(results: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """Pooled per-stage accuracies, bootstrap CIs, paired gains and relabel shares."""
    rows, groups, truth = [], [], []
    for fold in results:
        for image_id, (patient, malignant) in fold["images"].items():
            rows.append([stage[image_id] for stage in fold["stages"]])
            groups.append(patient_group(patient))
            truth.append(malignant)
    scores = np.array(rows)  # (images, stages, 2): mean p, max p
    y = np.array(truth)[:, None]
    correct_mean = (scores[..., 0] >= 0.5) == y
    correct_any = (scores[..., 1] >= 0.5) == y
    boot = bootstrap(correct_mean.astype(float), np.array(groups), args.bootstrap, args.seed)
    gains = boot - boot[:, :1]
    taus = results[0]["taus"]
    names = ["inherited labels"] + [f"after round {k + 1} (tau {t:g})" for k, t in enumerate(taus)]
    table = []
    for s, name in enumerate(names):
        share = None if s == 0 else {
            part: float(np.mean([f["relabelled_share"][s - 1][part] for f in results])) for part in ("train", "heldout")}
        table.append({
            "labels": name, "image_accuracy": float(correct_mean[:, s].mean()),
            "ci95": [float(np.percentile(boot[:, s], 2.5)), float(np.percentile(boot[:, s], 97.5))],
            "gain_vs_inherited": float(correct_mean[:, s].mean() - correct_mean[:, 0].mean()),
            "gain_ci95": [float(np.percentile(gains[:, s], 2.5)), float(np.percentile(gains[:, s], 97.5))],
            "image_accuracy_any": float(correct_any[:, s].mean()),
            "sensitivity": float(correct_mean[y[:, 0], s].mean()), "specificity": float(correct_mean[~y[:, 0], s].mean()),
            "malignant_subimages_relabelled": share})
    return {"images": len(y), "patient_groups": len(set(groups)), "table": table}


def markdown(summary: dict[str, Any]) -> str:
    lines = [("| training labels | image acc (95% CI) | gain vs inherited (95% CI) | sens | spec | any-rule acc | "
              "malignant sub-images relabelled (train / held-out) |"), "|---|---|---|---|---|---|---|"]
    for row in summary["table"]:
        share = row["malignant_subimages_relabelled"]
        share_text = "–" if share is None else f"{share['train']:.1%} / {share['heldout']:.1%}"
        gain = "–" if row["labels"] == "inherited labels" else (
            f"{row['gain_vs_inherited']:+.3f} ({row['gain_ci95'][0]:+.3f} to {row['gain_ci95'][1]:+.3f})")
        lines.append(f"| {row['labels']} | {row['image_accuracy']:.3f} ({row['ci95'][0]:.3f}–{row['ci95'][1]:.3f}) | "
                     f"{gain} | {row['sensitivity']:.3f} | {row['specificity']:.3f} | "
                     f"{row['image_accuracy_any']:.3f} | {share_text} |")
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    if not args.data.is_dir():
        print(f"ablation_selflearn: {args.data} does not exist (the shared BreakHis images)", file=sys.stderr)
        return 2
    started = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    base = args.out / "imported.bcv"
    for stale in (base, Path(f"{base}-wal"), Path(f"{base}-shm")):
        stale.unlink(missing_ok=True)
    with LabelStore.create(base) as store:
        report = import_images(store, [args.data])
        folds = heldout_folds(store, args.folds, args.split_seed)
        n_images = len(store.images())
        store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # fold copies must hold the whole file
    print(f"imported {len(report.added)} images; folds: " + "; ".join(", ".join(sorted(f)) for f in folds), flush=True)
    kinds = [k for k in args.trainer.split(",") if k]
    summaries = {}
    for kind in kinds:
        started = time.monotonic()
        out = args.out / kind if len(kinds) > 1 else args.out
        out.mkdir(parents=True, exist_ok=True)
        trainer = trainer_for(kind, seed=args.seed)  # one trainer: its feature cache serves every fold
        results = [run_fold(base, out, i, held, args, trainer, started) for i, held in enumerate(folds)]
        summary = summarise(results, args)
        summary.update({"data": str(args.data), "n_images": n_images, "folds": args.folds, "trainer": kind,
                        "crossfit": args.crossfit, "schedule": args.tau, "paper_relabelled_share": PAPER_RELABELLED,
                        "torch_threads": _torch_threads(), "cpu_count": os.cpu_count(),
                        "load_average": list(os.getloadavg()), "seconds": round(time.monotonic() - started, 1),
                        "per_fold": [{k: v for k, v in f.items() if k not in ("stages", "images")} for f in results],
                        "trainer_history": getattr(trainer, "history", [])})
        (out / "ablation_selflearn.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        text = markdown(summary)
        (out / "ablation_selflearn.md").write_text(text + "\n")
        print(f"== trainer {kind}\n{text}")
        print(f"{args.folds} folds, every one of the {n_images} images held out once; total {summary['seconds']} s")
        summaries[kind] = summary
    if len(kinds) > 1:
        print(comparison(summaries))
    return 0


def _torch_threads() -> int | None:
    if not torch_available():
        return None
    import torch

    return int(torch.get_num_threads())


def comparison(summaries: dict[str, dict[str, Any]]) -> str:
    """One line per trainer: inherited-labels and last-round image accuracy, seconds per round."""
    lines = ["| trainer | inherited labels | after the last round | total s | head fit s a round (median) |",
             "|---|---|---|---|---|"]
    for kind, s in summaries.items():
        first, last = s["table"][0], s["table"][-1]
        fits = [h["seconds"] for h in s["trainer_history"] if "seconds" in h]
        lines.append(f"| {kind} | {first['image_accuracy']:.3f} ({first['ci95'][0]:.3f}–{first['ci95'][1]:.3f}) | "
                     f"{last['image_accuracy']:.3f} ({last['ci95'][0]:.3f}–{last['ci95'][1]:.3f}) | {s['seconds']} | "
                     f"{float(np.median(fits)) if fits else float('nan'):.2f} |")
    return "\n".join(lines)

if __name__ == "__main__":
    raise SystemExit(main())
