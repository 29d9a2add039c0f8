"""How far to trust a score: margin uncertainty, conformal prediction sets, an outside-training flag.

Three signals, each read from the model card and applied in numpy (no torch), so every runtime
and every output (viewer, CSV, GeoJSON, summary) says the same thing:

* **Uncertainty** is the calibrated margin ``1 - |2p - 1|``: 0 when the (temperature-calibrated)
  ensemble is sure, 1 at p = 0.5. Member disagreement is not part of it: measured on unseen
  patients it ranked errors worse than chance (issue 20), while the margin ranked them best.
* **Prediction sets** (split conformal, via ``crepes``): the nonconformity of an answer is
  ``1 - p(answer)``; the card keeps those scores of calibration images (patients held out from
  training), and a label enters the set when its conformal p-value exceeds ``1 - confidence``. On
  images exchangeable with the calibration patients the set holds the truth with probability at
  least ``confidence``. A set with both labels reads **review**; an empty one (neither label fits)
  reads **none**, and is sent for review too.
* **Outside training data**: a tile whose colour and texture descriptors (:func:`tile_looks`) lie
  further from the training patients' tiles, in Mahalanobis distance under a Ledoit-Wolf
  covariance, than ``quantile`` of the validation patients' tiles do. It catches glass, blur, pen,
  natural photos and other stains; it does not know tissue types the model never saw if they look
  alike in H&E (the card's trials say which).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bcviewer.inference.rules import DEFAULT_RULE, VerdictRule

BENIGN, MALIGNANT = "benign", "malignant"
REVIEW = "review"  # both labels fit
NO_LABEL = "none"  # neither label fits (p near 0.5 when calibration is tight): also for review
NEEDS_REVIEW = frozenset({REVIEW, NO_LABEL})
LOOK_NAMES: tuple[str, ...] = (
    "od_red", "od_green", "od_blue", "od_red_sd", "od_green_sd", "od_blue_sd",
    "white_share", "saturation", "saturation_sd", "red_minus_blue", "green_excess", "log_sharpness",
)
"""The per-tile descriptors of :func:`tile_looks`, in column order."""
_OD = -np.log((np.arange(256) + 1.0) / 256.0)  # optical density of each 8-bit value


def margin_uncertainty(p: np.ndarray | float) -> np.ndarray:
    """``1 - |2p - 1|``: 0 for a sure call, 1 at p = 0.5; NaN stays NaN (a tile not scored)."""
    return 1.0 - np.abs(2.0 * np.asarray(p, dtype=np.float64) - 1.0)


# ---- conformal prediction sets ----------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ConformalSets:
    """Split-conformal sets from calibration nonconformity scores ``1 - p(true label)``."""

    confidence: float
    calibration: np.ndarray
    level: str = "image"

    def __post_init__(self) -> None:
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"conformal confidence must lie in (0, 1), got {self.confidence}")
        if self.calibration.ndim != 1 or self.calibration.size < 2 or not np.isfinite(self.calibration).all():
            raise ValueError("conformal calibration needs at least two finite nonconformity scores")

    @classmethod
    def from_card(cls, entry: Mapping[str, Any]) -> ConformalSets:
        """From a card's ``conformal.image`` or ``conformal.tile`` entry."""
        return cls(float(entry["confidence"]), np.asarray(entry["scores"], dtype=np.float64),
                   str(entry.get("level", "image")))

    def members(self, p_malignant: np.ndarray) -> np.ndarray:
        """``(N, 2)`` booleans: is benign / malignant in the set of each p (NaN: neither)."""
        from crepes import ConformalClassifier  # light (numpy, scipy, pandas), loaded on first use

        p = np.atleast_1d(np.asarray(p_malignant, dtype=np.float64))
        out = np.zeros((len(p), 2), dtype=bool)
        ok = np.isfinite(p)
        if ok.any():
            classifier = ConformalClassifier()
            classifier.fit(self.calibration)
            alphas = np.column_stack([p[ok], 1.0 - p[ok]])  # 1 - p(benign), 1 - p(malignant)
            out[ok] = classifier.predict_set(alphas, confidence=self.confidence, smoothing=False).astype(bool)
        return out

    def names(self, p_malignant: np.ndarray) -> list[str | None]:
        """Per p: "benign", "malignant", "review" (both fit) or "none" (neither fits); None for NaN."""
        sets = self.members(p_malignant)
        p = np.atleast_1d(np.asarray(p_malignant, dtype=np.float64))
        return [None if not np.isfinite(v) else set_name(bool(b), bool(m)) for v, (b, m) in zip(p, sets)]


