"""Patient-level k-fold cross-validation of a training plan (a recipe estimate, not a model).

With 20 BreakHis patients a single held-out test set holds four patients, so its accuracy swings
by tens of points with the draw. Cross-validation scores every patient once: each fold trains on
the other folds (with an inner, grouped validation split for early stopping and calibration) and
scores its own patients; the held-out predictions of all folds are pooled into one report.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from bcviewer.datasets import patient_kfold
from bcviewer.nets.ensemble import EnsemblePrediction
from bcviewer.nets.preprocess import InputSpec
from bcviewer.training.evaluation import evaluation_report, image_probabilities, predict_tileset
from bcviewer.training.pipeline import fit_ensemble, grouped_patient_split, patient_group
from bcviewer.training.plans import TrainPlan
from bcviewer.training.reliability import patient_bootstrap
from bcviewer.training.tiles import TileSet, channel_stats


def _group_labels(tileset: TileSet) -> dict[str, str]:
    votes: dict[str, list[int]] = {}
    for image in tileset.images:
        votes.setdefault(patient_group(image.patient), []).append(image.label)
    return {g: str(int(np.mean(v) >= 0.5)) for g, v in votes.items()}


def cross_validate(tileset: TileSet, plan: TrainPlan, k: int = 5, seed: int = 0, inner_val: float = 0.25,
                   log_epochs: bool = False) -> dict[str, Any]:
    """Pooled held-out report over ``k`` grouped, label-stratified patient folds, plus each fold's."""
    started = time.monotonic()
    torch.set_num_threads(plan.threads)
    fields = EnsemblePrediction.__dataclass_fields__
    pooled: dict[str, np.ndarray] = {}
    folds = []
    for fold, (_, test_groups) in enumerate(patient_kfold(_group_labels(tileset), k, seed)):
        test_patients = [p for p in tileset.patient_ids() if patient_group(p) in test_groups]
        dev = tileset.select_patients(set(tileset.patient_ids()) - set(test_patients))
        inner = grouped_patient_split(dev, (1 - inner_val, inner_val, 0.0), seed + fold)
        train, val = dev.select_patients(inner.train), dev.select_patients(inner.val)
        mean, std = channel_stats(train)
        spec = InputSpec(plan.input_size[0], plan.input_size[1], mean, std)
        fitted = fit_ensemble(train, val, plan, spec, progress=False, log_epochs=log_epochs)
        mask = np.isin(tileset.patients, test_patients)
        held_out = tileset.select_patients(test_patients)
        prediction = predict_tileset(fitted.ensemble, held_out, spec)
        for f in fields:
            values = getattr(prediction, f)
            if f not in pooled:
                pooled[f] = np.zeros((len(tileset), *values.shape[1:]))
            pooled[f][mask] = values
        report = evaluation_report(held_out, prediction)
        folds.append({"fold": fold, "train_patients": sorted(inner.train), "val_patients": sorted(inner.val),
                      "test_patients": sorted(test_patients), "image": report["image"], "tile": report["tile"],
                      "best_epochs": [m["best_epoch"] for m in fitted.summaries]})
    accuracies = [f["image"]["accuracy"] for f in folds]
    p_image, y_image, kept = image_probabilities(tileset, pooled["p_malignant"])
    groups = np.array([patient_group(tileset.images[i].patient) for i in kept])
    return {"k": k, "seed": seed, "plan": plan.to_dict(),
            "rule": "grouped, label-stratified patient folds; inner grouped validation split per fold",
            "pooled": evaluation_report(tileset, EnsemblePrediction(*(pooled[f] for f in fields))),
            "bootstrap_95ci": patient_bootstrap(y_image, p_image, groups, seed=seed),
            "fold_image_accuracy_mean": float(np.mean(accuracies)),
            "fold_image_accuracy_std": float(np.std(accuracies)), "folds": folds,
            "seconds": round(time.monotonic() - started, 1)}
