"""The expression-profile tab (pytest-qt) on the real fixture tables and the shipped gene models:
loading by call and by drop, probabilities equal to the core's, the top-20 chart, the profile plot,
coverage warnings and refusals, CSV export, errors as dialogs, and no worker thread left behind."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QMessageBox

from bcviewer.genes import (
    PREDICTION_COLUMNS, list_tasks, load_gene_model, predict_expression, predictions_csv_text, read_expression_table,
    top_contributions,
)
from bcviewer.genes.predict import recommended_scaling
from bcviewer.gui.expression import ExpressionTab
from bcviewer.gui.expression.sample_table import PROBABILITY_ROLE

ER_FIRST = "TCGA-A8-A076-01A-21R-A00Z-07"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def genes_dir(test_data: Path) -> Path:
    return test_data / "genes"


@pytest.fixture(scope="module")
def er_path(genes_dir: Path) -> Path:
    return genes_dir / "tcga_er_pam50_160.csv"


@pytest.fixture(scope="module")
def er_models() -> dict[str, object]:
    return {a: load_gene_model(f"er-status/{a}") for a in ("deepcme", "gexpnet")}


@pytest.fixture()
def dialogs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple[str, str]]:
    """Message boxes shown during the test, as (title, text), recorded instead of blocking."""
    shown: list[tuple[str, str]] = []

    def record(box: QMessageBox) -> int:
        shown.append((box.windowTitle(), box.text()))
        return int(QMessageBox.StandardButton.Ok)

    monkeypatch.setattr(QMessageBox, "exec", record)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the log file, if anything unexpected happens
    return shown


def _python_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if not isinstance(t, threading._DummyThread)}  # type: ignore[attr-defined]


@pytest.fixture()
def tab(qtbot, dialogs) -> Iterator[ExpressionTab]:  # type: ignore[no-untyped-def]
    before = _python_threads()
    widget = ExpressionTab()
    widget.resize(1300, 800)
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    assert widget.shutdown(30_000), "a worker thread did not finish within 30 s"
    assert widget._pool.activeThreadCount() == 0 and widget.jobs._pool.activeThreadCount() == 0
    assert widget.is_idle()
    leftover = [t.name for t in _python_threads() - before if t.is_alive()]
    assert leftover == [], f"threads outlived the test: {leftover}"


def load(qtbot, tab: ExpressionTab, path: Path) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(tab.profile_loaded, timeout=30_000) as blocker:
        tab.open_path(path)
    assert blocker.args == [str(path)]


def predict(qtbot, tab: ExpressionTab, task: str = "er-status",  # type: ignore[no-untyped-def]
            architectures: tuple[str, ...] = ("deepcme",)) -> None:
    tab.picker.set_task(task, list(architectures))
    with qtbot.waitSignal(tab.prediction_finished, timeout=120_000):
        assert tab.predict()
    qtbot.waitUntil(tab.is_idle, timeout=10_000)


def column_values(tab: ExpressionTab, column: int, role: int = Qt.ItemDataRole.DisplayRole) -> list:
    model = tab.sample_model
    return [model.data(model.index(row, column), role) for row in range(model.rowCount())]


def drop(tab: ExpressionTab, path: Path) -> bool:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(QPoint(40, 40), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    tab.dragEnterEvent(enter)
    event = QDropEvent(QPointF(40, 40), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    tab.dropEvent(event)
    return enter.isAccepted() and event.isAccepted()


def test_tasks_and_default_models_come_from_the_installed_models(tab: ExpressionTab) -> None:
    assert [tab.picker.task_box.itemData(i) for i in range(tab.picker.task_box.count())] == [
        t.name for t in list_tasks()] == ["er-status", "metastasis"]
    tasks = {t.name: t for t in list_tasks()}
    assert tab.picker.selected_models() == [f"er-status/{tasks['er-status'].default}"]
    tab.picker.set_task("metastasis")
    assert list(tab.picker.model_boxes) == ["cnn-bilstm", "deepcme", "ensemble", "gexpnet", "logistic",
                                            "single-gene", "sparse-logistic"]
    assert tab.picker.selected_models() == [f"metastasis/{tasks['metastasis'].default}"]
    assert tab.picker.default_label.text() == f"Default: {tasks['metastasis'].default} — " + (
        tasks["metastasis"].default_reason or "").removeprefix("default = ")
    recommended = tasks["er-status"].scaling
    tab.picker.set_task("er-status")
    er = tasks["er-status"]
    assert er.default_reason and tab.picker.default_label.text().startswith(f"Default: {er.default} — ")
    assert er.default_reason.removeprefix("default = ") in tab.picker.default_label.text()
    assert tab.picker.default_label.text() in tab.picker.model_boxes[er.default].toolTip()
    scale = tab.picker.scale_box
    assert [scale.itemData(i) for i in range(scale.count())] == ["auto", "model", "cohort", "quantile", "rank"]
    assert tab.picker.standardise == "auto" and scale.currentText() == "Automatic: detect the platform"
    marked = [scale.itemData(i) for i in range(scale.count())
              if scale.itemText(i).endswith("recommended for another platform")]
    assert recommended in ("cohort", "quantile", "rank") and marked == [recommended]
    assert not tab.predict_button.isEnabled() and not tab.export_button.isEnabled()


def test_opening_lists_the_samples_in_file_order(qtbot, tab: ExpressionTab, er_path: Path, dialogs) -> None:
    load(qtbot, tab, er_path)
    expected = read_expression_table(er_path).samples
    assert tab.sample_model.rowCount() == 160 and tab.sample_model.columnCount() == 2
    assert [tab.proxy.index(r, 0).data() for r in range(160)] == expected and expected[0] == ER_FIRST
    assert tab.current_sample() == ER_FIRST
    assert "160 samples, 49 genes" in tab.file_label.text()
    indicator = tab.details.coverage
    assert indicator.level == "ok" and "47 of 47 model genes measured (100%)" in indicator.headline.text()
    assert column_values(tab, 1) == ["100%"] * 160  # coverage of the chosen task, before any run
    assert tab.predict_button.isEnabled() and dialogs == []


def test_dropping_a_file_opens_it(qtbot, tab: ExpressionTab, genes_dir: Path) -> None:
    path = genes_dir / "gse7390_metastasis_120.csv"
    with qtbot.waitSignal(tab.profile_loaded, timeout=30_000) as blocker:
        assert drop(tab, path)
    assert blocker.args == [str(path)]
    assert tab.sample_model.samples == [str(i) for i in range(120)]  # the file's sample_index column
    tab.picker.set_task("metastasis")
    assert "76 of 76 model genes measured" in tab.details.coverage.headline.text()


def test_probability_bars_equal_predict_expression(qtbot, tab: ExpressionTab, er_path: Path, er_models) -> None:
    load(qtbot, tab, er_path)
    predict(qtbot, tab, architectures=("deepcme", "gexpnet"))
    table = read_expression_table(er_path, label="label")
    assert tab.sample_model.columnCount() == 4
    for k, architecture in enumerate(("deepcme", "gexpnet")):
        column = tab.sample_model.first_model_column + k
        expected = predict_expression(table, er_models[architecture])
        p = np.array(column_values(tab, column, PROBABILITY_ROLE))
        np.testing.assert_allclose(p, expected.table["p"].to_numpy(), rtol=0, atol=1e-12)
        shown = column_values(tab, column)
        assert shown == [f"{v:.3f}  {lab}" for v, lab in zip(expected.table["p"], expected.table["predicted"])]
        assert tab.sample_model.headerData(column, Qt.Orientation.Horizontal) == f"{architecture}\nP(Positive)"
        agreement = np.mean([s.endswith(str(lab)) for s, lab in zip(shown, table.labels)])
        assert agreement >= 0.9  # training samples of the model: 120 Positive, 40 Negative
    assert column_values(tab, 1) == ["100%"] * 160
    assert tab.export_button.isEnabled()


def test_top20_chart_and_profile_plot(qtbot, tab: ExpressionTab, er_path: Path, er_models) -> None:
    load(qtbot, tab, er_path)
    predict(qtbot, tab, architectures=("deepcme", "gexpnet"))
    chart, profile = tab.details.chart, tab.details.profile
    deepcme = er_models["deepcme"]
    assert tab.details.current_model() == "er-status/deepcme"
    assert chart.genes == list(deepcme.gene_scores().index[:20]) and chart.genes[0] == "ESR1"
    assert len(chart.bars.opts["width"]) == 20 and chart.kind == "gene score"
    np.testing.assert_allclose(chart.bars.opts["width"], deepcme.gene_scores().to_numpy()[:20])
    order = list(deepcme.gene_scores().index)
    expected = predict_expression(read_expression_table(er_path), deepcme)
    assert profile.genes == order and profile.gene_axis.genes == order and len(order) == 47
    np.testing.assert_allclose(profile.sample_z, expected.zscores.loc[ER_FIRST, order].to_numpy())
    # the gexpnet column explains per sample: its signed input x gradient
    gexpnet = er_models["gexpnet"]
    reference = predict_expression(read_expression_table(er_path), gexpnet)
    other = "TCGA-AN-A049-01A-21R-A00Z-07"
    tab.select_sample(other)
    tab.show_details_for("er-status/gexpnet")
    top = top_contributions(reference, gexpnet, other)
    assert chart.kind == "input x gradient" and chart.genes == list(top.index) and len(chart.genes) == 20
    np.testing.assert_allclose(chart.values, top.to_numpy())
    assert (chart.values < 0).any() and chart.genes[0] == "ESR1"
    assert "predicted <b>Negative</b>" in tab.details.sample_label.text()


def _write_without(er_path: Path, out: Path, genes: list[str], blank: dict[str, list[str]] | None = None) -> Path:
    frame = pd.read_csv(er_path).drop(columns=genes)
    for sample, columns in (blank or {}).items():
        frame.loc[frame["sample_id"] == sample, columns] = np.nan
    frame.to_csv(out, index=False)
    return out


def test_coverage_below_95_percent_warns_and_lists_imputed_genes(qtbot, tab: ExpressionTab, er_path: Path,
                                                                 tmp_path: Path, dialogs) -> None:
    path = _write_without(er_path, tmp_path / "three_missing.csv", ["PGR", "ESR1", "MIA"], {ER_FIRST: ["BCL2"]})
    load(qtbot, tab, path)
    indicator = tab.details.coverage
    assert indicator.level == "warn"  # 44 of 47 = 94%, before any run
    tab.select_sample(ER_FIRST)
    assert indicator.imputed == ["BCL2"] and column_values(tab, 1)[:2] == ["91%", "94%"]
    tab.picker.set_task("metastasis")  # none of its probes is in this table
    assert indicator.level == "refused" and "No gene of this model" in indicator.headline.text()
    assert column_values(tab, 1)[:2] == ["–", "–"]
    predict(qtbot, tab)
    assert dialogs == []
    assert indicator.level == "warn" and "44 of 47 model genes measured (94%)" in indicator.headline.text()
    assert indicator.missing == ["ESR1", "PGR", "MIA"]  # in the model's gene order
    assert indicator.imputed == ["BCL2"] and "Also imputed for" in indicator.details.text()
    coverage = column_values(tab, 1)
    assert coverage[0] == "91%" and set(coverage[1:]) == {"94%"}  # 43 and 44 of 47 measured
    assert "missing (imputed with the training median): ESR1, PGR, MIA" in tab.details.warnings_label.text()
    assert set(tab.details.profile.imputed) == {"ESR1", "PGR", "MIA", "BCL2"}


def test_coverage_below_the_floor_is_refused_with_a_dialog(qtbot, tab: ExpressionTab, er_path: Path,
                                                           tmp_path: Path, dialogs) -> None:
    dropped = ["NAT1", "BAG1", "BCL2", "BLVRA", "CCNB1", "CCNE1", "CDC6", "CDC20", "CDH3", "CENPF"]
    load(qtbot, tab, _write_without(er_path, tmp_path / "ten_missing.csv", dropped))
    assert tab.details.coverage.level == "refused"  # 37 of 47 = 79%, already before the run
    predict(qtbot, tab)
    assert len(dialogs) == 1 and dialogs[0][0] == "Prediction refused"
    assert "only 37 of the model's 47 genes are present (79%, below the 80% floor)" in dialogs[0][1]
    assert "Traceback" not in dialogs[0][1]
    assert tab.sample_model.columnCount() == 2  # no probability column for a refused model
    assert tab.details.coverage.level == "refused" and tab.details.coverage.missing == dropped
    assert not tab.export_button.isEnabled() and tab.export_csv(tmp_path / "x.csv") is None
    assert dialogs[-1][0] == "Nothing to export" and not (tmp_path / "x.csv").exists()


def test_export_writes_the_results_csv(qtbot, tab: ExpressionTab, er_path: Path, er_models, tmp_path: Path) -> None:
    load(qtbot, tab, er_path)
    predict(qtbot, tab, architectures=("deepcme", "gexpnet"))
    out = tmp_path / "sub" / "predictions.csv"
    with qtbot.waitSignal(tab.exported, timeout=30_000) as blocker:
        assert tab.export_csv(out) is not None
    assert blocker.args == [str(out)]
    table = read_expression_table(er_path)
    expected = [predict_expression(table, er_models[a]) for a in ("deepcme", "gexpnet")]
    text = out.read_text()
    assert text == predictions_csv_text(expected)
    lines = text.splitlines()
    assert lines[0] == ",".join(PREDICTION_COLUMNS) == "sample,model,p,predicted,gene_coverage,scaling,scaling_reason"
    assert len(lines) == 321 and lines[1].startswith(f"{ER_FIRST},er-status/deepcme,")
    assert ',Positive,1.000000,model,"the table matches the training cohort (TCGA-BRCA): ' in lines[1]
    assert [p.name for p in out.parent.iterdir()] == ["predictions.csv"]  # no temporary file left


def test_another_platform_is_scaled_by_its_cohort_unless_the_user_forces_the_training_statistics(
        qtbot, tab: ExpressionTab, genes_dir: Path, er_models) -> None:
    load(qtbot, tab, genes_dir / "gse1992_pam50_40.csv.gz")  # cDNA arrays: log ratios centred on 0
    predict(qtbot, tab)  # auto, the default
    note = tab.details.scaling_note
    assert recommended_scaling(er_models["deepcme"]) == "cohort"
    assert note.level == "info" and note.text().startswith(
        "<b>Scaled by the table's own z-scores (cohort)</b>, chosen automatically: another platform than TCGA-BRCA: "
        "values are centred on 0, 68% negative")
    assert "training sd away" not in tab.details.warnings_label.text()
    labels = [s.split()[-1] for s in column_values(tab, 2)]
    assert labels.count("Positive") == 25 and labels.count("Negative") == 15
    tab.picker.set_standardise("model")
    predict(qtbot, tab)
    assert "training sd away" in tab.details.warnings_label.text()
    assert set(column_values(tab, 2)) and all(s.endswith("Negative") for s in column_values(tab, 2))
    assert note.level == "warning" and note.styleSheet() == "color: #b06000"
    assert note.text().startswith("⚠ <b>Scaled by the training cohort's z-scores (model)</b>, chosen by you, although "
                                  "the table looks like another platform than TCGA-BRCA: values are centred on 0")
    assert tab.status_label.text() == "Predicted 40 samples with 1 model(s) · scaling model (chosen)"


def _centred(er_path: Path, out: Path) -> Path:
    """The TCGA fixture as two-colour arrays give it: each gene's median subtracted (log ratios)."""
    frame = pd.read_csv(er_path)
    genes = frame.columns[2:]
    frame[genes] = frame[genes] - frame[genes].median()
    frame.to_csv(out, index=False)
    return out


