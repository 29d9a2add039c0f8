"""Quality control of tiles before they are scored: the classic, well-tested checks of HistoQC
(Janowczyk et al., JCO Clinical Cancer Informatics 2019) and Slideflow's QC (Dolezal et al.),
re-implemented on a tile's RGB pixels:

* **background**: glass — bright, unsaturated pixels (the tissue detector's rule);
* **pen**: ink — saturated green, cyan or blue pixels (hues H&E does not make), or near-black,
  unsaturated pixels (black marker);
* **dark**: folds and debris — tissue darker than stained tissue gets;
* **overstained** / **understained**: the tissue's mean optical density (OD, -ln of each channel's
  transmission, averaged over R, G and B) above or below what stained tissue of the real data sets
  reaches;
* **blur**: out of focus — low variance of the Laplacian on the tissue pixels only, relative to
  the variance of the tissue's grey levels (so a pale or dark tile is not taken for a blurred one).

A tile gets the first flag whose share passes its limit, in the order background, dark, pen,
overstained, understained, blur, or "ok". The limits are named below with the data they were set
on; they catch gross defects (gross over- or under-staining included), they do not grade staining.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import cv2
import numpy as np

QcFlag = Literal["ok", "background", "pen", "dark", "overstained", "understained", "blur"]
QC_FLAGS: tuple[QcFlag, ...] = ("ok", "background", "pen", "dark", "overstained", "understained", "blur")
QC_SIDE = 256  # tiles are checked at most this many pixels a side (larger ones are shrunk first)

# Glass: the tissue detector's colours (value above 0.85, saturation below 0.10).
GLASS_VALUE, GLASS_SATURATION = 0.85, 0.10
BACKGROUND_SHARE = 0.90  # a tile that is 90% glass is background
# Ink: H&E stays between purple and pink (hues ~270-360° and 0-30° on the BreakHis and CMU
# fixtures); markers are green to blue (70-240°) and strongly saturated, or black: dark and grey.
PEN_HUES, PEN_SATURATION = (70.0, 240.0), 0.45
BLACK_VALUE, BLACK_SATURATION = 0.12, 0.15
# H&E tiles of the fixtures reach at most 1.5% of such pixels at 200 µm, but 7% on two 100 µm tiles
# of cmu_small_region.svs with cyan-tinted tissue; a marker line an eighth of a tile wide covers 12%.
PEN_SHARE = 0.10
# Folds and debris: tissue darker than 0.15 grey. On the fixture tiles (5 BreakHis images, the
# CMU slide cut in 200 µm and in 100 µm tiles) at most 28% of the tissue is that dark; the same
# tiles darkened to 15% of their brightness are dark throughout.
DARK_GREY = 0.15
DARK_SHARE = 0.50
# Blur: variance of the Laplacian over the variance of grey, on tissue. The 25 fixture tiles give
# 0.20 to 3.2; their Gaussian-blurred copies 0.014 to 0.052 (sigma 2 px) and 0.004 to 0.023 (3 px).
BLUR_LAPLACIAN_VAR = 0.10
MIN_TISSUE_FOR_BLUR = 0.20  # blur is judged on tissue only, and needs some
# Staining: the tissue's mean OD. Measured on 1,369 real tiles: 927 BreakHis 100X sub-images (every
# third of the 307 images of shared/data/breakhis, cut 3x3), the 20 idc-wsi tiles of
# cmu_small_region.svs and 422 IDC patches (every fourth of shared/data/idc): 0.138 to 0.823
# (BreakHis), 0.517 to 1.116 (CMU), 0.174 to 1.146 (IDC). Smaller tiles reach further: the CMU
# slide cut in 100 µm tiles up to 1.41, in 50 µm tiles (281) 0.416 to 1.639. Copies with their OD
# scaled (I' = 255 (I/255)^k, what more or less stain does under Beer-Lambert) are flagged:
# k = 0.4, understained 21 of 927 BreakHis (254 more background), 8 of 422 IDC (26 more
# background), 0 of 20 CMU; k = 2, overstained 1 of 20 CMU (4 more dark), 2 of 422 IDC (5 more
# dark), 0 of 927 BreakHis. No original is flagged either way. Scaling keeps each pixel's OD
# ratios, so only the OD's size tells the copies apart, and real tissue already spans 0.14 to 1.64
# in it: an absolute limit catches gross staining only, never a 2x shift of a slide stained in the
# middle of the range (that needs a slide- or lab-relative reference, not done here).
OVERSTAINED_OD = 1.75
UNDERSTAINED_OD = 0.12
MIN_TISSUE_FOR_STAIN = 0.20  # a few pale tissue pixels at a glass edge say nothing about the stain


@dataclass(frozen=True)
class TileQc:
    """One tile's verdict and the measurements it came from."""

    flag: QcFlag
    background: float  # share of glass pixels
    pen: float  # share of ink pixels
    dark: float  # share of the non-glass pixels darker than stained tissue
    laplacian_var: float  # relative to the grey variance; NaN when the tile holds too little tissue
    optical_density: float  # mean over tissue; NaN without tissue
    tissue: float = 1.0  # share of pixels that are neither glass nor ink

    @property
    def ok(self) -> bool:
        return self.flag == "ok"


