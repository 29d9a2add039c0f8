"""Infinite values in an expression table (issue 23, "silently wrong"): the expression tab listed an
``inf`` cell under "imputed (empty cells)", because the coverage counted every non-finite cell as
empty. An infinite value is a bad cell: counted and named as such, never imputed, and refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_gui_expression import ER_FIRST, dialogs, load, predict, tab  # noqa: F401 - fixtures

from bcviewer.genes.coverage import align_to_genes
from bcviewer.gui.expression import ExpressionTab

ER_SECOND = "TCGA-A2-A0EY-01A-11R-A034-07"  # the second sample of the fixture table


def _profile(test_data: Path, out: Path) -> Path:
    """The ER fixture table with ESR1 = inf and PGR = -inf for the first sample, BCL2 empty for the second."""
    frame = pd.read_csv(test_data / "genes" / "tcga_er_pam50_160.csv")
    assert frame["sample_id"].iloc[1] == ER_SECOND
    first, second = frame["sample_id"] == ER_FIRST, frame["sample_id"] == ER_SECOND
    frame.loc[first, "ESR1"] = np.inf
    frame.loc[first, "PGR"] = -np.inf
    frame.loc[second, "BCL2"] = np.nan
    frame.to_csv(out, index=False)
    row = out.read_text().splitlines()[1]
    assert row.startswith(ER_FIRST) and ",inf," in row and ",-inf," in row  # the exact cells a user would type
    return out


def test_core_counts_infinite_cells_as_bad_not_imputed(test_data: Path, tmp_path: Path) -> None:
    from bcviewer.genes import load_gene_model, read_expression_table

    model = load_gene_model("er-status/deepcme")
    table = read_expression_table(_profile(test_data, tmp_path / "inf.csv"), known_genes=model.genes)
    values, report = align_to_genes(table.expression, model.genes)
    assert report.infinite == {ER_FIRST: ["ESR1", "PGR"]}  # in the model's gene order
    assert report.bad_cells == 2
    assert ER_FIRST not in report.imputed  # before the fix: {ER_FIRST: ["ESR1", "PGR"]}
    assert report.imputed == {ER_SECOND: ["BCL2"]}  # a truly empty cell is still imputed
    assert report.bad_cells_text() == f"2 cells hold an infinite value (sample {ER_FIRST}: ESR1, PGR)"
    assert report.bad_cells_text() in report.summary() and report.to_json()["infinite_cells"] == 2
    assert np.isposinf(values[0, model.genes.index("ESR1")]) and np.isneginf(values[0, model.genes.index("PGR")])
    assert report.per_sample[ER_FIRST] == pytest.approx(45 / 47)  # neither counts as measured


def test_expression_tab_shows_infinite_cells_as_bad_cells(qtbot, tab: ExpressionTab, test_data: Path,  # noqa: F811
                                                          tmp_path: Path, dialogs) -> None:  # noqa: F811
    load(qtbot, tab, _profile(test_data, tmp_path / "inf.csv"))
    indicator = tab.details.coverage
    tab.select_sample(ER_FIRST)
    assert indicator.level == "refused" and indicator.imputed == []  # was ["ESR1", "PGR"] under "imputed"
    assert "2 bad cells (infinite values): prediction refused" in indicator.headline.text()
    text = indicator.details.text()
    assert "Also imputed" not in text
    assert f"<b>Bad cells in {ER_FIRST}</b> (infinite values; fix or remove them): ESR1, PGR" in text
    assert "more in other samples" not in text
    tab.select_sample(ER_SECOND)
    assert indicator.imputed == ["BCL2"] and "Also imputed for" in indicator.details.text()
    assert f"<b>Bad cells</b> (infinite values; fix or remove them): 2 cells hold an infinite value (sample {ER_FIRST}: " \
           "ESR1, PGR)" in indicator.details.text()
    predict(qtbot, tab)
    assert len(dialogs) == 1 and dialogs[0][0] == "Prediction refused"
    assert "2 expression values are infinite" in dialogs[0][1] and "gene ESR1" in dialogs[0][1]
    tab.select_sample(ER_FIRST)
    assert indicator.level == "refused" and indicator.imputed == [] and "ESR1, PGR" in indicator.details.text()