def test_the_scaling_line_says_which_scaling_and_why(qtbot, tab: ExpressionTab, er_path: Path, er_models,
                                                     tmp_path: Path, dialogs) -> None:
    note = tab.details.scaling_note
    load(qtbot, tab, er_path)
    assert note.isHidden() and note.level == ""  # nothing run yet
    predict(qtbot, tab)
    assert note.level == "info" and note.isVisible() and note.styleSheet() == "color: #444"
    assert note.text().startswith("<b>Scaled by the training cohort's z-scores (model)</b>, chosen automatically: "
                                  "the table matches the training cohort (TCGA-BRCA): 100% of 47 genes look like "
                                  "the training cohort")
    assert tab.status_label.text() == "Predicted 160 samples with 1 model(s) · scaling model (auto)"
    assert "This sample (red) vs the training cohort (boxes)" in tab.details.profile.getPlotItem().titleLabel.text
    assert tab.status_label.toolTip().startswith(
        "er-status/deepcme: scaling model (auto): the table matches the training cohort (TCGA-BRCA)")
    # the same table, centred per gene: another platform, scaled the way the model's card recommends
    load(qtbot, tab, _centred(er_path, tmp_path / "centred.csv"))
    predict(qtbot, tab)
    deepcme = er_models["deepcme"]
    chosen = recommended_scaling(deepcme)
    assert chosen == "cohort" and note.level == "info"
    assert note.text().startswith(f"<b>Scaled by the table's own z-scores ({chosen})</b>, chosen automatically: "
                                  "another platform than TCGA-BRCA: values are centred on 0, 50% negative")
    assert note.text().endswith("the model's recommended scaling for another platform (chosen on its external cohorts)")
    assert tab.status_label.text() == f"Predicted 160 samples with 1 model(s) · scaling {chosen} (auto)"
    profile = tab.details.profile
    title = profile.getPlotItem().titleLabel.text
    assert f"This sample (red, {chosen}-scaled as the model read it) vs training cohort (boxes), 47 genes" in title
    assert profile.getPlotItem().getAxis("left").labelText == f"z-score, {chosen} scaling"
    # z-scores by the table's own cohort do not see the centring: the original table's cohort-scaled answer
    expected = predict_expression(read_expression_table(er_path), deepcme, standardise=chosen)
    # the red line is what the model read (the cohort z-scores), not the centred values' training z-scores
    order = profile.genes
    np.testing.assert_allclose(profile.sample_z, expected.scaled_zscores.loc[ER_FIRST, order].to_numpy(), atol=1e-9)
    assert profile.sample_z[order.index("ESR1")] > 0  # ER-positive on the model's scale ...
    centred_z = predict_expression(read_expression_table(tmp_path / "centred.csv"), deepcme, standardise="model")
    assert centred_z.zscores.at[ER_FIRST, "ESR1"] < -2  # ... where the training scale would say ER-low
    np.testing.assert_allclose(column_values(tab, 2, PROBABILITY_ROLE), expected.table["p"], rtol=0, atol=1e-9)
    tab.picker.set_standardise("model")
    predict(qtbot, tab)
    assert note.level == "warning" and note.styleSheet() == "color: #b06000"
    assert "chosen by you, although the table looks like another platform than TCGA-BRCA" in note.text()
    tab.picker.set_standardise("rank")
    predict(qtbot, tab)
    assert note.level == "info" and note.text().startswith(
        "<b>Scaled by rank normal scores (rank)</b>, chosen by you: values are centred on 0")
    assert dialogs == []


