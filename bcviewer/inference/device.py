"""Choosing the torch device inference runs on: CUDA, then Apple MPS, then the CPU.

PyTorch is imported by the functions only, so the error and the choices cost nothing to import;
:func:`resolve_device` answers the CPU without importing it, and works where it is not installed.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from bcviewer.capabilities import torch_installed, torch_missing_message
from bcviewer.errors import BcviewerError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")


class DeviceUnavailableError(BcviewerError):
    """A device was asked for that this computer or this PyTorch build does not have."""


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def choose_device(preference: str | torch.device | None = "auto") -> torch.device:
    """The device for ``preference``: ``"auto"`` (or None) picks cuda, then mps, then cpu.

    ``"cuda"``, ``"cuda:1"`` and ``"mps"`` are checked and raise :class:`DeviceUnavailableError`
    with advice when absent, rather than failing later inside PyTorch.
    """
    import torch

    if isinstance(preference, torch.device):
        preference = str(preference)
    text = (preference or "auto").strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(text)
    except RuntimeError as exc:
        raise DeviceUnavailableError(
            f"unknown device '{preference}'; choose one of {', '.join(DEVICE_CHOICES)} (or cuda:N)") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(
                "an NVIDIA GPU (cuda) was asked for, but PyTorch sees none on this computer; "
                "use --device cpu or --device auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceUnavailableError(
                f"GPU {device.index} was asked for, but only {torch.cuda.device_count()} GPU(s) are present")
    elif device.type == "mps" and not _mps_available():
        raise DeviceUnavailableError("Apple GPU (mps) was asked for, but it is not available here; use --device cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        choices = ", ".join(DEVICE_CHOICES)
        raise DeviceUnavailableError(f"device '{preference}' is not supported; choose one of {choices}")
    return device


# Device nodes a GPU driver creates on Linux: NVIDIA's, WSL2's GPU bridge, AMD's ROCm. Without any
# of them no PyTorch build can see a GPU, so "auto" is the CPU without importing torch (seconds).
GPU_DRIVER_NODES = ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg", "/dev/kfd")


def gpu_driver_present() -> bool:
    """False only where no GPU can be used for certain: Linux with none of :data:`GPU_DRIVER_NODES`
    (elsewhere, e.g. Apple's MPS or Windows, PyTorch must be asked)."""
    if not sys.platform.startswith("linux"):
        return True
    return any(os.path.exists(node) for node in GPU_DRIVER_NODES)


def resolve_device(preference: str | torch.device | None = "auto") -> str:
    """The device name for ``preference`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``), as
    :func:`choose_device` picks it; ``"cpu"`` needs no PyTorch, and without PyTorch ``"auto"`` is
    the CPU and a GPU is refused with one line."""
    text = (str(preference) if preference is not None else "auto").strip().lower()
    if text == "cpu" or (text == "auto" and not gpu_driver_present()):
        return "cpu"
    if not torch_installed():
        if text == "auto":
            return "cpu"
        raise DeviceUnavailableError(torch_missing_message(f"the {text} device") + "; use --device cpu")
    return str(choose_device(preference))


def torch_facts() -> dict[str, object]:
    """PyTorch's build and the GPUs it sees, for ``bcviewer doctor`` (imports torch; call only
    where :func:`bcviewer.capabilities.torch_installed`)."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    return {"torch": torch.__version__,
            "torch_build": f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU only",
            "cuda_available": torch.cuda.is_available(),
            "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
            "mps_available": bool(mps is not None and mps.is_available()),
            "cpu_threads": torch.get_num_threads()}
