"""Logistic gene models: the single-gene baseline and the sparse / small-set / stacked logistic
regressions that have to beat it, all stored as one linear function of the standardised genes.

A candidate is a scikit-learn estimator fitted on the model's standardised, imputed genes (the
log2 / z-score / median-imputation steps of :func:`linear_pipeline`). Whatever its inner workings
(a gene subset, an L1 penalty tuned by inner CV, a stack on the single gene), its decision
function is linear in those genes; :func:`linear_form` collapses it to one coefficient per gene
and an intercept, which :class:`LinearGeneClassifier` runs in numpy: no PyTorch, no ONNX file.
Attributions are exact: coefficient x standardised value is the input x gradient of the logit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sklearn
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import StackingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline

from bcviewer.genes.baselines import SingleGeneClassifier, TUNED_CS
from bcviewer.genes.classifier import run_steps
from bcviewer.genes.preprocessing import GeneStandardiser, Log2IfCounts, MedianImputer, SavedTransformer

LINEAR = "linear"
# ER-associated genes named in the literature for ER status from expression (ESR1, PGR, GATA3,
# FOXA1, XBP1, TFF1, AGR2, CA12) and the PAM50 luminal/basal axis (MAPT, NAT1, SLC39A6, BCL2,
# MLPH, FOXC1). Fixed before any model was scored; a table's model uses those it measures.
ER_GENE_SET = ("ESR1", "PGR", "GATA3", "FOXA1", "XBP1", "TFF1", "AGR2", "CA12", "MAPT", "NAT1", "SLC39A6", "BCL2",
               "MLPH", "FOXC1")
ANCHOR_KS = (3, 5, 8, 12, 20)


class GeneSubset(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """Keeps fixed columns (``columns``: indices into the model's genes)."""

    def __init__(self, columns: tuple[int, ...] = ()) -> None:
        self.columns = columns

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> "GeneSubset":
        self.selected_ = np.asarray(self.columns, dtype=int)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X)[:, self.selected_]


class AnchorCorrelated(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """The ``k`` genes most correlated (|Pearson r|) with the ``anchor`` gene in the fitting samples,
    the anchor first: genes that move with ESR1, chosen without the labels."""

    def __init__(self, anchor: int = 0, k: int = 5) -> None:
        self.anchor = anchor
        self.k = k

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> "AnchorCorrelated":
        X = np.asarray(X, dtype=np.float64)
        with np.errstate(all="ignore"):
            r = np.abs(np.nan_to_num(np.corrcoef(X, rowvar=False)[self.anchor]))
        self.selected_ = np.argsort(-r, kind="stable")[: max(1, self.k)]
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X)[:, self.selected_]


def _logistic(penalty: str = "l2") -> LogisticRegression:
    if penalty == "l2":
        return LogisticRegression(max_iter=5000, class_weight="balanced")
    # scikit-learn 1.8 spells an L1 penalty l1_ratio=1 and deprecates ``penalty``; older releases need it.
    if tuple(int(p) for p in sklearn.__version__.split(".")[:2]) >= (1, 8):
        return LogisticRegression(max_iter=5000, class_weight="balanced", l1_ratio=1.0, solver="liblinear",
                                  random_state=0)
    # liblinear shuffles its coordinates: a fixed random_state keeps refits identical
    return LogisticRegression(max_iter=5000, class_weight="balanced", penalty="l1", solver="liblinear", random_state=0)


def _tuned(pipe: Pipeline, grid: dict[str, list[Any]], seed: int) -> GridSearchCV:
    return GridSearchCV(pipe, grid, scoring="roc_auc", cv=StratifiedKFold(5, shuffle=True, random_state=seed + 1))


def candidate_models(genes: list[str], seed: int = 0, anchor: str | None = None,
                     gene_set: tuple[str, ...] = ()) -> dict[str, Any]:
    """The estimators a gene task compares, unfitted, each with its C (and k) tuned by inner CV.

    ``single-gene`` is the baseline. ``anchor`` (e.g. ESR1) adds the anchor-correlated model and
    the stack on the single gene; ``gene_set`` adds a logistic regression on those genes."""
    cs = {"model__C": list(TUNED_CS)}
    found: dict[str, Any] = {
        "single-gene": SingleGeneClassifier(),
        "logistic": _tuned(Pipeline([("model", _logistic())]), cs, seed),
        "sparse-logistic": _tuned(Pipeline([("model", _logistic("l1"))]), {"model__C": [0.01, 0.03, 0.1, 0.3, 1.0]},
                                  seed),
    }
    measured = tuple(genes.index(g) for g in gene_set if g in genes)
    if len(measured) >= 2:
        found["gene-set"] = _tuned(Pipeline([("select", GeneSubset(measured)), ("model", _logistic())]), cs, seed)
    if anchor in genes:
        found["anchor-sparse"] = _tuned(
            Pipeline([("select", AnchorCorrelated(genes.index(anchor))), ("model", _logistic("l1"))]),
            {"select__k": list(ANCHOR_KS), "model__C": [0.03, 0.1, 0.3, 1.0]}, seed)
        found["stacked"] = StackingClassifier(
            [("gene", SingleGeneClassifier()), ("sparse", found["sparse-logistic"])],
            final_estimator=LogisticRegression(max_iter=5000), cv=StratifiedKFold(5, shuffle=True, random_state=seed),
            stack_method="decision_function")
    return found


