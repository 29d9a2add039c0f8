"""The gene models' ONNX files: what runs them without PyTorch.

Every shipped model's ``model.onnx`` gives the torch networks' probabilities and input x gradient
attributions on the fixture cohorts; a changed byte is refused by the card's sha256; and in an
environment without torch, ``bcviewer genes predict`` runs from the ONNX file and writes the same
probabilities as the full install.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from torchless import check_torch_absent, run_torchless, torchless_venv

from bcviewer.genes import load_gene_model, predict_expression, read_expression_table
from bcviewer.genes.ensemble import GeneEnsemble
from bcviewer.genes.errors import GeneRuntimeError
from bcviewer.genes.onnx_runtime import OnnxNets
from bcviewer.nets.errors import ModelCardError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MODELS = ROOT / "models" / "genes"
FIXTURES = {"er-status": "genes/tcga_er_pam50_160.csv", "metastasis": "genes/gse7390_metastasis_120.csv"}
# Network models ship an ONNX file; logistic ones (single gene, ...) are one dot product in numpy.
SHIPPED = sorted(f"{p.parent.parent.name}/{p.parent.name}" for p in MODELS.glob("*/*/card.json")
                 if json.loads(p.read_text())["classifier"]["architecture"] != "linear")
PARITY = 1e-5


def test_every_shipped_model_ships_an_onnx_file() -> None:
    assert len(SHIPPED) == 8
    for name in SHIPPED:
        card = json.loads((MODELS / name / "card.json").read_text())
        entry = card["onnx"]["fp32"]
        assert entry["file"] == "model.onnx" and entry["opset"] == 17
        assert entry["weights_sha256"] == card["weights_sha256"]
        assert entry["bytes"] == (MODELS / name / "model.onnx").stat().st_size


@pytest.mark.parametrize("name", SHIPPED)
def test_onnx_matches_torch(test_data: Path, name: str) -> None:
    onnx_model = load_gene_model(name, runtime="onnx")  # the default without PyTorch
    torch_model = load_gene_model(name, runtime="torch")
    classifier = onnx_model.classifier
    members = classifier.members if isinstance(classifier, GeneEnsemble) else [classifier]
    assert all(isinstance(m.runner, OnnxNets) and not m.nets for m in members)
    table = read_expression_table(test_data / FIXTURES[name.split("/")[0]], known_genes=onnx_model.genes)
    ours, theirs = predict_expression(table, onnx_model), predict_expression(table, torch_model)
    difference = np.abs(ours.probabilities.to_numpy() - theirs.probabilities.to_numpy()).max()
    assert difference <= PARITY, f"{name}: probabilities differ by {difference:.2g}"
    assert (ours.table["predicted"] == theirs.table["predicted"]).all()
    # Attributions: exact gradients in the graph, float32 rounding apart.
    scale = np.abs(theirs.attributions.to_numpy()).max()
    assert np.abs(ours.attributions.to_numpy() - theirs.attributions.to_numpy()).max() <= 1e-4 * max(1.0, scale)


def _copy(name: str, tmp_path: Path) -> Path:
    folder = tmp_path / name.replace("/", "-")
    shutil.copytree(MODELS / name, folder)
    return folder


def test_a_changed_onnx_byte_is_refused(tmp_path: Path) -> None:
    folder = _copy("er-status/deepcme", tmp_path)
    data = bytearray((folder / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelCardError, match=r"model\.onnx does not match the model card of er-status/deepcme "
                                             r"\(sha256\): it was changed or mixed up"):
        load_gene_model(folder, runtime="onnx")
    load_gene_model(folder, runtime="torch")  # the weights themselves are untouched


def test_onnx_runtime_needs_an_onnx_file(tmp_path: Path) -> None:
    folder = _copy("er-status/deepcme", tmp_path)
    card = json.loads((folder / "card.json").read_text())
    del card["onnx"]
    (folder / "card.json").write_text(json.dumps(card, indent=1) + "\n")
    with pytest.raises(GeneRuntimeError, match="ships no ONNX file; export it with 'bcviewer genes export-onnx"):
        load_gene_model(folder, runtime="onnx")
    assert load_gene_model(folder).classifier.nets  # auto: the torch networks


@pytest.fixture(scope="module")
def torchless(tmp_path_factory: pytest.TempPathFactory) -> Path:
    python = torchless_venv(tmp_path_factory.mktemp("torchless-genes"))
    check_torch_absent(python)
    return python


def test_cli_predicts_without_torch(torchless: Path, test_data: Path, tmp_path: Path) -> None:
    profile = test_data / FIXTURES["er-status"]
    out = tmp_path / "predictions.csv"
    result = run_torchless(torchless, ["-m", "bcviewer", "genes", "predict", str(profile), "--model",
                                       "er-status/gexpnet", "--out", str(out)])
    assert result.returncode == 0, result.stderr
    written = pd.read_csv(out)
    model = load_gene_model("er-status/gexpnet", runtime="onnx")  # what auto runs without PyTorch
    expected = predict_expression(read_expression_table(profile, known_genes=model.genes), model).table
    assert list(written["sample"]) == list(expected["sample"])
    assert np.abs(written["p"].to_numpy() - expected["p"].to_numpy()).max() <= PARITY
    check = "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None)"
    assert run_torchless(torchless, ["-c", check]).returncode == 0


def test_no_onnx_file_and_no_torch_is_one_clear_error(torchless: Path, test_data: Path, tmp_path: Path) -> None:
    folder = _copy("er-status/deepcme", tmp_path)
    card = json.loads((folder / "card.json").read_text())
    del card["onnx"]
    (folder / "card.json").write_text(json.dumps(card, indent=1) + "\n")
    result = run_torchless(torchless, ["-m", "bcviewer", "genes", "predict", str(test_data / FIXTURES["er-status"]),
                                       "--model", str(folder)])
    assert result.returncode != 0
    assert "ships no ONNX file and this install has no PyTorch to run its weights" in result.stderr
    assert "Traceback" not in result.stderr


def test_auto_runs_torch_where_installed_and_the_onnx_file_where_not(torchless: Path) -> None:
    # With PyTorch: autograd gives the attributions in one backward pass (the ONNX graph needs one
    # forward pass per gene), so auto uses the torch networks.
    assert load_gene_model("er-status/gexpnet").classifier.nets
    code = ("from bcviewer.genes import load_gene_model\n"
            "from bcviewer.genes.onnx_runtime import OnnxNets\n"
            "m = load_gene_model('er-status/gexpnet')\n"
            "print(type(m.classifier.runner).__name__, bool(m.classifier.nets))\n"
            "try:\n    load_gene_model('er-status/gexpnet', runtime='torch')\n"
            "except Exception as exc:\n    print(exc)\n")
    done = run_torchless(torchless, ["-c", code])
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "OnnxNets False",
        "the torch runtime of gene models needs PyTorch, which this install does not have (a CPU-only install); "
        "install the full bundle, or 'pip install \"bcviewer[torch]\"'"]
