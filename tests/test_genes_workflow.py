"""Cross-validation end to end on small real tables, the model store, and prediction."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from bcviewer.genes.errors import GeneDataError, GeneModelError, LowCoverageError, NoGeneOverlapError
from bcviewer.genes.io import read_expression_table
from bcviewer.genes.predict import PREDICTION_COLUMNS, predict_expression
from bcviewer.genes.store import load_gene_model, resolve_model_dir
from bcviewer.genes.external import ExternalCohort
from bcviewer.genes.workflow import TrainRequest, train_ensemble, train_gene_model


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def genes_dir(test_data: Path) -> Path:
    return test_data / "genes"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, genes_dir: Path) -> Path:
    """A small ER model: 160 TCGA rows, 3-fold CV, external check on 40 GSE1992 rows."""
    out = tmp_path_factory.mktemp("models") / "er-small"
    gse3143 = ExternalCohort(genes_dir / "gse3143_pam50_40.csv.gz", "fac_erlev", positive_values=("1", "2", "3"),
                             rule="ER level 1-3 positive")
    request = TrainRequest(data=genes_dir / "tcga_er_pam50_160.csv", label="label", architecture="gexpnet", cv=3,
                           external=genes_dir / "gse1992_pam50_40.csv.gz", external_label="fac_er_positive",
                           max_epochs=20, noise_repeats=1, name="er-small", limitations=["test model"],
                           more_externals=[gse3143])
    train_gene_model(request, out)
    return out


def test_cv_report_and_card(trained: Path) -> None:
    card = json.loads((trained / "gexpnet" / "card.json").read_text())
    assert card["name"] == "er-small/gexpnet"
    assert card["n_genes"] == 47 and "ESR1" in card["genes"] and "KRT5" not in card["genes"]
    assert card["cohort"]["class_counts"] == {"Positive": 120, "Negative": 40}
    folds = card["cv"]["folds"]
    assert len(folds) == 3 and sum(f["n_test"] for f in folds) == 160
    assert set(card["cv"]["summary"]) == {"gexpnet", "single gene", "LR", "LR (nested CV)", "SVC", "RF", "DT", "KNN"}
    assert [f["single_gene"] for f in folds] == ["ESR1"] * 3  # chosen inside each training fold
    assert card["single_gene"]["gene"] == "ESR1" and card["single_gene"]["coef"][0] > 0
    for fold in folds:  # every model was scored on the same fold
        assert set(fold["metrics"]) == set(card["cv"]["summary"])
    net_auc = card["cv"]["summary"]["gexpnet"]["auc"]["mean"]
    assert 0.8 < net_auc <= 1.0  # ER follows ESR1 closely even with 20 epochs on 107 samples
    external = card["external"]
    assert external["gene_coverage"] == {"training_genes": 49, "model_genes": 47, "shared_genes": 47,
                                         "fraction": 0.9592, "missing_values_imputed": 0}
    assert external["n_samples"] == 40 and external["class_counts"] == {"0": 17, "1": 23}
    gse3143 = card["externals"][1]
    assert gse3143["file"] == "gse3143_pam50_40.csv.gz" and gse3143["class_counts"] == {"0": 15, "1": 25}
    assert gse3143["gene_coverage"]["shared_genes"] == 36 and gse3143["model_used"].startswith("refitted on the 36")
    assert gse3143["label_rule"] == "ER level 1-3 positive"
    for cohort in card["externals"]:  # every model under every scaling, reported under the other cohort's choice
        assert set(cohort["metrics_by_scaling"]) == {"model", "cohort", "quantile", "rank"}
        assert set(cohort["metrics_by_scaling"]["rank"]) == set(card["cv"]["summary"])
        assert cohort["scaling_chosen_on"] == [e["file"] for e in card["externals"] if e is not cohort]
        assert cohort["metrics"] == cohort["metrics_by_scaling"][cohort["scaling"]]
        single = {s: m["single gene"]["auc"] for s, m in cohort["metrics_by_scaling"].items()}
        assert max(single.values()) - min(single.values()) < 1e-9  # one gene: AUC ignores monotone scaling
    assert card["scaling_choice"]["default"] in {"model", "cohort", "quantile", "rank"}
    assert set(card["cv"]["noise"]["gexpnet"]) >= {"auc_at_0.00", "auc_at_0.20", "auc_variance_mean"}
    report = (trained / "gexpnet" / "report.md").read_text()
    assert "| gexpnet |" in report and "## External cohort: gse3143_pam50_40.csv.gz" in report
    assert "`single gene` = ESR1 alone" in report and "## Choice of scaling" in report and "test model" in report
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
    assert set(result.table["predicted"]) <= {"Negative", "Positive"}
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


def test_external_cohort_under_each_scaling(trained: Path, genes_dir: Path, tmp_path: Path) -> None:
    model = load_gene_model(trained)
    table = read_expression_table(genes_dir / "gse1992_pam50_40.csv.gz", label="fac_er_positive",
                                  known_genes=model.genes)
    card = json.loads((model.path / "card.json").read_text())
    truth = (table.labels == "1").to_numpy()
    for scaling in ("cohort", "quantile", "rank"):
        result = predict_expression(table, model, standardise=scaling)
        assert result.coverage.fraction == 1.0 and result.table.shape == (40, 7)
        auc = roc_auc_score(truth, result.table["p"])
        assert auc == pytest.approx(card["external"]["metrics_by_scaling"][scaling]["gexpnet"]["auc"], abs=1e-6)
        esr1 = roc_auc_score(truth, result.single_gene)  # the single-gene baseline shown beside the model
        assert result.single_gene.name == "ESR1 alone"
        assert esr1 == pytest.approx(card["external"]["metrics_by_scaling"][scaling]["single gene"]["auc"], abs=1e-6)
    few = tmp_path / "five.csv"
    pd.read_csv(genes_dir / "tcga_er_pam50_160.csv").head(5).to_csv(few, index=False)
    with pytest.raises(GeneDataError, match="needs at least 10 samples"):
        predict_expression(read_expression_table(few), model, standardise="quantile")
    shifted = predict_expression(table, model, standardise="model")  # another platform, TCGA statistics forced
    assert any("training sd away" in w for w in shifted.warnings)
    assert shifted.scaling.reason.startswith("chosen by the user although the table looks like another platform")


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


@pytest.fixture(scope="module")
def ensembled(tmp_path_factory: pytest.TempPathFactory, genes_dir: Path) -> Path:
    """DeepCME and GexpNet (5 epochs) on the same folds, and their ensemble."""
    out = tmp_path_factory.mktemp("models") / "er-ens"
    outcomes = {}
    for arch in ("deepcme", "gexpnet"):
        request = TrainRequest(data=genes_dir / "tcga_er_pam50_160.csv", label="label", architecture=arch, cv=3,
                               external=genes_dir / "gse1992_pam50_40.csv.gz", external_label="fac_er_positive",
                               max_epochs=5, noise_repeats=0, name="er-ens")
        outcomes[arch] = train_gene_model(request, out)
    train_ensemble(request, outcomes, out)
    return out


def test_ensemble_averages_its_members(ensembled: Path, genes_dir: Path) -> None:
    ensemble = load_gene_model(ensembled / "ensemble")
    assert ensemble.architecture == "ensemble" and [m.architecture for m in ensemble.classifier.members] == [
        "deepcme", "gexpnet"]
    table = read_expression_table(genes_dir / "gse1992_pam50_40.csv.gz", known_genes=ensemble.genes)
    X = table.expression[ensemble.genes].to_numpy()
    members = [load_gene_model(ensembled / arch).classifier for arch in ("deepcme", "gexpnet")]
    for scaling in ("model", "rank"):
        expected = np.mean([m.predict_proba(X, standardise=scaling) for m in members], axis=0)
        np.testing.assert_allclose(ensemble.classifier.predict_proba(X, standardise=scaling), expected, atol=1e-12)
    card = json.loads((ensembled / "ensemble" / "card.json").read_text())
    assert card["members"] == ["deepcme", "gexpnet"]
    assert {"ensemble", "deepcme", "gexpnet", "single gene", "LR (nested CV)", "SVC"} <= set(card["cv"]["summary"])
    member_card = json.loads((ensembled / "deepcme" / "card.json").read_text())
    for fold, member_fold in zip(card["cv"]["folds"], member_card["cv"]["folds"]):  # the very same folds
        assert fold["metrics"]["deepcme"] == pytest.approx(member_fold["metrics"]["deepcme"], abs=1e-6)
        assert fold["metrics"]["SVC"] == pytest.approx(member_fold["metrics"]["SVC"], abs=1e-6)
    truth = (pd.read_csv(genes_dir / "gse1992_pam50_40.csv.gz")["fac_er_positive"] == 1).to_numpy()
    auc = roc_auc_score(truth, ensemble.classifier.predict_proba(X, standardise="cohort")[:, 1])
    assert auc == pytest.approx(card["external"]["metrics_by_scaling"]["cohort"]["ensemble"]["auc"], abs=1e-6)
    index = json.loads((ensembled / "index.json").read_text())
    assert set(index["architectures"]) == {"deepcme", "gexpnet", "ensemble"}
