"""Heatmaps a pathologist can read: glass transparent, a smooth view, one default look, and
overlay.png with a colour legend and a scale bar."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from bcviewer.export import (
    DEFAULT_COLORMAP,
    DEFAULT_OPACITY,
    colormap_lut,
    heatmap_rgba,
    legend_band,
    nice_length_um,
    smooth_value_map,
    value_map,
    write_export,
)
from bcviewer.inference import TileScores
from bcviewer.slides import open_slide
from bcviewer.tiling import detect_tissue, physical_grid

SVS = "slides/cmu_small_region.svs"


@pytest.fixture(scope="module")
def slide_scores(test_data: Path):
    with open_slide(test_data / SVS) as slide:
        grid = physical_grid(slide, tile_um=200, mpp=4.0, min_tissue=0.25)
        n = len(grid)
        p = np.array([0.9 if (t.row + t.col) % 2 else 0.1 for t in grid])  # a checkerboard of scores
        scores = TileScores(grid, p, np.full(n, 0.1), np.zeros((n, 0)), np.zeros((n, 0, 2)), np.ones(n, bool))
        yield slide, scores


def test_glass_inside_a_scored_tile_is_transparent(slide_scores) -> None:
    slide, scores = slide_scores
    tissue = detect_tissue(slide)
    ds = 4.0
    plain = heatmap_rgba(scores, ds)
    masked = heatmap_rgba(scores, ds, tissue=tissue)
    h, w = plain.shape[:2]
    glass = ~cv2.resize(tissue.mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    covered = plain[..., 3] > 0
    assert (covered & glass).sum() > 10_000  # tiles with >= 25% tissue still hold much glass
    assert (masked[..., 3][glass] == 0).all()
    keep = covered & ~glass
    assert (masked[..., 3][keep] == round(DEFAULT_OPACITY * 255)).all()
    assert np.array_equal(masked[keep], plain[keep])


def test_smooth_view_interpolates_inside_scored_tiles_only(slide_scores) -> None:
    _, scores = slide_scores
    ds = 4.0
    blocky = value_map(scores, ds)
    smooth = smooth_value_map(scores, ds)
    assert np.array_equal(np.isnan(smooth), np.isnan(blocky))
    known = ~np.isnan(blocky)
    assert smooth[known].min() >= 0.1 - 1e-9 and smooth[known].max() <= 0.9 + 1e-9
    # Blocks jump by up to a whole tile's difference between neighbours; the smooth view does not.
    def max_step(v: np.ndarray) -> float:
        d = np.abs(np.diff(v, axis=1))
        return float(np.nanmax(d))
    assert max_step(blocky) == pytest.approx(0.8) and max_step(smooth) < 0.05
    rgba = heatmap_rgba(scores, ds, smooth=True)
    assert np.array_equal(rgba[..., 3] > 0, known)


def test_legend_band_shows_the_colour_scale_and_a_round_scale_bar() -> None:
    assert [nice_length_um(v) for v in (0.5, 7, 19, 416, 999, 2600)] == [1, 5, 10, 200, 500, 2000]
    band = legend_band(1000, um_per_px=1.0)
    assert band.shape == (64, 1000, 3)
    bar_row = 22 + 7  # top of the colour bar + half its height
    lut = colormap_lut(DEFAULT_COLORMAP)
    np.testing.assert_array_equal(band[bar_row, 11], lut[1])  # just right of the outline: the low end
    np.testing.assert_array_equal(band[bar_row, 458], lut[254])
    # Scale bar: room 1000 - 30 - 450 = 520 px, 80% of it is 416 µm at 1 µm/px, so 200 µm = 201 px drawn.
    dark = np.flatnonzero(band[bar_row, 470:].max(axis=1) < 60)
    assert len(dark) == 201 and dark[-1] + 470 == 990
    unknown = legend_band(1000, um_per_px=None)
    assert (unknown[bar_row, 470:].max(axis=1) < 60).sum() < 150  # text only, no bar


def test_overlay_png_has_the_legend_and_a_scale_bar_for_the_slides_pixel_size(slide_scores, tmp_path: Path) -> None:
    slide, scores = slide_scores
    from PIL import Image

    path = write_export("overlay", scores, slide, tmp_path / "overlay.png", max_side=1024)
    with Image.open(path) as im:
        image = np.asarray(im)
    thumb_h = 1024
    band = legend_band(image.shape[1], um_per_px=0.499 * 2220 / image.shape[1])
    assert image.shape == (thumb_h + band.shape[0], 766, 3)
    np.testing.assert_array_equal(image[thumb_h:], band)
