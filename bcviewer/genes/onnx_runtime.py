"""A gene model's networks in ONNX Runtime: the torch-free runner of :class:`GeneNetClassifier`.

A model folder may ship ``model.onnx`` (card section ``onnx.fp32``, checked by
:func:`bcviewer.nets.onnx_files.read_onnx_file`), written by :mod:`bcviewer.genes.onnx_export`.
Its graph has, per classifier ``a`` (one; an ensemble: one per member, in member order), the input
``x{a}`` (the classifier's float32 network input, dynamic batch) and the outputs ``logits{a}``
``(B, nets, outputs)`` and ``gradients{a}`` ``(B, nets, outputs, inputs)``, the same arrays the torch
runner returns, so probabilities and attributions come from the same numpy code.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from bcviewer.genes.errors import GeneRuntimeError
from bcviewer.nets.onnx_session import cpu_session

DEFAULT_THREADS = 2


def input_name(group: int) -> str:
    return f"x{group}"


def output_names(group: int) -> tuple[str, str]:
    return f"logits{group}", f"gradients{group}"


def onnx_session(data: bytes, model_name: str, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session for ``data`` (a few threads; idle threads do not spin)."""
    return cpu_session(data, max(1, threads or min(DEFAULT_THREADS, os.cpu_count() or 1)), GeneRuntimeError,
                       f"the ONNX file of {model_name}")


class OnnxNets:
    """Classifier ``group`` of a model's ONNX session (:class:`bcviewer.genes.classifier.NetRunner`).

    ONNX Runtime runs the whole graph whichever outputs are asked for, so one run yields both
    arrays, and the last batch's are kept (prediction asks for logits, then for both, of the same
    batch). An ensemble's graph has one input per member; a member feeds the others a batch of
    one sample of zeros."""

    def __init__(self, session: Any, group: int) -> None:
        self.session = session
        self.group = group
        self.inputs = {i.name: i.shape[1] for i in session.get_inputs()}
        if input_name(group) not in self.inputs:
            raise GeneRuntimeError(f"the ONNX file has no input {input_name(group)}; export it again")
        self._last: tuple[bytes, np.ndarray, np.ndarray] | None = None

    def _run(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(inputs, dtype=np.float32)
        key = x.tobytes() + str(x.shape).encode()
        if self._last is None or self._last[0] != key:
            feeds = {name: x if name == input_name(self.group) else np.zeros((1, int(width)), np.float32)
                     for name, width in self.inputs.items()}
            logits, gradients = self.session.run(list(output_names(self.group)), feeds)
            self._last = (key, np.asarray(logits), np.asarray(gradients))
        return self._last[1], self._last[2]

    def logits(self, inputs: np.ndarray) -> np.ndarray:
        return self._run(inputs)[0]

    def gradients(self, inputs: np.ndarray) -> np.ndarray:
        return self._run(inputs)[1]
