"""The choices and defaults of inference that option parsers and menus list: plain data, so that
``bcviewer predict --help`` shows them without importing numpy, the tiling stack or a runtime."""

from __future__ import annotations

RUNTIME_CHOICES: tuple[str, ...] = ("auto", "onnx", "torch", "int8")
DEFAULT_BATCH_SIZE = 32
"""Tiles per forward pass unless the caller asks for another size (every runtime)."""
DEFAULT_MIN_TISSUE = 0.25
"""Whole-slide tiles with less tissue than this are skipped."""
