"""One fixed source -> reference stain mapping per slide, for the viewer (and any whole-image use).

Estimating the stain per view tile, as a model card's normaliser does, would give neighbouring tiles
different colours (visible seams): a tile of mostly stroma gets other stain vectors than its
neighbour full of nuclei. So the slide's own stain parameters are estimated **once**, with
torchstain's fit on the stained pixels of its thumbnail (longer side :data:`SAMPLE_SIDE` px; the
pixels inside the tissue mask of :func:`bcviewer.tiling.tissue.tissue_mask_from_rgb` whose every
channel has an optical density of at least 0.15), and every tile then goes through the same
per-pixel function:

* **Macenko**: optical density ``OD = -ln((I + 1) / 240)``; concentrations ``C = pinv(HE_slide) OD``
  scaled by ``max_c_ref / max_c_slide``; ``I' = 240 exp(-HE_ref C)``. With the fixed matrices this is
  one 3x3 matrix on OD, ``I' = 240 exp(-M OD)``.
* **Reinhard**: CIE L*a*b* (torchstain's conversion), each channel standardised with the slide's
  means and standard deviations and rescaled to the reference's.

Because the function depends on the pixel's colour only, two tiles that share an edge agree on it,
whatever else they hold. Glass is left as it is: the normalised colour is blended with the original
by ``w = clip(min channel OD / 0.15, 0, 1)`` (Macenko's threshold for transparent pixels), so the
background keeps its own white instead of taking a tint from a mapping fitted on tissue.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from bcviewer.nets.stain import (
    BETA,
    IO,
    MIN_TISSUE_PIXELS,
    StainReference,
    StainReferenceError,
    fit_parameters,
    optical_density,
)
from bcviewer.slides import SlideReader

SAMPLE_SIDE = 1024  # the thumbnail the slide's own stain is estimated on
MAX_SAMPLE_PIXELS = 200_000  # an evenly spaced subsample beyond this: the fit's cost, not its estimate


def _od_lut() -> np.ndarray:
    return optical_density(np.arange(256, dtype=np.uint8))


_OD = _od_lut()


def _sample(rgb: np.ndarray, level0_size: tuple[int, int] | None) -> np.ndarray:
    """The stained tissue pixels of a thumbnail, as ``(N, 3)`` uint8."""
    import cv2

    from bcviewer.tiling.tissue import tissue_mask_from_rgb

    h, w = rgb.shape[:2]
    flat = rgb.reshape(-1, 3)
    stained = (_OD[flat] >= BETA).all(axis=1)
    try:
        mask = tissue_mask_from_rgb(rgb, level0_size or (w, h)).mask
        if mask.shape != (h, w):
            mask = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
        in_tissue = stained & mask.reshape(-1)
        if in_tissue.sum() >= MIN_TISSUE_PIXELS:
            stained = in_tissue  # the mask drops pen marks and specks on the glass
    except (ValueError, TypeError):
        pass
    pixels = flat[stained]
    if len(pixels) > MAX_SAMPLE_PIXELS:
        pixels = pixels[np.linspace(0, len(pixels) - 1, MAX_SAMPLE_PIXELS).astype(np.int64)]
    return np.asarray(pixels)


@dataclass(frozen=True)
class SlideStain:
    """A slide's (or image's) own stain parameters of one method; ``source`` names the image."""

    method: str
    values: dict[str, np.ndarray]
    source: str

    @classmethod
    def estimate(cls, method: str, rgb: np.ndarray, source: str,
                 level0_size: tuple[int, int] | None = None) -> SlideStain:
        """Fit ``method`` on the stained tissue of ``rgb`` (a thumbnail or a whole image)."""
        pixels = _sample(np.asarray(rgb, dtype=np.uint8), level0_size)
        if len(pixels) < MIN_TISSUE_PIXELS:
            raise StainReferenceError(f"{source} shows almost no stained tissue; its stain cannot be estimated")
        ref = StainReference.create(method, fit_parameters(method, pixels), source)  # checks the estimate
        return cls(method, {k: ref.array(k) for k in ref.values}, source)

    @classmethod
    def of_slide(cls, reader: SlideReader, method: str) -> SlideStain:
        """The slide's stain, estimated once on its thumbnail."""
        return cls.estimate(method, reader.thumbnail(SAMPLE_SIDE), reader.path.name, reader.dimensions)


