"""The torch runtime's forward pass: an :class:`Ensemble` on a torch device (the GPU path).

Imported only when the torch runtime is chosen (a GPU, or ``--runtime torch``), so the ONNX
runtimes, and installs without PyTorch, never load it. On CUDA it runs under autocast float16 with
channels_last memory; every batch runs under ``torch.inference_mode``.
"""

from __future__ import annotations

import numpy as np
import torch

from bcviewer.nets import Ensemble, EnsemblePrediction


class TorchScorer:
    """Scores preprocessed torch batches with ``ensemble`` on ``device``."""

    def __init__(self, ensemble: Ensemble, device: str, amp: bool, channels_last: bool) -> None:
        self.device = torch.device(device)
        self.amp, self.channels_last = amp, channels_last
        ensemble = ensemble.to(self.device).eval()
        if channels_last:
            ensemble = ensemble.to(memory_format=torch.channels_last)
        self.ensemble = ensemble

    def predict(self, x: torch.Tensor | np.ndarray) -> EnsemblePrediction:
        """The scores of one ``(B, 3, H, W)`` tensor batch (from :func:`bcviewer.nets.preprocess`)."""
        if isinstance(x, np.ndarray):
            raise TypeError("the torch runtime scores torch tensors (bcviewer.nets.preprocess), not numpy arrays")
        with torch.inference_mode():
            x = x.to(self.device, non_blocking=True)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            dtype = torch.bfloat16 if self.device.type == "cpu" else torch.float16
            with torch.autocast(self.device.type, dtype=dtype, enabled=self.amp):
                return self.ensemble.predict_proba(x)
