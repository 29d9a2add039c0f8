"""Background work of the expression tab: reading a profile, predicting with several models, writing
the results CSV. Everything here runs on a worker thread and calls the gene core only."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from bcviewer.gui.workers import BackgroundRun

if TYPE_CHECKING:  # torch-backed; imported on the worker thread
    from bcviewer.genes import CoverageReport, ExpressionTable, GeneModel, PredictionResult


def read_profile(path: str, known_genes: Iterable[str]) -> ExpressionTable:
    """Read an expression table; ``known_genes`` (all installed tasks' genes) guide its orientation."""
    from bcviewer.genes import read_expression_table

    return read_expression_table(path, known_genes=list(known_genes))


def write_results_csv(path: str, results: Sequence[PredictionResult]) -> Path:
    """Write the prediction rows of every model to ``path`` atomically; returns the path."""
    from bcviewer.export.files import atomic_write_text
    from bcviewer.genes import predictions_csv_text

    return atomic_write_text(path, predictions_csv_text(results))


@dataclass
class ModelOutcome:
    """One model's part of a run: its result, or the reason it refused the table."""

    name: str
    model: GeneModel
    coverage: CoverageReport
    result: PredictionResult | None = None
    refusal: BaseException | None = None  # LowCoverageError: too few of the model's genes measured


@dataclass(frozen=True)
class PredictionRequest:
    table: ExpressionTable
    model_names: tuple[str, ...]
    standardise: str
    min_coverage: float
    models_dir: Path | None = None


class _RunSignals(QObject):
    progress = Signal(int, int, str)  # models done, models in the run, what happens now
    finished = Signal(object)  # list[ModelOutcome], or None when cancelled
    failed = Signal(object)  # the exception


class PredictionRun(BackgroundRun):
    """Loads each model (reusing ``loaded`` ones) and predicts the table; cancellable between models."""

    signals: _RunSignals

    def __init__(self, request: PredictionRequest, loaded: dict[str, GeneModel]) -> None:
        super().__init__(_RunSignals())
        self.request = request
        self.loaded = dict(loaded)  # a copy: the GUI thread may add models while this runs

    def work(self) -> list[ModelOutcome] | None:
        from bcviewer.genes import load_gene_model, predict_expression
        from bcviewer.genes.errors import GeneDataError
        from bcviewer.genes.coverage import align_to_genes

        request = self.request
        total = len(request.model_names)
        outcomes: list[ModelOutcome] = []
        for done, name in enumerate(request.model_names):
            if self.cancel_event.is_set():
                return None
            self.signals.progress.emit(done, total, f"Loading {name} …")
            model = self.loaded.get(name) or load_gene_model(name, request.models_dir)
            self.signals.progress.emit(done, total, f"Predicting with {name} …")
            coverage = align_to_genes(request.table.expression, model.genes)[1]
            try:
                result = predict_expression(request.table, model, min_coverage=request.min_coverage,
                                            standardise=request.standardise)  # type: ignore[arg-type]
            except GeneDataError as exc:  # this profile refused by this model (coverage, infinite cells)
                outcomes.append(ModelOutcome(name, model, coverage, refusal=exc))
                continue
            outcomes.append(ModelOutcome(name, model, result.coverage, result))
        self.signals.progress.emit(total, total, "Done")
        return None if self.cancel_event.is_set() else outcomes
