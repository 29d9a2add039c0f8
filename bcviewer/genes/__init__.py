"""Gene-expression models (CNN-BiLSTM, DeepCME, GexpNet): reading tables, preprocessing, training,
cross-validation, a safetensors model store and prediction. Qt-free.

Typical use (what a viewer tab calls)::

    model = load_gene_model("er-status")                      # models/genes/er-status, default net
    table = read_expression_table(path, known_genes=model.genes)
    result = predict_expression(table, model)                 # refuses low gene coverage
    result.table        # sample, model, p, label, gene_coverage
    result.zscores      # samples x genes, against the training cohort (model.reference)
    result.attributions # samples x genes, input x gradient
    result.coverage     # present / missing / imputed genes
    model.gene_scores() # genes ranked by the model's own score
"""

from __future__ import annotations

import importlib
from typing import Any

# Exported lazily so that ``bcviewer --help`` and table reading do not pay for importing torch.
_EXPORTS = {
    "GeneTask": "catalog", "list_tasks": "catalog",
    "DEFAULT_MIN_COVERAGE": "choices", "CoverageReport": "coverage",
    "GeneDataError": "errors", "GeneModelError": "errors", "LowCoverageError": "errors",
    "NoGeneOverlapError": "errors",
    "ExpressionTable": "io", "read_expression_table": "io",
    "PREDICTION_COLUMNS": "predict", "PredictionResult": "predict", "predict_expression": "predict",
    "predictions_csv_text": "predict", "top_contributions": "predict",
    "QUANTILES": "store", "GeneModel": "store", "GeneReference": "store", "list_models": "store",
    "load_gene_model": "store",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'bcviewer.genes' has no attribute {name!r}")
    return getattr(importlib.import_module(f"bcviewer.genes.{_EXPORTS[name]}"), name)