def test_auto_refuses_a_few_samples_from_another_platform_with_a_dialog(qtbot, tab: ExpressionTab, er_path: Path,
                                                                       tmp_path: Path, dialogs) -> None:
    centred = pd.read_csv(_centred(er_path, tmp_path / "centred.csv")).head(6)
    centred.to_csv(tmp_path / "six.csv", index=False)
    load(qtbot, tab, tmp_path / "six.csv")
    predict(qtbot, tab)
    assert len(dialogs) == 1 and dialogs[0][0] == "Prediction refused"
    assert "looks like another platform than TCGA-BRCA" in dialogs[0][1]
    assert "needs at least 10 samples; it has 6" in dialogs[0][1] and "Traceback" not in dialogs[0][1]
    assert tab.details.scaling_note.isHidden() and "refused the profile" in tab.details.sample_label.text()


def test_unreadable_file_shows_a_dialog_and_the_tab_stays_usable(qtbot, tab: ExpressionTab, er_path: Path,
                                                                 tmp_path: Path, dialogs) -> None:
    bad = tmp_path / "semicolons.csv"
    bad.write_text("sample;ESR1;PGR\ns1;1.0;2.0\n")
    with qtbot.waitSignal(tab.load_failed, timeout=30_000) as blocker:
        tab.open_path(bad)
    assert dialogs == [("Cannot read the profile", blocker.args[0])]
    assert "semicolon-separated" in blocker.args[0] and "Traceback" not in blocker.args[0]
    assert tab.table is None and tab.sample_model.rowCount() == 0
    assert not tab.predict() and dialogs[-1][0] == "Nothing to predict"
    load(qtbot, tab, er_path)
    assert tab.sample_model.rowCount() == 160


