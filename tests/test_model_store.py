"""Model store: safetensors + card round trip, sha256 and architecture checks, pickle refusal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bcviewer.nets import (
    Ensemble,
    HybridNet,
    InputSpec,
    ModelCardError,
    ModelNotFoundError,
    UnsafeModelFormatError,
    load_model,
    save_model,
    sha256_of,
)

SPEC = InputSpec(width=48, height=32, mean=(0.8, 0.6, 0.7), std=(0.1, 0.15, 0.12), magnification="100X",
                 tile_scheme="breakhis-3x3")


def _save(tmp_path: Path, half: bool = False) -> tuple[Ensemble, Path]:
    torch.manual_seed(0)
    members = [HybridNet(backbone="resnet18", width=0.25, rnn_hidden=16, rows_size=16, fusion_width=16),
               HybridNet(backbone="mobilenet_v3_large", width=0.5, rnn_mode="feature_map", rnn_hidden=16,
                         fusion_width=16)]
    ensemble = Ensemble(members, [0.4, 0.6], [1.5, 1.0]).eval()
    folder = save_model(ensemble, SPEC, tmp_path / "toy", {"name": "toy", "classes": ["benign", "malignant"]},
                        half=half)
    return ensemble, folder


def test_round_trip_reproduces_outputs_and_card(tmp_path: Path) -> None:
    ensemble, folder = _save(tmp_path)
    loaded = load_model(folder)
    x = torch.randn(3, 3, 32, 48)
    with torch.no_grad():
        assert torch.equal(loaded.ensemble(x), ensemble(x))
    card = json.loads((folder / "card.json").read_text())
    assert card["weights"]["sha256"] == sha256_of(folder / "weights.safetensors")
    assert card["architecture"]["backbones"] == ["resnet18", "mobilenet_v3_large"]
    assert card["architecture"]["rnn_modes"] == ["rows", "feature_map"]
    assert card["architecture"]["member_weights"] == [0.4, 0.6]
    assert loaded.spec == SPEC and loaded.classes == ["benign", "malignant"]
    assert sorted(p.name for p in folder.iterdir()) == ["card.json", "weights.safetensors"]


def test_half_precision_weights_stay_close(tmp_path: Path) -> None:
    ensemble, folder = _save(tmp_path, half=True)
    loaded = load_model(folder / "card.json")
    rgb = np.random.default_rng(0).integers(0, 256, (4, 64, 96, 3), dtype=np.uint8)
    pred = loaded.predict_rgb(rgb, batch_size=3)
    assert pred.p_malignant.shape == (4,) and pred.member_probs.shape == (4, 2)
    with torch.no_grad():
        reference = ensemble(loaded.preprocess(rgb))[:, 1].numpy()
    np.testing.assert_allclose(pred.p_malignant, reference, atol=2e-2)


def test_changed_weights_are_refused(tmp_path: Path) -> None:
    _, folder = _save(tmp_path)
    weights = folder / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelCardError, match="do not match their model card"):
        load_model(folder)


def test_card_describing_another_architecture_is_refused(tmp_path: Path) -> None:
    _, folder = _save(tmp_path)
    card = json.loads((folder / "card.json").read_text())
    card["architecture"]["members"][0]["rnn_hidden"] = 32
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelCardError, match="do not match the architecture.*wrong shape: members.0.lstm"):
        load_model(folder)


def test_pickle_files_are_refused(tmp_path: Path) -> None:
    ensemble, folder = _save(tmp_path)
    pickled = tmp_path / "model.pt"
    torch.save(ensemble.state_dict(), pickled)
    with pytest.raises(UnsafeModelFormatError, match="pickle"):
        load_model(pickled)
    only_pickle = tmp_path / "legacy"
    only_pickle.mkdir()
    torch.save(ensemble.state_dict(), only_pickle / "weights.pth")
    with pytest.raises(UnsafeModelFormatError, match="weights.pth is a pickle"):
        load_model(only_pickle)
    card = json.loads((folder / "card.json").read_text())
    card["weights"]["file"] = "weights.pt"
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(UnsafeModelFormatError, match="only a .safetensors file"):
        load_model(folder)


def test_pickle_renamed_to_safetensors_is_refused(tmp_path: Path) -> None:
    ensemble, folder = _save(tmp_path)
    weights = folder / "weights.safetensors"
    torch.save(ensemble.state_dict(), weights)
    card = json.loads((folder / "card.json").read_text())
    card["weights"]["sha256"] = sha256_of(weights)
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(UnsafeModelFormatError, match="not a valid safetensors file"):
        load_model(folder)


def test_missing_model_and_missing_card(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="no model 'no-such-model'"):
        load_model("no-such-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelCardError, match="holds no model card"):
        load_model(tmp_path / "empty")
