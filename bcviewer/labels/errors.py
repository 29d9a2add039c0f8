"""Label-store errors, each with a message an annotator or researcher can act on."""

from __future__ import annotations

from bcviewer.errors import BcviewerError


class LabelStoreError(BcviewerError):
    """Base class of every label-store and self-learning error."""


class ProjectFileError(LabelStoreError):
    """The project file is missing, not a bcviewer project, or from a newer bcviewer."""


class UnknownItemError(LabelStoreError):
    """An image, sub-image, proposal or round id that the project does not hold."""


class LockedSubImageError(LabelStoreError):
    """A human edit was asked for on a locked sub-image."""


class ImportSourceError(LabelStoreError):
    """A folder, file or file list given to the importer cannot be used."""


class SelfLearningError(LabelStoreError):
    """A self-learning run cannot start or continue (no split, bad schedule, no training data)."""
