"""``SampleDetails``: one sample seen through one model: probabilities, the scaling used and why, gene
coverage, the top contributing genes and its z-score profile against the training cohort."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from bcviewer.genes import GeneDataError, GeneTask
from bcviewer.gui.expression.coverage import CoverageIndicator
from bcviewer.gui.expression.plots import ContributionChart, ProfilePlot
from bcviewer.gui.expression.scaling_note import ScalingNote

if TYPE_CHECKING:
    from bcviewer.genes import CoverageReport, ExpressionTable, PredictionResult
    from bcviewer.gui.expression.worker import ModelOutcome

TOP_GENES = 20
OPEN_HINT = ("Open an expression profile with “Open profile…” or drop it on this tab: a CSV or TSV table "
             "(optionally gzipped) with samples in rows or genes in rows. Then choose the task and its models "
             "and press Predict.")
PREDICT_HINT = ("Press Predict to see, for each sample and model, the probability, the genes that weigh most "
                "and the sample's expression profile against the training cohort.")
REFUSED_HINT = ("This model refused the profile (the reason is above). With too few of its genes measured, "
                "predictions would rest on imputed values; a table from another platform needs enough samples "
                "to be scaled by its own cohort.")


def single_gene_text(result: PredictionResult, sample: str) -> str:
    """ " · ESR1 alone: p = 0.912": the card's single-gene baseline for this sample, for comparison."""
    if result.single_gene is None:
        return ""
    p = float(result.single_gene.loc[sample])
    value = "not measured" if np.isnan(p) else f"p = {p:.3f}"
    return f" · {result.single_gene.name}: {value}"


