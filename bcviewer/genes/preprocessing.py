"""Preprocessing transformers in the scikit-learn style, fitted on a training fold only.

Each transformer learns its parameters in ``fit`` (from training samples) and applies them,
unchanged, in ``transform``. Each can write its fitted state as JSON-able settings plus numpy
arrays (``saved_state``) and be rebuilt from them (``restore``), so a model stores its
preprocessing in safetensors, never as a pickle.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from typing import Any, ClassVar, Iterator, cast

import numpy as np
from scipy.stats import norm, rankdata
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression

from bcviewer.genes.errors import GeneDataError

MIN_COHORT_SAMPLES = 10


@contextmanager
def _quiet_nan_warnings() -> Iterator[None]:
    """All-NaN genes are expected (absent in a cohort); their statistics fall back explicitly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        yield


def looks_like_counts(values: np.ndarray) -> bool:
    """Raw counts or intensities: no negative value and a 99th percentile above 30.

    log2-scale expression rarely exceeds 20, while counts and raw intensities run to thousands.
    """
    finite = values[np.isfinite(values)]
    return finite.size > 0 and float(finite.min()) >= 0.0 and float(np.percentile(finite, 99)) > 30.0


# scikit-learn ships no type information, so its base classes are Any to mypy.
class SavedTransformer(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """Common save/restore: scalar settings go to JSON, fitted arrays to safetensors."""

    fitted_arrays: ClassVar[tuple[str, ...]] = ()
    fitted_scalars: ClassVar[tuple[str, ...]] = ()

    def saved_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        settings = {"type": type(self).__name__, "params": self.get_params()}
        settings["fitted"] = {name: getattr(self, name) for name in self.fitted_scalars}
        arrays = {name: np.asarray(getattr(self, name)) for name in self.fitted_arrays}
        return settings, arrays

    @classmethod
    def restore(cls, settings: dict[str, Any], arrays: dict[str, np.ndarray]) -> "SavedTransformer":
        step = cls(**settings["params"])
        for name, value in settings.get("fitted", {}).items():
            setattr(step, name, value)
        for name in cls.fitted_arrays:
            setattr(step, name, np.asarray(arrays[name]))
        return step


class Log2IfCounts(SavedTransformer):
    """log2(x + 1) when the training data look like raw counts (``mode='auto'``), or always/never."""

    fitted_scalars = ("apply_",)

    def __init__(self, mode: str = "auto") -> None:
        self.mode = mode

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> "Log2IfCounts":
        if self.mode not in ("auto", "always", "never"):
            raise GeneDataError(f"log2 mode must be auto, always or never, not {self.mode!r}")
        self.apply_ = self.mode == "always" or (self.mode == "auto" and looks_like_counts(np.asarray(X, float)))
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        return np.log2(np.clip(X, 0.0, None) + 1.0) if self.apply_ else X


SCALINGS = ("fitted", "cohort", "quantile", "rank")
GRID_LEVELS = np.linspace(0.0, 1.0, 101)


def within_cohort_quantiles(X: np.ndarray) -> np.ndarray:
    """Each value's mid-rank quantile (rank - 0.5) / n within its gene (column); NaN stays NaN."""
    X = np.asarray(X, dtype=np.float64)
    finite = np.isfinite(X)
    ranks = rankdata(np.where(finite, X, np.inf), axis=0)  # NaNs rank last and are masked again below
    counts = finite.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        u = (ranks - 0.5) / counts
    return np.where(finite & (counts >= 2), u, np.nan)


class GeneStandardiser(SavedTransformer):
    """Per-gene z-score with the training fold's mean and sd (missing values are ignored).

    ``source`` says where a new cohort's scale comes from (all use no labels):

    - ``fitted``: the training fold's mean and sd (same platform; works for one sample);
    - ``cohort``: the new cohort's own mean and sd;
    - ``quantile``: each gene's within-cohort quantile mapped onto the training fold's distribution
      of that gene (``grid_``, 101 quantiles), then the training z-score: quantile normalisation to
      the training cohort, gene by gene;
    - ``rank``: each gene's within-cohort quantile as a standard normal score (rank normalisation).

    The cohort-based sources need at least ``MIN_COHORT_SAMPLES`` samples.
    """

    fitted_arrays = ("mean_", "scale_", "grid_")

    def __init__(self, source: str = "fitted") -> None:
        self.source = source

    @staticmethod
    def _stats(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(all="ignore"), _quiet_nan_warnings():
            mean = np.nanmean(X, axis=0)
            scale = np.nanstd(X, axis=0)
        scale = np.where(np.isfinite(scale) & (scale > 1e-12), scale, 1.0)
        return np.where(np.isfinite(mean), mean, 0.0), scale

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> "GeneStandardiser":
        X = np.asarray(X, dtype=np.float64)
        self.mean_, self.scale_ = self._stats(X)
        with np.errstate(all="ignore"), _quiet_nan_warnings():
            grid = np.nanquantile(X, GRID_LEVELS, axis=0)
        self.grid_ = np.where(np.isfinite(grid), grid, self.mean_[None, :])
        return self

    @classmethod
    def restore(cls, settings: dict[str, Any], arrays: dict[str, np.ndarray]) -> "SavedTransformer":
        if "grid_" not in arrays:  # saved before quantile scaling existed: that mode is unavailable
            arrays = {**arrays, "grid_": np.full((0, np.asarray(arrays["mean_"]).size), np.nan)}
        return super().restore(settings, arrays)

    def transform(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if self.source not in SCALINGS:
            raise GeneDataError(f"scaling must be one of {', '.join(SCALINGS)}, not {self.source!r}")
        if self.source == "fitted":
            return cast(np.ndarray, (X - self.mean_) / self.scale_)
        if X.shape[0] < MIN_COHORT_SAMPLES:
            raise GeneDataError(f"{self.source} scaling uses the cohort's own distribution and needs at least "
                                f"{MIN_COHORT_SAMPLES} samples, got {X.shape[0]}; use the model's standardisation")
        if self.source == "cohort":
            mean, scale = self._stats(X)
            measured = np.isfinite(X).sum(axis=0) >= 2
            return np.where(measured, (X - mean) / scale, np.nan)
        u = within_cohort_quantiles(X)
        if self.source == "rank":
            return cast(np.ndarray, norm.ppf(u))
        if self.grid_.shape[0] != GRID_LEVELS.size:
            raise GeneDataError("this model was saved without its training quantiles, so quantile scaling is "
                                "unavailable; retrain it or choose another scaling")
        mapped = np.column_stack([np.interp(u[:, j], GRID_LEVELS, self.grid_[:, j]) for j in range(X.shape[1])])
        return np.where(np.isfinite(u), (mapped - self.mean_) / self.scale_, np.nan)


class MedianImputer(SavedTransformer):
    """Missing values become the training fold's median of that gene."""

    fitted_arrays = ("medians_",)

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> "MedianImputer":
        with _quiet_nan_warnings():
            medians = np.nanmedian(np.asarray(X, dtype=np.float64), axis=0)
        self.medians_ = np.where(np.isfinite(medians), medians, 0.0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        X = np.array(X, dtype=np.float64)
        rows, cols = np.nonzero(~np.isfinite(X))
        X[rows, cols] = self.medians_[cols]
        return X


class QuantileNormaliser(SavedTransformer):
    """Each sample's values are mapped, rank for rank, onto the training fold's mean sorted profile."""

    fitted_arrays = ("reference_",)

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> "QuantileNormaliser":
        self.reference_ = np.sort(np.asarray(X, dtype=np.float64), axis=1).mean(axis=0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        ranks = rankdata(X, axis=1) - 1.0  # ties share the average rank
        positions = np.arange(self.reference_.size, dtype=np.float64)
        return cast(np.ndarray, np.interp(ranks, positions, self.reference_))


class GeneSelector(SavedTransformer):
    """Keeps ``selected_`` columns, ordered by decreasing ``scores_`` (so a 1-D net reads the best first)."""

    fitted_arrays = ("selected_", "scores_")

    def _keep_top(self, scores: np.ndarray, k: int) -> None:
        self.scores_ = np.nan_to_num(scores, nan=0.0)
        self.selected_ = np.argsort(-self.scores_, kind="stable")[: max(1, min(k, scores.size))]

    def transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64)[:, self.selected_]


def _class_indicators(y: np.ndarray) -> np.ndarray:
    classes = np.unique(y)
    if classes.size <= 2:
        return cast(np.ndarray, (y == classes[-1]).astype(np.float64)[:, None])
    return cast(np.ndarray, (y[:, None] == classes[None, :]).astype(np.float64))


class PearsonTopK(GeneSelector):
    """The k genes with the largest |Pearson r| with the label (max over classes, one-vs-rest)."""

    def __init__(self, k: int = 236) -> None:
        self.k = k

    def fit(self, X: np.ndarray, y: np.ndarray) -> "PearsonTopK":
        X = np.asarray(X, dtype=np.float64)
        targets = _class_indicators(np.asarray(y))
        xc = X - X.mean(axis=0)
        tc = targets - targets.mean(axis=0)
        denom = np.sqrt((xc**2).sum(axis=0))[:, None] * np.sqrt((tc**2).sum(axis=0))[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            r = (xc.T @ tc) / denom
        self._keep_top(np.abs(np.nan_to_num(r)).max(axis=1), self.k)
        return self


class LogisticSelector(GeneSelector):
    """Genes ranked by |coefficient| of a logistic regression fitted on the training fold."""

    def __init__(self, keep_fraction: float = 0.5, C: float = 1.0) -> None:
        self.keep_fraction = keep_fraction
        self.C = C

    def fit(self, X: np.ndarray, y: np.ndarray) -> "LogisticSelector":
        X = np.asarray(X, dtype=np.float64)
        model = LogisticRegression(C=self.C, max_iter=5000).fit(X, np.asarray(y))
        self._keep_top(np.abs(model.coef_).max(axis=0), math.ceil(self.keep_fraction * X.shape[1]))
        return self


STEP_TYPES: dict[str, type[SavedTransformer]] = {
    cls.__name__: cls
    for cls in (Log2IfCounts, GeneStandardiser, MedianImputer, QuantileNormaliser, PearsonTopK, LogisticSelector)
}
