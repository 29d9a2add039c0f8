"""An ensemble across the three gene networks: ``GeneEnsemble`` averages the class probabilities of
CNN-BiLSTM, DeepCME and GexpNet classifiers trained on the same samples.

Its cross-validation needs no training of its own: the member architectures were cross-validated
on the same folds with the same seeds, so the ensemble's out-of-fold probabilities are the mean
of theirs (:func:`ensemble_cv`), exactly what refitting the ensemble per fold would give.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from bcviewer.genes.classifier import GeneNetClassifier, ProgressCallback
from bcviewer.genes.evaluation import CVResult, classification_metrics, summarise
from bcviewer.genes.preprocessing import SavedTransformer

ENSEMBLE = "ensemble"


@dataclass
class GeneEnsemble:
    """Members share genes, classes and the first preprocessing steps (log2, z-score, imputation)."""

    members: list[GeneNetClassifier]
    train_gene_scores: np.ndarray | None = None
    history: dict[str, Any] = field(default_factory=dict)
    architecture: str = ENSEMBLE

    def __post_init__(self) -> None:
        first = self.members[0]
        if any(m.genes != first.genes or m.classes != first.classes for m in self.members):
            raise ValueError("ensemble members must share genes and classes")

    @property
    def genes(self) -> list[str]:
        return self.members[0].genes

    @property
    def classes(self) -> list[str]:
        return self.members[0].classes

    @property
    def log2(self) -> str:
        return self.members[0].log2

    @property
    def steps(self) -> list[SavedTransformer]:
        """The first member's steps; their log2 / z-score / imputation parts are every member's."""
        steps = self.members[0].steps
        assert steps is not None  # filled in by GeneNetClassifier.__post_init__
        return steps

    @property
    def nets(self) -> list[Any]:
        return [net for m in self.members for net in m.nets]

    def preprocess(self, X: np.ndarray, standardise: str = "model", upto: type | None = None) -> np.ndarray:
        return self.members[0].preprocess(X, standardise, upto)

    def fit(self, X: np.ndarray, y: np.ndarray, progress: ProgressCallback | None = None) -> "GeneEnsemble":
        for member in self.members:
            member.fit(X, y, progress)
        return self.with_training_scores(X)

    def with_training_scores(self, X: np.ndarray) -> "GeneEnsemble":
        """Gene scores = mean |input x gradient| of the ensemble over its training samples ``X``."""
        self.train_gene_scores = np.abs(self.attributions(X)).mean(axis=0)
        return self

    def predict_proba(self, X: np.ndarray, standardise: str = "model") -> np.ndarray:
        """Mean of the members' class probabilities."""
        return cast(np.ndarray, np.mean([m.predict_proba(X, standardise) for m in self.members], axis=0))

    def attributions(self, X: np.ndarray, standardise: str = "model") -> np.ndarray:
        """Mean of the members' input x gradient (each towards its own positive or predicted class)."""
        return cast(np.ndarray, np.mean([m.attributions(X, standardise) for m in self.members], axis=0))

    def gene_scores(self) -> np.ndarray:
        return np.asarray(self.train_gene_scores, dtype=np.float64)

    def describe(self) -> dict[str, Any]:
        return {"architecture": ENSEMBLE, "genes": list(self.genes), "classes": list(self.classes),
                "log2": self.log2, "combination": "mean of the members' class probabilities",
                "members": [m.describe() for m in self.members]}


def ensemble_cv(results: dict[str, CVResult], y: np.ndarray) -> CVResult:
    """CV of the probability mean of ``results``' networks (same folds), next to their baselines.

    Every result must come from the same folds (same ``n_splits`` and seed). The first result's
    baselines are kept, so the ensemble sits beside the single gene, LR, SVC, RF, DT and KNN.
    """
    first = next(iter(results.values()))
    for other in results.values():
        if other.n_splits != first.n_splits or other.seed != first.seed or any(
                not np.array_equal(a, b) for a, b in zip(other.test_folds, first.test_folds)):
            raise ValueError("ensemble members were cross-validated on different folds")
    out = CVResult(first.n_splits, first.seed, test_folds=list(first.test_folds))
    out.oof[ENSEMBLE] = np.mean([r.oof[name] for name, r in results.items()], axis=0)
    for name, r in results.items():
        out.oof[name] = r.oof[name]
    for name, proba in first.oof.items():
        if name not in results:
            out.oof.setdefault(name, proba)
    for k, test in enumerate(first.test_folds):
        fold = {key: first.folds[k][key] for key in ("fold", "n_train", "n_test")}
        if "single_gene" in first.folds[k]:
            fold["single_gene"] = first.folds[k]["single_gene"]
        fold["metrics"] = {name: classification_metrics(y[test], proba[test]) for name, proba in out.oof.items()}
        out.folds.append(fold)
    for name in out.oof:
        out.summary[name] = summarise([f["metrics"][name] for f in out.folds])
    return out