def test_cancel_and_replace_a_run(qtbot, tab: ExpressionTab, er_path: Path) -> None:
    load(qtbot, tab, er_path)
    tab.picker.set_task("er-status", ["cnn-bilstm", "deepcme", "gexpnet"])
    assert tab.predict()
    tab.cancel()
    qtbot.waitUntil(tab.is_idle, timeout=60_000)
    assert tab.status_label.text() == "Prediction cancelled" and tab.sample_model.columnCount() == 2
    finished: list[int] = []
    tab.prediction_finished.connect(lambda: finished.append(1))
    assert tab.predict()  # replaced at once by a run with one model
    tab.picker.set_task("er-status", ["gexpnet"])
    assert tab.predict()
    qtbot.waitUntil(tab.is_idle, timeout=120_000)
    assert finished == [1] and [m.name for m in tab.sample_model.models] == ["er-status/gexpnet"]


def test_a_new_profile_drops_the_run_in_progress(qtbot, tab: ExpressionTab, er_path: Path, genes_dir: Path) -> None:
    load(qtbot, tab, er_path)
    tab.picker.set_task("er-status", ["cnn-bilstm", "deepcme", "gexpnet"])
    assert tab.predict()
    load(qtbot, tab, genes_dir / "gse7390_metastasis_120.csv")  # well before three models have run
    qtbot.waitUntil(tab.is_idle, timeout=120_000)
    assert tab.outcomes == {} and not tab.cancel_button.isEnabled()
    assert tab.sample_model.rowCount() == 120 and tab.sample_model.columnCount() == 2


