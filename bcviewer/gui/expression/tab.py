"""``ExpressionTab``: predict ER status or metastasis from a gene-expression profile and explain it.

The tab reads a profile (dialog or drag and drop), lists its samples, runs the chosen models of a
task on a worker thread, and shows per sample a probability bar per model, the genes that weigh
most, the sample's z-score profile against the training cohort, the gene coverage, and (a truth
column chosen) the AUC, ROC and confusion table of the chosen model. All reading,
prediction and writing happen in ``bcviewer.genes`` on worker threads; this class only wires them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt, QThreadPool, Signal
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton, QSplitter,
    QTableView, QVBoxLayout, QWidget,
)

from bcviewer.errors import BcviewerError
from bcviewer.genes import DEFAULT_MIN_COVERAGE, GeneTask, list_tasks
from bcviewer.gui.errors import report_error
from bcviewer.gui.expression.controls import ModelPicker
from bcviewer.gui.expression.details import SampleDetails
from bcviewer.gui.expression.sample_table import SORT_ROLE, ModelColumn, ProbabilityBarDelegate, SampleTableModel
from bcviewer.gui.expression.scaling_note import run_status
from bcviewer.gui.expression.truth_view import TruthView, stacked_under
from bcviewer.gui.expression.worker import ModelOutcome, PredictionRequest, PredictionRun, read_profile, write_results_csv
from bcviewer.gui.workers import Job, JobRunner

if TYPE_CHECKING:
    from bcviewer.genes import ExpressionTable, GeneModel, PredictionResult

MODEL_COLUMN_PX = 125  # fits "0.953  Positive"
TABLE_SHARE = 0.55  # the most of the width the sample table takes by itself
PROFILE_FILTER = "Expression tables (*.csv *.tsv *.txt *.csv.gz *.tsv.gz *.gz);;All files (*)"


class ExpressionTab(QWidget):
    """The expression-profile tab. Scripting entry points: ``open_path``, ``predict``, ``export_csv``."""

    profile_loaded = Signal(str)  # path
    load_failed = Signal(str)  # message shown
    prediction_finished = Signal()  # a run ended with results (some models may have refused the profile)
    prediction_failed = Signal(str)  # message shown
    exported = Signal(str)  # path written
    status_message = Signal(str, int)  # for a status bar: text, milliseconds (0 = until replaced)

    def __init__(self, parent: QWidget | None = None, *, models_dir: Path | None = None,
                 min_coverage: float = DEFAULT_MIN_COVERAGE) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.models_dir = models_dir
        self.min_coverage = min_coverage
        self.path: Path | None = None
        self.table: ExpressionTable | None = None
        self.outcomes: dict[str, ModelOutcome] = {}
        self.loaded_models: dict[str, GeneModel] = {}  # by name, reused by later runs
        self.last_folder = ""
        self.jobs = JobRunner(2, self)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)  # one prediction at a time; a new one waits for a cancelled one
        self._run: PredictionRun | None = None
        self._runs: set[PredictionRun] = set()  # alive until their last signal has arrived
        self._load_job: Job | None = None
        try:
            tasks = list_tasks(models_dir)
        except BcviewerError as exc:
            tasks, problem = [], str(exc)
        else:
            problem = "" if tasks else "No gene-expression model is installed (models/genes)."
        self._build(tasks)
        self._set_busy(False)
        if problem:
            self.status_label.setText(problem)

    # ---- construction ---------------------------------------------------------------------------
    def _build(self, tasks: list[GeneTask]) -> None:
        self.open_button = QPushButton("Open profile…")
        self.open_button.setToolTip("Open a CSV/TSV expression table (samples in rows or genes in rows); "
                                    "you can also drop a file on this tab")
        self.file_label = QLabel("No profile loaded; open or drop a CSV/TSV table")
        self.predict_button = QPushButton("Predict")
        self.predict_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.export_button = QPushButton("Export CSV…")
        self.picker = ModelPicker(tasks)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.status_label = QLabel()
        self.sample_model = SampleTableModel()
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.sample_model)
        self.proxy.setSortRole(SORT_ROLE)
        self.table_view = QTableView()
        self.table_view.setModel(self.proxy)
        self.table_view.setItemDelegate(ProbabilityBarDelegate(self.table_view))
        self.table_view.setSortingEnabled(True)
        self.table_view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # file order first
        self.table_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table_view.verticalHeader().setVisible(False)
        self.table_view.verticalHeader().setDefaultSectionSize(24)
        self.table_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table_view.horizontalHeader().setStretchLastSection(True)
        self.details = SampleDetails()
        self.truth = TruthView()  # under the sample table: the chosen model against a truth column

        top = QHBoxLayout()
        for w in (self.open_button, self.file_label):
            top.addWidget(w)
        top.addStretch(1)
        for widget in (self.progress, self.status_label, self.predict_button, self.cancel_button, self.export_button):
            top.addWidget(widget)
        picker_row = QHBoxLayout()
        picker_row.addWidget(self.picker)
        picker_row.addStretch(1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(stacked_under(self.table_view, self.truth))
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setSizes([520, 780])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(picker_row)
        layout.addWidget(self.splitter, 1)

        # the same commands as actions, for the main window's menus
        self.open_action = QAction("Open expression profile…", self)
        self.predict_action = QAction("Predict from expression profile", self)
        self.export_action = QAction("Export expression results CSV…", self)
        self.open_action.triggered.connect(self.ask_open)
        self.predict_action.triggered.connect(self.predict)
        self.export_action.triggered.connect(lambda: self.export_csv())
        self.open_button.clicked.connect(self.open_action.trigger)
        self.predict_button.clicked.connect(self.predict_action.trigger)
        self.cancel_button.clicked.connect(self.cancel)
        self.export_button.clicked.connect(self.export_action.trigger)
        self.picker.task_changed.connect(lambda _name: self._on_task_changed())
        self.picker.models_changed.connect(self._refresh_buttons)
        self.table_view.selectionModel().currentRowChanged.connect(lambda *_: self._refresh_details())
        self.table_view.clicked.connect(self._on_cell_clicked)
        self.details.model_changed.connect(self._refresh_details)

    # ---- profiles -------------------------------------------------------------------------------
    def ask_open(self) -> None:
        """Let the user pick a profile to open."""
        path, _ = QFileDialog.getOpenFileName(self, "Open an expression profile", self.last_folder, PROFILE_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> Job:
        """Read ``path`` in the background; the sample table fills when it has been read."""
        text = str(Path(path).expanduser())
        self._say(f"Reading {Path(text).name} …")
        known = sorted({g for t in self.picker.tasks.values() for g in t.genes})
        job = self.jobs.submit(read_profile, text, known, on_success=lambda t: self._on_loaded(job, text, t),
                               on_error=lambda e: self._on_load_failed(job, e))
        self._load_job = job
        return job

    def _on_loaded(self, job: Job, path: str, table: ExpressionTable) -> None:
        if job is not self._load_job:  # another file was asked for meanwhile
            return
        self._load_job = None
        self._drop_run()
        self.path, self.table, self.outcomes = Path(path), table, {}
        self.truth.set_table(table)
        self.last_folder = str(self.path.parent)
        self.sample_model.set_samples(table.samples)
        self.details.new_profile()
        self.file_label.setText(f"<b>{self.path.name}</b>: {len(table.samples)} samples, {len(table.genes)} genes")
        self.file_label.setToolTip(path)
        self._say("; ".join(table.warnings) or "Profile read; choose the models and press Predict", 10_000)
        self._on_task_changed()
        self.table_view.resizeColumnsToContents()
        self._refresh_buttons()
        self.profile_loaded.emit(path)

    def _on_load_failed(self, job: Job, exc: BaseException) -> None:
        if job is not self._load_job:
            return
        self._load_job = None
        self._say("")
        self.load_failed.emit(report_error(self, "Cannot read the profile", exc))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt API)
        if any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt API)
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.open_path(files[0])

    # ---- prediction -----------------------------------------------------------------------------
    def predict(self) -> bool:
        """Run the checked models on the profile (replacing a run in progress); False if nothing to run."""
        if self.table is None:
            report_error(self, "Nothing to predict", BcviewerError("Open an expression profile first."))
            return False
        names = self.picker.selected_models()
        if not names:
            report_error(self, "No model chosen", BcviewerError("Tick at least one model of the task."))
            return False
        self._drop_run()
        request = PredictionRequest(self.table, tuple(names), self.picker.standardise, self.min_coverage,
                                    self.models_dir)
        run = PredictionRun(request, self.loaded_models)
        run.signals.progress.connect(lambda done, total, text: self._on_progress(run, done, total, text))
        run.signals.finished.connect(lambda outcomes: self._on_finished(run, outcomes))
        run.signals.failed.connect(lambda exc: self._on_failed(run, exc))
        self._run = run
        self._runs.add(run)
        self._set_busy(True)
        self._pool.start(run)
        return True

    def cancel(self) -> None:
        """Stop the run in progress after the model it is busy with."""
        if self._run is not None:
            self._run.cancel()
            self._say("Cancelling …")

    def _drop_run(self) -> None:
        """Cancel the run in progress and ignore whatever it still reports (its results may be queued)."""
        if self._run is not None:
            self._run.cancel()
            self._run = None
            self._set_busy(False)

    def _on_progress(self, run: PredictionRun, done: int, total: int, text: str) -> None:
        if run is self._run:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            self._say(text)

    def _on_finished(self, run: PredictionRun, outcomes: list[ModelOutcome] | None) -> None:
        self._runs.discard(run)
        if run is not self._run:
            return
        self._run = None
        self._set_busy(False)
        if outcomes is None:
            self._say("Prediction cancelled", 8000)
            return
        for outcome in outcomes:
            self.loaded_models[outcome.name] = outcome.model
        self._show_outcomes(outcomes)
        refused = [o for o in outcomes if o.refusal is not None]
        done = len(outcomes) - len(refused)
        scaling, why = run_status(outcomes)  # short here, each model's reason in the tooltip
        self._say(f"Predicted {len(self.sample_model.samples)} samples with {done} model(s)"
                  + (f"; {len(refused)} refused the profile" if refused else "") + (f" · {scaling}" * bool(scaling)),
                  10_000, why)
        if refused:
            report_error(self, "Prediction refused", refused[0].refusal)  # type: ignore[arg-type]
        self.prediction_finished.emit()

    def _on_failed(self, run: PredictionRun, exc: BaseException) -> None:
        self._runs.discard(run)
        if run is not self._run:
            return
        self._run = None
        self._set_busy(False)
        self._say("")
        self.prediction_failed.emit(report_error(self, "Prediction failed", exc))

    def _show_outcomes(self, outcomes: list[ModelOutcome]) -> None:
        self.outcomes = {o.name: o for o in outcomes}
        columns = []
        for o in outcomes:
            if o.result is None:
                continue
            names = dict(zip(o.model.classes, o.model.class_names))  # the card's names: "1" -> distant metastasis
            positive = names[o.model.classes[1]] if len(names) == 2 else "predicted class"
            columns.append(ModelColumn(o.name, positive, o.result.table["p"].astype(float).tolist(),
                                       [names.get(str(v), str(v)) for v in o.result.table["predicted"]]))
        self.details.set_models(outcomes)
        self._reset_table([float(v) for v in outcomes[0].coverage.per_sample], columns)
        self.table_view.resizeColumnsToContents()
        for k in range(len(columns)):
            self.table_view.setColumnWidth(self.sample_model.first_model_column + k, MODEL_COLUMN_PX)
        self._fit_table_width()
        self._refresh_details()
        self._refresh_buttons()

    def _fit_table_width(self) -> None:
        """Widen the table to show every column, up to TABLE_SHARE of the tab's width."""
        header = self.table_view.horizontalHeader()
        wanted = header.length() + self.table_view.verticalScrollBar().sizeHint().width() + 4
        total = sum(self.splitter.sizes())
        left = min(wanted, int(TABLE_SHARE * total))
        if total > 0 and left > self.splitter.sizes()[0]:
            self.splitter.setSizes([left, total - left])

    # ---- details of the selected sample ---------------------------------------------------------
    def current_sample(self) -> str | None:
        index = self.table_view.currentIndex()
        if not index.isValid():
            return None
        return self.sample_model.samples[self.proxy.mapToSource(index).row()]

    def select_sample(self, sample: str) -> None:
        """Make ``sample`` the current row (its details show on the right)."""
        row = self.sample_model.samples.index(sample)
        self.table_view.setCurrentIndex(self.proxy.mapFromSource(self.sample_model.index(row, 0)))

    def show_details_for(self, model_name: str) -> None:
        """Show the genes and contributions of ``model_name`` (one of the last run's models)."""
        self.details.choose_model(model_name)

    def _on_cell_clicked(self, index: QModelIndex) -> None:
        model = self.sample_model.model_at(self.proxy.mapToSource(index).column())
        if model is not None:
            self.show_details_for(model.name)

    def _refresh_details(self) -> None:
        sample = self.current_sample()
        outcome = self.outcomes.get(self.details.current_model())
        self.truth.show_outcome(outcome)
        if self.table is not None and outcome is None:  # nothing run yet: what the chosen task would see
            self.details.show_preview(self.table, self.picker.task, sample, self.min_coverage)
        else:
            self.details.show_outcome(sample, outcome, self.min_coverage)

    def _on_task_changed(self) -> None:
        """Before a run, the genes-measured column follows the chosen task."""
        task = self.picker.task
        if self.table is not None and not self.outcomes and task is not None:
            report = self.details.preview_coverage(self.table, task)
            coverage = None if isinstance(report, str) else [float(v) for v in report.per_sample]
            self._reset_table(coverage, [])
        self._refresh_details()

    def _reset_table(self, coverage: list[float] | None, columns: list[ModelColumn]) -> None:
        """New columns for the sample table, keeping the current sample (the first one if none)."""
        sample = self.current_sample()
        self.sample_model.set_predictions(coverage, columns)
        self.select_sample(sample or self.sample_model.samples[0])

    # ---- export ---------------------------------------------------------------------------------
    def results(self) -> list[PredictionResult]:
        """The results of the last run, one per model that did not refuse the profile."""
        return [o.result for o in self.outcomes.values() if o.result is not None]

    def ask_save_path(self) -> str:
        stem = self.path.stem.removesuffix(".csv") if self.path else "expression"
        start = str(Path(self.last_folder or ".") / f"{stem}-predictions.csv")
        path, _ = QFileDialog.getSaveFileName(self, "Export results", start, "CSV table (*.csv)")
        return path

    def export_csv(self, path: str | Path | None = None) -> Job | None:
        """Write sample, model, p, predicted, gene_coverage for every model of the last run (atomically)."""
        results = self.results()
        if not results:
            report_error(self, "Nothing to export", BcviewerError("Run a prediction first; there are no results yet."))
            return None
        target = str(path) if path else self.ask_save_path()
        if not target:
            return None
        return self.jobs.submit(write_results_csv, target, results, on_success=self._on_exported,
                                on_error=lambda e: report_error(self, "Export failed", e))

    def _on_exported(self, path: Path) -> None:
        self._say(f"Saved {path}", 8000)
        self.exported.emit(str(path))

    # ---- state ----------------------------------------------------------------------------------
    def _say(self, text: str, timeout_ms: int = 0, detail: str = "") -> None:
        self.status_label.setText(text)
        self.status_label.setToolTip(detail)
        self.status_message.emit(text, timeout_ms)

    def _set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)
        self.cancel_button.setEnabled(busy)
        self._refresh_buttons()

    def _refresh_buttons(self) -> None:
        can_predict = self.table is not None and bool(self.picker.selected_models())
        can_export = bool(self.results()) and self._run is None
        for widget in (self.predict_button, self.predict_action):
            widget.setEnabled(can_predict)
        for widget in (self.export_button, self.export_action):
            widget.setEnabled(can_export)

    def is_idle(self) -> bool:
        """True when no profile is being read, no prediction runs and no export is being written."""
        return self._load_job is None and self._run is None and not self._runs and self.jobs.pending == 0

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel the run and wait for every worker thread; True when all have finished."""
        for run in list(self._runs):
            run.cancel()
        ok = self._pool.waitForDone(timeout_ms)
        return self.jobs.wait(timeout_ms) and ok
