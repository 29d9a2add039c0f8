"""Heatmap alignment at every pyramid level, colormaps, CSV and GeoJSON round trips, atomic writes."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bcviewer.export import (
    ExportError,
    colormap_lut,
    geojson_dict,
    heatmap_for_level,
    heatmap_rgba,
    overlay_rgb,
    read_geojson,
    read_tiles_csv,
    write_geojson,
    write_png,
    write_tiles_csv,
)
from bcviewer.inference import TileScores
from bcviewer.slides import open_slide
from bcviewer.tiling import Tile, TileGrid, subimage_grid

BOXES = "slides/edge-cases/boxes.tiff"  # 300 x 250, 4 levels, downsamples 1, 2, 4.016, 8.086
PNG = "breakhis/SOB_B_A-14-22549AB-100-001.png"


def _scores(grid: TileGrid, p: np.ndarray, threshold: float = 0.5) -> TileScores:
    n = len(grid)
    u = np.where(np.isnan(p), np.nan, np.linspace(0.1, 0.9, n))
    return TileScores(grid, p, u, np.zeros((n, 0)), np.zeros((n, 0, 2)), ~np.isnan(p), threshold=threshold)


def _box(t: Tile, ds: float, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The documented rule, computed independently: floor(x / ds) .. floor((x + w) / ds)."""
    x0, y0 = math.floor(t.x / ds), math.floor(t.y / ds)
    x1, y1 = max(math.floor((t.x + t.w) / ds), x0 + 1), max(math.floor((t.y + t.h) / ds), y0 + 1)
    return x0, y0, min(x1, size[0]), min(y1, size[1])


def test_each_tile_colour_lands_exactly_on_its_rectangle_at_every_level(test_data: Path) -> None:
    lut = colormap_lut("viridis")
    with open_slide(test_data / BOXES) as slide:
        grid = subimage_grid(slide, 4, 5)
        p = np.linspace(0.0, 1.0, len(grid))
        scores = _scores(grid, p)
        assert slide.level_count == 4
        for level in range(slide.level_count):
            ds, size = slide.level_downsamples[level], slide.level_dimensions[level]
            heat = heatmap_for_level(scores, slide, level, cmap="viridis", opacity=0.6)
            assert heat.shape == (size[1], size[0], 4)
            owner = np.full((size[1], size[0]), -1)
            for i, tile in enumerate(grid):
                x0, y0, x1, y1 = _box(tile, ds, size)
                assert (owner[y0:y1, x0:x1] == -1).all(), f"tiles overlap at level {level}"
                owner[y0:y1, x0:x1] = i
                colour = [*lut[round(p[i] * 255)], round(0.6 * 255)]
                assert (heat[y0:y1, x0:x1] == colour).all(), f"tile {i} at level {level}"
            # Pixels no tile covers (the partial last row/column of coarse levels) stay transparent.
            assert (heat[owner == -1] == 0).all()
            if level == 0:
                assert (owner >= 0).all()


def test_threshold_unscored_tiles_and_uncertainty_map(test_data: Path) -> None:
    with open_slide(test_data / PNG) as slide:
        grid = subimage_grid(slide)
    p = np.array([0.1, 0.6, 0.9, np.nan, 0.5, 0.49, 0.0, 1.0, 0.7])
    heat = heatmap_rgba(_scores(grid, p), 2.0, threshold=0.5, cmap="gray", opacity=1.0)
    assert heat.shape == (230, 350, 4)
    for i, tile in enumerate(grid):
        x0, y0, x1, y1 = _box(tile, 2.0, (350, 230))
        shown = not np.isnan(p[i]) and p[i] >= 0.5
        assert (heat[y0:y1, x0:x1, 3] == (255 if shown else 0)).all(), i
        if shown:
            assert (heat[y0:y1, x0:x1, 0] == round(p[i] * 255)).all()
    unc = heatmap_rgba(_scores(grid, p), 1.0, value="uncertainty", cmap="gray", opacity=1.0)
    assert unc[0, 0, 0] == round(0.1 * 255) and unc[-1, -1, 0] == round(0.9 * 255)


def test_overlapping_tiles_show_their_mean() -> None:
    tiles = (Tile(0, 0, 10, 10, 0, 10, 10, 0, 0, 1.0), Tile(5, 0, 10, 10, 0, 10, 10, 0, 1, 1.0))
    grid = TileGrid(tiles, (15, 10), 1, 2)
    heat = heatmap_rgba(_scores(grid, np.array([0.2, 0.6])), cmap="gray", opacity=1.0)
    assert heat[0, 0, 0] == 51 and heat[0, 7, 0] == round(0.4 * 255) and heat[0, 12, 0] == 153


def test_viridis_matches_matplotlib_endpoints_and_centre() -> None:
    lut = colormap_lut("viridis")
    assert lut.shape == (256, 3)
    assert lut[0].tolist() == [68, 1, 84] and lut[255].tolist() == [253, 231, 37]
    assert np.abs(lut[128].astype(int) - [33, 145, 140]).max() <= 2


