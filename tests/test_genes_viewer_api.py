"""What the expression tab reads from the gene core: installed tasks (from their cards, no torch), the
results CSV of several models, the top contributing genes and the training cohort as z-scores."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bcviewer.cli.main import main
from bcviewer.genes import (
    PREDICTION_COLUMNS,
    GeneModelError,
    list_tasks,
    load_gene_model,
    predict_expression,
    predictions_csv_text,
    read_expression_table,
    top_contributions,
)
from conftest import ROOT

MODELS = ROOT / "models" / "genes"


def test_shipped_tasks_are_listed_with_their_default_genes_and_classes() -> None:
    tasks = {t.name: t for t in list_tasks()}
    assert sorted(tasks) == ["er-status", "metastasis"]
    er = tasks["er-status"]
    assert er.architectures == ("cnn-bilstm", "deepcme", "ensemble", "gexpnet", "single-gene")
    index = json.loads((MODELS / "er-status" / "index.json").read_text())
    assert er.default == index["default"] == "single-gene"  # no model beat ESR1 alone in CV
    assert index["default_reason"].startswith("no model beat the single gene in CV")
    assert er.scaling == index["scaling"] == "cohort"  # chosen on the external cohorts
    assert tasks["metastasis"].scaling is None  # no external cohort: nothing chosen
    assert er.default_reason == (index.get("default_reason") or index["selection"]) and er.default_reason
    assert er.classes == ("Negative", "Positive")
    assert len(er.genes) == 47 and "ESR1" in er.genes and "KRT5" not in er.genes
    assert list(er.genes) == load_gene_model(er.model_name("gexpnet")).genes
    assert er.model_name("cnn-bilstm") == "er-status/cnn-bilstm"
    metastasis = tasks["metastasis"]
    assert len(metastasis.genes) == 76 and metastasis.genes[0] == "219340_S_AT"
    assert metastasis.classes == ("0", "1")


def test_listing_reads_no_weights_and_imports_no_torch() -> None:
    code = ("import sys; from bcviewer.genes import list_tasks; n = len(list_tasks()); "
            "print(n, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["2", "False"]


def test_tasks_without_index_or_with_a_bad_default(tmp_path: Path) -> None:
    shutil.copytree(MODELS / "metastasis" / "gexpnet", tmp_path / "mine" / "gexpnet")
    (tmp_path / "empty-task").mkdir()
    (tmp_path / "notes.txt").write_text("not a task")
    [task] = list_tasks(tmp_path)
    assert (task.name, task.architectures, task.default, len(task.genes)) == ("mine", ("gexpnet",), "gexpnet", 76)
    (tmp_path / "mine" / "index.json").write_text(json.dumps({"default": "deepcme"}))
    with pytest.raises(GeneModelError, match="names 'deepcme' as the default"):
        list_tasks(tmp_path)
    assert list_tasks(tmp_path / "absent") == []


def test_the_default_models_reason_comes_from_the_index(tmp_path: Path) -> None:
    shutil.copytree(MODELS / "metastasis" / "gexpnet", tmp_path / "mine" / "gexpnet")
    index = tmp_path / "mine" / "index.json"
    assert list_tasks(tmp_path)[0].default_reason is None  # no index: nothing said
    index.write_text(json.dumps({"default": "gexpnet", "selection": "highest mean CV AUC"}))
    assert list_tasks(tmp_path)[0].default_reason == "highest mean CV AUC"
    index.write_text(json.dumps({"default": "gexpnet", "selection": "highest mean CV AUC",
                                 "default_reason": "ESR1 alone: no model beat it in nested CV"}))
    assert list_tasks(tmp_path)[0].default_reason == "ESR1 alone: no model beat it in nested CV"


def test_results_csv_matches_the_command_line_and_stacks_models(test_data: Path, tmp_path: Path) -> None:
    path = test_data / "genes" / "tcga_er_pam50_160.csv"
    results = []
    for name in ("er-status/deepcme", "er-status/gexpnet"):
        model = load_gene_model(name)
        results.append(predict_expression(read_expression_table(path, known_genes=model.genes), model))
    out = tmp_path / "cli.csv"
    assert main(["genes", "predict", str(path), "--model", "er-status/deepcme", "--out", str(out)]) == 0
    assert predictions_csv_text(results[:1]) == out.read_text()
    lines = predictions_csv_text(results).splitlines()
    assert lines[0] == ",".join(PREDICTION_COLUMNS) and len(lines) == 1 + 2 * 160
    assert lines[1].startswith("TCGA-A8-A076-01A-21R-A00Z-07,er-status/deepcme,")
    assert lines[161].startswith("TCGA-A8-A076-01A-21R-A00Z-07,er-status/gexpnet,")
    assert predictions_csv_text([]) == "sample,model,p,predicted,gene_coverage,scaling,scaling_reason\n"


@pytest.fixture(scope="module")
def er_fixture(test_data: Path):  # type: ignore[no-untyped-def]
    return read_expression_table(test_data / "genes" / "tcga_er_pam50_160.csv")


def test_deepcme_contributions_are_its_gene_scores(er_fixture) -> None:  # type: ignore[no-untyped-def]
    model = load_gene_model("er-status/deepcme")
    result = predict_expression(er_fixture, model)
    for sample in er_fixture.samples[:2]:
        top = top_contributions(result, model, sample)
        assert top.name == "gene score" and len(top) == 20 and top.index[0] == "ESR1"
        assert top.equals(model.gene_scores().head(20).rename("gene score"))


def test_other_nets_contribute_the_samples_largest_attributions(er_fixture) -> None:  # type: ignore[no-untyped-def]
    model = load_gene_model("er-status/gexpnet")
    result = predict_expression(er_fixture, model)
    sample = er_fixture.samples[0]
    top = top_contributions(result, model, sample)
    row = result.attributions.loc[sample]
    assert top.name == "input x gradient" and len(top) == 20
    assert top.index[0] == "FOXC1" and (top < 0).any() and (top != 0).all()
    assert np.array_equal(top.to_numpy(), row[top.index].to_numpy())
    assert (np.diff(top.abs().to_numpy()) <= 0).all()
    assert top.abs().min() >= row.drop(top.index).abs().max()
    assert len(top_contributions(result, model, sample, n=100)) == int((row != 0).sum()) == 24


def test_reference_zscores_approximate_the_training_samples(er_fixture) -> None:  # type: ignore[no-untyped-def]
    model = load_gene_model("er-status/deepcme")
    reference = model.reference_zscores()
    assert list(reference.index) == [0.05, 0.25, 0.5, 0.75, 0.95] and list(reference.columns) == model.genes
    assert (np.diff(reference.to_numpy(), axis=0) >= 0).all()
    # the fixture's 160 rows are a random draw from the 777 training samples
    observed = predict_expression(er_fixture, model).zscores.quantile(list(reference.index))
    assert np.abs(observed.to_numpy() - reference.to_numpy()).mean() < 0.15


@pytest.mark.shared
def test_reference_zscores_are_the_training_cohorts_quantiles(shared_data: Path) -> None:
    model = load_gene_model("er-status/deepcme")
    table = read_expression_table(shared_data / "genes" / "tcga_brca_pam50genes_ER_status.csv", known_genes=model.genes)
    observed = predict_expression(table, model).zscores.quantile(list(model.reference_zscores().index))
    assert np.allclose(observed.to_numpy(), model.reference_zscores().to_numpy(), atol=1e-9)
