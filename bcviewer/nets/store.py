"""Model store: safetensors weights plus a JSON model card, nothing else.

A model is a folder holding ``card.json`` and the weights file the card names. Loading checks the
weights' sha256 against the card and the tensor names and shapes against the architecture the card
describes; pickle-based files (``.pt``, ``.pth``, ``.ckpt``, ``.pkl``) are refused outright,
because unpickling can run arbitrary code. Reading and checking a card and finding a model folder
need no PyTorch and live in :mod:`bcviewer.nets.cards`; they are re-exported here.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from bcviewer.checksums import sha256_of
from bcviewer.safety import OutputWriteError, atomic_write_text, current_umask
from bcviewer.nets.cards import (
    CARD_FORMAT,
    CARD_NAME,
    PICKLE_SUFFIXES,
    WEIGHTS_NAME,
    InputSpec,
    model_search_dirs,
    read_card,
    resolve_model_dir,
    weights_path,
)
from bcviewer.nets.card_checks import check_card_against_network
from bcviewer.nets.ensemble import Ensemble
from bcviewer.nets.errors import ModelCardError, UnsafeModelFormatError
from bcviewer.nets.hybrid import BRANCHES, HybridConfig, HybridNet
from bcviewer.nets.preprocess import preprocess
from bcviewer.nets.stored import StoredModel

__all__ = [
    "CARD_FORMAT", "CARD_NAME", "PICKLE_SUFFIXES", "WEIGHTS_NAME", "FUSION", "InputSpec", "LoadedModel",
    "architecture_of", "load_model", "model_search_dirs", "read_card", "resolve_model_dir", "save_model",
    "sha256_of", "update_card",
]

FUSION = "branch attention (softmax over cnn/lstm vectors) x sigmoid gate of their element-wise product"


@dataclass
class LoadedModel(StoredModel):
    """A stored model with its ensemble loaded in PyTorch; score it with
    :class:`bcviewer.inference.Predictor` (or ``ensemble.predict_proba(model.preprocess(tiles))``)."""

    ensemble: Ensemble

    @property
    def member_weights(self) -> np.ndarray:
        """The weights the loaded ensemble holds (those of its card once loaded by :func:`load_model`)."""
        weights: np.ndarray = self.ensemble.member_weights.double().cpu().numpy()
        return weights

    def torch_model(self) -> LoadedModel:
        return self

    def preprocess(self, rgb: np.ndarray | list[np.ndarray]) -> torch.Tensor:
        """RGB uint8 tiles to the normalised input tensor (see :func:`bcviewer.nets.preprocess`)."""
        return preprocess(rgb, self.spec)


# ---- saving -----------------------------------------------------------------------------------
def _library_versions() -> dict[str, str]:
    import albumentations
    import safetensors
    import sklearn
    import torchvision

    from bcviewer import __version__
    return {"bcviewer": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "safetensors": safetensors.__version__,
            "albumentations": albumentations.__version__, "scikit-learn": sklearn.__version__,
            "numpy": np.__version__}


def architecture_of(ensemble: Ensemble) -> dict[str, Any]:
    """The card's ``architecture`` section for an ensemble."""
    configs = [m.config for m in ensemble.nets()]
    if any(c.use_lstm for c in configs):
        kind, fusion, branches = "hybrid-cnn-lstm-ensemble", FUSION, list(BRANCHES)
    elif all(c.head == "linear" for c in configs):
        kind, fusion, branches = "cnn-linear-probe", "none: one linear layer on the standardised pooled CNN vector", ["cnn"]
    else:
        kind, fusion, branches = "cnn-ensemble", "none: the CNN vector alone", ["cnn"]
    return {"type": kind, "fusion": fusion, "branches": branches,
            "backbones": [c.backbone for c in configs], "rnn_modes": [c.rnn_mode for c in configs],
            "members": [c.to_dict() for c in configs],
            "member_weights": [round(float(w), 6) for w in ensemble.member_weights],
            "temperatures": [round(float(t), 6) for t in ensemble.temperatures],
            "test_time_flips": bool(ensemble.test_time_flips),
            "aggregation": "weighted mean of member softmax probabilities"}


