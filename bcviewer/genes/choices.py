"""Defaults of the gene-expression command line: plain data, so that ``bcviewer genes --help``
shows them without importing numpy and pandas (:mod:`.coverage` applies them)."""

from __future__ import annotations

DEFAULT_MIN_COVERAGE = 0.8
