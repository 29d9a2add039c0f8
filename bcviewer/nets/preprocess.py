"""What a model expects as input, and the one function that turns RGB tiles into that tensor.

Training and inference both call :func:`preprocess`, so a model always sees tiles resized and
normalised exactly as during training. The normalisation statistics come from the training fold.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
import torch

from bcviewer.nets.errors import ModelCardError


@dataclass(frozen=True)
class InputSpec:
    """Input size, normalisation and the physical scale of one tile.

    ``width``/``height``: network input in pixels. ``mean``/``std``: per-channel RGB statistics
    on the 0..1 scale. A tile is described either by ``tile_um`` (its side in micrometres, for
    whole slides) with ``mpp`` (micrometres per pixel to read at), or by ``magnification`` and
    ``tile_scheme`` (e.g. "100X", "breakhis-3x3": each microscopy image cut into 3x3 sub-images).
    ``stain``: the Macenko reference every tile is normalised to after resizing (see
    :mod:`bcviewer.nets.stain`), or None.
    """

    width: int
    height: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    tile_um: float | None = None
    mpp: float | None = None
    tile_px: int | None = None
    magnification: str | None = None
    tile_scheme: str | None = None
    stain: dict[str, Any] | None = field(default=None, hash=False)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the network input."""
        return self.width, self.height

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for the model card."""
        data = asdict(self)
        data["mean"], data["std"] = list(self.mean), list(self.std)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSpec:
        """Rebuild from a model card's ``input`` section."""
        known = {f.name for f in fields(cls)}
        try:
            kwargs = {k: v for k, v in data.items() if k in known}
            kwargs["mean"] = tuple(float(v) for v in data["mean"])
            kwargs["std"] = tuple(float(v) for v in data["std"])
            spec = cls(**kwargs)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelCardError(f"model card's input section is incomplete or malformed ({exc})") from exc
        if len(spec.mean) != 3 or len(spec.std) != 3 or min(spec.std) <= 0:
            raise ModelCardError("model card's input normalisation needs 3 means and 3 positive stds")
        if spec.stain is not None:
            _stain_normaliser(json.dumps(spec.stain, sort_keys=True))  # a bad reference fails at load
        return spec


@lru_cache(maxsize=8)
def _stain_normaliser(stain_json: str):  # type: ignore[no-untyped-def]
    from bcviewer.nets.stain import StainNormaliser

    return StainNormaliser.from_dict(json.loads(stain_json))


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


def preprocess(rgb: np.ndarray | list[np.ndarray], spec: InputSpec) -> torch.Tensor:
    """RGB uint8 tiles (one ``(H, W, 3)`` array, a list, or a ``(N, H, W, 3)`` batch) to the
    normalised float32 ``(N, 3, height, width)`` tensor the model was trained on."""
    if isinstance(rgb, list):
        batch = np.stack([resize_tiles(t[None], spec.size)[0] for t in rgb]) if rgb else \
            np.zeros((0, spec.height, spec.width, 3), np.uint8)
    else:
        batch = rgb[None] if rgb.ndim == 3 else rgb
        batch = resize_tiles(batch, spec.size)
    if batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[-1] != 3:
        raise ValueError(f"expected RGB uint8 tiles, got {batch.dtype} array of shape {batch.shape}")
    if spec.stain is not None:
        normalise = _stain_normaliser(json.dumps(spec.stain, sort_keys=True))
        batch = np.stack([normalise(tile) for tile in batch]) if len(batch) else batch
    x = torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    return (x - mean) / std