def save_model(ensemble: Ensemble, spec: InputSpec, directory: Path, card_fields: dict[str, Any],
               *, half: bool = True) -> Path:
    """Write ``weights.safetensors`` (float16 when ``half``) and ``card.json`` into ``directory``.

    ``card_fields`` supplies the descriptive parts (name, classes, training, metrics,
    limitations, citations); architecture, input, weights hash and versions are filled in here.
    """
    directory.mkdir(parents=True, exist_ok=True)
    state = {}
    for key, tensor in ensemble.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        state[key] = tensor.half() if half and tensor.is_floating_point() else tensor
    weights = directory / WEIGHTS_NAME
    save_file(state, str(weights))
    # safetensors writes 0600 files; a model folder is shared with a lab group like any other output
    os.chmod(weights, 0o666 & ~current_umask())
    card = {"format": CARD_FORMAT, **card_fields, "architecture": architecture_of(ensemble),
            "input": spec.to_dict(),
            "weights": {"file": WEIGHTS_NAME, "sha256": sha256_of(weights), "bytes": weights.stat().st_size,
                        "dtype": "float16" if half else "float32",
                        "parameters": int(sum(t.numel() for t in state.values()))},
            "library_versions": _library_versions()}
    card.setdefault("classes", ["benign", "malignant"])
    _write_card(directory, card)
    return directory


def _write_card(directory: Path, card: dict[str, Any]) -> None:
    # Atomic: a crash while the card is written must leave the previous card, not half of one.
    try:
        atomic_write_text(directory / CARD_NAME, json.dumps(card, indent=2) + "\n")
    except OutputWriteError as exc:
        raise ModelCardError(str(exc)) from exc


def update_card(directory: Path, fields: dict[str, Any]) -> dict[str, Any]:
    """Add or replace descriptive card sections (e.g. metrics measured after saving).

    The architecture, input and weights sections are owned by :func:`save_model` and refused here.
    """
    owned = {"format", "architecture", "input", "weights"} & set(fields)
    if owned:
        raise ModelCardError(f"card sections {', '.join(sorted(owned))} are written by save_model only")
    card = read_card(directory)
    card.update(fields)
    _write_card(directory, card)
    return card


# ---- loading ----------------------------------------------------------------------------------
def _build_ensemble(card: dict[str, Any]) -> Ensemble:
    arch = card["architecture"]
    try:
        members = [HybridNet(HybridConfig.from_dict(m)) for m in arch["members"]]
        return Ensemble(members, arch.get("member_weights"), arch.get("temperatures"),
                        bool(arch.get("test_time_flips", False)))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelCardError(f"model card's architecture section is malformed ({exc})") from exc


def _check_state(ensemble: Ensemble, state: dict[str, torch.Tensor]) -> None:
    expected = {k: tuple(v.shape) for k, v in ensemble.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    wrong = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
    if missing or extra or wrong:
        detail = "; ".join(f"{label}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
                           for label, keys in (("missing", missing), ("unexpected", extra), ("wrong shape", wrong))
                           if keys)
        raise ModelCardError(f"the weights do not match the architecture in the model card ({detail})")


def _check_values(ensemble: Ensemble, state: dict[str, torch.Tensor], weights: Path) -> None:
    """Floating-point parameters must be stored as finite floats: NaN, Inf or an int8/bool cast
    would load and then "score" every image as nan (or as garbage) without any error."""
    expected = ensemble.state_dict()
    for key, tensor in state.items():
        if not expected[key].is_floating_point():
            continue
        if not tensor.is_floating_point():
            raise ModelCardError(f"{weights}: tensor {key} is stored as {str(tensor.dtype).replace('torch.', '')}, "
                                 "not as floating-point weights; the file was converted or damaged")
        if not bool(torch.isfinite(tensor).all()):
            raise ModelCardError(f"{weights}: tensor {key} contains NaN or infinite values; the model is damaged")


def load_model(name_or_dir: str | Path) -> LoadedModel:
    """Load a model folder (or a shipped model by name, e.g. ``"breakhis-100x"``) for inference."""
    directory = resolve_model_dir(name_or_dir)
    card = read_card(directory)
    weights = weights_path(directory, card)
    digest = sha256_of(weights)
    if digest != card["weights"].get("sha256"):
        raise ModelCardError(f"the weights in {directory} do not match their model card (sha256 {digest[:12]}... "
                             f"vs {str(card['weights'].get('sha256'))[:12]}...): the files were changed or mixed up")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise UnsafeModelFormatError(f"{weights} is not a valid safetensors file ({exc})") from exc
    ensemble = _build_ensemble(card)
    _check_state(ensemble, state)
    _check_values(ensemble, state, weights)
    ensemble.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    ensemble.eval()
    ensemble.detect_shared_trunk()
    spec = InputSpec.from_dict(card["input"])
    check_card_against_network(card, ensemble, spec, directory)
    return LoadedModel(ensemble=ensemble, spec=spec, card=card, directory=directory)