class SampleDetails(QWidget):
    """The right half of the tab; ``model_changed`` fires when the user picks another model."""

    model_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sample_label = QLabel("Select a sample")
        self.sample_label.setWordWrap(True)
        self.model_box = QComboBox()
        self.model_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.model_box.setToolTip("Whose genes and contributions to show; clicking a model column chooses it too")
        self.scaling_note = ScalingNote()
        self.coverage = CoverageIndicator()
        self.warnings_label = QLabel()
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setStyleSheet("color: #b06000")
        self.chart = ContributionChart()
        self.profile = ProfilePlot()
        self.profile.setToolTip("Boxes: the training cohort's 25–75 % range of each gene, whiskers 5–95 %, "
                                "line the median; red dots: this sample; grey crosses: genes imputed with the "
                                "training median")
        head = QHBoxLayout()
        head.addWidget(self.sample_label, 1)
        self.model_label = QLabel("Details for")
        head.addWidget(self.model_label)
        head.addWidget(self.model_box)
        self.plots = QSplitter(Qt.Orientation.Vertical)
        self.plots.addWidget(self.chart)
        self.plots.addWidget(self.profile)
        self.plots.setSizes([300, 400])
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setStyleSheet("color: #666; font-size: 11pt")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.scaling_note)
        layout.addWidget(self.coverage)
        layout.addWidget(self.warnings_label)
        layout.addWidget(self.plots, 1)
        layout.addWidget(self.hint, 1)
        self._previews: dict[str, CoverageReport | str] = {}  # task -> coverage, or why none of its genes occur
        self.model_box.currentIndexChanged.connect(lambda _i: self.model_changed.emit())
        self.show_outcome(None, None, 0.0)

    # ---- the model whose details show ----------------------------------------------------------
    def new_profile(self) -> None:
        """Forget the models and coverage previews of the previous profile."""
        self._previews.clear()
        self.set_models([])

    def set_models(self, outcomes: list[ModelOutcome]) -> None:
        """Offer the models of a run (none: a new profile, nothing run yet)."""
        self.model_box.blockSignals(True)
        self.model_box.clear()
        for o in outcomes:
            self.model_box.addItem(o.name.split("/")[-1] + (" (refused)" if o.refusal else ""), o.name)
        self.model_box.blockSignals(False)
        self.model_label.setVisible(bool(outcomes))
        self.model_box.setVisible(bool(outcomes))

    def current_model(self) -> str:
        return str(self.model_box.currentData() or "")

    def choose_model(self, name: str) -> None:
        index = self.model_box.findData(name)
        if index >= 0:
            self.model_box.setCurrentIndex(index)

    # ---- what to show --------------------------------------------------------------------------
    def _reset(self, headline: str, hint: str) -> None:
        """Empty plots give way to ``hint`` until a sample's results are shown."""
        self.sample_label.setText(headline)
        self.scaling_note.show_decision(None)
        self.warnings_label.clear()
        self.warnings_label.hide()
        self.chart.clear_chart()
        self.profile.clear_profile()
        self.hint.setText(hint)
        self.hint.show()
        self.plots.hide()

    def _warn(self, lines: list[str]) -> None:
        self.warnings_label.setText("\n".join(lines))
        self.warnings_label.setVisible(bool(lines))

    def preview_coverage(self, table: ExpressionTable, task: GeneTask) -> CoverageReport | str:
        """The task's gene coverage of ``table`` (cached per task), or why none of its genes occur."""
        from bcviewer.genes.coverage import align_to_genes

        if task.name not in self._previews:
            try:
                self._previews[task.name] = align_to_genes(table.expression, list(task.genes))[1]
            except GeneDataError as exc:
                self._previews[task.name] = str(exc)
        return self._previews[task.name]

    def show_preview(self, table: ExpressionTable, task: GeneTask | None, sample: str | None, floor: float) -> None:
        """Before a run: the chosen task's gene coverage of the profile."""
        self._reset(f"<b>{sample}</b>" if sample else "Select a sample", PREDICT_HINT)
        if task is None:
            self.coverage.clear("Gene coverage: no model installed")
            return
        report = self.preview_coverage(table, task)
        if isinstance(report, str):
            self.coverage.show_no_overlap(report)
        else:
            self.coverage.show_report(report, floor, sample)

    def show_outcome(self, sample: str | None, outcome: ModelOutcome | None, floor: float) -> None:
        """After a run: ``outcome`` is the chosen model's part (None: no profile)."""
        if outcome is None:
            self._reset("No profile loaded", OPEN_HINT)
            self.coverage.clear()
            return
        self._reset(f"<b>{sample}</b>" if sample else "Select a sample", "Select a sample in the table")
        self.coverage.show_report(outcome.coverage, floor, sample)
        if outcome.result is None:
            self.sample_label.setText(f"<b>{sample}</b> · {outcome.name} refused the profile")
            self.hint.setText(REFUSED_HINT)
            self._warn([str(outcome.refusal)])
            return
        self._warn(list(outcome.result.warnings))
        self.scaling_note.show_decision(outcome.result.scaling)
        if sample is not None:
            self._show_sample(sample, outcome)

    def _show_sample(self, sample: str, outcome: ModelOutcome) -> None:
        from bcviewer.genes import top_contributions

        result, model = outcome.result, outcome.model
        assert result is not None
        probabilities = result.probabilities.loc[sample]
        names = dict(zip(model.classes, model.class_names))
        label = names.get(str(result.table.set_index("sample").at[sample, "predicted"]), "?")
        self.sample_label.setText(f"<b>{sample}</b> · {model.name}: predicted <b>{label}</b> ("
                                  + ", ".join(f"P({names[c]}) = {v:.3f}" for c, v in probabilities.items()) + ")"
                                  + single_gene_text(result, sample))
        top = top_contributions(result, model, sample, TOP_GENES)
        if model.architecture == "deepcme":
            title = f"Top {len(top)} genes by DeepCME gene score (model weights, same for every sample)"
        else:
            title = f"Top {len(top)} gene{'s' if len(top) != 1 else ''} for this sample: input × gradient (red: towards {model.class_names[-1]})"
        self.chart.show_contributions(list(top.index), top.to_numpy(), str(top.name), title)
        self.hint.hide()
        self.plots.show()
        order = list(model.gene_scores().index)
        # the sample on the scale the model read it: after a cohort scaling, the scaled values (the
        # training-scale z-scores of another platform would contradict the call next to them)
        scaled = result.standardise != "model" and result.scaled_zscores is not None
        values = result.scaled_zscores if scaled and result.scaled_zscores is not None else result.zscores
        red = f"red, {result.standardise}-scaled as the model read it) vs training" if scaled else "red) vs the training"
        self.profile.show_profile(order, values.loc[sample, order].to_numpy(),
                                  model.reference_zscores()[order].to_numpy(), outcome.coverage.imputed.get(sample, []),
                                  f"This sample ({red} cohort (boxes), {len(order)} genes, most important first",
                                  axis_label=f"z-score, {result.standardise} scaling" if scaled else None)
