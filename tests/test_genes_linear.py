"""Logistic gene models: every candidate collapses exactly to one linear function of the
standardised genes (scikit-learn's own predictions are the oracle), survives saving, and the
shipped single-gene model is the card's ESR1 baseline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from bcviewer.genes import load_gene_model, read_expression_table
from bcviewer.genes.baselines import single_gene_probability
from bcviewer.genes.linear import ER_GENE_SET, LinearGeneClassifier, candidate_models, linear_pipeline
from bcviewer.genes.nested import choose_default, paired_gain
from bcviewer.genes.store import GeneReference, save_gene_model

MODELS = ROOT / "models" / "genes"


@pytest.fixture(scope="module")
def tcga(test_data: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    genes = json.loads((MODELS / "er-status" / "deepcme" / "card.json").read_text())["genes"]
    table = read_expression_table(test_data / "genes" / "tcga_er_pam50_160.csv", label="label").labelled()
    return table.expression[genes].to_numpy(float), (table.labels == "Positive").to_numpy().astype(int), genes


@pytest.mark.parametrize("name", ["single-gene", "logistic", "sparse-logistic", "gene-set", "anchor-sparse", "stacked"])
def test_each_candidate_collapses_to_its_own_predictions(tcga, name: str) -> None:  # noqa: ANN001
    X, y, genes = tcga
    candidates = candidate_models(genes, 0, "ESR1", ER_GENE_SET)
    pipe = linear_pipeline(candidates[name]).fit(X, y)
    model = LinearGeneClassifier.from_pipeline(name, pipe, genes, ["Negative", "Positive"], {})
    np.testing.assert_allclose(model.predict_proba(X), pipe.predict_proba(X), atol=1e-10)
    if name == "gene-set":  # only the literature genes the table measures carry weight
        assert set(model.used_genes()) <= set(ER_GENE_SET) and "ESR1" in model.used_genes()
    if name == "single-gene":
        assert model.used_genes() == ["ESR1"]
    logit = np.log(model.predict_proba(X)[:, 1] / model.predict_proba(X)[:, 0])
    np.testing.assert_allclose(model.attributions(X).sum(axis=1) + model.intercept, logit, atol=1e-8)


def test_a_saved_logistic_model_loads_without_torch_or_onnx(tcga, tmp_path: Path) -> None:  # noqa: ANN001
    X, y, genes = tcga
    pipe = linear_pipeline(candidate_models(genes)["sparse-logistic"]).fit(X, y)
    model = LinearGeneClassifier.from_pipeline("sparse-logistic", pipe, genes, ["Negative", "Positive"], {"x": 1})
    folder = save_gene_model(tmp_path / "sparse", model, GeneReference.from_training(model, X),
                             {"name": "t/sparse-logistic", "architecture": "sparse-logistic", "cohort": {"file": "t"}})
    loaded = load_gene_model(folder, runtime="onnx")  # a logistic model needs neither runtime
    assert isinstance(loaded.classifier, LinearGeneClassifier) and not (folder / "model.onnx").exists()
    np.testing.assert_allclose(loaded.classifier.predict_proba(X), model.predict_proba(X), atol=1e-12)
    assert loaded.classifier.used_genes() == model.used_genes()


def test_the_shipped_single_gene_model_is_the_cards_esr1_baseline(tcga) -> None:  # noqa: ANN001
    X, _y, genes = tcga
    model = load_gene_model("er-status/single-gene")
    assert model.classifier.used_genes() == ["ESR1"]
    spec = model.card["single_gene"]  # fitted by the networks' training on all samples, the same recipe
    z = model.classifier.preprocess(X, "model")
    expected = single_gene_probability(z, {**spec, "gene_index": genes.index("ESR1")})
    np.testing.assert_allclose(model.classifier.predict_proba(X)[:, 1], expected, atol=1e-5)


def test_the_default_is_the_single_gene_unless_a_model_beats_it() -> None:
    base = np.array([0.95, 0.96, 0.94, 0.97, 0.95])
    tie = {"single-gene": {"mean": base.mean()}, "m": {"mean": 0.958, **paired_gain(base + [0.02, -0.01, 0.0, 0.01, -0.01], base)}}
    assert choose_default(tie)[0] == "single-gene" and "no model beat the single gene" in choose_default(tie)[1]
    win = {"single-gene": {"mean": base.mean()}, "m": {"mean": 0.975, **paired_gain(base + 0.02 + [0, 0.001, -0.001, 0, 0], base)}}
    assert win["m"]["beats_baseline"] and choose_default(win)[0] == "m"


def test_every_card_of_a_task_carries_the_comparison_and_the_default() -> None:
    for task in ("er-status", "metastasis"):
        index = json.loads((MODELS / task / "index.json").read_text())
        for card_path in (MODELS / task).glob("*/card.json"):
            section = json.loads(card_path.read_text())["task_comparison"]
            assert section["baseline"] == "single-gene" and section["default"] == index["default"]
            assert section["default_reason"] == index["default_reason"]
            assert {"single-gene", "logistic", "sparse-logistic", "deepcme", "ensemble"} <= set(section["models"])
            for name, entry in section["models"].items():
                assert 0.5 < entry["mean"] <= 1 and (name == "single-gene" or len(entry["gain_ci95"]) == 2)


def test_the_single_gene_model_is_not_compared_with_itself(test_data: Path) -> None:
    model = load_gene_model("er-status/single-gene")
    table = read_expression_table(test_data / "genes" / "tcga_er_pam50_160.csv", known_genes=model.genes)
    from bcviewer.genes import predict_expression

    result = predict_expression(table, model)
    assert result.single_gene is None and model.read_genes == ["ESR1"]
    assert result.coverage.summary().startswith("1 of 1 model genes present")
