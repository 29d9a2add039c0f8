"""An ensemble's per-tile outputs, computed in numpy from its members' outputs (no PyTorch).

Shared by every runtime: :class:`~bcviewer.nets.ensemble.Ensemble` (torch) and the ONNX Runtime
session of :mod:`bcviewer.inference.runtime` both end in :func:`prediction_from_members`.

Uncertainty rule (documented for the UI): the calibrated margin ``uncertainty = 1 - |2p - 1|`` of
the ensemble's (temperature-calibrated) p_malignant: 0 for a sure call, 1 at p = 0.5. The member
spread (``member_std``) and the entropy are still reported, but not mixed in: on patients no model
saw, member disagreement ranked wrong images worse than chance, the margin best (issue 20).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MALIGNANT_CLASS = 1  # class index of "malignant" / IDC-positive in every shipped model


@dataclass(frozen=True)
class EnsemblePrediction:
    """Per-tile outputs of :meth:`Ensemble.predict_proba` (numpy, first axis = tile).

    ``attention`` is ``(N, members, 2)``: each member's weights on its (cnn, lstm) branches.
    """

    p_malignant: np.ndarray
    member_probs: np.ndarray
    member_std: np.ndarray
    entropy: np.ndarray
    uncertainty: np.ndarray
    attention: np.ndarray

    def __len__(self) -> int:
        return int(self.p_malignant.shape[0])


def binary_entropy_bits(p: np.ndarray) -> np.ndarray:
    """Entropy in bits of a Bernoulli(p); 0 at p in {0, 1}, 1 at p = 0.5."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    bits: np.ndarray = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    return bits


def prediction_from_members(member_probs: np.ndarray, attention: np.ndarray,
                            weights: np.ndarray) -> EnsemblePrediction:
    """The ensemble's outputs from each member's class probabilities ``(N, M, C)`` and branch
    attention ``(N, M, 2)``, with member ``weights`` summing to 1 (shared by every runtime)."""
    member_p = np.asarray(member_probs, dtype=np.float64)[..., MALIGNANT_CLASS]
    p = member_p @ np.asarray(weights, dtype=np.float64)
    std = member_p.std(axis=1)
    entropy = binary_entropy_bits(p)
    return EnsemblePrediction(p_malignant=p, member_probs=member_p, member_std=std, entropy=entropy,
                              uncertainty=1.0 - np.abs(2.0 * p - 1.0),
                              attention=np.asarray(attention, dtype=np.float64))
