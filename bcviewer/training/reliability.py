"""Image-level uncertainty, risk-coverage curves, the "uncertain" threshold and patient bootstrap CIs.

Image uncertainty follows the tile rule of :mod:`bcviewer.nets.ensemble`, applied to the image's
mean probability: the calibrated margin ``1 - |2 p_image - 1|``. A threshold on it (chosen on
validation patients only: the largest whose confident validation images reach the target
accuracy) is an analysis tool of cross-validation; the app itself flags images for review by
their conformal prediction set (:mod:`bcviewer.inference.trust`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from bcviewer.nets.ensemble import EnsemblePrediction

COVERAGES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def image_outputs(image_index: np.ndarray, n_images: int, prediction: EnsemblePrediction
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per image: mean p_malignant, uncertainty (the margin, module rule), and the kept image indices."""
    counts = np.bincount(image_index, minlength=n_images)
    kept = np.flatnonzero(counts > 0)
    p = np.bincount(image_index, weights=prediction.p_malignant, minlength=n_images)[kept] / counts[kept]
    # No member spread in the rule: on unseen patients it ranked errors worse than chance (issue 20).
    return p, 1.0 - np.abs(2.0 * p - 1.0), kept


def risk_coverage(y: np.ndarray, p: np.ndarray, uncertainty: np.ndarray,
                  coverages: tuple[float, ...] = COVERAGES) -> list[dict[str, float]]:
    """Accuracy among the most confident images at each coverage (share of images kept)."""
    order = np.argsort(uncertainty, kind="stable")
    correct = ((p >= 0.5).astype(int) == y)[order]
    rows = []
    for c in coverages:
        n = max(1, int(round(c * len(y))))
        rows.append({"coverage": round(n / len(y), 4), "accuracy": float(correct[:n].mean()),
                     "max_uncertainty": float(uncertainty[order][n - 1])})
    return rows


def choose_uncertain_threshold(y: np.ndarray, p: np.ndarray, uncertainty: np.ndarray,
                               target_accuracy: float = 0.95) -> dict[str, Any]:
    """The largest uncertainty threshold whose confident images (uncertainty <= threshold) reach
    ``target_accuracy`` on these (validation) images; if none does, the threshold with the best
    confident accuracy at coverage >= 50%."""
    order = np.argsort(uncertainty, kind="stable")
    correct = ((p >= 0.5).astype(int) == y)[order].astype(float)
    running = np.cumsum(correct) / np.arange(1, len(y) + 1)
    ok = np.flatnonzero(running >= target_accuracy)
    if ok.size:
        n = int(ok.max()) + 1
        rule = f"largest threshold with validation confident accuracy >= {target_accuracy:.0%}"
    else:
        half = max(1, len(y) // 2)
        n = half - 1 + int(np.argmax(running[half - 1:])) + 1
        rule = f"no threshold reached {target_accuracy:.0%}; best confident accuracy at coverage >= 50%"
    threshold = float(uncertainty[order][n - 1])
    return {"threshold": round(threshold, 6), "rule": rule, "val_coverage": round(n / len(y), 4),
            "val_confident_accuracy": float(running[n - 1])}


def confident_metrics(y: np.ndarray, p: np.ndarray, uncertainty: np.ndarray, threshold: float) -> dict[str, Any]:
    """Coverage and accuracy of the images at or below ``threshold``."""
    keep = uncertainty <= threshold
    return {"threshold": threshold, "coverage": float(keep.mean()) if len(y) else float("nan"),
            "n_confident": int(keep.sum()),
            "confident_accuracy": float(((p[keep] >= 0.5).astype(int) == y[keep]).mean()) if keep.any() else None,
            "uncertain_accuracy": float(((p[~keep] >= 0.5).astype(int) == y[~keep]).mean()) if (~keep).any() else None}


def _accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return float(((p >= 0.5).astype(int) == y).mean())


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan")


def _sensitivity(y: np.ndarray, p: np.ndarray) -> float:
    pos = y == 1
    return float((p[pos] >= 0.5).mean()) if pos.any() else float("nan")


def _balanced_accuracy(y: np.ndarray, p: np.ndarray) -> float:
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(((p[y == 1] >= 0.5).mean() + (p[y == 0] < 0.5).mean()) / 2)


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": _accuracy, "roc_auc": _auc, "sensitivity": _sensitivity, "balanced_accuracy": _balanced_accuracy}


def patient_bootstrap(y: np.ndarray, p: np.ndarray, groups: np.ndarray, rounds: int = 2000, seed: int = 0,
                      level: float = 0.95) -> dict[str, dict[str, float]]:
    """Percentile confidence intervals of image-level metrics, resampling patient groups (not
    images) with replacement, so that correlated images of one patient move together."""
    rng = np.random.default_rng(seed)
    names = np.unique(groups)
    members = {g: np.flatnonzero(groups == g) for g in names}
    samples: dict[str, list[float]] = {k: [] for k in METRICS}
    for _ in range(rounds):
        idx = np.concatenate([members[g] for g in rng.choice(names, size=len(names), replace=True)])
        for key, fn in METRICS.items():
            value = fn(y[idx], p[idx])
            if np.isfinite(value):
                samples[key].append(value)
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    out = {}
    for key, fn in METRICS.items():
        values = np.asarray(samples[key])
        out[key] = {"value": fn(y, p), "ci_low": float(np.quantile(values, lo)) if values.size else float("nan"),
                    "ci_high": float(np.quantile(values, hi)) if values.size else float("nan")}
    return out
