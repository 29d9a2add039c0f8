"""Turning RGB tiles into what a model expects: one function per runtime, the same numbers.

Training and inference both call :func:`preprocess` (a torch tensor), so a model always sees tiles
resized and normalised exactly as during training; :func:`preprocess_numpy` produces the
bit-identical float32 array without PyTorch, for ONNX Runtime. The normalisation statistics come
from the training fold. :class:`InputSpec` lives in the torch-free :mod:`bcviewer.nets.cards`
(re-exported here); this module imports torch only inside :func:`preprocess`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import cv2
import numpy as np

from bcviewer.nets.cards import InputSpec, stain_normaliser

if TYPE_CHECKING:
    import torch

__all__ = ["InputSpec", "preprocess", "preprocess_numpy", "resize_tiles"]


def resize_tiles(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a ``(N, H, W, 3)`` uint8 batch to ``size`` = (width, height); area filter when shrinking."""
    width, height = size
    if rgb.shape[1:3] == (height, width):
        return rgb
    out = np.empty((rgb.shape[0], height, width, 3), dtype=np.uint8)
    for i, tile in enumerate(rgb):
        shrink = tile.shape[0] > height or tile.shape[1] > width
        out[i] = cv2.resize(tile, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return out


def _prepared_batch(rgb: np.ndarray | list[np.ndarray], spec: InputSpec) -> np.ndarray:
    """Resized (and stain-normalised) ``(N, height, width, 3)`` uint8 tiles; every runtime's first step."""
    if isinstance(rgb, list):
        batch = np.stack([resize_tiles(t[None], spec.size)[0] for t in rgb]) if rgb else \
            np.zeros((0, spec.height, spec.width, 3), np.uint8)
    else:
        batch = rgb[None] if rgb.ndim == 3 else rgb
        batch = resize_tiles(batch, spec.size)
    if batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[-1] != 3:
        raise ValueError(f"expected RGB uint8 tiles, got {batch.dtype} array of shape {batch.shape}")
    if spec.stain is not None:
        normalise = stain_normaliser(json.dumps(spec.stain, sort_keys=True))
        batch = np.stack([normalise(tile) for tile in batch]) if len(batch) else batch
    return batch


def preprocess(rgb: np.ndarray | list[np.ndarray], spec: InputSpec) -> torch.Tensor:
    """RGB uint8 tiles (one ``(H, W, 3)`` array, a list, or a ``(N, H, W, 3)`` batch) to the
    normalised float32 ``(N, 3, height, width)`` tensor the model was trained on."""
    import torch

    batch = _prepared_batch(rgb, spec)
    x = torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    return (x - mean) / std


def preprocess_numpy(rgb: np.ndarray | list[np.ndarray], spec: InputSpec) -> np.ndarray:
    """:func:`preprocess` without PyTorch: the same float32 ``(N, 3, height, width)`` values, bit
    for bit (the same float32 operations in the same order: ``/ 255``, ``- mean``, ``/ std``),
    as a C-contiguous array ready for ONNX Runtime."""
    batch = _prepared_batch(rgb, spec)
    mean = np.asarray(spec.mean, dtype=np.float32)  # torch.tensor(spec.mean) rounds to float32 too
    std = np.asarray(spec.std, dtype=np.float32)
    x = batch.astype(np.float32)
    x /= np.float32(255.0)
    x -= mean
    x /= std
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
