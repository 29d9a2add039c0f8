"""The card's trust fields: conformal calibration and the outside-training density.

Both are fitted on patients the weights never trained on (the validation patients), and the
density's Gaussian on the training patients' tiles, so a card written by training and one
recalibrated later (``scripts/calibrate_trust.py``) carry the same fields, made the same way.
What they mean at run time is in :mod:`bcviewer.inference.trust`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bcviewer.inference.trust import (
    ConformalSets,
    TrainingLooks,
    calibrate_sets,
    fit_training_looks,
    margin_uncertainty,
    tile_looks,
)
from bcviewer.training.reliability import COVERAGES, risk_coverage

CONFIDENCE = 0.9
"""Nominal coverage of the prediction sets the app shows."""


def trust_fields(y_val_image: np.ndarray, p_val_image: np.ndarray, y_val_tile: np.ndarray, p_val_tile: np.ndarray,
                 train_tiles: np.ndarray, val_tiles: np.ndarray, calibration: str,
                 confidence: float = CONFIDENCE) -> dict[str, Any]:
    """``conformal`` and ``outside_training`` card entries from validation scores and the RGB
    tiles (``(N, H, W, 3)`` uint8, as the model sees them) of training and validation patients."""
    conformal = {"image": calibrate_sets(y_val_image, p_val_image, confidence, "image"),
                 "tile": calibrate_sets(y_val_tile, p_val_tile, confidence, "tile"),
                 "calibration": calibration,
                 "rule": "split conformal (crepes, unsmoothed p-values); nonconformity 1 - p(label); a label is in "
                         f"the set when its p-value exceeds {1 - confidence:.2f}; both labels (or none) = review"}
    outside = fit_training_looks(tile_looks(train_tiles), tile_looks(val_tiles))
    outside["rule"] = ("Ledoit-Wolf Gaussian of 12 colour/texture descriptors of training-patient tiles; a tile is "
                       "outside when its squared Mahalanobis distance exceeds the 99th percentile of validation tiles'")
    return {"conformal": conformal, "outside_training": outside}


def held_out_trust(y: np.ndarray, p: np.ndarray, conformal_image: dict[str, Any]) -> dict[str, Any]:
    """On held-out images: risk-coverage by the app's ranking (the margin), set coverage and review share."""
    sets = ConformalSets.from_card(conformal_image).members(p)
    truth = sets[np.arange(len(y)), np.asarray(y, dtype=np.int64)]
    review = sets.all(axis=1) | ~sets.any(axis=1)  # both labels, or neither
    return {"n": int(len(y)), "ranking": "calibrated margin 1 - |2p - 1| (the app's uncertainty)",
            "risk_coverage": risk_coverage(np.asarray(y), np.asarray(p), margin_uncertainty(p), COVERAGES),
            "set_coverage": float(truth.mean()), "review_share": float(review.mean()),
            "confident_accuracy": float(((p[~review] >= 0.5).astype(int) == y[~review]).mean())
            if (~review).any() else None,
            "nominal_coverage": float(conformal_image["confidence"])}


def outside_share(looks: TrainingLooks, rgb_tiles: np.ndarray) -> float:
    """Share of these tiles the density calls outside the training data."""
    return float(looks.outside(looks.distance(tile_looks(rgb_tiles))).mean())
