"""The default self-learning trainer, with no PyTorch: a logistic regression on pooled trunk features.

The features are those of the lite trainer (:mod:`bcviewer.labels.lite_trainer`): the frozen
ImageNet EfficientNet-Lite0 trunk (cut after stage 4) of the shipped ``breakhis-100x``, run here
by ONNX Runtime from the ``trunk.onnx`` its card vouches for, computed once per sub-image and
cached (:mod:`bcviewer.labels.feature_cache`). Each round fits the head the layer probe and the
shipped model use (see the ``cross_validation`` section of that model's card: the probe tied the
LSTM hybrid in patient cross-validation, and gradient descent on the same linear head did worse):
each map pooled to its channel means and spatial standard deviations (2C numbers), standardised on
the round's training sub-images only, then a class-balanced L2 logistic regression (C = 0.1,
L-BFGS). The fit is deterministic: the same labels give the same model, so rounds differ only in
their labels. Held-out patients never train it; the ImageNet weights never saw a BreakHis patient.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from bcviewer.labels.errors import SelfLearningError
from bcviewer.labels.feature_cache import (
    FeatureProgress,
    SubImageFeatureCache,
    default_cache_folder,
)
from bcviewer.labels.queries import SubImageRef
from bcviewer.labels.selflearn import SelfLearningCancelled

TRUNK_MODEL = "breakhis-100x"
PROBE_C = 0.1  # the layer probe's choice (bcviewer.training.head_trainer.HeadSchedule.probe_c)
MAX_ITER = 5000


def pooled_features(maps: np.ndarray) -> np.ndarray:
    """``(N, 2C)`` float64 channel means and spatial standard deviations of ``(N, C, h, w)`` maps
    (the standard deviation with n - 1, as the hybrid's ``mean_std`` pool computes it)."""
    flat = np.asarray(maps, dtype=np.float64).reshape(len(maps), maps.shape[1], -1)
    return np.concatenate([flat.mean(axis=2), flat.std(axis=2, ddof=1)], axis=1)


@dataclass
class ProbeScorer:
    """A fitted probe that scores sub-images from their cached maps (the Scorer protocol)."""

    scaler: StandardScaler
    model: LogisticRegression
    cache: SubImageFeatureCache
    should_stop: Callable[[], bool] | None = None
    progress: FeatureProgress | None = None

    def score(self, items: Sequence[SubImageRef]) -> np.ndarray:
        if not items:
            return np.zeros(0)
        maps = self.cache.round_maps(items, self.should_stop, self.progress)
        x = self.scaler.transform(pooled_features(maps))
        return np.asarray(self.model.predict_proba(x)[:, 1], dtype=np.float64)


@dataclass
class ProbeTrainer:
    """Fits a logistic-regression head on pooled cached features each round (the Trainer protocol).

    ``should_stop`` is set by the engine and polled between images (features) and before the fit;
    ``feature_progress`` hears how many sub-images have a feature map; ``threads`` caps the BLAS
    threads of the fit.
    """

    cache: SubImageFeatureCache
    c: float = PROBE_C
    seed: int = 0
    threads: int = 1
    trunk_source: str = TRUNK_MODEL
    runtime: str = "onnxruntime"
    should_stop: Callable[[], bool] | None = None
    feature_progress: FeatureProgress | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        """What the project records about this trainer with every round."""
        return {"trainer": "probe", "trunk": f"frozen ImageNet EfficientNet-Lite0 from {self.trunk_source}",
                "trunk_id": self.cache.trunk_id, "trunk_runtime": self.runtime, "input": list(self.cache.spec.size),
                "seed": self.seed,
                "head": {"pool": "mean_std", "standardised": "on the round's training sub-images",
                         "fit": "logistic regression, L2, class-balanced, lbfgs", "C": self.c, "max_iter": MAX_ITER}}

    def fit(self, examples: Sequence[SubImageRef], round_number: int) -> ProbeScorer:
        if not examples:
            raise SelfLearningError("there are no training sub-images to learn from")
        maps = self.cache.round_maps(examples, self.should_stop, self.feature_progress)
        labels = np.array([r.label == "malignant" for r in examples], dtype=np.int64)
        if len(set(labels.tolist())) < 2:
            raise SelfLearningError("the training sub-images are all one label, so no model can be trained; "
                                    "import benign and malignant images")
        if self.should_stop is not None and self.should_stop():
            raise SelfLearningCancelled()
        started = time.perf_counter()
        x = pooled_features(maps)
        with threadpool_limits(limits=max(1, self.threads)):
            scaler = StandardScaler().fit(x)
            model = LogisticRegression(C=self.c, max_iter=MAX_ITER, class_weight="balanced", random_state=self.seed)
            model.fit(scaler.transform(x), labels)
        self.history.append({"round": round_number, "subimages": len(examples),
                             "seconds": round(time.perf_counter() - started, 2), "iterations": int(model.n_iter_[0])})
        return ProbeScorer(scaler, model, self.cache, self.should_stop, self.feature_progress)


def probe_trainer(*, cache_folder: Path | None = None, model: str = TRUNK_MODEL, seed: int = 0, threads: int = 1,
                  feature_threads: int | None = None, c: float = PROBE_C) -> ProbeTrainer:
    """The torch-free default trainer on the ONNX trunk of the shipped ``model``.

    ``cache_folder``: where feature maps persist (default: the user's cache); ``feature_threads``:
    ONNX Runtime threads while computing maps (default: one per core); ``threads``: BLAS threads
    while fitting a head.
    """
    from bcviewer.nets.trunk_runtime import shipped_onnx_trunk

    trunk = shipped_onnx_trunk(model, feature_threads)
    cache = SubImageFeatureCache(trunk.run, trunk.spec, trunk.trunk_id,
                                 cache_folder if cache_folder is not None else default_cache_folder())
    return ProbeTrainer(cache, c, seed=seed, threads=threads, trunk_source=model)
