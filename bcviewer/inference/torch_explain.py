"""Grad-CAM explanations on the torch runtime, with captum (imports PyTorch and captum).

Imported only when the user runs the torch runtime (:func:`bcviewer.inference.explain.make_explainer`).
For each member, captum's ``LayerGradCam`` takes the gradient of the member's calibrated
p_malignant (softmax of its logits over its temperature) with respect to the output of its CNN
trunk (the last convolutional stage), weights the trunk's channels by their mean gradient and
sums them; ``LayerAttribution.interpolate`` upsamples that coarse map (bilinear) to the model
input. The members' maps are summed with the ensemble's member weights. No ReLU is applied, so the
map is signed like the occlusion map (positive: towards malignant). Grad-CAM sees the CNN branch
only: what the LSTM branch adds is in p and in the branch attention, not in the map; test-time
flips, when a card asks for them, enter p but not the map.
"""

from __future__ import annotations

import threading

import numpy as np
import torch
from captum.attr import LayerAttribution, LayerGradCam

from bcviewer.inference.explain import (
    Explanation,
    Progress,
    explanation_from,
    model_input,
)
from bcviewer.inference.occlusion import ExplanationCancelled
from bcviewer.nets.hybrid import HybridNet
from bcviewer.nets.prediction import MALIGNANT_CLASS, EnsemblePrediction
from bcviewer.nets.stored import StoredModel


class GradCamExplainer:
    """Grad-CAM of every member of a stored model's torch ensemble, on the CPU."""

    method = "grad-cam"
    runtime = "torch"

    def __init__(self, model: StoredModel) -> None:
        self.model_name, self.spec, self.card = model.name, model.spec, model.card
        self.ensemble = model.torch_model().ensemble.cpu().eval()
        self.weights = self.ensemble.member_weights.double().numpy()

    def predict(self, x: np.ndarray) -> EnsemblePrediction:
        """The scores the torch runtime gives (``Ensemble.predict_proba``, as the analysis on the CPU)."""
        return self.ensemble.predict_proba(torch.from_numpy(np.ascontiguousarray(x)))

    def p_of(self, x: np.ndarray) -> np.ndarray:
        return self.predict(x).p_malignant

    def detail(self) -> str:
        layers = ", ".join(f"{net.cnn.name} trunk output" for net in self.ensemble.nets())
        flips = "; test-time flips are in p, not in the map" if self.ensemble.test_time_flips else ""
        return (f"Grad-CAM (captum LayerGradCam, no ReLU) on each member's last convolutional stage ({layers}), "
                f"upsampled bilinearly to the {self.spec.width}x{self.spec.height} model input, members summed "
                f"with their weights{flips}")

    def _member_cam(self, net: HybridNet, temperature: torch.Tensor, x: torch.Tensor) -> np.ndarray:
        def member_p(inputs: torch.Tensor) -> torch.Tensor:
            logits = net(inputs)
            assert isinstance(logits, torch.Tensor)
            return torch.softmax(logits / temperature, dim=1)[:, MALIGNANT_CLASS]

        cam = LayerGradCam(member_p, net.cnn).attribute(x, relu_attributions=False)
        up = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear")
        out: np.ndarray = up[0, 0].detach().double().numpy()
        return out

    def explain(self, rgb: np.ndarray, cancel: threading.Event | None = None,
                progress: Progress | None = None) -> Explanation:
        x_np = model_input(rgb, self.spec)
        prediction = self.predict(x_np)
        x = torch.from_numpy(x_np)
        nets = self.ensemble.nets()
        total = np.zeros(x_np.shape[-2:], dtype=np.float64)
        for i, (net, temperature, weight) in enumerate(zip(nets, self.ensemble.temperatures, self.weights)):
            if cancel is not None and cancel.is_set():
                raise ExplanationCancelled("explanation cancelled")
            with torch.enable_grad():
                total += weight * self._member_cam(net, temperature, x)
            if progress is not None:
                progress(i + 1, len(nets))
        units = "Grad-CAM, arbitrary units (positive: pushed p towards malignant)"
        return explanation_from(self.model_name, self.runtime, self.method, self.detail(), units, rgb, total,
                                prediction, self.weights, self.card)
