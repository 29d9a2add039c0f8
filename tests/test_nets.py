"""HybridNet, backbones, the ensemble's averaging and uncertainty, and preprocessing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bcviewer.nets import (
    BACKBONES,
    Ensemble,
    HybridNet,
    InputSpec,
    UnknownBackboneError,
    binary_entropy_bits,
    build_backbone,
    preprocess,
    preprocess_numpy,
    read_card,
    resize_tiles,
    resolve_model_dir,
)

SMALL = dict(rnn_hidden=16, rows_size=16, fusion_width=16)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_every_backbone_runs_forward_and_backward(backbone: str) -> None:
    torch.manual_seed(0)
    mode = "feature_map" if BACKBONES.index(backbone) % 2 else "rows"
    net = HybridNet(backbone=backbone, rnn_mode=mode, **SMALL)
    x = torch.randn(2, 3, 64, 64)
    logits, attention = net(x, return_attention=True)
    assert logits.shape == (2, 2) and attention.shape == (2, 2)
    logits[:, 1].sum().backward()
    first_conv = next(p for p in net.cnn.parameters() if p.ndim == 4)
    assert first_conv.grad is not None and first_conv.grad.abs().sum() > 0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.lstm.parameters())


@pytest.mark.parametrize("mode", ["rows", "feature_map"])
def test_attention_weights_are_a_distribution(mode: str) -> None:
    torch.manual_seed(1)
    net = HybridNet(backbone="resnet18", width=0.25, rnn_mode=mode, **SMALL).eval()
    _, attention = net(torch.randn(5, 3, 48, 72), return_attention=True)
    assert torch.allclose(attention.sum(dim=1), torch.ones(5), atol=1e-6)
    assert (attention > 0).all() and (attention < 1).all()


def test_rows_mode_feeds_one_row_per_step_to_the_lstm() -> None:
    net = HybridNet(backbone="resnet18", width=0.25, rnn_mode="rows", rnn_hidden=8, rows_size=12, fusion_width=8)
    seen: list[tuple[int, ...]] = []
    net.lstm.register_forward_hook(lambda m, inp, out: seen.append(tuple(inp[0].shape)))
    net(torch.randn(3, 3, 40, 60))
    assert seen == [(3, 12, 12)]


def test_narrow_resnet_scales_channels_and_parameters() -> None:
    full = sum(p.numel() for p in build_backbone("resnet18").parameters())
    narrow = build_backbone("resnet18", width=0.5)
    assert narrow.out_channels == 256
    assert sum(p.numel() for p in narrow.parameters()) < full / 3


def test_unknown_or_unscalable_backbone_is_refused() -> None:
    with pytest.raises(UnknownBackboneError, match="unknown backbone 'alexnet'"):
        build_backbone("alexnet")
    with pytest.raises(UnknownBackboneError, match="fixed width"):
        build_backbone("vgg16_bn", width=0.5)


def test_frozen_cnn_keeps_weights_and_batchnorm_statistics() -> None:
    torch.manual_seed(2)
    net = HybridNet(backbone="resnet18", width=0.25, **SMALL)
    net.set_cnn_trainable(False)
    net.train()
    before = {k: v.clone() for k, v in net.cnn.state_dict().items()}
    optimiser = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-2)
    loss = net(torch.randn(4, 3, 32, 32)).logsumexp(1).mean()
    loss.backward()
    optimiser.step()
    after = net.cnn.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not net.cnn.training and net.head.training


def _ensemble(weights: list[float] | None, temperatures: list[float] | None = None) -> Ensemble:
    torch.manual_seed(3)
    members = [HybridNet(backbone=b, width=0.25, **SMALL) for b in ("resnet18", "mobilenet_v3_large")]
    return Ensemble(members, weights, temperatures).eval()


def test_ensemble_averages_member_probabilities_exactly() -> None:
    ensemble = _ensemble([1.0, 3.0])
    x = torch.randn(4, 3, 32, 48)
    with torch.no_grad():
        p0 = torch.softmax(ensemble.members[0](x), 1)
        p1 = torch.softmax(ensemble.members[1](x), 1)
        mean = ensemble(x)
    assert torch.allclose(mean, 0.25 * p0 + 0.75 * p1, atol=1e-7)
    pred = ensemble.predict_proba(x)
    member = np.stack([p0[:, 1].numpy(), p1[:, 1].numpy()], axis=1)
    np.testing.assert_allclose(pred.member_probs, member, atol=1e-7)
    np.testing.assert_allclose(pred.p_malignant, 0.25 * member[:, 0] + 0.75 * member[:, 1], atol=1e-7)
    np.testing.assert_allclose(pred.member_std, np.abs(member[:, 0] - member[:, 1]) / 2, atol=1e-7)
    np.testing.assert_allclose(pred.uncertainty, 1 - np.abs(2 * pred.p_malignant - 1))  # the calibrated margin
    assert pred.attention.shape == (4, 2, 2)
    np.testing.assert_allclose(pred.attention.sum(axis=2), 1.0, atol=1e-6)


def test_ensemble_temperature_divides_logits() -> None:
    ensemble = _ensemble(None, [2.0, 0.5])
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected = (torch.softmax(ensemble.members[0](x) / 2.0, 1) + torch.softmax(ensemble.members[1](x) / 0.5, 1)) / 2
        assert torch.allclose(ensemble(x), expected, atol=1e-7)


def test_binary_entropy_known_values() -> None:
    np.testing.assert_allclose(binary_entropy_bits(np.array([0.0, 0.5, 1.0, 0.25])),
                               [0.0, 1.0, 0.0, 0.8112781244591328], atol=1e-9)


def test_preprocess_resizes_and_normalises_exactly() -> None:
    spec = InputSpec(width=6, height=4, mean=(0.5, 0.5, 0.5), std=(0.25, 0.5, 1.0))
    tiles = np.zeros((2, 8, 12, 3), np.uint8)
    tiles[0] = 255
    x = preprocess(tiles, spec)
    assert x.shape == (2, 3, 4, 6) and x.dtype == torch.float32
    assert torch.allclose(x[0, :, 0, 0], torch.tensor([2.0, 1.0, 0.5]))
    assert torch.allclose(x[1, :, 0, 0], torch.tensor([-2.0, -1.0, -0.5]))
    single = preprocess(tiles[0], spec)
    assert torch.equal(single, x[:1])
    as_list = preprocess([tiles[0], np.zeros((5, 5, 3), np.uint8)], spec)
    assert as_list.shape == (2, 3, 4, 6)


def _every_value_tiles(spec: InputSpec) -> np.ndarray:
    """A tile at the input size holding every uint8 value in every channel, plus random tiles
    resized to it; normalisation is per value and channel, so this covers every input."""
    values = np.arange(256, dtype=np.uint8)
    pattern = np.stack([values, values[::-1], np.roll(values, 101)], axis=-1)
    every = np.resize(pattern, (spec.height * spec.width, 3)).reshape(1, spec.height, spec.width, 3)
    assert spec.height * spec.width >= 256
    random = np.random.default_rng(0).integers(0, 256, (5, 70, 90, 3), dtype=np.uint8)
    return np.concatenate([every, resize_tiles(random, spec.size)])


@pytest.mark.parametrize("model", ["breakhis-100x", "idc-wsi", "stain"])
def test_numpy_preprocessing_is_bit_identical_to_torch(model: str) -> None:
    from bcviewer.nets.stain import StainNormaliser

    if model == "stain":
        spec = InputSpec(width=32, height=32, mean=(0.7, 0.55, 0.68), std=(0.15, 0.2, 0.13),
                         stain=StainNormaliser.default().to_dict())
    else:
        spec = InputSpec.from_dict(read_card(resolve_model_dir(model))["input"])
    tiles = _every_value_tiles(spec)
    unresized = np.random.default_rng(1).integers(0, 256, (3, 50, 61, 3), dtype=np.uint8)
    for rgb in (tiles, tiles[0], list(tiles[:2]), unresized, [np.zeros((5, 7, 3), np.uint8)]):
        expected, got = preprocess(rgb, spec).numpy(), preprocess_numpy(rgb, spec)
        assert got.dtype == np.float32 and got.flags.c_contiguous and got.shape == expected.shape
        assert np.array_equal(got, expected)


def test_test_time_flips_average_the_four_flipped_views() -> None:
    ensemble = _ensemble(None)
    ensemble.test_time_flips = True
    x = torch.randn(2, 3, 32, 48)
    with torch.no_grad():
        expected = 0
        for member in ensemble.members:
            views = [x, x.flip(3), x.flip(2), x.flip((2, 3))]
            expected = expected + sum(torch.softmax(member(v), 1) for v in views) / 4 / 2
        assert torch.allclose(ensemble(x), expected, atol=1e-6)
    attention = ensemble.predict_proba(x).attention
    np.testing.assert_allclose(attention.sum(axis=2), 1.0, atol=1e-6)
