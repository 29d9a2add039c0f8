"""``bcviewer genes train`` as a function: cross-validate, fit the final model, evaluate it on an
external cohort, save weights, card and report.

With an external cohort, every model (CV folds, final model, baselines) uses only the genes
both cohorts measure, so the external numbers describe the model that is shipped. The external
cohort is z-scored with its own statistics (per-cohort standardisation; no labels are used).
"""

from __future__ import annotations

import datetime as _dt
import shlex
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bcviewer import __version__
from bcviewer.genes.coverage import align_to_genes
from bcviewer.genes.errors import LabelError, NoGeneOverlapError
from bcviewer.genes.evaluation import (
    CVResult,
    baseline_models,
    baseline_pipeline,
    classification_metrics,
    cross_validate,
)
from bcviewer.genes.fitting import RECIPE_SETTINGS, GeneNetClassifier
from bcviewer.genes.io import ExpressionTable, read_expression_table
from bcviewer.genes.report import update_index, write_report
from bcviewer.genes.store import GeneReference, save_gene_model
from bcviewer.genes.targets import LabelEncoding, binary_external_encoding, infer_encoding

CITATIONS = {
    "TCGA": "TCGA-BRCA: Cancer Genome Atlas Network, Nature 2012",
    "GSE7390": "GSE7390: Desmedt et al., Clin Cancer Res 2007",
    "GSE1992": "GSE1992: Hu et al., BMC Genomics 2006",
    "NKI": "NKI: van de Vijver et al., N Engl J Med 2002",
    "GSE3143": "GSE3143: Bild et al., Nature 2006",
}


def citation_for(path: str | Path) -> str | None:
    """The data-set citation matching a file name, if known."""
    upper = Path(path).name.upper()
    return next((text for key, text in CITATIONS.items() if key in upper), None)


@dataclass
class TrainRequest:
    """What to train and how; field names follow the CLI options."""

    data: Path
    label: str
    architecture: str
    cv: int = 5
    seed: int = 0
    external: Path | None = None
    external_label: str | None = None
    positive: str | None = None
    external_positive: str | None = None
    id_col: str | None = None
    orientation: str = "auto"
    log2: str = "auto"
    min_class_size: int = 0
    noise_repeats: int = 3
    max_epochs: int | None = None
    name: str | None = None
    task: str | None = None
    limitations: list[str] = field(default_factory=list)


@dataclass
class TrainOutcome:
    """Where the model went and what was measured."""

    model_dir: Path
    card: dict[str, Any]
    cv: CVResult


def _drop_rare_classes(table: ExpressionTable, min_size: int) -> tuple[ExpressionTable, list[str]]:
    counts = table.labels.value_counts()
    rare = [f"{name} ({n})" for name, n in counts.items() if n < min_size]
    if not rare:
        return table, []
    keep = table.labels.isin(counts[counts >= min_size].index)
    note = f"classes with fewer than {min_size} samples were left out: " + ", ".join(rare)
    return ExpressionTable(table.path, table.expression.loc[keep], table.labels.loc[keep], table.label_name,
                           table.orientation, table.ignored_columns, table.warnings + [note]), [note]


def _external_evaluation(request: TrainRequest, final: GeneNetClassifier, X: np.ndarray, y: np.ndarray,
                         external: ExpressionTable, encoding: LabelEncoding, trained_genes: int) -> dict[str, Any]:
    ext_encoding = binary_external_encoding(external.labels, encoding, request.external_positive)
    ye = ext_encoding.encode(external.labels)
    Xe, _ = align_to_genes(external.expression, final.genes)
    result: dict[str, Any] = {
        "file": Path(external.path).name, "citation": citation_for(external.path),
        "label_column": request.external_label, "positive_class": ext_encoding.positive, "n_samples": int(len(ye)),
        "class_counts": {ext_encoding.classes[i]: int(n) for i, n in enumerate(np.bincount(ye))},
        "gene_coverage": {"training_genes": trained_genes, "shared_genes": len(final.genes),
                          "fraction": round(len(final.genes) / trained_genes, 4),
                          "missing_values_imputed": int(np.isnan(Xe).sum())},
        "standardisation": "per cohort (each cohort z-scored with its own statistics)",
        "metrics": {final.architecture: classification_metrics(ye, final.predict_proba(Xe, standardise="cohort"))},
        "metrics_with_training_standardisation": {
            final.architecture: classification_metrics(ye, final.predict_proba(Xe, standardise="model"))},
    }
    for name, model in baseline_models(request.seed).items():
        pipe = baseline_pipeline(model, request.log2).fit(X, y)
        pipe.set_params(zscore__source="cohort")
        result["metrics"][name] = classification_metrics(ye, pipe.predict_proba(Xe))
    return result