def test_overlay_blends_the_heatmap_on_the_thumbnail(test_data: Path) -> None:
    with open_slide(test_data / PNG) as slide:
        grid = subimage_grid(slide)
        thumb = slide.thumbnail(2048)
        scores = _scores(grid, np.linspace(0, 1, 9))
        invisible = overlay_rgb(slide, scores, opacity=0.0)
        opaque = overlay_rgb(slide, scores, opacity=1.0, cmap="gray")
    assert invisible.shape == (460, 700, 3) and np.array_equal(invisible, thumb)
    assert (opaque[:153, :233] == 0).all() and (opaque[306:, 466:] == 255).all()


def test_csv_round_trip_keeps_rectangles_and_scores(tmp_path: Path, test_data: Path) -> None:
    with open_slide(test_data / PNG) as slide:
        grid = subimage_grid(slide)
    p = np.array([0.123456789, 0.5, 0.9, np.nan, 0.25, 0.75, 0.0, 1.0, 0.333333333])
    scores = _scores(grid, p)
    path = write_tiles_csv(scores, tmp_path / "tiles.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == ("x,y,w,h,row,col,tissue,p_malignant,uncertainty,prediction_set,outside_training,qc_flag,"
                        "stain_method,stain_reference,stain_sha256")
    assert lines[1].startswith("0,0,233,153,0,0,") and lines[1].split(",")[7] == "0.123457"
    assert lines[4].split(",")[7:12] == ["", "", "", "", ""]  # tile 3 was not scored; QC did not run
    assert lines[4].split(",")[12:] == ["none", "none", "none"]  # no stain normalisation before the model
    back = read_tiles_csv(path, slide_size=(700, 460))
    assert np.array_equal(back.rects(), grid.rects())
    assert [(t.row, t.col) for t in back.grid] == [(t.row, t.col) for t in grid]
    assert np.array_equal(back.done, ~np.isnan(p))
    np.testing.assert_allclose(back.p_malignant, p, atol=5e-7)
    np.testing.assert_allclose(back.uncertainty, scores.uncertainty, atol=5e-7)
    assert back.image_p_malignant == pytest.approx(scores.image_p_malignant, abs=5e-7)


def test_geojson_is_valid_for_qupath_and_round_trips(tmp_path: Path, test_data: Path) -> None:
    with open_slide(test_data / PNG) as slide:
        grid = subimage_grid(slide)
    p = np.array([0.1, 0.5, 0.9, np.nan, 0.25, 0.75, 0.0, 1.0, 0.4999])
    scores = _scores(grid, p, threshold=0.5)
    path = write_geojson(scores, tmp_path / "tiles.geojson")

    def no_nan(token: str) -> float:
        raise AssertionError(f"non-standard JSON constant {token}")

    data = json.loads(path.read_text(), parse_constant=no_nan)
    assert data["type"] == "FeatureCollection" and len(data["features"]) == 8  # the unscored tile is left out
    for feature, i in zip(data["features"], [0, 1, 2, 4, 5, 6, 7, 8]):
        t = grid[i]
        assert feature["type"] == "Feature" and feature["geometry"]["type"] == "Polygon"
        ring = feature["geometry"]["coordinates"][0]
        assert ring == [[t.x, t.y], [t.x + t.w, t.y], [t.x + t.w, t.y + t.h], [t.x, t.y + t.h], [t.x, t.y]]
        props = feature["properties"]
        assert props["objectType"] == "tile" and props["isLocked"] is False
        assert props["classification"]["name"] == ("Malignant" if p[i] >= 0.5 else "Benign")
        assert len(props["classification"]["color"]) == 3
        assert props["measurements"]["p_malignant"] == p[i]
    back = read_geojson(path)
    assert back.grid.slide_size == (700, 460) and back.threshold == 0.5
    assert np.array_equal(back.rects(), grid.rects()[~np.isnan(p)])
    assert np.array_equal(back.p_malignant, p[~np.isnan(p)])
    assert np.array_equal(back.uncertainty, scores.uncertainty[~np.isnan(p)])
    assert [(t.row, t.col) for t in back.grid] == [(t.row, t.col) for t in grid if t is not grid[3]]
    detections = geojson_dict(scores, "detection")
    assert {f["properties"]["objectType"] for f in detections["features"]} == {"detection"}
    # QuPath 0.2/0.3 wrote measurements as a list of {name, value}; that form reads too.
    for f in detections["features"]:
        f["properties"]["measurements"] = [{"name": k, "value": v} for k, v in f["properties"]["measurements"].items()]
    assert np.array_equal(read_geojson(detections).p_malignant, p[~np.isnan(p)])
    with pytest.raises(ExportError, match="FeatureCollection"):
        read_geojson({"type": "Feature"})


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "heatmap.png"
    write_png(target, np.zeros((4, 5, 4), np.uint8))
    before = target.read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(ExportError, match="No space left"):
        write_png(target, np.full((4, 5, 4), 255, np.uint8))
    assert target.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["heatmap.png"]
    monkeypatch.undo()
    with Image.open(write_png(target, np.full((4, 5, 3), 7, np.uint8))) as im:
        assert (im.size, im.mode) == ((5, 4), "RGB")
