"""Data-set errors, each with a message a researcher can act on."""

from __future__ import annotations

from bcviewer.errors import BcviewerError


class DatasetError(BcviewerError):
    """A data-set folder or file name is missing, empty or not what it claims to be."""