def set_name(benign: bool, malignant: bool) -> str:
    """The word for a prediction set: one label, "review" when both fit, "none" when neither does."""
    if benign != malignant:
        return BENIGN if benign else MALIGNANT
    return REVIEW if benign else NO_LABEL


def calibrate_sets(y: np.ndarray, p_malignant: np.ndarray, confidence: float, level: str) -> dict[str, Any]:
    """A card entry for :class:`ConformalSets` from calibration labels (1 = malignant) and p."""
    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(p_malignant, dtype=np.float64)
    scores = np.where(y == 1, 1.0 - p, p)
    return {"confidence": confidence, "level": level, "n": int(len(y)),
            "scores": [round(float(s), 6) for s in np.sort(scores)]}


# ---- outside training data ---------------------------------------------------------------------
def tile_looks(rgb: np.ndarray) -> np.ndarray:
    """``(N, 12)`` colour and texture descriptors of ``(N, H, W, 3)`` uint8 tiles (:data:`LOOK_NAMES`).

    Optical density by channel (stain amount and spread), the share of near-white pixels (glass),
    saturation, red-minus-blue and green excess (H&E is pink-purple; photos and other stains are
    not), and log Laplacian variance (blur). Tiles are reduced to 64 px a side first, so the cost
    is small beside the network's.
    """
    import cv2

    rgb = np.asarray(rgb)
    if rgb.ndim != 4 or rgb.shape[-1] != 3:
        raise ValueError(f"tile_looks needs (N, H, W, 3) tiles, got {rgb.shape}")
    n = len(rgb)
    if n == 0:
        return np.zeros((0, len(LOOK_NAMES)))
    small = np.stack([cv2.resize(np.ascontiguousarray(t, dtype=np.uint8), (64, 64), interpolation=cv2.INTER_AREA)
                      for t in rgb])
    pixels = small.reshape(n, -1, 3)
    # Optical density depends on the 8-bit value alone: its mean and spread come from per-channel
    # histograms and a 256-entry table, several times cheaper than taking logs of every pixel.
    codes = (np.arange(n * 3).reshape(n, 1, 3) * 256 + pixels).ravel()
    hist = np.bincount(codes, minlength=n * 3 * 256).reshape(n, 3, 256).astype(np.float64)
    count = pixels.shape[1]
    od_mean = hist @ _OD / count
    od_sd = np.sqrt(np.maximum(hist @ (_OD * _OD) / count - od_mean**2, 0.0))
    mosaic = small.reshape(n * 64, 64, 3)  # colour conversions are per pixel: one call for the batch
    saturation = cv2.cvtColor(mosaic, cv2.COLOR_RGB2HSV)[:, :, 1].reshape(n, -1).astype(np.float64) / 255.0
    grey = cv2.cvtColor(mosaic, cv2.COLOR_RGB2GRAY).reshape(n, 64, 64).astype(np.float64)
    r, g, b = (pixels[:, :, c].astype(np.float64) for c in range(3))
    total = r + g + b + 1.0
    sharpness = [np.log1p(cv2.Laplacian(t, cv2.CV_64F).var()) for t in grey]  # per tile: no bleed across tiles
    darkest = np.minimum(np.minimum(pixels[:, :, 0], pixels[:, :, 1]), pixels[:, :, 2])
    return np.column_stack([od_mean, od_sd, (darkest > 215).mean(axis=1),
                            saturation.mean(axis=1), saturation.std(axis=1), ((r - b) / total).mean(axis=1),
                            ((g - (r + b) / 2) / total).mean(axis=1), sharpness])


