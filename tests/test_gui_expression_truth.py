"""The expression tab compares the chosen model with a truth column of the table: the combo offers
the two-valued columns that are not genes, and the AUC, ROC curve and confusion table shown are
the core's (bcviewer.genes.truth) for the TCGA fixture's ``label`` column and GSE1992's 0/1 column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gui_helpers import dialogs  # noqa: F401
from test_gui_expression import er_models, er_path, genes_dir, load, predict, tab  # noqa: F401

from bcviewer.genes import predict_expression, read_expression_table
from bcviewer.genes.truth import compare_with_truth
from bcviewer.gui.expression import ExpressionTab
from bcviewer.gui.expression.truth_view import NO_COLUMN


def test_choosing_a_truth_column_shows_auc_roc_and_confusion(qtbot, tab: ExpressionTab, er_path: Path,  # type: ignore[no-untyped-def]
                                                             er_models, genes_dir: Path, dialogs) -> None:
    view = tab.truth
    load(qtbot, tab, er_path)
    assert view.isVisible() and [view.column.itemText(i) for i in range(view.column.count())] == [NO_COLUMN, "label"]
    view.choose_column("label")
    assert view.summary.text() == "Press Predict to compare a model's calls with this column."
    predict(qtbot, tab)
    table = read_expression_table(er_path)
    expected = compare_with_truth(predict_expression(table, er_models["deepcme"]), er_models["deepcme"],
                                  table.other_columns["label"], "label")
    shown = view.comparison
    assert shown is not None and shown.auc == expected.auc and shown.auc > 0.9
    assert view.summary.text() == f"<b>er-status/deepcme</b>: {expected.summary()}"
    curve = next(i for i in view.roc.getPlotItem().items if hasattr(i, "xData") and len(i.xData) > 2)
    np.testing.assert_allclose(curve.xData, expected.fpr)
    np.testing.assert_allclose(curve.yData, expected.tpr)
    cells = [[int(view.confusion.item(r, c).text()) for c in range(2)] for r in range(2)]
    assert cells == expected.confusion.to_numpy().tolist() and sum(map(sum, cells)) == 160
    assert view.confusion.horizontalHeaderItem(1).text() == "called Positive"
    assert view.confusion.verticalHeaderItem(0).text() == "truth Negative"
    view.choose_column(None)  # back to "Compare with column…": the results hide
    assert view.results.isHidden() and view.summary.text() == ""
    load(qtbot, tab, genes_dir / "gse1992_pam50_40.csv.gz")  # 0/1 truth, another platform
    assert "fac_er_positive" in [view.column.itemText(i) for i in range(view.column.count())]
    predict(qtbot, tab)
    view.choose_column("fac_er_positive")
    assert view.comparison is not None and view.comparison.n == 40 and view.comparison.truth_values == ("0", "1")
    assert "fac_er_positive: 1 = Positive, 0 = Negative" in view.summary.text()
    assert dialogs == []
