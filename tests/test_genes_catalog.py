"""Listing installed gene tasks from their cards (no torch), and the results CSV of several models."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

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
)
from conftest import ROOT

MODELS = ROOT / "models" / "genes"


def test_shipped_tasks_are_listed_with_their_default_genes_and_classes() -> None:
    tasks = {t.name: t for t in list_tasks()}
    assert sorted(tasks) == ["er-status", "metastasis"]
    er = tasks["er-status"]
    assert er.architectures == ("cnn-bilstm", "deepcme", "gexpnet")
    assert er.default == json.loads((MODELS / "er-status" / "index.json").read_text())["default"] == "deepcme"
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
    assert predictions_csv_text([]) == "sample,model,p,label,gene_coverage\n"
