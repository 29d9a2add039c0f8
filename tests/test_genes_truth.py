"""Predictions against a truth column of the same table (AUC, ROC, confusion), checked against
independent oracles: the AUC as the Mann-Whitney statistic from pandas ranks, the confusion table
as a pandas crosstab, on the real TCGA and GSE1992 fixtures with the shipped ER model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bcviewer.genes import load_gene_model, predict_expression, read_expression_table
from bcviewer.genes.errors import GeneDataError
from bcviewer.genes.truth import compare_with_truth, truth_candidates


def _mann_whitney_auc(y: np.ndarray, p: np.ndarray) -> float:
    ranks = pd.Series(p).rank().to_numpy()  # ties get the mean rank
    n1, n0 = int(y.sum()), int((1 - y).sum())
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    return load_gene_model("er-status/gexpnet")


def test_tcga_label_column_gives_auc_roc_and_confusion(test_data: Path, model) -> None:  # type: ignore[no-untyped-def]
    path = test_data / "genes" / "tcga_er_pam50_160.csv"
    table = read_expression_table(path, known_genes=model.genes)
    assert truth_candidates(table) == ["label"]
    result = predict_expression(table, model)
    truth = pd.read_csv(path).set_index("sample_id")["label"]
    comparison = compare_with_truth(result, model, table.other_columns["label"], "label")
    y = (truth.reindex(result.table["sample"]) == "Positive").to_numpy().astype(int)
    p = result.table["p"].to_numpy()
    assert comparison.n == 160 and comparison.n_missing == 0 and y.sum() == 120
    assert comparison.auc == pytest.approx(_mann_whitney_auc(y, p), abs=1e-12) and comparison.auc > 0.9
    expected = pd.crosstab(truth.reindex(result.table["sample"]).to_numpy(), result.table["predicted"].to_numpy())
    assert comparison.confusion.to_numpy().tolist() == expected.loc[["Negative", "Positive"],
                                                                    ["Negative", "Positive"]].to_numpy().tolist()
    assert comparison.confusion.to_numpy().sum() == 160
    assert comparison.accuracy == pytest.approx(np.trace(expected.to_numpy()) / 160)
    assert (comparison.fpr[0], comparison.tpr[0], comparison.fpr[-1], comparison.tpr[-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(comparison.fpr) >= 0) and np.all(np.diff(comparison.tpr) >= 0)
    assert comparison.summary().startswith(f"AUC {comparison.auc:.3f}, accuracy {comparison.accuracy:.3f} on 160 "
                                           "samples (label: Positive = Positive, Negative = Negative)")


def test_gse1992_zero_one_column_is_matched_to_the_positive_class_and_missing_values_left_out(
        test_data: Path, model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    frame = pd.read_csv(test_data / "genes" / "gse1992_pam50_40.csv.gz")
    frame.loc[[0, 5], "fac_er_positive"] = np.nan
    path = tmp_path / "gse.csv"
    frame.to_csv(path, index=False)
    table = read_expression_table(path, known_genes=model.genes)
    assert "fac_er_positive" in truth_candidates(table) and "num_age" not in truth_candidates(table)
    result = predict_expression(table, model)  # auto: cohort scaling for this platform
    comparison = compare_with_truth(result, model, table.other_columns["fac_er_positive"], "fac_er_positive")
    assert (comparison.n, comparison.n_missing, comparison.truth_values) == (38, 2, ("0", "1"))
    known = frame["fac_er_positive"].notna().to_numpy()
    y = frame["fac_er_positive"][known].astype(int).to_numpy()
    assert comparison.auc == pytest.approx(_mann_whitney_auc(y, result.table["p"].to_numpy()[known]), abs=1e-12)
    assert "2 without a value left out" in comparison.summary() and "1 = Positive, 0 = Negative" in comparison.summary()
    with pytest.raises(GeneDataError, match="fac_node_status"):
        compare_with_truth(result, model, pd.Series("x", index=table.samples), "fac_node_status")
