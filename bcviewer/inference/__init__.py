"""Streaming inference: ``Predictor`` runs a ``TileGrid`` through a model and yields ``TileScores``.

The package imports its submodules lazily (PEP 562): everything but :class:`Predictor` and
:class:`JobResult` (:mod:`.predictor`) is torch-free, so the errors, the choices, the scale and
grid rules and :class:`TileScores` can be imported by the viewer and the command line without
PyTorch; ``device`` and ``runtime`` import torch and ONNX Runtime inside the functions that use them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bcviewer.lazy import lazy_attributes

if TYPE_CHECKING:
    from bcviewer.inference.choices import DEFAULT_BATCH_SIZE, DEFAULT_MIN_TISSUE, RUNTIME_CHOICES
    from bcviewer.inference.device import DEVICE_CHOICES, DeviceUnavailableError, choose_device, resolve_device
    from bcviewer.inference.feeder import SlideJob, TileFeeder
    from bcviewer.inference.grids import (
        DEFAULT_IMAGE_MODEL,
        DEFAULT_SLIDE_MODEL,
        analysis_grid,
        is_whole_slide,
        physical_model_grid,
        subimage_shape,
    )
    from bcviewer.inference.predictor import JobResult, Predictor
    from bcviewer.inference.runtime import (
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
    from bcviewer.inference.rules import DEFAULT_RULE, VerdictRule
    from bcviewer.inference.trust import NEEDS_REVIEW, REVIEW, Trust, margin_uncertainty
    from bcviewer.inference.verdict import VERDICT_FIELDS, Verdict, verdict_of

_SUBMODULES: dict[str, tuple[str, ...]] = {
    "bcviewer.inference.choices": ("DEFAULT_BATCH_SIZE", "DEFAULT_MIN_TISSUE", "RUNTIME_CHOICES"),
    "bcviewer.inference.device": ("DEVICE_CHOICES", "DeviceUnavailableError", "choose_device", "resolve_device"),
    "bcviewer.inference.feeder": ("SlideJob", "TileFeeder"),
    "bcviewer.inference.grids": ("DEFAULT_IMAGE_MODEL", "DEFAULT_SLIDE_MODEL", "analysis_grid", "is_whole_slide",
                                 "physical_model_grid", "subimage_shape"),
    "bcviewer.inference.predictor": ("JobResult", "Predictor"),  # imports torch
    "bcviewer.inference.runtime": ("OnnxEnsemble", "RuntimeUnavailableError", "ThreadPlan", "choose_runtime",
                                   "thread_plan"),
    "bcviewer.inference.scale": ("OBJECTIVE_MPP", "ScaleUnknownError", "describe_model", "input_kind", "kind_reason",
                                 "level0_mpp", "mpp_for_objective", "scale_warnings", "trained_on"),
    "bcviewer.inference.scores": ("BENIGN", "DEFAULT_THRESHOLD", "MALIGNANT", "TILE_FIELDS", "TILE_TRUST_FIELDS",
                                  "ScoreBatch", "TileScores", "label_of"),
    "bcviewer.inference.rules": ("DEFAULT_RULE", "VerdictRule"),
    "bcviewer.inference.trust": ("NEEDS_REVIEW", "REVIEW", "Trust", "margin_uncertainty"),
    "bcviewer.inference.verdict": ("VERDICT_FIELDS", "Verdict", "verdict_of"),
}

__all__ = [
    "DEVICE_CHOICES", "DeviceUnavailableError", "choose_device", "resolve_device", "SlideJob", "TileFeeder",
    "DEFAULT_IMAGE_MODEL", "DEFAULT_MIN_TISSUE", "DEFAULT_SLIDE_MODEL",
    "is_whole_slide", "physical_model_grid", "subimage_shape", "analysis_grid",
    "OBJECTIVE_MPP", "ScaleUnknownError", "describe_model", "input_kind", "kind_reason", "level0_mpp",
    "mpp_for_objective", "scale_warnings", "trained_on",
    "DEFAULT_BATCH_SIZE", "JobResult", "Predictor",
    "RUNTIME_CHOICES", "OnnxEnsemble", "RuntimeUnavailableError", "ThreadPlan", "choose_runtime", "thread_plan",
    "NEEDS_REVIEW", "REVIEW", "Trust", "margin_uncertainty",
    "BENIGN", "DEFAULT_THRESHOLD", "MALIGNANT", "TILE_FIELDS", "TILE_TRUST_FIELDS", "ScoreBatch", "TileScores",
    "label_of", "DEFAULT_RULE", "VerdictRule", "VERDICT_FIELDS", "Verdict", "verdict_of",
]

__getattr__, __dir__ = lazy_attributes(globals(), __name__, _SUBMODULES, __all__)