def linear_pipeline(estimator: Any, log2: str = "auto") -> Pipeline:
    """``estimator`` behind the model's fold-fitted log2 / z-score / median-imputation steps."""
    from sklearn.base import clone

    return Pipeline([("log2", Log2IfCounts(log2)), ("zscore", GeneStandardiser()), ("impute", MedianImputer()),
                     ("model", clone(estimator))])


def linear_form(estimator: Any, n_inputs: int) -> tuple[np.ndarray, float]:
    """A fitted candidate's decision function as ``coef`` (one per input gene) and ``intercept``."""
    if isinstance(estimator, GridSearchCV):
        return linear_form(estimator.best_estimator_, n_inputs)
    if isinstance(estimator, Pipeline):
        columns = np.arange(n_inputs)
        for _name, step in estimator.steps[:-1]:
            columns = columns[step.selected_]
        inner, intercept = linear_form(estimator.steps[-1][1], columns.size)
        coef = np.zeros(n_inputs)
        np.add.at(coef, columns, inner)
        return coef, intercept
    if isinstance(estimator, SingleGeneClassifier):
        coef = np.zeros(n_inputs)
        coef[estimator.gene_index_] = float(estimator.coef_.ravel()[0])
        return coef, float(estimator.intercept_.ravel()[0])
    if isinstance(estimator, StackingClassifier):
        forms = [linear_form(member, n_inputs) for member in estimator.estimators_]
        weights = estimator.final_estimator_.coef_.ravel()
        coef = sum(w * c for w, (c, _b) in zip(weights, forms))
        intercept = sum(w * b for w, (_c, b) in zip(weights, forms)) + float(estimator.final_estimator_.intercept_[0])
        return np.asarray(coef, dtype=np.float64), float(intercept)
    if isinstance(estimator, LogisticRegression):
        return estimator.coef_.ravel().astype(np.float64), float(estimator.intercept_.ravel()[0])
    raise TypeError(f"{type(estimator).__name__} is not a linear gene model")


@dataclass
class LinearGeneClassifier:
    """P(positive) = sigmoid(coef · standardised genes + intercept); binary tasks only."""

    architecture: str  # the model's folder name: single-gene, logistic, sparse-logistic, ...
    genes: list[str]
    classes: list[str]
    steps: list[SavedTransformer]
    coef: np.ndarray
    intercept: float
    recipe: dict[str, Any] = field(default_factory=dict)
    log2: str = "auto"
    nets: list[Any] = field(default_factory=list)  # none: the store and the viewer ask every model

    @classmethod
    def from_pipeline(cls, name: str, pipe: Pipeline, genes: list[str], classes: list[str],
                      recipe: dict[str, Any]) -> "LinearGeneClassifier":
        """Collapse a fitted :func:`linear_pipeline` into its stored form."""
        coef, intercept = linear_form(pipe["model"], len(genes))
        steps = [pipe["log2"], pipe["zscore"], pipe["impute"]]
        return cls(name, list(genes), list(classes), steps, coef, intercept, recipe, pipe["log2"].mode)

    def preprocess(self, X: np.ndarray, standardise: str = "model", upto: type | None = None) -> np.ndarray:
        return run_steps(self.steps, X, standardise, upto)

    def logits(self, X: np.ndarray, standardise: str = "model") -> np.ndarray:
        return np.asarray(self.preprocess(X, standardise) @ self.coef + self.intercept, dtype=np.float64)

    def predict_proba(self, X: np.ndarray, standardise: str = "model") -> np.ndarray:
        """Columns in ``classes`` order (negative, positive)."""
        with np.errstate(over="ignore"):
            p = 1.0 / (1.0 + np.exp(-self.logits(X, standardise)))
        return np.column_stack([1.0 - p, p])

    def attributions(self, X: np.ndarray, standardise: str = "model") -> np.ndarray:
        """coef x standardised value: each gene's exact share of the logit (input x gradient)."""
        return np.asarray(self.preprocess(X, standardise) * self.coef[None, :], dtype=np.float64)

    def gene_scores(self) -> np.ndarray:
        """|coef|: the logit's change per training sd of each gene; 0 for genes the model leaves out."""
        return np.asarray(np.abs(self.coef), dtype=np.float64)

    def used_genes(self) -> list[str]:
        return [g for g, c in zip(self.genes, self.coef) if c != 0]

    def describe(self) -> dict[str, Any]:
        return {"architecture": LINEAR, "variant": self.architecture, "genes": list(self.genes),
                "classes": list(self.classes), "log2": self.log2, "recipe": dict(self.recipe),
                "used_genes": self.used_genes(), "intercept": self.intercept}
