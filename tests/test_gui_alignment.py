"""Heatmap alignment: at every zoom level the heatmap and the tissue sit where the same level-0
coordinates say, to the pixel.

Two independent checks on the pyramidal TIFF made from cmu_small_region.svs:

* tissue: the rendered view (any pyramid level, any zoom) is compared with the level-0 pixels
  warped by the view transform; phase correlation finds no shift (< 0.35 screen px);
* heatmap: a checkerboard of scores on a 333-px grid (unrelated to the 256-px pyramid tiles) is
  drawn at opacity 1; every tile edge on screen lies exactly at the column/row the transform
  maps the tile's level-0 edge to (the last pixel of one tile and the first of the next have the
  two tiles' colours).

Since both layers hit the coordinates predicted by one transform, they hit each other.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from gui_helpers import dialogs, grab_rgb, open_and_wait, pyramid_tiff, settings, window  # noqa: F401

from bcviewer.slides import open_slide
from bcviewer.tiling import physical_grid

CASES = [  # (scale, level-0 centre)
    ("fit", (1110.0, 1483.5)),
    (0.13, (900.0, 1700.0)),
    (0.31, (1600.0, 2300.0)),
    (0.62, (1700.0, 2400.0)),
    (1.0, (1923.3, 2611.7)),
    (2.35, (1987.6, 2750.2)),
]
TILE = 333


def _expected_view(level0: np.ndarray, scale: float, ox: float, oy: float, size: tuple[int, int]) -> np.ndarray:
    """Level-0 pixels warped to the screen by screen = (image - origin) * scale (pixel centres)."""
    src = level0
    if scale < 1:  # anti-alias before sampling, as a pyramid level would be
        src = cv2.GaussianBlur(level0, (0, 0), sigmaX=0.5 / scale)
    m = np.array([[scale, 0, -ox * scale + 0.5 * scale - 0.5], [0, scale, -oy * scale + 0.5 * scale - 0.5]])
    return cv2.warpAffine(
        src, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255)
    )


@pytest.mark.parametrize("scale,centre", CASES, ids=[f"scale-{s}" for s, _ in CASES])
def test_tissue_is_drawn_where_the_transform_says(qtbot, window, pyramid_tiff: Path, scale, centre) -> None:
    open_and_wait(qtbot, window, pyramid_tiff)
    view = window.slide.view
    view.heatmap.visible = False
    if scale != "fit":
        view.zoom_to(scale)
        view.center_on(*centre)
    qtbot.waitUntil(view.is_settled, timeout=10_000)
    shot = grab_rgb(view)
    t = view.transform
    with open_slide(pyramid_tiff) as slide:
        level0 = slide.read_region(0, 0, 0, *slide.dimensions)
        w, h = slide.dimensions
    expected = _expected_view(level0, t.scale, t.origin_x, t.origin_y, (view.width(), view.height()))
    # Compare inside the image only, away from its border and from the scale bar/minimap corners.
    image_rect = t.screen_rect(0, 0, w, h).intersected(view.rect()).adjusted(8, 8, -8, -8)
    x0, y0 = image_rect.left(), image_rect.top()
    x1, y1 = min(image_rect.right(), view.width() - 200), min(image_rect.bottom(), view.height() - 60)
    a = cv2.cvtColor(shot[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY).astype(np.float32)
    b = cv2.cvtColor(expected[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY).astype(np.float32)
    assert a.shape[0] > 100 and a.shape[1] > 100
    (dx, dy), response = cv2.phaseCorrelate(b, a, cv2.createHanningWindow(a.shape[::-1], cv2.CV_32F))
    assert abs(dx) < 0.35 and abs(dy) < 0.35, (dx, dy, view.current_level)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9


@pytest.mark.parametrize("scale,centre", CASES, ids=[f"scale-{s}" for s, _ in CASES])
def test_heatmap_tile_edges_land_on_the_mapped_pixels(qtbot, window, pyramid_tiff: Path, scale, centre) -> None:
    open_and_wait(qtbot, window, pyramid_tiff)
    view = window.slide.view
    with open_slide(pyramid_tiff) as slide:
        grid = physical_grid(slide, tile_px=TILE)
    rects = grid.rects()
    rows = np.array([tile.row for tile in grid])
    cols = np.array([tile.col for tile in grid])
    layer = view.heatmap
    layer.set_grid(rects, rows, cols)
    layer.set_scores(np.arange(len(grid)), ((rows + cols) % 2).astype(float), np.zeros(len(grid)))
    layer.set_opacity(1.0)
    layer.set_threshold(0.0)
    layer.visible = True
    view.set_minimap_enabled(False)  # widgets drawn over the view would hide tile edges
    view.show_scale_bar = False
    if scale != "fit":
        view.zoom_to(scale)
        view.center_on(*centre)
    qtbot.waitUntil(view.is_settled, timeout=10_000)
    shot = grab_rgb(view).astype(int)
    low, high = layer.lut[0].astype(int), layer.lut[255].astype(int)
    t = view.transform
    width, height = view.width(), view.height()
    img_w, img_h = grid.slide_size
    checked = 0
    for i, (x, y, w, h) in enumerate(rects):
        left, right = t.screen_x(x), t.screen_x(x + w)
        top, bottom = t.screen_y(y), t.screen_y(y + h)
        vis_l, vis_r, vis_t, vis_b = max(left, 0), min(right, width), max(top, 0), min(bottom, height)
        if vis_r - vis_l < 3 or vis_b - vis_t < 3:
            continue  # off screen or too small to probe
        own = high if (rows[i] + cols[i]) % 2 else low
        my, mx = (vis_t + vis_b) // 2, (vis_l + vis_r) // 2
        # The first and last pixel inside the tile have its colour; the pixel just outside belongs to
        # a neighbour (or to no tile: the slide shows), never to this tile. Edges at the image's
        # border are clipped there, so only inner edges are probed.
        probes = []
        if 1 <= left < width:
            probes.append(((my, left), (my, left - 1)))
        if 1 <= right < width and x + w < img_w:
            probes.append(((my, right - 1), (my, right)))
        if 1 <= top < height:
            probes.append(((top, mx), (top - 1, mx)))
        if 1 <= bottom < height and y + h < img_h:
            probes.append(((bottom - 1, mx), (bottom, mx)))
        for inside, outside in probes:
            assert np.array_equal(shot[inside], own), (i, inside, shot[inside], own)
            assert not np.array_equal(shot[outside], own), (i, outside)
        checked += len(probes)
    assert checked >= 4
