"""External cohorts: reading them, scoring every model on them under each scaling, and choosing the
default scaling without looking at the cohort being scored.

A model trained on one cohort meets another platform's scale. Each external cohort is scored
under every scaling of :data:`~bcviewer.genes.fitting.STANDARDISE` (training z-scores, the
cohort's own z-scores, per-gene quantile normalisation to the training cohort, rank
normalisation). :func:`choose_scaling` picks, for each cohort, the scaling with the best mean AUC
on the *other* external cohorts, and reports that cohort under that choice; the default for new
data is the best scaling over all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from bcviewer.genes.classifier import STANDARDISE
from bcviewer.genes.coverage import align_to_genes
from bcviewer.genes.errors import LabelError
from bcviewer.genes.evaluation import classification_metrics
from bcviewer.genes.io import ExpressionTable, read_expression_table
from bcviewer.genes.targets import LabelEncoding, binary_external_encoding

Predictor = Callable[[np.ndarray, str], np.ndarray]


@dataclass(frozen=True)
class ExternalCohort:
    """A cohort kept for validation only.

    ``positive_values`` binarises a graded label (e.g. ER level 0-3): those values become the
    positive class ``"1"``, every other value ``"0"``; ``rule`` says so in words for the card.
    """

    path: Path
    label: str
    positive: str | None = None
    positive_values: tuple[str, ...] = ()
    rule: str = ""


@dataclass
class LoadedCohort:
    """An external cohort's table and its labels encoded with the model's negative/positive order."""

    spec: ExternalCohort
    table: ExpressionTable
    y: np.ndarray
    encoding: LabelEncoding


def load_external(spec: ExternalCohort, genes: list[str], model: LabelEncoding) -> LoadedCohort:
    """Read a cohort (samples without a label are left out) and encode its labels."""
    table = read_expression_table(spec.path, label=spec.label, known_genes=genes).labelled()
    labels = table.labels
    assert labels is not None  # labelled() refuses a table without labels
    positive = spec.positive
    if spec.positive_values:
        wanted = {str(v) for v in spec.positive_values}
        if not wanted & set(labels.dropna()):
            raise LabelError(f"{Path(spec.path).name}: none of the labels {sorted(wanted)} occur in {spec.label!r}")
        labels = pd.Series(np.where(labels.isin(wanted), "1", "0"), index=labels.index, name=labels.name)
        positive = "1"
        table = ExpressionTable(table.path, table.expression, labels, table.label_name, table.orientation,
                                table.ignored_columns, table.warnings)
    encoding = binary_external_encoding(labels, model, positive)
    return LoadedCohort(spec, table, encoding.encode(labels), encoding)


def score_cohort(cohort: LoadedCohort, genes: list[str], predictors: dict[str, Predictor]) -> dict[str, Any]:
    """Every predictor's metrics on the cohort under every scaling (``metrics_by_scaling``)."""
    Xe, _ = align_to_genes(cohort.table.expression, genes)
    by_scaling = {scaling: {name: classification_metrics(cohort.y, predict(Xe, scaling))
                            for name, predict in predictors.items()} for scaling in STANDARDISE}
    return {"metrics_by_scaling": by_scaling, "missing_values_imputed": int(np.isnan(Xe).sum())}


def _mean_auc(external: dict[str, Any], scaling: str) -> float:
    aucs = [m["auc"] for m in external["metrics_by_scaling"][scaling].values() if m["auc"] is not None]
    return float(np.nanmean(aucs)) if aucs else float("nan")


def choose_scaling(externals: list[dict[str, Any]], fallback: str = "cohort") -> dict[str, Any]:
    """Pick scalings without tuning on the cohort being reported; fills each cohort's ``scaling``
    and ``metrics`` in place and returns the record for the card.

    Criterion: mean AUC over every model scored. A cohort's scaling is the best on the other
    cohorts (with a single cohort there are no others: ``fallback``, fixed beforehand). The
    default for new data is the best over all cohorts.
    """
    names = list(STANDARDISE)
    per_cohort = {}
    for i, external in enumerate(externals):
        others = [e for j, e in enumerate(externals) if j != i]
        if others:
            scores = {s: float(np.mean([_mean_auc(e, s) for e in others])) for s in names}
            chosen = max(names, key=lambda s: scores[s])
        else:
            chosen = fallback
        external["scaling"] = chosen
        external["scaling_chosen_on"] = [e["file"] for e in others] or ["fixed beforehand"]
        external["metrics"] = external["metrics_by_scaling"][chosen]
        per_cohort[external["file"]] = chosen
    overall = {s: float(np.mean([_mean_auc(e, s) for e in externals])) for s in names} if externals else {}
    default = max(names, key=lambda s: overall[s]) if len(externals) > 1 else fallback
    return {"rule": "each cohort is reported under the scaling with the best mean AUC (over every model) on the "
                    "other external cohorts, never on itself; the default for new data is the best over all of them",
            "per_cohort": per_cohort, "mean_auc_by_scaling": overall, "default": default}
