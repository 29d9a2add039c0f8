"""``bcviewer genes predict|scores|train|models`` with the shipped models and real fixture tables."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from bcviewer import safety
from bcviewer.cli.main import main
from bcviewer.genes import load_gene_model, predict_expression, read_expression_table
from conftest import ROOT

MODELS = ROOT / "models" / "genes"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def genes_dir(test_data: Path) -> Path:
    return test_data / "genes"


def _default(task: str) -> str:
    return json.loads((MODELS / task / "index.json").read_text())["default"]


def test_predict_writes_one_row_per_sample(genes_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "er.csv"
    assert main(["genes", "predict", str(genes_dir / "tcga_er_pam50_160.csv"), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    truth = pd.read_csv(genes_dir / "tcga_er_pam50_160.csv")
    assert list(table.columns) == ["sample", "model", "p", "predicted", "gene_coverage", "scaling", "scaling_reason"]
    assert (table["scaling"] == "model").all()  # auto: TCGA is the training platform
    assert table["sample"].tolist() == truth["sample_id"].tolist()
    assert set(table["model"]) == {f"er-status/{_default('er-status')}"}
    assert table["p"].between(0, 1).all() and set(table["predicted"]) <= {"Positive", "Negative"}
    assert (table["gene_coverage"] == 1.0).all()
    assert ((table["p"] >= 0.5) == (table["predicted"] == "Positive")).all()
    assert roc_auc_score(truth["label"] == "Positive", table["p"]) > 0.9
    err = capsys.readouterr().err
    assert "1 of 1 model genes present" in err  # the default, ESR1 alone, reads one gene
    assert "not used as genes" not in err  # the truth column "label" is obviously not a gene


def test_predict_another_platform_with_cohort_standardisation(genes_dir: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["genes", "predict", str(genes_dir / "gse1992_pam50_40.csv.gz"), "--model", "er-status",
                 "--standardise", "cohort"])
    assert code == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert lines[0] == "sample,model,p,predicted,gene_coverage,scaling,scaling_reason" and len(lines) == 41
    assert lines[1].startswith("BR00-0504,er-status/")
    table = pd.read_csv(genes_dir / "gse1992_pam50_40.csv.gz")
    p = np.array([float(line.split(",")[2]) for line in lines[1:]])
    assert roc_auc_score(table["fac_er_positive"] == 1, p) > 0.8


def test_predict_refuses_low_coverage(genes_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    frame = pd.read_csv(genes_dir / "tcga_er_pam50_160.csv")
    card = json.loads((MODELS / "er-status" / _default("er-status") / "card.json").read_text())
    dropped = card["genes"][:10]
    path = tmp_path / "partial.csv"
    frame.drop(columns=dropped).to_csv(path, index=False)
    assert main(["genes", "predict", str(path), "--model", "er-status/ensemble"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "37 of the model's 47 genes" in err and "80% floor" in err
    assert main(["genes", "predict", str(path), "--model", "er-status/ensemble", "--min-coverage", "0.75",
                 "--out", str(tmp_path / "p.csv")]) == 0
    assert np.allclose(pd.read_csv(tmp_path / "p.csv")["gene_coverage"], 37 / 47)
    # ESR1 alone needs ESR1 only, which the table still measures
    assert "ESR1" not in dropped and _default("er-status") == "single-gene"
    assert main(["genes", "predict", str(path), "--out", str(tmp_path / "s.csv"), "--force"]) == 0
    assert (pd.read_csv(tmp_path / "s.csv")["gene_coverage"] == 1.0).all()


def test_predict_errors_are_one_line(genes_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["genes", "predict", str(genes_dir / "gse7390_metastasis_120.csv")]) == 2
    assert "none of the model's genes occur" in capsys.readouterr().err
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    assert main(["genes", "predict", str(empty)]) == 2
    assert "empty" in capsys.readouterr().err
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(b"\x80\x04N.")
    assert main(["genes", "predict", str(genes_dir / "tcga_er_pam50_160.csv"), "--model", str(pickled)]) == 2
    assert "never loaded" in capsys.readouterr().err


def test_metastasis_model_predicts_gse7390(genes_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["genes", "predict", str(genes_dir / "gse7390_metastasis_120.csv"), "--model", "metastasis"]) == 0
    table = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert table["sample"].astype(str).tolist() == [str(i) for i in range(120)]
    assert set(table["predicted"].astype(str)) <= {"0", "1"}


def test_scores_lists_top_genes(capsys: pytest.CaptureFixture) -> None:
    assert main(["genes", "scores", "metastasis/deepcme", "--top", "5", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["score"].startswith("S_j") and len(listed["genes"]) == 5
    card = json.loads((MODELS / "metastasis" / "deepcme" / "card.json").read_text())
    assert {g["gene"] for g in listed["genes"]} <= set(card["genes"])
    values = [g["score"] for g in listed["genes"]]
    assert values == sorted(values, reverse=True)
    assert main(["genes", "scores", "er-status", "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[1].split()[0] == "1"


def test_models_lists_shipped_tasks(capsys: pytest.CaptureFixture) -> None:
    assert main(["genes", "models"]) == 0
    names = capsys.readouterr().out.split()
    assert {"er-status", "er-status/deepcme", "metastasis", "metastasis/gexpnet"} <= set(names)


def test_train_cli_small(genes_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "meta"
    monkeypatch.setattr(safety, "_UMASK", None)  # read afresh under the umask set here
    previous = os.umask(0o027)
    try:
        code = main(["genes", "train", str(genes_dir / "gse7390_metastasis_120.csv"), "--label", "e.tdm",
                     "--model", "deepcme", "--cv", "3", "--epochs", "5", "--noise-repeats", "0", "--out", str(out)])
    finally:
        os.umask(previous)
    assert code == 0
    modes = {p.name: p.stat().st_mode & 0o777 for p in (out / "deepcme").iterdir() if p.is_file()}
    assert "model.safetensors" in modes and "card.json" in modes
    assert modes == dict.fromkeys(modes, 0o640)  # 0666 & ~027, model.safetensors included (it was 0600)
    assert "deepcme: CV AUC" in capsys.readouterr().out
    card = json.loads((out / "deepcme" / "card.json").read_text())
    assert card["n_genes"] == 76 and card["positive_class"] == "1" and len(card["cv"]["folds"]) == 3
    assert (out / "deepcme" / "model.safetensors").is_file() and (out / "deepcme" / "report.md").is_file()
    assert not list(out.rglob("*.pkl")) and not list(out.rglob("*.pt"))
    assert main(["genes", "train", str(genes_dir / "gse7390_metastasis_120.csv"), "--label", "e.tdm", "--model",
                 "deepcme", "--external", str(genes_dir / "gse1992_pam50_40.csv.gz"), "--out", str(out)]) == 2
    assert "--external-label" in capsys.readouterr().err


@pytest.mark.shared
def test_shipped_er_model_reproduces_its_external_auc(shared_data: Path, tmp_path: Path) -> None:
    """The shipped default on GSE1992 with no options (auto: cohort scaling): the CLI predicts all
    124 samples, and the 122 labelled ones give exactly the AUC the card reports under auto."""
    source = shared_data / "genes" / "survset_gse1992.csv.gz"
    out = tmp_path / "gse1992.csv"
    assert main(["genes", "predict", str(source), "--out", str(out)]) == 0
    predictions = pd.read_csv(out)
    assert len(predictions) == 124 and (predictions["gene_coverage"] == 1.0).all()
    model = load_gene_model("er-status")
    table = read_expression_table(source, label="fac_er_positive", known_genes=model.genes).labelled()
    result = predict_expression(table, model)
    assert result.standardise == "cohort" and (predictions["scaling"] == "cohort").all()
    auc = roc_auc_score(table.labels == "1", result.table["p"])
    card = json.loads((model.path / "card.json").read_text())
    assert len(table.samples) == 122
    reported = card["task_comparison"]["external_auto"]["survset_gse1992.csv.gz"][model.architecture]
    assert reported["scaling"] == "cohort" and auc == pytest.approx(reported["auc"], abs=1e-5)
    assert auc > 0.85


def test_models_say_which_model_is_the_default(capsys: pytest.CaptureFixture) -> None:
    assert main(["genes", "models"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert lines["er-status"].split(maxsplit=1)[1] == ("task: runs er-status/single-gene; the default of 'genes "
                                                       "predict'")
    assert lines["metastasis"].split(maxsplit=1)[1] == "task: runs metastasis/logistic"  # its index.json says so
    assert lines["er-status/gexpnet"] == "er-status/gexpnet"
