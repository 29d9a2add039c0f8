"""Tiny, seeded, randomly initialised ensembles for the inference, export and predict tests.

Random weights keep the tests independent of the shipped models (which are trained elsewhere);
the tests check the pipeline (order, values, threads, files), not accuracy.
"""

from __future__ import annotations

from pathlib import Path

import torch

from bcviewer.nets import Ensemble, HybridNet, InputSpec, save_model

TINY = dict(backbone="resnet18", width=0.125, rnn_hidden=8, rows_size=16, fusion_width=16)
IMAGE_SPEC = InputSpec(64, 48, (0.78, 0.62, 0.77), (0.12, 0.16, 0.11), magnification="100X",
                       tile_scheme="breakhis-3x3")
SLIDE_SPEC = InputSpec(48, 48, (0.78, 0.62, 0.77), (0.12, 0.16, 0.11), tile_um=200.0, mpp=4.0, tile_px=50,
                       tile_scheme="physical")


def tiny_ensemble(seed: int = 0, members: int = 2) -> Ensemble:
    torch.manual_seed(seed)
    nets = []
    for i in range(members):
        net = HybridNet(**TINY, rnn_mode="rows" if i % 2 == 0 else "feature_map")  # type: ignore[arg-type]
        # Random init gives near-constant outputs; a wide final layer spreads p over 0..1.
        torch.nn.init.normal_(net.head[-1].weight, std=3.0)
        nets.append(net)
    return Ensemble(nets).eval()


def save_tiny_model(directory: Path, spec: InputSpec = IMAGE_SPEC, seed: int = 0) -> Path:
    """A model folder (weights + card) holding :func:`tiny_ensemble`."""
    return save_model(tiny_ensemble(seed), spec, directory, {"name": f"tiny-{seed}"}, half=False)