# The limits as uint8 levels, so the tile is compared without converting it to floats: each table
# is what the float comparison sees for every level (HSV_FULL hue 0..255 spans 0..360°; saturation,
# value and grey are level / 255), and a limit becomes the first level past it.
_UNIT = np.arange(256, dtype=np.float32) / 255.0
_DEGREES = np.arange(256, dtype=np.float32) * (360.0 / 256.0)


def _above(levels: np.ndarray, limit: float) -> int:
    """The first level whose value is above ``limit``: ``value > limit`` is ``level >= this``."""
    return int(np.argmax(np.append(levels > limit, True)))


def _below(levels: np.ndarray, limit: float) -> int:
    """The first level whose value is not below ``limit``: ``value < limit`` is ``level < this``."""
    return int(np.argmax(np.append(levels >= limit, True)))


_GLASS_V, _GLASS_S = _above(_UNIT, GLASS_VALUE), _below(_UNIT, GLASS_SATURATION)
_HUE_LO, _HUE_HI = _above(_DEGREES, PEN_HUES[0]), _below(_DEGREES, PEN_HUES[1])
_PEN_S, _INK_V = _above(_UNIT, PEN_SATURATION), _above(_UNIT, BLACK_VALUE)
_BLACK_V, _BLACK_S = _below(_UNIT, BLACK_VALUE), _below(_UNIT, BLACK_SATURATION)
_DARK = _below(_UNIT, DARK_GREY)
# Optical density of each uint8 level, -ln(v / 255) with v at least 1: the tile's mean OD is its
# tissue histogram times this table, so no per-pixel logarithm is taken.
_OD = -np.log(np.clip(np.arange(256, dtype=np.float64) / 255.0, 1 / 255.0, 1.0))


def qc_tile(rgb: np.ndarray) -> TileQc:
    """Check one RGB uint8 tile (see the module docstring)."""
    if max(rgb.shape[:2]) > QC_SIDE:
        scale = QC_SIDE / max(rgb.shape[:2])
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    rgb = np.ascontiguousarray(rgb[..., :3])
    hue, sat, val = cv2.split(cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL))
    glass = (val >= _GLASS_V) & (sat < _GLASS_S)
    ink = ((hue >= _HUE_LO) & (hue < _HUE_HI) & (sat >= _PEN_S) & (val >= _INK_V)) | (
        (val < _BLACK_V) & (sat < _BLACK_S))
    tissue = ~glass & ~ink
    n_pixels, n_glass, n_tissue = glass.size, int(np.count_nonzero(glass)), int(np.count_nonzero(tissue))
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    # A fold is dark whatever its saturation, so dark is judged on everything but glass (near-black
    # pixels included); a stroke of black ink darkens too little of a tile to pass the limit.
    n_dark = int(np.count_nonzero((grey < _DARK) & ~glass))
    dark = n_dark / (n_pixels - n_glass) if n_glass < n_pixels else 0.0
    lap_var = np.nan
    mask = tissue.view(np.uint8)
    if n_tissue / n_pixels >= MIN_TISSUE_FOR_BLUR:
        grey_f = grey.astype(np.float32) / 255.0
        _, lap_sd = cv2.meanStdDev(cv2.Laplacian(grey_f, cv2.CV_32F), mask=mask)
        _, grey_sd = cv2.meanStdDev(grey_f, mask=mask)
        lap_var = float(lap_sd[0, 0] ** 2 / max(float(grey_sd[0, 0] ** 2), 1e-9))
    mean_od = np.nan
    if n_tissue:
        hist = sum(cv2.calcHist([rgb], [c], mask, [256], [0, 256]).reshape(-1) for c in range(3))
        mean_od = float(hist @ _OD / (3 * n_tissue))
    found = TileQc("ok", n_glass / n_pixels, float(np.count_nonzero(ink)) / n_pixels, dark, lap_var, mean_od,
                   n_tissue / n_pixels)
    return replace(found, flag=_flag(found))


def _flag(m: TileQc) -> QcFlag:
    if m.background >= BACKGROUND_SHARE:
        return "background"
    if m.dark >= DARK_SHARE:
        return "dark"
    if m.pen >= PEN_SHARE:
        return "pen"
    if m.tissue >= MIN_TISSUE_FOR_STAIN and not np.isnan(m.optical_density):
        if m.optical_density > OVERSTAINED_OD:
            return "overstained"
        if m.optical_density < UNDERSTAINED_OD:
            return "understained"
    if not np.isnan(m.laplacian_var) and m.laplacian_var < BLUR_LAPLACIAN_VAR:
        return "blur"
    return "ok"
