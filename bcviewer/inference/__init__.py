"""Streaming inference: ``Predictor`` runs a ``TileGrid`` through a model and yields ``TileScores``."""

from bcviewer.inference.device import DEVICE_CHOICES, DeviceUnavailableError, choose_device
from bcviewer.inference.feeder import SlideJob, TileFeeder
from bcviewer.inference.grids import (
    DEFAULT_IMAGE_MODEL,
    DEFAULT_MIN_TISSUE,
    DEFAULT_SLIDE_MODEL,
    analysis_grid,
    default_grid,
    default_model_name,
    is_whole_slide,
    physical_model_grid,
    subimage_shape,
)
from bcviewer.inference.predictor import DEFAULT_BATCH_SIZE, JobResult, Predictor
from bcviewer.inference.runtime import (
    RUNTIME_CHOICES,
    OnnxEnsemble,
    RuntimeUnavailableError,
    ThreadPlan,
    choose_runtime,
    thread_plan,
)
from bcviewer.inference.scale import (
    OBJECTIVE_MPP,
    ScaleUnknownError,
    describe_model,
    input_kind,
    kind_reason,
    level0_mpp,
    mpp_for_objective,
    scale_warnings,
    trained_on,
)
from bcviewer.inference.trust import NEEDS_REVIEW, REVIEW, Trust, margin_uncertainty
from bcviewer.inference.scores import (
    BENIGN,
    DEFAULT_THRESHOLD,
    MALIGNANT,
    TILE_FIELDS,
    TILE_TRUST_FIELDS,
    ScoreBatch,
    TileScores,
    label_of,
)

__all__ = [
    "DEVICE_CHOICES", "DeviceUnavailableError", "choose_device", "SlideJob", "TileFeeder",
    "DEFAULT_IMAGE_MODEL", "DEFAULT_MIN_TISSUE", "DEFAULT_SLIDE_MODEL", "default_grid",
    "default_model_name", "is_whole_slide", "physical_model_grid", "subimage_shape", "analysis_grid",
    "OBJECTIVE_MPP", "ScaleUnknownError", "describe_model", "input_kind", "kind_reason", "level0_mpp",
    "mpp_for_objective", "scale_warnings", "trained_on",
    "DEFAULT_BATCH_SIZE", "JobResult", "Predictor",
    "RUNTIME_CHOICES", "OnnxEnsemble", "RuntimeUnavailableError", "ThreadPlan", "choose_runtime", "thread_plan",
    "NEEDS_REVIEW", "REVIEW", "Trust", "margin_uncertainty",
    "BENIGN", "DEFAULT_THRESHOLD", "MALIGNANT", "TILE_FIELDS", "TILE_TRUST_FIELDS", "ScoreBatch", "TileScores", "label_of",
]
