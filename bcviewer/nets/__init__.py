"""Networks and the model store: HybridNet (CNN + LSTM), Ensemble, backbones, safetensors I/O."""

from bcviewer.nets.backbones import BACKBONES, WIDTH_SCALABLE, Backbone, build_backbone
from bcviewer.nets.ensemble import (
    MALIGNANT,
    Ensemble,
    EnsemblePrediction,
    binary_entropy_bits,
    prediction_from_members,
)
from bcviewer.nets.errors import (
    ModelCardError,
    ModelError,
    ModelNotFoundError,
    PretrainedWeightsUnavailableError,
    UnknownBackboneError,
    UnsafeModelFormatError,
)
from bcviewer.nets.hybrid import BRANCHES, RNN_MODES, HybridConfig, HybridNet
from bcviewer.nets.preprocess import InputSpec, preprocess, resize_tiles
from bcviewer.nets.store import (
    LoadedModel,
    load_model,
    model_search_dirs,
    resolve_model_dir,
    read_card,
    save_model,
    sha256_of,
    update_card,
)

__all__ = [
    "BACKBONES", "WIDTH_SCALABLE", "Backbone", "build_backbone",
    "MALIGNANT", "Ensemble", "EnsemblePrediction", "binary_entropy_bits", "prediction_from_members",
    "ModelError", "ModelCardError", "ModelNotFoundError", "PretrainedWeightsUnavailableError",
    "UnknownBackboneError", "UnsafeModelFormatError",
    "BRANCHES", "RNN_MODES", "HybridConfig", "HybridNet",
    "InputSpec", "preprocess", "resize_tiles",
    "LoadedModel", "load_model", "model_search_dirs", "resolve_model_dir", "save_model", "sha256_of",
    "read_card", "update_card",
]
