"""Stratified k-fold cross-validation of a gene network against five classical baselines.

All preprocessing is fitted inside each training fold (the networks' chains and the baselines'
own log2 / z-score / imputation pipelines). Every model sees exactly the same folds. Metrics:
AUC, accuracy, F1, recall and precision (macro averages for more than two classes), per fold and
as mean ± sd. A noise-robustness check adds Gaussian noise, up to 20% of each gene's spread in
the training fold, to the test samples and reports the variance of the AUC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from bcviewer.genes.baselines import SINGLE_GENE, TUNED_LR, SingleGeneClassifier, tuned_logistic
from bcviewer.genes.errors import LabelError
from bcviewer.genes.classifier import GeneNetClassifier
from bcviewer.genes.preprocessing import GeneStandardiser, Log2IfCounts, MedianImputer

METRICS = ("auc", "accuracy", "f1", "recall", "precision")
NOISE_LEVELS = (0.0, 0.05, 0.10, 0.15, 0.20)


def baseline_models(seed: int = 0) -> dict[str, Any]:
    """The best single gene, the five baselines of the DeepCME paper (balanced class weights where
    they exist) and a logistic regression with its C chosen by inner CV."""
    return {
        SINGLE_GENE: SingleGeneClassifier(),
        "LR": LogisticRegression(max_iter=5000, class_weight="balanced"),
        TUNED_LR: tuned_logistic(seed),
        # Platt-scaled SVC (what SVC(probability=True) did before its deprecation).
        "SVC": CalibratedClassifierCV(SVC(class_weight="balanced", random_state=seed), ensemble=False),
        "RF": RandomForestClassifier(n_estimators=300, class_weight="balanced", random_state=seed, n_jobs=1),
        "DT": DecisionTreeClassifier(class_weight="balanced", random_state=seed),
        "KNN": KNeighborsClassifier(n_neighbors=7),
    }


def baseline_pipeline(model: Any, log2: str = "auto") -> Pipeline:
    """A baseline behind the same fold-fitted log2 / z-score / median-imputation steps as the nets."""
    return Pipeline([("log2", Log2IfCounts(log2)), ("zscore", GeneStandardiser()), ("impute", MedianImputer()),
                     ("model", clone(model))])


def multiclass_auc(y: np.ndarray, proba: np.ndarray) -> float:
    """Macro one-vs-rest AUC over the classes that have both positives and negatives in ``y``."""
    aucs = [roc_auc_score(y == c, proba[:, c]) for c in range(proba.shape[1]) if 0 < (y == c).sum() < len(y)]
    return float(np.mean(aucs)) if aucs else float("nan")


def classification_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """AUC, accuracy, F1, recall, precision; positive class = column 1 for two classes, else macro."""
    predicted = proba.argmax(axis=1)
    if proba.shape[1] == 2:
        auc = float(roc_auc_score(y, proba[:, 1])) if len(np.unique(y)) == 2 else float("nan")
        kwargs: dict[str, Any] = {"average": "binary", "zero_division": 0}
    else:
        auc = multiclass_auc(y, proba)
        kwargs = {"average": "macro", "zero_division": 0, "labels": np.arange(proba.shape[1])}
    return {"auc": auc, "accuracy": float(accuracy_score(y, predicted)), "f1": float(f1_score(y, predicted, **kwargs)),
            "recall": float(recall_score(y, predicted, **kwargs)),
            "precision": float(precision_score(y, predicted, **kwargs))}


def _auc(y: np.ndarray, proba: np.ndarray) -> float:
    return classification_metrics(y, proba)["auc"]


def noise_robustness(predict: Callable[[np.ndarray], np.ndarray], X_test: np.ndarray, y_test: np.ndarray,
                     spread: np.ndarray, rng: np.random.Generator, levels: tuple[float, ...] = NOISE_LEVELS,
                     repeats: int = 3) -> dict[str, Any]:
    """AUC under Gaussian noise of sd = level x each gene's spread, and its variance over all draws."""
    by_level: dict[str, float] = {}
    draws: list[float] = []
    for level in levels:
        aucs = []
        for _ in range(1 if level == 0 else repeats):
            noisy = X_test + rng.normal(size=X_test.shape) * (level * spread)[None, :]
            aucs.append(_auc(y_test, predict(noisy)))
        by_level[f"{level:.2f}"] = float(np.mean(aucs))
        draws += aucs
    return {"auc_by_level": by_level, "auc_variance": float(np.var(draws)), "auc_drop_at_max": by_level[
        f"{levels[0]:.2f}"] - by_level[f"{levels[-1]:.2f}"]}