def test_sorting_by_probability_keeps_the_details_on_the_right_sample(qtbot, tab: ExpressionTab, er_path: Path,
                                                                      er_models) -> None:
    load(qtbot, tab, er_path)
    assert not tab.export_action.isEnabled() and tab.predict_action.isEnabled()
    predict(qtbot, tab)
    assert tab.export_action.isEnabled()
    tab.table_view.sortByColumn(2, Qt.SortOrder.AscendingOrder)
    expected = predict_expression(read_expression_table(er_path), er_models["deepcme"]).table
    lowest = expected.sort_values("p").iloc[0]
    assert tab.proxy.index(0, 0).data() == lowest["sample"]
    tab.table_view.selectRow(0)
    assert tab.current_sample() == lowest["sample"]
    assert tab.details.sample_label.text().startswith(f"<b>{lowest['sample']}</b>")
    assert f"P(Positive) = {lowest['p']:.3f}" in tab.details.sample_label.text()


def test_metastasis_columns_and_details_use_the_cards_class_names(qtbot, tab: ExpressionTab,
                                                                   genes_dir: Path) -> None:
    path = genes_dir / "gse7390_metastasis_120.csv"
    load(qtbot, tab, path)
    predict(qtbot, tab, "metastasis", ("deepcme",))
    model = load_gene_model("metastasis/deepcme")
    assert model.class_names == ["no distant metastasis", "distant metastasis"]
    column = tab.sample_model.first_model_column
    assert tab.sample_model.headerData(column, Qt.Orientation.Horizontal) == "deepcme\nP(distant metastasis)"
    expected = predict_expression(read_expression_table(path), model)
    names = dict(zip(model.classes, model.class_names))
    assert column_values(tab, column) == [f"{p:.3f}  {names[str(label)]}"
                                          for p, label in zip(expected.table["p"], expected.table["predicted"])]
    sample = expected.table["sample"].iloc[0]
    tab.select_sample(sample)
    text = tab.details.sample_label.text()
    assert f"P(distant metastasis) = {expected.table['p'].iloc[0]:.3f}" in text and "P(1)" not in text
    gene = model.card["single_gene"]["gene"]
    assert f"{gene} alone: p = {expected.single_gene[sample]:.3f}" in text