@dataclass(frozen=True, eq=False)
class TrainingLooks:
    """A Gaussian density of training tiles' looks; tiles beyond ``threshold`` are outside."""

    mean: np.ndarray
    precision: np.ndarray
    threshold: float
    quantile: float

    @classmethod
    def from_card(cls, entry: Mapping[str, Any]) -> TrainingLooks:
        names = tuple(entry.get("descriptors", ()))
        if names != LOOK_NAMES:
            raise ValueError(f"the card's outside-training descriptors {names} are not this version's {LOOK_NAMES}")
        mean = np.asarray(entry["mean"], dtype=np.float64)
        precision = np.asarray(entry["precision"], dtype=np.float64)
        if mean.shape != (len(LOOK_NAMES),) or precision.shape != (len(LOOK_NAMES),) * 2:
            raise ValueError("the card's outside-training density has the wrong shape")
        return cls(mean, precision, float(entry["threshold"]), float(entry["quantile"]))

    def distance(self, looks: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance of each row of ``looks`` (NaN rows stay NaN)."""
        d = np.atleast_2d(np.asarray(looks, dtype=np.float64)) - self.mean
        return np.asarray(np.einsum("ij,jk,ik->i", d, self.precision, d), dtype=np.float64)

    def outside(self, distance: np.ndarray) -> np.ndarray:
        """True where a distance lies beyond the threshold (NaN: False)."""
        return np.nan_to_num(np.asarray(distance, dtype=np.float64), nan=-1.0) > self.threshold


def fit_training_looks(train_looks: np.ndarray, val_looks: np.ndarray, quantile: float = 0.99) -> dict[str, Any]:
    """A card entry for :class:`TrainingLooks`: Ledoit-Wolf Gaussian on training tiles, threshold at
    ``quantile`` of the validation tiles' distances (so about 1 - quantile of unseen tissue is flagged)."""
    from sklearn.covariance import LedoitWolf

    fit = LedoitWolf().fit(np.asarray(train_looks, dtype=np.float64))
    density = TrainingLooks(fit.location_, fit.precision_, float("inf"), quantile)
    threshold = float(np.quantile(density.distance(val_looks), quantile))
    return {"descriptors": list(LOOK_NAMES), "mean": [float(v) for v in fit.location_],
            "precision": [[float(v) for v in row] for row in fit.precision_], "threshold": round(threshold, 4),
            "quantile": quantile, "n_train_tiles": int(len(train_looks)), "n_val_tiles": int(len(val_looks))}


# ---- what a card says -------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Trust:
    """The trust signals a model card provides (each may be absent), and its verdict rule."""

    image_sets: ConformalSets | None = None
    tile_sets: ConformalSets | None = None
    looks: TrainingLooks | None = None
    rule: VerdictRule = DEFAULT_RULE

    @classmethod
    def from_card(cls, card: Mapping[str, Any] | None) -> Trust:
        """Read ``conformal``, ``outside_training`` and ``verdict`` from a card; a card without the
        first two gives none, one without ``verdict`` the default rule (the mean)."""
        card = card or {}
        conformal = card.get("conformal") or {}
        image = ConformalSets.from_card(conformal["image"]) if "image" in conformal else None
        tile = ConformalSets.from_card(conformal["tile"]) if "tile" in conformal else None
        looks = TrainingLooks.from_card(card["outside_training"]) if card.get("outside_training") else None
        return cls(image, tile, looks, VerdictRule.from_card(card.get("verdict")))
