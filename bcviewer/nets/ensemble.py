"""Ensemble of HybridNets: averaged probabilities, member spread and entropy per tile.

The per-tile outputs (:class:`EnsemblePrediction`) and the uncertainty rule are computed in numpy
by :mod:`bcviewer.nets.prediction`, shared with the ONNX runtime; they are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import torch
from torch import nn

from bcviewer.nets.hybrid import HybridNet
from bcviewer.nets.prediction import (
    MALIGNANT_CLASS,
    EnsemblePrediction,
    binary_entropy_bits,
    prediction_from_members,
)

__all__ = ["MALIGNANT_CLASS", "Ensemble", "EnsemblePrediction", "binary_entropy_bits", "prediction_from_members"]


class Ensemble(nn.Module):
    """Several HybridNets whose class probabilities are averaged with fixed weights.

    ``weights`` (default equal) are normalised to sum to 1; ``temperatures`` (default 1) divide
    each member's logits before its softmax (calibration fitted on validation patients).
    ``test_time_flips`` averages each member over the tile and its horizontal, vertical and
    double flips (the flips seen in training), at four times the cost.
    """

    member_weights: torch.Tensor  # buffers, declared for the type checker
    temperatures: torch.Tensor

    def __init__(self, members: list[HybridNet], weights: list[float] | None = None,
                 temperatures: list[float] | None = None, test_time_flips: bool = False) -> None:
        super().__init__()
        self.test_time_flips = test_time_flips
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        w = torch.ones(len(members)) if weights is None else torch.tensor(weights, dtype=torch.float32)
        t = torch.ones(len(members)) if temperatures is None else torch.tensor(temperatures, dtype=torch.float32)
        if w.shape != (len(members),) or t.shape != (len(members),) or (w < 0).any() or w.sum() <= 0 or (t <= 0).any():
            raise ValueError("need one non-negative weight (not all zero) and one positive temperature per member")
        self.register_buffer("member_weights", w / w.sum())
        self.register_buffer("temperatures", t)
        # Members trained on one frozen trunk's cached features carry identical trunks: run it once.
        self.shared_trunk = False

    def nets(self) -> list[HybridNet]:
        """The members, typed (``self.members`` is an ``nn.ModuleList``, which yields plain modules)."""
        return [cast(HybridNet, m) for m in self.members]

    def detect_shared_trunk(self) -> bool:
        """Set (and return) :attr:`shared_trunk`: true when every member's CNN trunk has the same
        architecture and bit-identical weights, so one trunk pass serves all members."""
        nets = self.nets()
        first = nets[0].cnn.state_dict()
        self.shared_trunk = len(nets) > 1 and all(
            m.cnn.state_dict().keys() == first.keys()
            and all(torch.equal(v, first[k]) for k, v in m.cnn.state_dict().items())
            for m in nets[1:])
        return self.shared_trunk

    def member_outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each member's class probabilities ``(B, M, C)`` and branch attention ``(B, M, 2)``."""
        views = [x, x.flip(3), x.flip(2), x.flip((2, 3))] if self.test_time_flips else [x]
        nets = self.nets()
        if self.shared_trunk and not self.training:
            fmaps = [nets[0].cnn(view) for view in views]
        probs, attns = [], []
        for member, temp in zip(nets, self.temperatures):
            if self.shared_trunk and not self.training:
                outputs = [member.from_features(f, v, return_attention=True)
                           for f, v in zip(fmaps, views)]
            else:
                outputs = [member(view, return_attention=True) for view in views]
            probs.append(torch.stack([torch.softmax(logits / temp, dim=1) for logits, _ in outputs]).mean(0))
            attns.append(torch.stack([attn for _, attn in outputs]).mean(0))
        return torch.stack(probs, dim=1), torch.stack(attns, dim=1)

    def member_outputs_from_features(self, fmap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """As :meth:`member_outputs`, from a trunk feature map all members share (members whose
        frozen trunks are identical, as in training on cached features; no test-time flips)."""
        probs, attns = [], []
        for member, temp in zip(self.nets(), self.temperatures):
            logits, attn = member.from_features(fmap, return_attention=True)
            probs.append(torch.softmax(logits / temp, dim=1))
            attns.append(attn)
        return torch.stack(probs, dim=1), torch.stack(attns, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Weighted mean class probabilities ``(B, C)`` (probabilities, not logits)."""
        probs, _ = self.member_outputs(x)
        return (probs * self.member_weights.view(1, -1, 1)).sum(dim=1)

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> EnsemblePrediction:
        """Evaluate a preprocessed batch (see :func:`bcviewer.nets.preprocess`) in eval mode."""
        return self._predict(self.member_outputs, x)

    @torch.no_grad()
    def predict_proba_from_features(self, fmap: torch.Tensor) -> EnsemblePrediction:
        """:meth:`predict_proba` from a shared trunk feature map (see :meth:`member_outputs_from_features`)."""
        return self._predict(self.member_outputs_from_features, fmap)

    def _predict(self, outputs: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
                 x: torch.Tensor) -> EnsemblePrediction:
        was_training = self.training
        self.eval()
        try:
            probs, attn = outputs(x)
        finally:
            self.train(was_training)
        return prediction_from_members(probs.double().cpu().numpy(), attn.double().cpu().numpy(),
                                       self.member_weights.double().cpu().numpy())
