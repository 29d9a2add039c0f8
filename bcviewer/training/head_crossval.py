"""Patient-level k-fold cross-validation of heads trained on cached trunk features, with ablations.

Every patient group is held out once. Inside each fold an inner grouped split of the remaining
patients gives the validation patients for early stopping, temperatures and the "uncertain"
threshold; the fold's held-out patients are scored once. The ablation variants (CNN alone, the
hybrid, the hybrid with its LSTM vector zeroed at test time) are trained on the same folds, so
their differences are paired. Extra feature sets (e.g. other magnifications of the same patients)
are scored by the fold model that did not see their patient.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, cast

import numpy as np
import torch

from bcviewer.datasets import patient_kfold
from bcviewer.nets.ensemble import Ensemble, EnsemblePrediction
from bcviewer.nets.hybrid import HybridConfig, HybridNet
from bcviewer.training.evaluation import evaluation_report
from bcviewer.training.features import FeatureSet
from bcviewer.training.head_trainer import HeadSchedule, fit_head_temperature, predict_features, train_head
from bcviewer.training.pipeline import grouped_patient_split, patient_group
from bcviewer.training.reliability import (
    choose_uncertain_threshold,
    image_outputs,
    patient_bootstrap,
    risk_coverage,
)

FIELDS = tuple(EnsemblePrediction.__dataclass_fields__)


def group_labels(features: FeatureSet) -> dict[str, str]:
    """Majority label of each patient group (for stratified folds)."""
    votes: dict[str, list[int]] = {}
    for image in features.images:
        votes.setdefault(patient_group(image.patient), []).append(image.label)
    return {g: str(int(np.mean(v) >= 0.5)) for g, v in votes.items()}


def fit_head_ensemble(configs: list[HybridConfig], train: FeatureSet, val: FeatureSet, schedule: HeadSchedule,
                      seed: int = 0, base: HybridNet | None = None) -> tuple[Ensemble, list[dict[str, Any]]]:
    """Train one head per config on cached maps; temperatures on ``val``; equal member weights.

    ``base`` (a net with the frozen trunk) is deep-copied per member so the saved members carry
    the trunk the features came from.
    """
    members, temperatures, summaries = [], [], []
    for i, config in enumerate(configs):
        torch.manual_seed(seed + i)
        net = HybridNet(config)
        if base is not None:
            net.cnn.load_state_dict(base.cnn.state_dict())
        result = train_head(net, train, val, schedule, seed=seed + i)
        temperature = fit_head_temperature(net, val)
        members.append(net)
        temperatures.append(temperature)
        summaries.append({"best_epoch": result.best_epoch, "epochs_run": len(result.history),
                          "best_val_loss": round(result.best_val_loss, 5), "temperature": round(temperature, 4),
                          "train_seconds": round(result.seconds, 1)})
    ensemble = Ensemble(members, temperatures=temperatures).eval()
    ensemble.detect_shared_trunk()
    return ensemble, summaries


def _pool(store: dict[str, np.ndarray], n: int, mask: np.ndarray, prediction: EnsemblePrediction) -> None:
    for f in FIELDS:
        values = getattr(prediction, f)
        if f not in store:
            store[f] = np.zeros((n, *values.shape[1:]))
        store[f][mask] = values


def _selective(features: FeatureSet, prediction: EnsemblePrediction) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p, u, kept = image_outputs(features.image_index, len(features.images), prediction)
    y = np.array([features.images[k].label for k in kept])
    return y, p, u


def variant_configs(config: HybridConfig, members: int) -> dict[str, tuple[list[HybridConfig], bool]]:
    """The ablation variants: name -> (member configs, zero the LSTM at test time)."""
    cnn_only = replace(config, use_lstm=False)
    return {"hybrid": ([config] * members, False), "hybrid_lstm_zeroed": ([config] * members, True),
            "cnn_only": ([cnn_only] * members, False)}


def crossval_heads(features: FeatureSet, config: HybridConfig, schedule: HeadSchedule, *, members: int = 3,
                   k: int = 5, seed: int = 0, inner_val: float = 0.25, target_accuracy: float = 0.95,
                   extra: dict[str, FeatureSet] | None = None, log: Any = print) -> dict[str, Any]:
    """Pooled held-out reports per ablation variant, fold details, bootstrap CIs and risk-coverage."""
    started = time.monotonic()
    variants = variant_configs(config, members)
    pooled: dict[str, dict[str, np.ndarray]] = {v: {} for v in variants}
    extra = extra or {}
    extra_pooled: dict[str, dict[str, np.ndarray]] = {name: {} for name in extra}
    confident: list[dict[str, Any]] = []
    folds = []
    for fold, (_, test_groups) in enumerate(patient_kfold(group_labels(features), k, seed)):
        test_patients = [p for p in features.patient_ids() if patient_group(p) in test_groups]
        dev = features.select_patients(set(features.patient_ids()) - set(test_patients))
        inner = grouped_patient_split(dev, (1 - inner_val, inner_val, 0.0), seed + fold)
        train, val = dev.select_patients(inner.train), dev.select_patients(inner.val)
        held = features.select_patients(test_patients)
        mask = np.isin(features.patients, test_patients)
        row: dict[str, Any] = {"fold": fold, "test_patients": sorted(test_patients),
                               "val_patients": sorted(inner.val)}
        trained: dict[tuple[bool, ...], Ensemble] = {}
        for name, (configs, zero) in variants.items():
            key = tuple(c.use_lstm for c in configs)
            if key not in trained:
                trained[key], _ = fit_head_ensemble(configs, train, val, schedule, seed=seed + 100 * fold)
            ensemble = trained[key]
            for m in ensemble.members:
                cast(HybridNet, m).zero_lstm = zero  # an Ensemble's members are HybridNets
            prediction = predict_features(ensemble, held)
            _pool(pooled[name], len(features), mask, prediction)
            row[name] = evaluation_report(held.as_tileset_view(), prediction)["image"]["accuracy"]
            if name == "hybrid":
                yv, pv, uv = _selective(val, predict_features(ensemble, val))
                choice = choose_uncertain_threshold(yv, pv, uv, target_accuracy)
                yt, pt, ut = _selective(held, prediction)
                confident.append({"fold": fold, **choice, "y": yt, "p": pt, "u": ut})
                for extra_name, extra_set in extra.items():
                    patients = [p for p in extra_set.patient_ids() if patient_group(p) in test_groups]
                    if patients:
                        part = extra_set.select_patients(patients)
                        _pool(extra_pooled[extra_name], len(extra_set), np.isin(extra_set.patients, patients),
                              predict_features(ensemble, part))
            for m in ensemble.members:
                cast(HybridNet, m).zero_lstm = False
        log(f"fold {fold}: " + ", ".join(f"{v} {row[v]:.3f}" for v in variants))
        folds.append(row)
    view = features.as_tileset_view()
    groups = np.array([patient_group(im.patient) for im in features.images])
    result: dict[str, Any] = {"k": k, "seed": seed, "members": members, "config": config.__dict__,
                              "schedule": schedule.__dict__, "folds": folds,
                              "rule": "grouped, label-stratified patient folds; inner grouped validation split per "
                                      "fold for early stopping, temperature and the uncertain threshold"}
    for name in variants:
        prediction = EnsemblePrediction(*(pooled[name][f] for f in FIELDS))
        report = evaluation_report(view, prediction)
        p_img, _, kept = image_outputs(features.image_index, len(features.images), prediction)
        y_img = np.array([features.images[i].label for i in kept])
        report["bootstrap_95ci"] = patient_bootstrap(y_img, p_img, groups[kept], seed=seed)
        result[name] = report
    y = np.concatenate([c["y"] for c in confident])
    p = np.concatenate([c["p"] for c in confident])
    u = np.concatenate([c["u"] for c in confident])
    keep = np.concatenate([c["u"] <= c["threshold"] for c in confident])
    result["risk_coverage"] = risk_coverage(y, p, u)
    result["uncertain_threshold_per_fold"] = [{k2: c[k2] for k2 in ("fold", "threshold", "rule", "val_coverage",
                                                                    "val_confident_accuracy")} for c in confident]
    result["confident_with_fold_thresholds"] = {
        "coverage": float(keep.mean()), "n_confident": int(keep.sum()),
        "confident_accuracy": float(((p[keep] >= 0.5) == y[keep]).mean()) if keep.any() else None}
    for name, store in extra_pooled.items():
        if store:
            covered = np.abs(store["member_probs"]).sum(axis=1) > 0
            part = extra[name]
            ids = np.unique(part.image_index[covered])
            sub = part.select_images(ids)
            prediction = EnsemblePrediction(*(store[f][covered] for f in FIELDS))
            result[f"extra_{name}"] = evaluation_report(sub.as_tileset_view(), prediction)
    result["seconds"] = round(time.monotonic() - started, 1)
    return result

