"""Model errors, each with a message a researcher can act on."""

from __future__ import annotations

from bcviewer.errors import BcviewerError


class ModelError(BcviewerError):
    """Any failure to build, load or save a model."""


class UnknownBackboneError(ModelError):
    """The backbone name is not one bcviewer knows how to build."""


class PretrainedWeightsUnavailableError(ModelError):
    """ImageNet weights were asked for but could not be obtained (no internet, no cache)."""


class ModelNotFoundError(ModelError):
    """No model folder or shipped model of that name."""


class UnsafeModelFormatError(ModelError):
    """A pickle-based file (``.pt``, ``.pth``, ``.pkl``, ``.ckpt``) was offered as a model."""


class ModelCardError(ModelError):
    """The model card is missing, unreadable, or does not match its weights."""


class OnnxExportError(ModelError):
    """The ensemble could not be exported to ONNX (or the cached file could not be written)."""
