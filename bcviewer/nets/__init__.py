"""Networks and the model store: HybridNet (CNN + LSTM), Ensemble, backbones, safetensors I/O.

The package imports its submodules lazily (PEP 562): reading a model card or an input spec
(:mod:`bcviewer.nets.cards`), opening a model to run its ONNX files (:func:`open_model`), the
numpy prediction results (:mod:`bcviewer.nets.prediction`) and the errors do not import PyTorch; the networks and :func:`load_model` do, when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bcviewer.lazy import lazy_attributes

# ``preprocess`` names both a function and its submodule; importing the function here keeps the
# package attribute the function even after ``bcviewer.nets.preprocess`` is imported (torch-free).
from bcviewer.nets.preprocess import preprocess

if TYPE_CHECKING:
    from bcviewer.checksums import sha256_of
    from bcviewer.nets.backbones import BACKBONES, WIDTH_SCALABLE, Backbone, build_backbone
    from bcviewer.nets.cards import CARD_NAME, InputSpec, model_search_dirs, read_card, resolve_model_dir
    from bcviewer.nets.ensemble import Ensemble
    from bcviewer.nets.errors import (
        ModelCardError,
        ModelError,
        ModelNotFoundError,
        OnnxExportError,
        PretrainedWeightsUnavailableError,
        UnknownBackboneError,
        UnsafeModelFormatError,
    )
    from bcviewer.nets.hybrid import BRANCHES, RNN_MODES, HybridConfig, HybridNet
    from bcviewer.nets.prediction import (
        MALIGNANT_CLASS,
        EnsemblePrediction,
        binary_entropy_bits,
        prediction_from_members,
    )
    from bcviewer.nets.preprocess import preprocess_numpy, resize_tiles
    from bcviewer.nets.store import LoadedModel, load_model, save_model, update_card
    from bcviewer.nets.stored import StoredModel, open_model

_SUBMODULES: dict[str, tuple[str, ...]] = {
    "bcviewer.checksums": ("sha256_of",),
    "bcviewer.nets.backbones": ("BACKBONES", "WIDTH_SCALABLE", "Backbone", "build_backbone"),  # torch
    "bcviewer.nets.cards": ("CARD_NAME", "InputSpec", "model_search_dirs", "read_card", "resolve_model_dir"),
    "bcviewer.nets.ensemble": ("Ensemble",),  # torch
    "bcviewer.nets.errors": ("ModelError", "ModelCardError", "ModelNotFoundError", "OnnxExportError",
                             "PretrainedWeightsUnavailableError", "UnknownBackboneError", "UnsafeModelFormatError"),
    "bcviewer.nets.hybrid": ("BRANCHES", "RNN_MODES", "HybridConfig", "HybridNet"),  # torch
    "bcviewer.nets.prediction": ("MALIGNANT_CLASS", "EnsemblePrediction", "binary_entropy_bits",
                                 "prediction_from_members"),
    "bcviewer.nets.preprocess": ("preprocess_numpy", "resize_tiles"),
    "bcviewer.nets.store": ("LoadedModel", "load_model", "save_model", "update_card"),  # torch
    "bcviewer.nets.stored": ("StoredModel", "open_model"),
}

__all__ = [
    "BACKBONES", "WIDTH_SCALABLE", "Backbone", "build_backbone",
    "MALIGNANT_CLASS", "Ensemble", "EnsemblePrediction", "binary_entropy_bits", "prediction_from_members",
    "ModelError", "ModelCardError", "ModelNotFoundError", "OnnxExportError", "PretrainedWeightsUnavailableError",
    "UnknownBackboneError", "UnsafeModelFormatError",
    "BRANCHES", "RNN_MODES", "HybridConfig", "HybridNet",
    "InputSpec", "preprocess", "preprocess_numpy", "resize_tiles",
    "LoadedModel", "StoredModel", "load_model", "open_model", "model_search_dirs", "resolve_model_dir", "save_model", "sha256_of",
    "CARD_NAME", "read_card", "update_card",
]

__getattr__, __dir__ = lazy_attributes(globals(), __name__, _SUBMODULES, __all__)
