"""Tile-level and image-level evaluation with per-magnification, per-subtype and per-patient rows.

Image-level rule: an image's p_malignant is the **mean of its sub-images' p_malignant** (the 3x3
sub-images of a BreakHis image); the image is called malignant when that mean is >= 0.5. For IDC
every patch is its own image, so tile and image level coincide.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from tqdm import tqdm

from bcviewer.nets.ensemble import Ensemble, EnsemblePrediction
from bcviewer.nets.preprocess import InputSpec, preprocess
from bcviewer.training.metrics import binary_metrics
from bcviewer.training.tiles import TileSet

IMAGE_AGGREGATION = "mean of the sub-image p_malignant; malignant when the mean >= 0.5"


def predict_tileset(ensemble: Ensemble, tileset: TileSet, spec: InputSpec, batch_size: int = 128,
                    progress: bool = False) -> EnsemblePrediction:
    """Ensemble outputs for every tile of ``tileset`` (no augmentation)."""
    parts = []
    for start in tqdm(range(0, len(tileset), batch_size), desc="scoring", disable=not progress, unit="batch"):
        parts.append(ensemble.predict_proba(preprocess(tileset.tiles[start:start + batch_size], spec)))
    return EnsemblePrediction(*(np.concatenate([getattr(p, f) for p in parts])
                                for f in EnsemblePrediction.__dataclass_fields__))


def image_probabilities(tileset: TileSet, p_tile: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per source image with tiles: mean sub-image probability, image label, and the image's
    index in ``tileset.images`` (see the module's aggregation rule)."""
    sums = np.bincount(tileset.image_index, weights=p_tile, minlength=len(tileset.images))
    counts = np.bincount(tileset.image_index, minlength=len(tileset.images))
    labels = np.array([im.label for im in tileset.images], dtype=np.int64)
    kept = np.flatnonzero(counts > 0)
    return sums[kept] / counts[kept], labels[kept], kept


def _group_rows(values: list[Any], p_image: np.ndarray, y_image: np.ndarray) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, key in enumerate(values):
        groups[str(key)].append(i)
    rows = {}
    for key, idx in sorted(groups.items()):
        p, y = p_image[idx], y_image[idx]
        rows[key] = {"n_images": len(idx), "n_malignant": int(y.sum()),
                     "accuracy": float(((p >= 0.5).astype(int) == y).mean()),
                     "mean_p_malignant": float(p.mean())}
    return rows


def evaluation_report(tileset: TileSet, prediction: EnsemblePrediction, threshold: float = 0.5) -> dict[str, Any]:
    """Metrics at tile and image level, plus per magnification / subtype / patient breakdowns."""
    p_tile = prediction.p_malignant
    p_image, y_image, kept = image_probabilities(tileset, p_tile)
    images = [tileset.images[k] for k in kept]
    report: dict[str, Any] = {
        "kind": tileset.kind,
        "image_aggregation": IMAGE_AGGREGATION,
        "patients": tileset.patient_ids(),
        "tile": binary_metrics(tileset.labels, p_tile, threshold),
        "image": binary_metrics(y_image, p_image, threshold),
        "mean_uncertainty": float(prediction.uncertainty.mean()),
        "mean_attention_cnn_lstm": prediction.attention.mean(axis=(0, 1)).round(4).tolist(),
        "per_subtype": _group_rows([im.subtype for im in images], p_image, y_image),
        "per_patient": _group_rows([im.patient for im in images], p_image, y_image),
    }
    mags = [im.magnification for im in images]
    if any(m is not None for m in mags):
        per_mag = {}
        for mag in sorted({m for m in mags if m is not None}):
            idx = [i for i, m in enumerate(mags) if m == mag]
            tile_mask = np.isin(tileset.image_index, kept[idx])
            per_mag[f"{mag}X"] = {"image": binary_metrics(y_image[idx], p_image[idx], threshold),
                                  "tile": binary_metrics(tileset.labels[tile_mask], p_tile[tile_mask], threshold)}
        report["per_magnification"] = per_mag
    return report