class StainMapping:
    """``slide`` stain -> ``reference`` as one per-pixel function (see the module docstring)."""

    def __init__(self, slide: SlideStain, reference: StainReference) -> None:
        if slide.method != reference.method:
            raise ValueError(f"a {slide.method} slide estimate cannot map to a {reference.method} reference")
        self.slide, self.reference = slide, reference
        if reference.method == "macenko":
            scale = reference.array("max_c") / slide.values["max_c"]
            self._matrix = (reference.array("he") @ np.diag(scale) @ np.linalg.pinv(slide.values["he"])).astype(
                np.float32)
        else:
            self._gain = (reference.array("stds") / slide.values["stds"]).astype(np.float32)
            self._shift = (reference.array("means") - slide.values["means"] * self._gain).astype(np.float32)
        parts = [reference.sha256] + [np.asarray(v, np.float64).round(6).tobytes().hex() for v in slide.values.values()]
        self.identity = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

    def describe(self) -> str:
        """E.g. "Macenko to BreakHis … (sha256 1a2b3c4d5e6f), from this slide's own stain"."""
        return f"{self.reference.describe()}, from the stain of {self.slide.source}"

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        """The mapped RGB uint8 tile (same shape); glass keeps its colour."""
        tile = np.asarray(tile, dtype=np.uint8)
        od = _OD[tile]
        if self.reference.method == "macenko":
            mapped = np.float32(IO) * np.exp(-(od @ self._matrix.T))
        else:
            mapped = self._reinhard(tile)
        weight = np.clip(od.min(axis=-1, keepdims=True) / np.float32(BETA), 0.0, 1.0)
        out = tile + weight * (np.minimum(mapped, 255.0) - tile)
        return np.asarray(np.clip(np.rint(out), 0, 255), dtype=np.uint8)

    def _reinhard(self, tile: np.ndarray) -> np.ndarray:
        from torchstain.numpy.utils.lab2rgb import lab2rgb
        from torchstain.numpy.utils.rgb2lab import rgb2lab

        lab = rgb2lab(tile.astype(np.float32) / np.float32(255.0))
        # torchstain's split: L / 2.55, a - 128, b - 128 are the scale the reference was fitted in
        offset = np.array([0.0, 128.0, 128.0], np.float32)
        scale = np.array([2.55, 1.0, 1.0], np.float32)
        lab = ((lab - offset) / scale * self._gain + self._shift) * scale + offset
        return np.asarray(lab2rgb(lab.astype(np.float32)) * np.float32(255.0), dtype=np.float32)


def slide_mapping(reader: SlideReader, reference: StainReference) -> StainMapping:
    """The viewer's mapping of ``reader``'s slide onto ``reference`` (fitted once; runs in a worker)."""
    return StainMapping(SlideStain.of_slide(reader, reference.method), reference)


def references_from_image(rgb: np.ndarray, source: str) -> dict[str, StainReference]:
    """A user's reference of every method, fitted on one image (or view): switching method keeps it."""
    from bcviewer.nets.stain import METHODS, fit_reference

    return {method: fit_reference(method, rgb, source) for method in METHODS}


def references_from_file(path: str) -> dict[str, StainReference]:
    """:func:`references_from_image` of an image or slide file (its thumbnail, longer side 2048 px);
    a file that is not an image raises the reader's own clear error."""
    from pathlib import Path

    from bcviewer.slides import open_slide

    with open_slide(path) as reader:
        rgb = reader.thumbnail(2 * SAMPLE_SIDE)
    return references_from_image(rgb, Path(path).name)
