"""Static int8 quantisation of an exported ensemble, and loading the int8 file a card vouches for.

The int8 file is made once, by the model's maker (``bcviewer quantize``), from the float32 ONNX
export, with activation ranges calibrated on training tiles only. It is kept only when its held-out
accuracy drops by at most :data:`MAX_ACCURACY_DROP_PP` percentage points; the card's ``int8``
section records the measurement either way, plus the file's sha256 and the sha256 of the weights
it was made from, so an int8 file left over from older weights is refused.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bcviewer.nets.errors import ModelCardError, ModelError
from bcviewer.nets.onnx_files import read_vouched_file
from bcviewer.nets.onnx_key import INPUT_NAME

if TYPE_CHECKING:
    from bcviewer.nets.stored import StoredModel

INT8_NAME = "weights.int8.onnx"
MAX_ACCURACY_DROP_PP = 0.5


def quantize_int8(fp32_onnx: bytes, calibration: Iterable[np.ndarray]) -> bytes:
    """Quantise an exported ensemble to int8 (QDQ, per-channel weights, static activation ranges
    from ``calibration``: preprocessed float32 ``(B, 3, H, W)`` batches of training tiles)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    # onnxruntime ships no type information, so CalibrationDataReader is Any to mypy.
    class _Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self, batches: Iterable[np.ndarray]) -> None:
            self._it: Iterator[np.ndarray] = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._it, None)
            return None if batch is None else {INPUT_NAME: np.ascontiguousarray(batch, dtype=np.float32)}

    root = logging.getLogger()
    level = root.level
    # The quantiser logs a warning per 1-D weight it cannot quantise per channel (layer norms); noise here.
    root.setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="bcviewer-int8-") as tmp:
        src, pre, out = Path(tmp) / "fp32.onnx", Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(fp32_onnx)
        try:
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
            quantize_static(str(pre), str(out), _Reader(calibration), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        finally:
            root.setLevel(level)
        return out.read_bytes()


def read_int8(model: StoredModel) -> bytes:
    """The int8 ONNX bytes of a stored model, verified against its card; a clear error otherwise."""
    section: dict[str, Any] = model.card.get("int8") or {}
    if not section.get("shipped"):
        reason = section.get("reason") or "no int8 version was made for it"
        raise ModelError(f"model {model.name} ships no int8 version ({reason}); use --runtime onnx")
    if section.get("weights_sha256") != model.card["weights"].get("sha256"):
        raise ModelCardError(f"the int8 file of {model.name} was made from other weights; rebuild it with "
                             "'bcviewer quantize' or use --runtime onnx")
    return read_vouched_file(model.directory, str(section.get("file", "")), section.get("sha256"), "int8",
                             model.name)
