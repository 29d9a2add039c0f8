"""The ONNX files models ship (``bcviewer export-onnx``): run as the card vouches, refused otherwise.

With PyTorch installed, a shipped file that no longer matches its card is replaced by an export of
the weights, and the note says why; tests/test_torchless.py covers the same files without PyTorch.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from inference_helpers import IMAGE_SPEC, save_tiny_model

from bcviewer.cli.main import main
from bcviewer.inference import Predictor
from bcviewer.inference.runtime import OnnxEnsemble
from bcviewer.nets import ModelCardError, load_model, open_model, preprocess
from bcviewer.nets.onnx_export import ONNX_NAME
from bcviewer.nets.stored import StaleOnnxFileError
from conftest import ROOT

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SHIPPED = ROOT / "models"


def _copy(name: str, tmp_path: Path) -> Path:
    return shutil.copytree(SHIPPED / name, tmp_path / name, ignore=shutil.ignore_patterns("weights.onnx*"))


@pytest.mark.parametrize("name", ["breakhis-100x", "idc-wsi"])
def test_shipped_files_are_vouched_for_and_weigh_members_as_the_weights_do(name: str) -> None:
    stored, loaded = open_model(name), load_model(name)
    entry = stored.card["onnx"]["fp32"]
    data = (stored.directory / entry["file"]).read_bytes()
    assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["bytes"] == len(data)
    assert entry["weights_sha256"] == stored.card["weights"]["sha256"]
    assert stored.shipped_onnx() == data
    # The safetensors file holds the members' weights in float16: the card's rounded values would
    # weigh idc-wsi's two members 0.49766/0.50234 instead of the 0.49756/0.50244 torch uses.
    assert np.array_equal(stored.member_weights, loaded.member_weights)


def test_export_onnx_writes_the_file_and_the_predictor_runs_it(tmp_path: Path, test_data: Path) -> None:
    folder = save_tiny_model(tmp_path / "m")
    assert main(["export-onnx", str(folder)]) == 0
    card = json.loads((folder / "card.json").read_text())
    assert card["onnx"]["fp32"]["file"] == "weights.fp32.onnx" and (folder / "weights.fp32.onnx").is_file()
    predictor = Predictor(open_model(folder), device="cpu", runtime="onnx")
    assert not predictor.runtime_note and not (folder / ONNX_NAME).exists()  # nothing exported at run time
    tiles = [np.asarray(np.random.default_rng(1).integers(0, 255, (48, 64, 3)), np.uint8) for _ in range(5)]
    x = preprocess(tiles, IMAGE_SPEC)
    by_torch = Predictor(load_model(folder), device="cpu", runtime="torch").score_tensor(x)
    np.testing.assert_allclose(predictor.score_tensor(x.numpy()).p_malignant, by_torch.p_malignant, rtol=0, atol=1e-5)


def test_a_changed_file_is_never_run_and_the_weights_are_exported_instead(tmp_path: Path) -> None:
    folder = _copy("breakhis-100x", tmp_path)
    data = bytearray((folder / "weights.fp32.onnx").read_bytes())
    data[-100] ^= 0x01
    (folder / "weights.fp32.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelCardError, match=r"does not match the model card of breakhis-100x \(sha256\)"):
        open_model(folder).shipped_onnx()
    predictor = Predictor(open_model(folder), device="cpu", runtime="onnx")
    assert "does not match the model card" in predictor.runtime_note
    assert predictor.runtime_note.endswith("exported the model again from its weights")
    assert (folder / ONNX_NAME).is_file()  # the export, cached beside the weights


def test_a_card_edited_after_export_makes_the_file_stale(tmp_path: Path) -> None:
    folder = _copy("breakhis-100x", tmp_path)
    card = json.loads((folder / "card.json").read_text())
    card["architecture"]["test_time_flips"] = True  # the shipped graph scores one view, not four
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(StaleOnnxFileError, match="exported before its card's architecture, input or classes"):
        open_model(folder).shipped_onnx()
    predictor = Predictor(open_model(folder), device="cpu", runtime="onnx")
    assert "exported the model again" in predictor.runtime_note


def test_a_graph_of_another_model_is_refused_by_its_outputs() -> None:
    idc = open_model("idc-wsi")
    with pytest.raises(ModelCardError, match="scores 2 members x 2 classes, but the model card describes 1 members"):
        OnnxEnsemble(idc.shipped_onnx(), np.ones(1), 1, classes=2)