def test_details_show_esr1_alone_beside_the_model(qtbot, tab: ExpressionTab, er_path: Path, er_models) -> None:
    load(qtbot, tab, er_path)
    predict(qtbot, tab)
    tab.select_sample(ER_FIRST)
    expected = predict_expression(read_expression_table(er_path), er_models["deepcme"])
    assert expected.single_gene is not None and expected.single_gene.name == "ESR1 alone"
    assert f"ESR1 alone: p = {expected.single_gene[ER_FIRST]:.3f}" in tab.details.sample_label.text()


def test_top20_gene_names_fit_without_overlapping(qtbot, tab: ExpressionTab, er_path: Path) -> None:
    """In a small window the 20 names used to be drawn at a fixed size and overlap (FOXA1 over ESR1);
    now each is drawn at a size whose glyphs fit the row pitch."""
    from PySide6.QtGui import QFontMetricsF

    from bcviewer.gui.expression.plots import MIN_LABEL_PX, ROW_GAP_PX

    tab.resize(1100, 640)
    load(qtbot, tab, er_path)
    predict(qtbot, tab)
    chart = tab.details.chart
    chart.grab()  # paint once
    axis = chart.name_axis
    assert [name for name, _ in axis.drawn] == chart.genes and len(chart.genes) == 20
    font, step = axis.label_font()
    assert step == 1 and font.pixelSize() >= MIN_LABEL_PX
    view = axis.linkedView()
    centres = [axis.mapFromScene(view.mapViewToScene(QPointF(0, y))).y() for y in sorted(axis.names)]
    tallest = max(QFontMetricsF(font).tightBoundingRect(n).height() for n in chart.genes)
    assert min(abs(a - b) for a, b in zip(centres, centres[1:])) >= tallest + ROW_GAP_PX
