"""Binary classification metrics (scikit-learn) and the expected calibration error.

ECE rule: predictions are binned by the probability of the *predicted* class (confidence, 0.5..1)
into ``bins`` equal-width bins over [0, 1]; ECE is the tile-weighted mean, over non-empty bins, of
``|accuracy - mean confidence|``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)


def expected_calibration_error(y_true: np.ndarray, p_positive: np.ndarray, bins: int = 10) -> float:
    """ECE of binary probabilities ``p_positive`` against 0/1 labels (see module docstring)."""
    y = np.asarray(y_true).astype(int)
    p = np.asarray(p_positive, dtype=np.float64)
    if y.size == 0:
        return float("nan")
    predicted = (p >= 0.5).astype(int)
    confidence = np.where(predicted == 1, p, 1.0 - p)
    correct = (predicted == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def binary_metrics(y_true: np.ndarray, p_positive: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """Accuracy, sensitivity, specificity, precision, F1, ROC AUC, confusion matrix and ECE.

    Class 1 (malignant / IDC) is positive; a tile is called positive when ``p >= threshold``.
    ``confusion_matrix`` is ``[[TN, FP], [FN, TP]]``. AUC is None when only one class is present.
    """
    y = np.asarray(y_true).astype(int)
    p = np.asarray(p_positive, dtype=np.float64)
    pred = (p >= threshold).astype(int)
    cm = confusion_matrix(y, pred, labels=[0, 1])
    both = len(np.unique(y)) == 2
    return {
        "n": int(y.size),
        "n_positive": int(y.sum()),
        "accuracy": float(accuracy_score(y, pred)),
        "sensitivity": float(recall_score(y, pred, pos_label=1, zero_division=0)),
        "specificity": float(recall_score(y, pred, pos_label=0, zero_division=0)),
        "precision": float(precision_score(y, pred, pos_label=1, zero_division=0)),
        "f1": float(f1_score(y, pred, pos_label=1, zero_division=0)),
        "roc_auc": float(roc_auc_score(y, p)) if both else None,
        "confusion_matrix": cm.tolist(),
        "ece": expected_calibration_error(y, p),
        "threshold": threshold,
    }
