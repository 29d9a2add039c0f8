"""Errors a researcher can cause with a gene-expression table or a gene model.

Each message says what is wrong with which file and what to do about it.
"""

from __future__ import annotations

from bcviewer.errors import BcviewerError


class GeneDataError(BcviewerError):
    """Any problem with an expression table."""


class EmptyTableError(GeneDataError):
    """The file has no bytes, no header or no data rows."""


class DelimiterError(GeneDataError):
    """The table is not separated by the expected character."""


class NonNumericValueError(GeneDataError):
    """Expression cells that are neither numbers nor a missing-value marker."""


class DuplicateSampleError(GeneDataError):
    """Two rows share a sample id."""


class AllMissingSampleError(GeneDataError):
    """A sample has no expression value at all."""


class LabelError(GeneDataError):
    """The label column is absent or unusable."""


class NoGeneOverlapError(GeneDataError):
    """None of the model's genes occur in the table."""


class LowCoverageError(GeneDataError):
    """Too few of the model's genes are measured to trust a prediction."""


class GeneModelError(BcviewerError):
    """A gene model cannot be found, is incomplete, or fails its integrity check."""


class GeneRuntimeError(GeneModelError):
    """A gene model cannot run in this install (no ONNX file and no PyTorch, or ONNX Runtime refuses it)."""