def summarise(values: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and sample sd of each metric over folds."""
    return {m: {"mean": float(np.nanmean([v[m] for v in values])),
                "sd": float(np.nanstd([v[m] for v in values], ddof=1)) if len(values) > 1 else 0.0}
            for m in values[0]}


@dataclass
class CVResult:
    """Per-fold metrics of every model, their mean ± sd, out-of-fold probabilities and noise checks."""

    n_splits: int
    seed: int
    folds: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    noise: dict[str, dict[str, float]] = field(default_factory=dict)
    oof: dict[str, np.ndarray] = field(default_factory=dict)
    models: list[GeneNetClassifier] = field(default_factory=list)
    test_folds: list[np.ndarray] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"n_splits": self.n_splits, "seed": self.seed, "folds": self.folds, "summary": self.summary,
                "noise": self.noise}


def check_cv_labels(y: np.ndarray, classes: list[str], n_splits: int) -> None:
    """Every class needs at least ``n_splits`` samples for stratified folds."""
    counts = np.bincount(y, minlength=len(classes))
    small = [f"{classes[i]} ({int(c)})" for i, c in enumerate(counts) if c < n_splits]
    if small:
        raise LabelError(f"{n_splits}-fold cross-validation needs at least {n_splits} samples per class; "
                         "too few: " + ", ".join(small) + " (use --min-class-size to drop rare classes or lower --cv)")


def cross_validate(
    make_net: Callable[[], GeneNetClassifier],
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_splits: int = 5,
    seed: int = 0,
    baselines: dict[str, Any] | None = None,
    noise_repeats: int = 3,
    keep_models: bool = False,
    progress: Callable[[str], None] | None = None,
    genes: list[str] | None = None,
    include_net: bool = True,
) -> CVResult:
    """Run stratified k-fold CV of a network (a fresh one per fold from ``make_net``) and baselines.

    Each fold records which gene the single-gene baseline chose (by name when ``genes`` is given).
    ``include_net=False`` scores the baselines only (``make_net`` then just names the classes).
    """
    probe = make_net()
    check_cv_labels(y, probe.classes, n_splits)
    baselines = baseline_models(seed) if baselines is None else baselines
    name = probe.architecture
    result = CVResult(n_splits, seed)
    n_classes = len(probe.classes)
    result.oof = {m: np.full((len(y), n_classes), np.nan) for m in [name, *baselines] if include_net or m != name}
    noise_runs: dict[str, list[dict[str, Any]]] = {m: [] for m in result.oof}
    rng = np.random.default_rng(seed)
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for k, (train, test) in enumerate(splitter.split(X, y)):
        fold: dict[str, Any] = {"fold": k + 1, "n_train": int(len(train)), "n_test": int(len(test)), "metrics": {}}
        predictors: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
        if include_net:
            if progress:
                progress(f"fold {k + 1}/{n_splits}: training {name}")
            net = make_net().fit(X[train], y[train])
            fold["net_history"] = net.history
            predictors[name] = net.predict_proba
        for base_name, model in baselines.items():
            pipe = baseline_pipeline(model, probe.log2).fit(X[train], y[train])
            predictors[base_name] = pipe.predict_proba
            if isinstance(pipe["model"], SingleGeneClassifier):
                index = pipe["model"].gene_index_
                fold["single_gene"] = genes[index] if genes is not None else index
        with np.errstate(all="ignore"):
            spread = np.nanstd(X[train], axis=0)
        for model_name, predict in predictors.items():
            proba = predict(X[test])
            result.oof[model_name][test] = proba
            fold["metrics"][model_name] = classification_metrics(y[test], proba)
            if noise_repeats > 0:
                noise_runs[model_name].append(noise_robustness(predict, X[test], y[test], np.nan_to_num(spread), rng,
                                                               repeats=noise_repeats))
        if keep_models and include_net:
            result.models.append(net)
        result.test_folds.append(test)
        result.folds.append(fold)
    for model_name in result.oof:
        result.summary[model_name] = summarise([f["metrics"][model_name] for f in result.folds])
        runs = noise_runs[model_name]
        if runs:
            levels = runs[0]["auc_by_level"]
            result.noise[model_name] = {
                "auc_variance_mean": float(np.mean([r["auc_variance"] for r in runs])),
                "auc_drop_at_max_mean": float(np.mean([r["auc_drop_at_max"] for r in runs])),
                **{f"auc_at_{lv}": float(np.mean([r["auc_by_level"][lv] for r in runs])) for lv in levels},
            }
    return result
