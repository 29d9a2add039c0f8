"""Occlusion attribution in numpy, over any batched forward function (no PyTorch).

A square window slides over the model's input with a fixed stride; at each position the window is
replaced by a baseline and the model runs again. A pixel's attribution is the mean, over every
window that covered it, of ``f(x) - f(x with that window replaced)``: positive where hiding the
pixel lowers the output (it supported it), negative where hiding it raises it.

Why not captum at run time: captum's :class:`~captum.attr.Occlusion` accepts any forward function,
but it needs PyTorch, and the CPU bundle ships without it. This module reproduces captum's
definition exactly (the same window positions: ``ceil((size - window) / stride) + 1`` per axis,
the last window clipped at the edge; the same mean over covering windows), and
``tests/test_explain.py`` runs captum's ``Occlusion`` as an independent oracle on the same forward
function and asserts the two maps agree to float tolerance.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bcviewer.errors import BcviewerError

Forward = Callable[[np.ndarray], np.ndarray]
"""``(B, C, H, W)`` float32 inputs to ``(B,)`` outputs (here: p_malignant)."""


class ExplanationCancelled(BcviewerError):
    """The user stopped an explanation before it finished."""


@dataclass(frozen=True)
class OcclusionSettings:
    """A ``window`` x ``window`` patch moved by ``stride`` pixels of the model's input."""

    window: int
    stride: int

    @classmethod
    def for_input(cls, height: int, width: int) -> OcclusionSettings:
        """The default: a window an eighth of the input's shorter side, moved by half a window
        (64x64 -> 8 px by 4, 225 forward passes; 224x144 -> 18 px by 9, 360 passes)."""
        window = max(2, min(height, width) // 8)
        return cls(window=window, stride=max(1, window // 2))


def window_starts(size: int, window: int, stride: int) -> list[int]:
    """Where windows start along one axis (captum's rule; the last window may pass the edge)."""
    if window > size:
        raise ValueError(f"an occlusion window of {window} px does not fit an input of {size} px")
    if stride > window and size != window:
        raise ValueError("the stride must not exceed the window: some pixels would never be occluded")
    count = math.ceil((size - window) / stride) + 1
    return [i * stride for i in range(count)]


def occlusion_map(x: np.ndarray, forward: Forward, settings: OcclusionSettings, baseline: np.ndarray,
                  *, batch_size: int = 32, cancel: threading.Event | None = None,
                  progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """The ``(H, W)`` float64 occlusion map of one ``(C, H, W)`` input.

    ``baseline``: what a window is replaced with, broadcastable to ``(C, H, W)`` (e.g. ``(C, 1, 1)``
    channel means). ``progress(done, total)`` is called after each batch of forward passes;
    setting ``cancel`` raises :class:`ExplanationCancelled` between batches.
    """
    height, width = x.shape[1:]
    fill = np.broadcast_to(np.asarray(baseline, dtype=x.dtype), x.shape)
    rows = window_starts(height, settings.window, settings.stride)
    cols = window_starts(width, settings.window, settings.stride)
    boxes = [(r, c, min(r + settings.window, height), min(c + settings.window, width)) for r in rows for c in cols]
    reference = float(np.asarray(forward(x[None]))[0])
    total = np.zeros((height, width), dtype=np.float64)
    count = np.zeros((height, width), dtype=np.float64)
    for start in range(0, len(boxes), batch_size):
        if cancel is not None and cancel.is_set():
            raise ExplanationCancelled("explanation cancelled")
        chunk = boxes[start:start + batch_size]
        batch = np.repeat(x[None], len(chunk), axis=0)
        for i, (r0, c0, r1, c1) in enumerate(chunk):
            batch[i, :, r0:r1, c0:c1] = fill[:, r0:r1, c0:c1]
        outputs = np.asarray(forward(batch), dtype=np.float64)
        for (r0, c0, r1, c1), value in zip(chunk, outputs):
            total[r0:r1, c0:c1] += reference - value
            count[r0:r1, c0:c1] += 1.0
        if progress is not None:
            progress(min(start + batch_size, len(boxes)), len(boxes))
    attribution: np.ndarray = total / np.maximum(count, 1.0)
    return attribution


def forward_passes(height: int, width: int, settings: OcclusionSettings) -> int:
    """How many occluded copies :func:`occlusion_map` scores for an input of this size."""
    return (len(window_starts(height, settings.window, settings.stride))
            * len(window_starts(width, settings.window, settings.stride)))
