"""Model store: safetensors + card round trip, sha256 and architecture checks, pickle refusal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
    ensemble = Ensemble(members, [0.4, 0.6], [1.5, 1.0], test_time_flips=True).eval()
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
    assert card["architecture"]["test_time_flips"] is True and loaded.ensemble.test_time_flips
    assert loaded.spec == SPEC and loaded.classes == ["benign", "malignant"]
    assert sorted(p.name for p in folder.iterdir()) == ["card.json", "weights.safetensors"]


def test_a_linear_probe_model_round_trips_and_its_card_says_what_it_is(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = HybridNet(backbone="resnet18", width=0.25, use_lstm=False, head="linear", cnn_pool="mean_std",
                    dropout_cnn=0.0).eval()
    net.head[0].running_mean.uniform_(-1, 1)  # statistics a fit would have set; they must survive the trip
    net.head[0].running_var.uniform_(0.5, 2)
    folder = save_model(Ensemble([net]).eval(), SPEC, tmp_path / "probe", {"name": "probe"}, half=False)
    loaded = load_model(folder)
    x = torch.randn(2, 3, 32, 48)
    with torch.no_grad():
        assert torch.equal(loaded.ensemble(x), Ensemble([net]).eval()(x))
    arch = json.loads((folder / "card.json").read_text())["architecture"]
    assert (arch["type"], arch["branches"]) == ("cnn-linear-probe", ["cnn"]) and arch["fusion"].startswith("none")
    assert arch["members"][0]["head"] == "linear" and arch["members"][0]["use_lstm"] is False


def test_half_precision_weights_stay_close(tmp_path: Path) -> None:
    ensemble, folder = _save(tmp_path, half=True)
    loaded = load_model(folder / "card.json")
    rgb = np.random.default_rng(0).integers(0, 256, (4, 64, 96, 3), dtype=np.uint8)
    pred = loaded.ensemble.predict_proba(loaded.preprocess(rgb))
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


# ---- the shipped models -------------------------------------------------------------------------
SHIPPED = ("breakhis-100x", "idc-wsi")
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


def test_shipped_models_fit_the_size_budget_and_hold_no_pickle() -> None:
    cache = {"weights.onnx", "weights.onnx.json"}  # the ONNX export cache, written at run time, not shipped
    files = [f for f in MODELS_DIR.rglob("*") if f.is_file() and f.name not in cache]
    # 60 MiB for the weights and cards, plus the ONNX files an install without PyTorch runs (issue 24:
    # 34.8 MB, of which idc-wsi's fp32 graph 17.3 MB and the eight gene models' 15.8 MB).
    onnx = sum(f.stat().st_size for f in files if f.suffix == ".onnx" and f.name != "weights.int8.onnx")
    assert onnx <= 36 * 1024 * 1024
    assert sum(f.stat().st_size for f in files) - onnx <= 60 * 1024 * 1024
    assert not [f for f in files if f.suffix in (".pt", ".pth", ".ckpt", ".pkl", ".pickle")]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_card_is_complete(name: str) -> None:
    model = load_model(name)
    card = model.card
    assert model.directory == MODELS_DIR / name and card["name"] == name
    assert card["weights"]["sha256"] == sha256_of(MODELS_DIR / name / "weights.safetensors")
    arch = card["architecture"]
    if arch["type"] == "cnn-linear-probe":  # the simpler model that won the patient CV: the card says why
        assert arch["branches"] == ["cnn"] and "added nothing" in card["description"]
        cv = card["cross_validation"]["recipes"]["hybrid"]["variants"]
        assert cv["model"]["image"]["accuracy"] - cv["cnn_mean"]["image"]["accuracy"] < 0.02
    else:
        assert len(arch["backbones"]) >= 2 and set(arch["rnn_modes"]) <= {"rows", "feature_map"}
        assert "attention" in arch["fusion"]
    parts = card["training"]["patients"]
    train, val, test = (set(parts[p]) for p in ("train", "val", "test"))
    assert train and val and test and not (train & val) and not (train & test) and not (val & test)
    for level in ("image", "tile"):
        metrics = card["metrics"]["test"][level]
        assert set(metrics) >= {"accuracy", "sensitivity", "specificity", "precision", "f1", "roc_auc",
                                "confusion_matrix", "ece"}
    assert card["metrics"]["test"]["patients"] == sorted(test)
    assert card["library_versions"]["torch"] and card["limitations"] and card["citations"]
    assert card["training"]["hardware"] and card["training"]["seed"] == 0


def test_breakhis_model_scores_the_fixture_images(test_data: Path) -> None:
    from bcviewer.inference import Predictor
    from bcviewer.slides import open_slide
    from bcviewer.tiling import subimage_grid

    model = load_model("breakhis-100x")
    assert model.spec.tile_scheme == "breakhis-3x3" and model.spec.magnification == "100X"
    predictor = Predictor(model, device="cpu", runtime="torch")
    for path in sorted((test_data / "breakhis").glob("*.png")):
        with open_slide(path) as reader:
            grid = subimage_grid(reader, 3, 3)
            tiles = [grid.read_tile(reader, t) for t in grid]
            pred = predictor.run(reader, grid, batch_size=4)
        assert pred.complete
        assert pred.p_malignant.shape == (9,) and pred.member_probs.shape == (9, len(model.ensemble.members))
        assert ((pred.p_malignant >= 0) & (pred.p_malignant <= 1)).all()
        assert ((pred.uncertainty >= 0) & (pred.uncertainty <= 1)).all()
        np.testing.assert_allclose(pred.attention.sum(axis=2), 1.0, atol=1e-6)
        with torch.no_grad():
            direct = model.ensemble(model.preprocess(tiles))[:, 1].double().numpy()
        np.testing.assert_allclose(pred.p_malignant, direct, atol=1e-6)


def test_idc_model_reads_slides_at_the_patch_scale(test_data: Path) -> None:
    model = load_model("idc-wsi")
    assert (model.spec.tile_um, model.spec.mpp, model.spec.tile_px) == (200.0, 4.0, 50)
    patches = sorted((test_data / "idc").rglob("*.png"))
    from PIL import Image

    rgb = [np.array(Image.open(p).convert("RGB")) for p in patches]  # edge patches can be under 50 px
    assert {tile.shape for tile in rgb} >= {(50, 50, 3)}
    pred = model.ensemble.predict_proba(model.preprocess(rgb))
    assert pred.p_malignant.shape == (len(patches),)
    in_eights = [model.ensemble.predict_proba(model.preprocess(rgb[i:i + 8])) for i in range(0, len(rgb), 8)]
    np.testing.assert_allclose(np.concatenate([p.p_malignant for p in in_eights]), pred.p_malignant, atol=1e-6)


@pytest.mark.shared
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_card_metrics_reproduce_on_the_test_patients(name: str, shared_data: Path) -> None:
    from bcviewer.training import evaluation_report, load_tileset, predict_tileset

    from bcviewer.training.tiles import breakhis_collection

    model = load_model(name)
    card = model.card
    test = card["training"]["patients"]["test"]
    if card["data"].get("folders"):  # trained on several folders: every BreakHis image we have, as predict cuts it
        tiles = breakhis_collection([shared_data / f for f in card["data"]["folders"]], model.spec.size)
        tiles = tiles.select_patients(test)
    else:
        tiles = load_tileset(shared_data / card["data"]["folder"], model.spec.size, card["data"]["kind"], patients=test)
    report = evaluation_report(tiles, predict_tileset(model.ensemble, tiles, model.spec))
    for level in ("image", "tile"):
        expected = card["metrics"]["test"][level]
        assert report[level]["confusion_matrix"] == expected["confusion_matrix"]
        assert report[level]["roc_auc"] == pytest.approx(expected["roc_auc"], abs=1e-6)
        assert report[level]["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-12)


@pytest.mark.shared
def test_breakhis_card_reproduces_its_trust_numbers_and_states_its_cross_validation(shared_data: Path) -> None:
    from bcviewer.training.pipeline import patient_group

    model = load_model("breakhis-100x")
    card = model.card
    parts = card["training"]["patients"]
    groups = {part: {patient_group(p) for p in patients} for part, patients in parts.items()}
    assert len(groups["test"]) >= 10 and card["split_people"]["test"] == len(groups["test"])
    assert not (groups["train"] & groups["test"]) and not (groups["val"] & groups["test"])
    recipes = card["cross_validation"]["recipes"]
    # the shipped recipe is the one that won the patient CV, and the card keeps what it beat
    assert recipes["probe"]["variants"]["model"]["image"]["accuracy"] > recipes["hybrid"]["variants"]["model"]["image"][
        "accuracy"]
    assert {"cnn_mean", "lstm_mean", "cnn_shuffle", "lstm_shuffle"} <= set(recipes["hybrid"]["variants"])
    _check_trust_numbers(model, shared_data)


def _check_trust_numbers(model: Any, shared_data: Path) -> None:
    """The card's trust table (risk-coverage, set coverage, review share) is what ``evaluate``'s core
    measures on the card's test patients today, through predict's scoring path."""
    from bcviewer.batch.evaluation import evaluate_inputs, labelled_inputs
    from bcviewer.batch.work import PredictOptions
    from bcviewer.inference import Predictor

    card = model.card
    kind = card["data"]["kind"]
    folder = shared_data if card["data"].get("folders") else shared_data / card["data"]["folder"]
    _, test = labelled_inputs(folder, kind, patients=card["training"]["patients"]["test"])
    options = PredictOptions(formats=(), tile_px=50 if kind == "idc" else None)
    trust = evaluate_inputs(Predictor(model, runtime="onnx"), test, options)["trust"]
    expected = card["metrics"]["trust"]["test"]
    assert trust["set_coverage"] == pytest.approx(expected["set_coverage"], abs=1e-9)
    assert trust["review_share"] == pytest.approx(expected["review_share"], abs=1e-9)
    assert [r["accuracy"] for r in trust["risk_coverage"]] == pytest.approx(
        [r["accuracy"] for r in expected["risk_coverage"]], abs=1e-9)
    assert card["conformal"]["image"]["confidence"] == 0.9 and card["outside_training"]["quantile"] == 0.99


@pytest.mark.shared
def test_idc_card_ablation_and_uncertainty_reproduce_on_the_test_patients(shared_data: Path) -> None:
    from bcviewer.training import load_tileset, predict_tileset
    from bcviewer.training.lite_pipeline import image_reliability

    model = load_model("idc-wsi")
    card = model.card
    test = card["training"]["patients"]["test"]
    assert card["comparison_with_lite"]["patients"] == sorted(test)  # the Lite model was judged on the same split
    tiles = load_tileset(shared_data / "idc", model.spec.size, "idc", patients=test)
    prediction = predict_tileset(model.ensemble, tiles, model.spec)
    assert "threshold" not in card["uncertainty"]  # the old flag's threshold would flag 93% (uncertainty_analysis)
    reliability = image_reliability(tiles, prediction, card["conformal"]["image"])
    expected = card["metrics"]["test"]["reliability"]
    _check_trust_numbers(model, shared_data)
    ci = reliability["bootstrap_95ci"]["balanced_accuracy"]
    assert ci["value"] == pytest.approx(expected["bootstrap_95ci"]["balanced_accuracy"]["value"], abs=1e-12)
    for member in model.ensemble.members:
        member.zero_lstm = True
    zeroed = predict_tileset(model.ensemble, tiles, model.spec)
    got = image_reliability(tiles, zeroed, card["conformal"]["image"])["bootstrap_95ci"]
    ablation = card["test_ablation"]["hybrid_lstm_zeroed"]
    assert got["accuracy"]["value"] == pytest.approx(ablation["accuracy"], abs=1e-12)
    assert got["roc_auc"]["value"] == pytest.approx(ablation["roc_auc"], abs=1e-6)
