"""Predictions against a truth column of the same table: AUC, ROC curve and confusion table.

A table often carries the known answer beside the genes (``label``, ``fac_er_positive``). The
columns not used as genes (:attr:`ExpressionTable.other_columns`) with exactly two values are the
candidates. The column's positive value is matched to the model's positive class: by name when
the column uses the model's class names, else guessed as a training label would be
(``Positive``, ``1``, ``yes``...), and the comparison says which value it read as positive.
Samples without a truth value are left out and counted. Two-class models only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bcviewer.genes.errors import GeneDataError
from bcviewer.genes.targets import clean_labels, infer_encoding

if TYPE_CHECKING:  # the tab lists the candidates before any model (or scikit-learn) is loaded
    from bcviewer.genes.io import ExpressionTable
    from bcviewer.genes.predict import PredictionResult
    from bcviewer.genes.store import GeneModel


@dataclass(frozen=True)
class TruthComparison:
    """One model's predictions against a truth column (binary: positive = the model's positive class)."""

    column: str
    model: str
    classes: tuple[str, str]  # the model's class names, negative then positive
    truth_values: tuple[str, str]  # the column's values read as negative and positive
    n: int  # samples with a truth value
    n_missing: int  # samples left out: no truth value
    auc: float
    fpr: np.ndarray  # ROC curve, from (0, 0) to (1, 1)
    tpr: np.ndarray
    confusion: pd.DataFrame  # rows: truth (negative, positive); columns: predicted (negative, positive)
    accuracy: float

    def summary(self) -> str:
        """``AUC 0.953, accuracy 0.912 on 160 samples (label: Positive = Positive)``."""
        neg, pos = self.truth_values
        missing = f"; {self.n_missing} without a value left out" if self.n_missing else ""
        return (f"AUC {self.auc:.3f}, accuracy {self.accuracy:.3f} on {self.n} samples ({self.column}: {pos} = "
                f"{self.classes[1]}, {neg} = {self.classes[0]}{missing})")


def truth_candidates(table: ExpressionTable) -> list[str]:
    """Columns not used as genes that hold exactly two values: what a two-class model can be checked on."""
    other = table.other_columns
    if other is None:
        return []
    return [str(c) for c in other.columns if clean_labels(other[c]).nunique(dropna=True) == 2]


def compare_with_truth(result: PredictionResult, model: GeneModel, truth: pd.Series, column: str) -> TruthComparison:
    """AUC, ROC and confusion table of ``result`` (``model``'s run) against ``truth`` (indexed by sample)."""
    from sklearn.metrics import (  # not needed to open the tab
        confusion_matrix,
        roc_auc_score,
        roc_curve,
    )

    if len(model.classes) != 2:
        raise GeneDataError(f"{model.name} has {len(model.classes)} classes; the truth comparison needs two")
    labels = clean_labels(truth.reindex(result.table["sample"].to_numpy()))
    values = sorted(labels.dropna().unique().tolist())
    if len(values) != 2:
        raise GeneDataError(f"column {column!r} holds {len(values)} values ({', '.join(map(str, values))}); "
                            "a two-class model is compared with a column of two")
    negative, positive = str(model.classes[0]), str(model.classes[1])
    if set(values) == {negative, positive}:
        truth_positive = positive
    else:
        truth_positive = infer_encoding(labels).classes[1]
    known = labels.notna().to_numpy()
    y = (labels[known] == truth_positive).to_numpy().astype(int)
    if y.min() == y.max():
        raise GeneDataError(f"column {column!r} has only one class among the predicted samples")
    p = result.table["p"].to_numpy(dtype=float)[known]
    predicted = (result.table["predicted"].astype(str).to_numpy()[known] == positive).astype(int)
    fpr, tpr, _ = roc_curve(y, p)
    matrix = confusion_matrix(y, predicted, labels=[0, 1])
    truth_negative = next(str(v) for v in values if v != truth_positive)
    confusion = pd.DataFrame(matrix, index=pd.Index([truth_negative, str(truth_positive)], name="truth"),
                             columns=pd.Index([negative, positive], name="predicted"))
    return TruthComparison(column, model.name, (negative, positive), (truth_negative, str(truth_positive)),
                           int(known.sum()), int((~known).sum()), float(roc_auc_score(y, p)), fpr, tpr, confusion,
                           float((predicted == y).mean()))
