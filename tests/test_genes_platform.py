"""``--standardise auto``: each development cohort's platform is told from its values alone.

Fixtures (tests/data/genes, cut from the real cohorts): TCGA RNA-seq (the training platform of
er-status), GSE1992 (two-colour cDNA arrays: log ratios centred on 0), GSE3143 (Affymetrix log2 on
another scale), GSE7390 (Affymetrix probes: the training cohort of metastasis, sharing no gene
with er-status).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from bcviewer.cli.main import main
from bcviewer.genes import load_gene_model, read_expression_table
from bcviewer.genes.errors import GeneDataError
from bcviewer.genes.platform import MATCH_SHARE, compare_platform, decide_scaling
from bcviewer.genes.predict import platform_check, predict_expression, recommended_scaling

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def er_model():  # noqa: ANN201
    return load_gene_model("er-status")


def _table(test_data: Path, name: str, genes: list[str]):  # noqa: ANN202
    return read_expression_table(test_data / "genes" / name, known_genes=genes)


def _values(table, genes: list[str]) -> np.ndarray:  # noqa: ANN001
    return table.expression.reindex(columns=genes).to_numpy(dtype=np.float64)


def test_tcga_matches_the_training_cohort(test_data: Path, er_model) -> None:  # noqa: ANN001
    table = _table(test_data, "tcga_er_pam50_160.csv", er_model.genes)
    check = platform_check(er_model, _values(table, er_model.genes))
    assert check is not None and check.matches
    assert check.samples == 160 and check.genes_compared == 47
    assert check.share_alike >= MATCH_SHARE and not check.centred_on_zero and not check.looks_linear
    result = predict_expression(table, er_model)
    assert result.standardise == "model" and result.scaling.automatic
    assert result.scaling.reason.startswith("the table matches the training cohort (TCGA-BRCA)")
    assert (result.table["scaling"] == "model").all()


def test_gse1992_is_ratio_data_and_gets_the_recommended_scaling(test_data: Path, er_model) -> None:  # noqa: ANN001
    table = _table(test_data, "gse1992_pam50_40.csv.gz", er_model.genes)
    check = platform_check(er_model, _values(table, er_model.genes))
    assert check is not None and not check.matches and check.centred_on_zero
    assert check.share_alike == 0.0 and check.negative_fraction > 0.5
    assert recommended_scaling(er_model) == "cohort"  # chosen on the external cohorts (card: scaling_choice)
    result = predict_expression(table, er_model)
    assert result.standardise == "cohort"
    assert "another platform than TCGA-BRCA" in result.scaling.reason and "log ratios" in result.scaling.reason
    truth = pd.read_csv(test_data / "genes" / "gse1992_pam50_40.csv.gz")["fac_er_positive"] == 1
    assert roc_auc_score(truth, result.table["p"]) > 0.8


def test_gse3143_is_another_scale_of_log2(test_data: Path, er_model) -> None:  # noqa: ANN001
    table = _table(test_data, "gse3143_pam50_40.csv.gz", er_model.genes)
    check = platform_check(er_model, _values(table, er_model.genes))
    assert check is not None and not check.matches
    assert not check.centred_on_zero and not check.looks_linear  # log2, but not TCGA's per-gene levels
    assert check.genes_compared == 36 and check.share_alike < MATCH_SHARE
    result = predict_expression(table, er_model, min_coverage=0.7)
    assert result.standardise == "cohort" and "another platform" in result.scaling.reason


def test_gse7390_is_the_metastasis_models_own_platform(test_data: Path) -> None:
    model = load_gene_model("metastasis")
    table = _table(test_data, "gse7390_metastasis_120.csv", model.genes)
    result = predict_expression(table, model)
    assert result.standardise == "model" and "matches the training cohort (GSE7390)" in result.scaling.reason


def test_gse7390_shares_no_gene_with_er_status(test_data: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["genes", "predict", str(test_data / "genes" / "gse7390_metastasis_120.csv"), "--model", "er-status"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "none of the model's genes occur in the table" in err[0]


def test_cli_with_no_options_says_which_scaling_and_why(test_data: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "p.csv"
    assert main(["genes", "predict", str(test_data / "genes" / "gse1992_pam50_40.csv.gz"), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "scaling cohort (auto): another platform than TCGA-BRCA: values are centred on 0" in err
    table = pd.read_csv(out)
    assert list(table.columns)[-2:] == ["scaling", "scaling_reason"]
    assert (table["scaling"] == "cohort").all() and table["scaling_reason"].str.contains("log ratios").all()


def test_too_few_samples_from_another_platform_are_refused(test_data: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    few = tmp_path / "few.csv"
    pd.read_csv(test_data / "genes" / "gse1992_pam50_40.csv.gz").head(5).to_csv(few, index=False)
    assert main(["genes", "predict", str(few), "--out", str(tmp_path / "p.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "looks like another platform than TCGA-BRCA" in err[0]
    assert "needs at least 10 samples; it has 5" in err[0] and not (tmp_path / "p.csv").exists()


def test_one_tcga_sample_is_scaled_with_the_training_statistics(test_data: Path, er_model) -> None:  # noqa: ANN001
    table = _table(test_data, "tcga_er_pam50_160.csv", er_model.genes)
    one = type(table)(table.path, table.expression.iloc[:1], None, None, table.orientation)
    result = predict_expression(one, er_model)
    assert result.standardise == "model" and result.scaling.platform.median_spread_ratio is None


def test_linear_values_are_refused_under_auto(test_data: Path, er_model) -> None:  # noqa: ANN001
    table = _table(test_data, "tcga_er_pam50_160.csv", er_model.genes)
    linear = type(table)(table.path, 2.0 ** table.expression, None, None, table.orientation)
    with pytest.raises(GeneDataError, match=r"values look linear, not log2 .* log2-transform the table first"):
        predict_expression(linear, er_model)
    assert predict_expression(linear, er_model, standardise="rank").standardise == "rank"


def test_a_forced_model_scaling_on_another_platform_says_so() -> None:
    rng = np.random.default_rng(0)
    mean, sd = np.full(20, 9.0), np.ones(20)
    check = compare_platform(rng.normal(0.0, 1.0, (30, 20)), mean, sd)
    assert check is not None and check.centred_on_zero and not check.matches
    decision = decide_scaling(check, "model", "cohort", source="t.csv", cohort_name="TCGA-BRCA")
    assert decision.scaling == "model" and not decision.automatic
    assert decision.reason.startswith("chosen by the user although the table looks like another platform than TCGA")
    assert compare_platform(np.ones((5, 2)), mean[:2], sd[:2]) is None  # two genes: nothing to compare


def test_scaled_zscores_are_what_the_model_read_under_a_cohort_scaling(test_data: Path) -> None:
    """GSE1992 (log ratios centred on 0) under cohort scaling: the scaled values are each gene's
    z-score within the table (an independent numpy oracle), so ER-positive samples sit above 0 on
    ESR1 while their training-scale z-scores are all far below the training cohort."""
    from bcviewer.genes import load_gene_model, predict_expression, read_expression_table

    model = load_gene_model("er-status/gexpnet")
    path = test_data / "genes" / "gse1992_pam50_40.csv.gz"
    table = read_expression_table(path, known_genes=model.genes)
    result = predict_expression(table, model, standardise="cohort")
    raw = table.expression.reindex(columns=model.genes).to_numpy(dtype=float)
    oracle = (raw - np.nanmean(raw, axis=0)) / np.nanstd(raw, axis=0)
    np.testing.assert_allclose(result.scaled_zscores.to_numpy(), oracle, atol=1e-9, equal_nan=True)
    truth = read_expression_table(path, label="fac_er_positive").labels.reindex(table.samples)
    positive = (truth == "1").to_numpy()
    esr1 = result.scaled_zscores["ESR1"].to_numpy()
    assert esr1[positive].mean() > 0.3 > -0.3 > esr1[(truth == "0").to_numpy()].mean()
    assert (result.zscores["ESR1"] < -1).mean() > 0.9  # on the training scale nearly every sample looks ER-low
    same = predict_expression(read_expression_table(test_data / "genes" / "tcga_er_pam50_160.csv",
                                                    known_genes=model.genes), model, standardise="model")
    np.testing.assert_allclose(same.scaled_zscores.to_numpy(), same.zscores.to_numpy(), atol=1e-9)


def test_a_table_of_esr1_alone_needs_the_scaling_named(test_data: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    frame = pd.read_csv(test_data / "genes" / "tcga_er_pam50_160.csv")[["sample_id", "ESR1"]]
    path = tmp_path / "esr1.csv"
    frame.to_csv(path, index=False)
    assert main(["genes", "predict", str(path)]) == 2  # the default reads ESR1 alone, but 1 gene tells no platform
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "its platform cannot be told" in err[0] and "--standardise model" in err[0]
    assert main(["genes", "predict", str(path), "--standardise", "model", "--out", str(tmp_path / "p.csv")]) == 0
    assert (pd.read_csv(tmp_path / "p.csv")["scaling"] == "model").all()
