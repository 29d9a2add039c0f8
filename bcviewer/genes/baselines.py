"""Classical reference models a gene network has to beat.

``SingleGeneClassifier`` is the obvious one-gene answer (ESR1 for ER status): the gene whose
expression alone separates the classes best in the samples it is fitted on (a training fold),
turned into probabilities by a one-feature logistic regression. ``tuned_logistic`` is a logistic
regression whose L2 strength is chosen by an inner cross-validation on the training fold only
(nested CV when it sits inside an outer fold).
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold

SINGLE_GENE = "single gene"
TUNED_LR = "LR (nested CV)"
TUNED_CS = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


def gene_aucs(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per gene: macro one-vs-rest AUC of its value, oriented (max of AUC and 1 - AUC per class)."""
    X = np.asarray(X, dtype=np.float64)
    classes = np.unique(y)
    targets = [classes[-1]] if classes.size == 2 else list(classes)
    out = np.zeros(X.shape[1])
    for j in range(X.shape[1]):
        column = X[:, j]
        if not np.isfinite(column).all() or np.ptp(column) == 0:
            continue
        aucs = [roc_auc_score(y == c, column) for c in targets]
        out[j] = float(np.mean([max(a, 1.0 - a) for a in aucs]))
    return out


# scikit-learn ships no type information, so its base classes are Any to mypy.
class SingleGeneClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """The one gene with the best AUC on the fitting samples, behind a one-feature logistic regression.

    Fitted attributes: ``gene_index_`` (column of the chosen gene), ``gene_auc_`` (its AUC on the
    fitting samples), ``coef_``/``intercept_`` of the logistic regression on that column.
    """

    def __init__(self, C: float = 1.0) -> None:
        self.C = C

    def fit(self, X: np.ndarray, y: np.ndarray) -> "SingleGeneClassifier":
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        aucs = gene_aucs(X, y)
        self.gene_index_ = int(np.argmax(aucs))
        self.gene_auc_ = float(aucs[self.gene_index_])
        self.model_ = LogisticRegression(C=self.C, max_iter=5000, class_weight="balanced")
        self.model_.fit(X[:, [self.gene_index_]], y)
        self.classes_ = self.model_.classes_
        self.coef_, self.intercept_ = self.model_.coef_, self.model_.intercept_
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return cast(np.ndarray, self.model_.predict_proba(np.asarray(X, dtype=np.float64)[:, [self.gene_index_]]))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return cast(np.ndarray, self.model_.predict(np.asarray(X, dtype=np.float64)[:, [self.gene_index_]]))

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """The logit of the positive class (what a stack on this baseline reads)."""
        return cast(np.ndarray, self.model_.decision_function(np.asarray(X, dtype=np.float64)[:, [self.gene_index_]]))

    def describe(self, genes: list[str]) -> dict[str, Any]:
        """JSON-able parameters: the gene and the logistic regression on its standardised value."""
        return {"gene": genes[self.gene_index_], "gene_index": self.gene_index_, "training_auc": self.gene_auc_,
                "coef": self.coef_.ravel().tolist(), "intercept": self.intercept_.ravel().tolist()}


def _auc_score(estimator: Any, X: np.ndarray, y: np.ndarray) -> float:
    """AUC (binary) or macro one-vs-rest AUC over the classes that occur in ``y`` with both signs.

    Inner folds of small tables can miss a rare class; the stock ``roc_auc_ovr`` scorer then
    fails and every C would score NaN."""
    proba = estimator.predict_proba(X)
    classes = list(estimator.classes_)
    if len(classes) == 2:
        return float(roc_auc_score(y == classes[1], proba[:, 1])) if 0 < (y == classes[1]).sum() < len(y) else np.nan
    aucs = [roc_auc_score(y == c, proba[:, i]) for i, c in enumerate(classes) if 0 < (y == c).sum() < len(y)]
    return float(np.mean(aucs)) if aucs else np.nan


def tuned_logistic(seed: int = 0) -> GridSearchCV:
    """L2 logistic regression whose C is chosen by 5-fold AUC (macro one-vs-rest for more than two
    classes) inside the samples it is fitted on."""
    return GridSearchCV(LogisticRegression(max_iter=5000, class_weight="balanced"), {"C": list(TUNED_CS)},
                        scoring=_auc_score, cv=StratifiedKFold(5, shuffle=True, random_state=seed))


def single_gene_probability(standardised: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """P(positive class) of the single-gene baseline saved in a card (``spec``) from standardised,
    imputed expression (samples x model genes)."""
    value = np.asarray(standardised, dtype=np.float64)[:, int(spec["gene_index"])]
    logit = float(spec["coef"][0]) * value + float(spec["intercept"][0])
    return 1.0 / (1.0 + np.exp(-logit))
