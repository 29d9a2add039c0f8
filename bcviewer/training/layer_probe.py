"""Linear probes on frozen ImageNet Lite0 features: which trunk depth and input size separate patients?

One pass of the trunk (cut after the deepest stage asked for) records the mean and spatial std of
every channel at the end of each requested stage. A class-balanced logistic regression,
standardised on the training folds only, is then scored in grouped patient k-fold
cross-validation. Cheap (seconds per probe), so it screens trunk cuts and input sizes before the
slower hybrid-head cross-validation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from bcviewer.datasets import patient_kfold
from bcviewer.nets.lite import LITE0_STAGE_END, build_lite_trunk
from bcviewer.nets.preprocess import InputSpec, preprocess
from bcviewer.training.pipeline import patient_group
from bcviewer.training.tiles import TileSet


@torch.no_grad()
def stage_pooled_features(tileset: TileSet, spec: InputSpec, stages: tuple[int, ...],
                          batch_size: int = 64) -> dict[int, np.ndarray]:
    """Per stage, ``(N, 2C)`` channel means and spatial stds of the ImageNet Lite0 trunk."""
    trunk = build_lite_trunk("efficientnet_lite0", pretrained="imagenet", stages=max(stages)).eval()
    ends = {LITE0_STAGE_END[s]: s for s in stages}
    out: dict[int, list[np.ndarray]] = {s: [] for s in stages}
    for start in range(0, len(tileset), batch_size):
        x = preprocess(tileset.tiles[start:start + batch_size], spec)
        h = trunk.act(trunk._bn0(trunk._conv_stem(x)))
        for i, block in enumerate(trunk._blocks):
            h = block(h)
            if i in ends:
                flat = h.flatten(2)
                out[ends[i]].append(torch.cat([flat.mean(2), flat.std(2)], 1).numpy())
    return {s: np.concatenate(v) for s, v in out.items()}


def probe_crossval(x: np.ndarray, tileset: TileSet, c: float = 0.1, k: int = 5, seed: int = 0) -> dict[str, Any]:
    """Pooled held-out image accuracy, balanced accuracy and AUC of a logistic-regression probe
    (image level = mean of its tiles' probabilities)."""
    votes: dict[str, list[int]] = {}
    for image in tileset.images:
        votes.setdefault(patient_group(image.patient), []).append(image.label)
    labels = {g: str(int(np.mean(v) >= 0.5)) for g, v in votes.items()}
    tile_groups = np.array([patient_group(tileset.images[i].patient) for i in tileset.image_index])
    p = np.zeros(len(tileset))
    for _, test in patient_kfold(labels, k, seed):
        held = np.isin(tile_groups, list(test))
        scaler = StandardScaler().fit(x[~held])
        clf = LogisticRegression(C=c, max_iter=3000, class_weight="balanced")
        clf.fit(scaler.transform(x[~held]), tileset.labels[~held])
        p[held] = clf.predict_proba(scaler.transform(x[held]))[:, 1]
    n_images = len(tileset.images)
    p_img = np.bincount(tileset.image_index, p, n_images) / np.maximum(np.bincount(tileset.image_index,
                                                                                   minlength=n_images), 1)
    y = np.array([im.label for im in tileset.images])
    predicted = p_img >= 0.5
    sens, spec = float(predicted[y == 1].mean()), float((~predicted[y == 0]).mean())
    return {"C": c, "accuracy": float((predicted == y).mean()), "balanced_accuracy": (sens + spec) / 2,
            "roc_auc": float(roc_auc_score(y, p_img)), "n_images": n_images}
