"""The frozen trunk of a shipped model as an ONNX file the model card vouches for (torch side).

Self-learning rounds read sub-images through the frozen ImageNet trunk the shipped
``breakhis-100x`` carries (EfficientNet-Lite0 cut after stage 4). A torch-free install runs that
trunk with ONNX Runtime (:mod:`bcviewer.nets.trunk_runtime`), so the trunk ships as
``trunk.onnx`` in the model folder, recorded in the card's ``onnx.trunk`` entry
(:mod:`bcviewer.nets.onnx_files`). One graph: input ``x`` ``(batch, 3, height, width)`` float32,
preprocessed as the card's ``input`` says; output ``features`` ``(batch, C, h, w)`` float32, the
trunk's feature map; the batch axis is dynamic.

Written by ``python3 scripts/export_trunk_onnx.py`` (see there).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from bcviewer.nets.errors import ModelCardError, OnnxExportError
from bcviewer.nets.hybrid import HybridNet
from bcviewer.nets.onnx_files import with_onnx_entry, write_onnx_file
from bcviewer.nets.store import load_model, update_card

TRUNK_OPSET = 17
TRUNK_FILE = "trunk.onnx"
TRUNK_ROLE = "trunk"
TRUNK_INPUT, TRUNK_OUTPUT = "x", "features"


def export_trunk_bytes(trunk: nn.Module, height: int, width: int) -> bytes:
    """``trunk`` (a module from ``(B, 3, height, width)`` images to ``(B, C, h, w)`` maps) as an
    ONNX model in memory: float32, opset :data:`TRUNK_OPSET`, dynamic batch, TorchScript exporter."""
    was_training = trunk.training
    trunk.eval()
    example = torch.zeros(2, 3, height, width)  # batch 2: nothing gets specialised to a batch of 1
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the deprecated-exporter notice; the parity test checks batches
            # dynamo=False: the torch.export-based exporter needs onnxscript, which bcviewer does not ship.
            torch.onnx.export(trunk.float(), (example,), buffer, dynamo=False,  # type: ignore[arg-type]
                              opset_version=TRUNK_OPSET, input_names=[TRUNK_INPUT], output_names=[TRUNK_OUTPUT],
                              dynamic_axes={TRUNK_INPUT: {0: "batch"}, TRUNK_OUTPUT: {0: "batch"}},
                              do_constant_folding=True)
    except Exception as exc:
        raise OnnxExportError(f"could not export the trunk to ONNX ({type(exc).__name__}: {exc})") from exc
    finally:
        trunk.train(was_training)
    return buffer.getvalue()


def shipped_trunk(model: str | Path) -> tuple[nn.Module, Any]:
    """The frozen trunk of ``model``'s first member (what the lite trainer runs) and the loaded model."""
    loaded = load_model(model)
    member = cast(HybridNet, loaded.ensemble.members[0])  # an Ensemble's members are HybridNets
    if loaded.spec.stain is not None:
        raise ModelCardError(f"the model {model} normalises stain; its trunk is not the plain ImageNet trunk")
    return member.cnn.eval(), loaded


def ship_trunk_onnx(model: str | Path) -> dict[str, Any]:
    """Export ``model``'s trunk as ``trunk.onnx`` in its folder and record it in its card (only the
    ``onnx.trunk`` entry changes). Returns the entry."""
    trunk, loaded = shipped_trunk(model)
    data = export_trunk_bytes(trunk, loaded.spec.height, loaded.spec.width)
    with torch.no_grad():
        shape = tuple(trunk(torch.zeros(1, 3, loaded.spec.height, loaded.spec.width)).shape[1:])
    entry = write_onnx_file(loaded.directory, loaded.card, TRUNK_ROLE, data, TRUNK_FILE, opset=TRUNK_OPSET,
                            input=[loaded.spec.width, loaded.spec.height], output=list(shape),
                            graph=f"{member_backbone(loaded.card)} trunk, frozen ImageNet weights; "
                                  f"{TRUNK_INPUT} (batch, 3, H, W) -> {TRUNK_OUTPUT} (batch, C, h, w)")
    card = with_onnx_entry(loaded.card, TRUNK_ROLE, entry)
    update_card(loaded.directory, {"onnx": card["onnx"]})
    return entry


def member_backbone(card: dict[str, Any]) -> str:
    """``"efficientnet_lite0, 4 stages"`` for the card's first member."""
    member = card["architecture"]["members"][0]
    return f"{member.get('backbone')}, {member.get('trunk_stages')} stages"
