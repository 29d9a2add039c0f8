"""Cross-validation end to end on small real tables, the model store, and prediction."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from bcviewer.genes.errors import GeneModelError, LowCoverageError, NoGeneOverlapError
from bcviewer.genes.io import read_expression_table
from bcviewer.genes.predict import PREDICTION_COLUMNS, predict_expression
from bcviewer.genes.store import load_gene_model, resolve_model_dir
from bcviewer.genes.workflow import TrainRequest, train_gene_model


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def genes_dir(test_data: Path) -> Path:
    return test_data / "genes"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, genes_dir: Path) -> Path:
    """A small ER model: 160 TCGA rows, 3-fold CV, external check on 40 GSE1992 rows."""
    out = tmp_path_factory.mktemp("models") / "er-small"
    request = TrainRequest(data=genes_dir / "tcga_er_pam50_160.csv", label="label", architecture="gexpnet", cv=3,
                           external=genes_dir / "gse1992_pam50_40.csv.gz", external_label="fac_er_positive",
                           max_epochs=20, noise_repeats=1, name="er-small", limitations=["test model"])
    train_gene_model(request, out)
    return out


def test_cv_report_and_card(trained: Path) -> None:
    card = json.loads((trained / "gexpnet" / "card.json").read_text())
    assert card["name"] == "er-small/gexpnet"
    assert card["n_genes"] == 47 and "ESR1" in card["genes"] and "KRT5" not in card["genes"]
    assert card["cohort"]["class_counts"] == {"Positive": 120, "Negative": 40}
    folds = card["cv"]["folds"]
    assert len(folds) == 3 and sum(f["n_test"] for f in folds) == 160
    assert set(card["cv"]["summary"]) == {"gexpnet", "LR", "SVC", "RF", "DT", "KNN"}
    for fold in folds:  # every model was scored on the same fold
        assert set(fold["metrics"]) == set(card["cv"]["summary"])
    net_auc = card["cv"]["summary"]["gexpnet"]["auc"]["mean"]
    assert 0.8 < net_auc <= 1.0  # ER follows ESR1 closely even with 20 epochs on 107 samples
    external = card["external"]
    assert external["gene_coverage"] == {"training_genes": 49, "shared_genes": 47, "fraction": 0.9592,
                                         "missing_values_imputed": 0}
    assert external["n_samples"] == 40 and external["class_counts"] == {"0": 17, "1": 23}
    assert set(card["cv"]["noise"]["gexpnet"]) >= {"auc_at_0.00", "auc_at_0.20", "auc_variance_mean"}
    report = (trained / "gexpnet" / "report.md").read_text()
    assert "| gexpnet |" in report and "## External cohort" in report and "test model" in report
    index = json.loads((trained / "index.json").read_text())
    assert index["default"] == "gexpnet" and index["architectures"] == ["gexpnet"]


def test_store_round_trip_gives_identical_predictions(trained: Path, genes_dir: Path) -> None:
    model = load_gene_model(trained)  # the task folder resolves to its default
    assert model.architecture == "gexpnet" and len(model.classifier.nets) == 5
    table = read_expression_table(genes_dir / "tcga_er_pam50_160.csv", known_genes=model.genes)
    again = load_gene_model(trained / "gexpnet" / "card.json")
    X = table.expression[model.genes].to_numpy()
    np.testing.assert_array_equal(model.classifier.predict_proba(X), again.classifier.predict_proba(X))
    scores = model.gene_scores()
    assert list(scores.index[:1]) and scores.iloc[0] == scores.max() and (scores >= 0).all()


def test_predict_table_zscores_and_attributions(trained: Path, genes_dir: Path) -> None:
    model = load_gene_model(trained)
    table = read_expression_table(genes_dir / "tcga_er_pam50_160.csv", label="label", known_genes=model.genes)
    result = predict_expression(table, model)
    assert list(result.table.columns) == PREDICTION_COLUMNS
    assert result.table["sample"].tolist() == table.samples
    assert set(result.table["label"]) <= {"Negative", "Positive"}
    assert (result.table["gene_coverage"] == 1.0).all()
    positive = (table.labels == "Positive").to_numpy()
    assert roc_auc_score(positive, result.table["p"]) > 0.9  # training samples: a sanity check
    ref = model.reference
    esr1 = model.genes.index("ESR1")
    expected = (table.expression["ESR1"] - ref.mean[esr1]) / ref.sd[esr1]
    np.testing.assert_allclose(result.zscores["ESR1"].to_numpy(), expected.to_numpy())
    assert result.attributions.shape == (160, 47)
    unread = [g for i, g in enumerate(model.genes) if i not in set(model.classifier.selected_genes())]
    assert unread and (result.attributions[unread] == 0).all().all()  # not selected: no attribution


def test_external_cohort_with_per_cohort_standardisation(trained: Path, genes_dir: Path) -> None:
    model = load_gene_model(trained)
    table = read_expression_table(genes_dir / "gse1992_pam50_40.csv.gz", label="fac_er_positive",
                                  known_genes=model.genes)
    result = predict_expression(table, model, standardise="cohort")
    assert result.coverage.fraction == 1.0 and result.table.shape == (40, 5)
    card = json.loads((model.path / "card.json").read_text())
    truth = (table.labels == "1").to_numpy()
    auc = roc_auc_score(truth, result.table["p"])
    assert auc == pytest.approx(card["external"]["metrics"]["gexpnet"]["auc"], abs=1e-6)
    shifted = predict_expression(table, model)  # another platform, z-scored with TCGA statistics
    assert any("training sd away" in w for w in shifted.warnings)


def test_low_coverage_and_no_overlap_are_refused(trained: Path, genes_dir: Path, tmp_path: Path) -> None:
    model = load_gene_model(trained)
    frame = pd.read_csv(genes_dir / "tcga_er_pam50_160.csv")
    path = tmp_path / "partial.csv"
    frame.drop(columns=model.genes[:10]).to_csv(path, index=False)
    table = read_expression_table(path)
    with pytest.raises(LowCoverageError, match="37 of the model's 47 genes"):
        predict_expression(table, model)
    result = predict_expression(table, model, min_coverage=0.7)
    np.testing.assert_allclose(result.table["gene_coverage"], 37 / 47)
    assert result.coverage.missing == model.genes[:10]
    other = read_expression_table(genes_dir / "gse7390_metastasis_120.csv")
    with pytest.raises(NoGeneOverlapError, match="none of the model's genes"):
        predict_expression(other, model)


def test_tampered_weights_and_pickles_are_refused(trained: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(trained / "gexpnet", copy)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(GeneModelError, match="sha256 differs"):
        load_gene_model(copy)
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(b"\x80\x04N.")
    with pytest.raises(GeneModelError, match="never loaded"):
        load_gene_model(pickled)
    card = json.loads((trained / "gexpnet" / "card.json").read_text())
    card["weights"] = "model.pt"
    (copy / "card.json").write_text(json.dumps(card))
    with pytest.raises(GeneModelError, match=".safetensors"):
        load_gene_model(copy)
    with pytest.raises(GeneModelError, match="no gene model 'nonexistent-task'"):
        resolve_model_dir("nonexistent-task", models_dir=tmp_path)
