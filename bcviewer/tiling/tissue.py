"""Tissue detection on a low-resolution thumbnail.

Otsu on saturation (or on optical density) separates stained tissue from glass, then OpenCV /
scikit-image morphology removes specks and fills holes. The Otsu threshold is clamped to a
range: on an image that is tissue from edge to edge (a BreakHis field) plain Otsu would split the
tissue itself in two, and on an empty field it would call noise tissue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from skimage.morphology import remove_small_holes, remove_small_objects

from bcviewer.slides import SlideReader

TissueMethod = Literal["saturation", "od"]

# Clamp ranges for the Otsu threshold (saturation in 0..255; summed optical density).
_SAT_RANGE = (12.0, 25.0)
_OD_RANGE = (0.15, 0.6)


@dataclass(frozen=True)
class TissueMask:
    """A boolean tissue mask and its scale relative to level 0 of the slide."""

    mask: np.ndarray  # bool (h, w)
    scale_x: float  # mask pixels per level-0 pixel
    scale_y: float

    @property
    def fraction(self) -> float:
        """Tissue fraction of the whole image."""
        return float(self.mask.mean()) if self.mask.size else 0.0

    def fraction_in(self, x: float, y: float, w: float, h: float) -> float:
        """Fraction of the level-0 rectangle covered by tissue (area outside the image counts as none)."""
        return float(self.fractions(np.array([[x, y, w, h]], dtype=np.float64))[0])

    def fractions(self, rects: np.ndarray) -> np.ndarray:
        """Tissue fraction for many level-0 rectangles (N, 4) at once, via an integral image."""
        integral = self._integral()
        mh, mw = self.mask.shape
        x0 = np.clip(np.floor(rects[:, 0] * self.scale_x), 0, mw).astype(np.int64)
        y0 = np.clip(np.floor(rects[:, 1] * self.scale_y), 0, mh).astype(np.int64)
        x1 = np.clip(np.ceil((rects[:, 0] + rects[:, 2]) * self.scale_x), 0, mw).astype(np.int64)
        y1 = np.clip(np.ceil((rects[:, 1] + rects[:, 3]) * self.scale_y), 0, mh).astype(np.int64)
        inside = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
        # Denominator is the rectangle's full area in mask pixels, so padding beyond the edge
        # lowers the fraction instead of being ignored.
        area = np.maximum(rects[:, 2] * self.scale_x * rects[:, 3] * self.scale_y, 1e-9)
        return np.asarray(np.clip(inside / area, 0.0, 1.0), dtype=np.float64)

    def _integral(self) -> np.ndarray:
        cached = getattr(self, "_integral_cache", None)
        if cached is None:
            cached = cv2.integral(self.mask.astype(np.uint8), sdepth=cv2.CV_64F)
            object.__setattr__(self, "_integral_cache", cached)
        return cached


def detect_tissue(
    slide: SlideReader,
    max_size: int = 1024,
    method: TissueMethod = "saturation",
    min_object_um2: float | None = None,
) -> TissueMask:
    """Compute a tissue mask from a thumbnail whose longer side is at most ``max_size``."""
    thumb = slide.thumbnail(max_size)
    return tissue_mask_from_rgb(thumb, slide.dimensions, method, _min_object_px(slide, thumb, min_object_um2))


def tissue_mask_from_rgb(
    rgb: np.ndarray,
    level0_size: tuple[int, int],
    method: TissueMethod = "saturation",
    min_object_px: int | None = None,
) -> TissueMask:
    """Tissue mask of an RGB thumbnail that depicts a level-0 image of ``level0_size``."""
    h, w = rgb.shape[:2]
    if method == "saturation":
        signal = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[..., 1]
        lo, hi = _SAT_RANGE
    elif method == "od":
        od = -np.log((rgb.astype(np.float32) + 1.0) / 256.0).sum(axis=2)
        signal = np.clip(od / 3.0 * 255.0, 0, 255).astype(np.uint8)  # Otsu wants 8-bit input
        lo, hi = (v / 3.0 * 255.0 for v in _OD_RANGE)
    else:
        raise ValueError(f"unknown tissue method {method!r}; use 'saturation' or 'od'")
    signal = cv2.GaussianBlur(signal, (5, 5), 0)
    otsu, _ = cv2.threshold(signal, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = signal > float(np.clip(otsu, lo, hi))
    if min_object_px is None:
        min_object_px = max(4, (h * w) // 4000)
    mask = remove_small_objects(mask, max_size=min_object_px)
    mask = remove_small_holes(mask, max_size=min_object_px)
    return TissueMask(mask=mask, scale_x=w / level0_size[0], scale_y=h / level0_size[1])


def _min_object_px(slide: SlideReader, thumb: np.ndarray, min_object_um2: float | None) -> int | None:
    if min_object_um2 is None or slide.mpp is None:
        return None
    um_per_thumb_px = slide.mpp * slide.dimensions[0] / thumb.shape[1]
    return max(1, int(min_object_um2 / um_per_thumb_px**2))


def tissue_polygons(tissue: TissueMask) -> list[np.ndarray]:
    """Outlines of the tissue (and of the holes in it) as level-0 ``(N, 2)`` float polygons.

    Filled with the even-odd rule they cover the mask; viewers clip the heatmap to them so glass
    stays transparent at any zoom without holding the mask as an image.
    """
    contours, _ = cv2.findContours(tissue.mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    scale = np.array([tissue.scale_x, tissue.scale_y])
    return [(c.reshape(-1, 2).astype(np.float64) + 0.5) / scale for c in contours if len(c) >= 3]