def train_gene_model(request: TrainRequest, out_dir: str | Path,
                     progress: Callable[[str], None] | None = None) -> TrainOutcome:
    """Cross-validate, fit on all samples, evaluate externally, save under ``out_dir/<architecture>``."""
    say = progress or (lambda _message: None)
    table = read_expression_table(request.data, label=request.label, id_col=request.id_col,
                                  orientation=request.orientation).labelled()
    table, notes = _drop_rare_classes(table, request.min_class_size)
    encoding = infer_encoding(table.labels, request.positive)
    genes = table.genes
    external = None
    if request.external is not None:
        if not request.external_label:
            raise LabelError("--external needs --external-label, the label column of the external cohort")
        external = read_expression_table(request.external, label=request.external_label,
                                         known_genes=genes).labelled()
        shared = [g for g in genes if g in external.expression.columns]
        if not shared:
            raise NoGeneOverlapError(f"{Path(request.external).name} shares no gene with {Path(request.data).name}")
        say(f"external cohort: {len(shared)} of {len(genes)} genes shared; training on those")
        genes = shared
    X = table.expression[genes].to_numpy(dtype=np.float64)
    y = encoding.encode(table.labels)
    settings = RECIPE_SETTINGS[request.architecture]
    if request.max_epochs is not None:
        settings = replace(settings, max_epochs=request.max_epochs, patience=min(settings.patience, request.max_epochs))
    settings = replace(settings, seed=request.seed)

    def make_net() -> GeneNetClassifier:
        return GeneNetClassifier(request.architecture, list(genes), list(encoding.classes), settings, log2=request.log2)

    cv = cross_validate(make_net, X, y, n_splits=request.cv, seed=request.seed, noise_repeats=request.noise_repeats,
                        progress=say)
    say("fitting the final model on all samples")
    final = make_net().fit(X, y)
    reference = GeneReference.from_training(final, X)
    card = _card(request, table, encoding, genes, cv, notes)
    if external is not None:
        say("evaluating on the external cohort")
        card["external"] = _external_evaluation(request, final, X, y, external, encoding, len(table.genes))
    model_dir = save_gene_model(Path(out_dir) / request.architecture, final, reference, card)
    write_report(model_dir)
    update_index(Path(out_dir))
    return TrainOutcome(model_dir, card, cv)


def _card(request: TrainRequest, table: ExpressionTable, encoding: LabelEncoding, genes: list[str], cv: CVResult,
          notes: list[str]) -> dict[str, Any]:
    counts = table.labels.value_counts()
    name = request.name or Path(request.data).stem
    return {
        "name": f"{name}/{request.architecture}",
        "task": request.task or f"predict {request.label!r} from gene expression",
        "architecture": request.architecture,
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "bcviewer_version": __version__,
        "training_command": " ".join(shlex.quote(a) for a in sys.argv) if sys.argv else "",
        "cohort": {"file": Path(request.data).name, "citation": citation_for(request.data),
                   "label_column": request.label, "n_samples": int(len(table.labels)),
                   "class_counts": {str(k): int(v) for k, v in counts.items()}, "notes": notes},
        "classes": list(encoding.classes),
        "positive_class": encoding.positive,
        "genes": list(genes),
        "n_genes": len(genes),
        "cv": {"scheme": f"stratified {request.cv}-fold, shuffled (seed {request.seed}); preprocessing, gene selection "
                         "and early stopping (inner 20% validation split) fitted inside each training fold",
               **cv.to_json()},
        "limitations": list(request.limitations),
    }

