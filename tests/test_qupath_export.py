"""tiles.geojson as QuPath reads it: tiles clipped to the slide, coordinates relative to
OpenSlide's bounds, stable uuid5 ids, grid position and provenance as string metadata."""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path

import numpy as np
import pytest

from bcviewer.export import ExportError, geojson_dict, read_geojson, write_geojson
from bcviewer.inference import TileScores
from bcviewer.qupath import NAMESPACE, OBJECT_TYPES, slide_bounds, tile_id
from bcviewer.slides import SlideReader, open_slide
from bcviewer.slides.backends import OpenSlideBackend
from bcviewer.tiling import physical_grid

SVS = "slides/cmu_small_region.svs"  # 2220 x 2967 px, 0.499 µm/px


def _scores(grid, seed: int = 0) -> TileScores:
    n = len(grid)
    p = np.random.default_rng(seed).uniform(0, 1, n)
    return TileScores(grid, p, np.full(n, 0.1), np.zeros((n, 0)), np.zeros((n, 0, 2)), np.ones(n, bool),
                      threshold=0.5, model_name="idc-wsi")


@pytest.fixture(scope="module")
def svs(test_data: Path):
    with open_slide(test_data / SVS) as slide:
        yield slide


@pytest.fixture(scope="module")
def bounded(test_data: Path):
    """The CMU slide read through OpenSlide, reporting bounds as an MRXS would (QuPath crops to them)."""
    path = test_data / SVS
    backend = OpenSlideBackend(path, "aperio")
    extra = {"openslide.bounds-x": "100", "openslide.bounds-y": "200", "openslide.bounds-width": "1800",
             "openslide.bounds-height": "2500"}
    backend.metadata = dataclasses.replace(backend.metadata, properties={**backend.metadata.properties, **extra})
    with SlideReader(path, backend) as slide:
        yield slide


def test_bottom_and_right_tiles_are_clipped_to_the_slide(svs, tmp_path: Path) -> None:
    grid = physical_grid(svs, tile_um=200, mpp=4.0)  # 401 px tiles at a 400.8 px stride, 6 x 8
    assert (grid.cols, grid.rows) == (6, 8) and max(t.y + t.h for t in grid) == 3207  # as in issue 11
    data = json.loads(write_geojson(_scores(grid), tmp_path / "t.geojson", slide_name=svs.path.name).read_text())
    rings = [np.asarray(f["geometry"]["coordinates"][0]) for f in data["features"]]
    assert len(rings) == 48
    assert max(r[:, 0].max() for r in rings) == 2220 and max(r[:, 1].max() for r in rings) == 2967
    corner = data["features"][-1]  # row 7, col 5: x 2004..2220, y 2806..2967
    assert corner["geometry"]["coordinates"][0] == [[2004, 2806], [2220, 2806], [2220, 2967], [2004, 2967],
                                                    [2004, 2806]]
    assert data["bcviewer"]["origin"] == [0, 0] and data["bcviewer"]["slide"] == "cmu_small_region.svs"


def test_coordinates_are_relative_to_openslide_bounds(bounded, tmp_path: Path) -> None:
    assert slide_bounds(bounded.properties, bounded.dimensions) == (100, 200, 1800, 2500)
    grid = physical_grid(bounded, tile_um=200, mpp=4.0)
    scores = _scores(grid)
    data = geojson_dict(scores, slide_name=bounded.path.name,
                        bounds=slide_bounds(bounded.properties, bounded.dimensions))
    by_pos = {(int(f["properties"]["metadata"]["row"]), int(f["properties"]["metadata"]["col"])): f
              for f in data["features"]}
    # Tile (0, 0) covers 0..401 at level 0; inside the bounds it is 100..401 x 200..401.
    assert by_pos[(0, 0)]["geometry"]["coordinates"][0] == [[0, 0], [301, 0], [301, 201], [0, 201], [0, 0]]
    # Tile (2, 1) lies inside: level-0 (401, 802) becomes (301, 602).
    assert by_pos[(2, 1)]["geometry"]["coordinates"][0][0] == [301, 602]
    assert (grid[2 * 6 + 1].x, grid[2 * 6 + 1].y) == (401, 802)
    # Column 5 starts at x = 2004, right of the bounds (100 + 1800 = 1900); row 7 below 200 + 2500.
    assert not any(c == 5 or r == 7 for r, c in by_pos)
    for f in data["features"]:
        ring = np.asarray(f["geometry"]["coordinates"][0])
        assert ring.min() >= 0 and ring[:, 0].max() <= 1800 and ring[:, 1].max() <= 2500
    assert data["bcviewer"]["origin"] == [100, 200]
    back = read_geojson(data)  # back in level-0 coordinates
    assert tuple(back.grid[list(by_pos).index((2, 1))].rect) == (401, 802, 401, 401)


def test_ids_are_stable_uuid5_and_metadata_are_strings(svs, tmp_path: Path) -> None:
    grid = physical_grid(svs, tile_um=200, mpp=4.0, min_tissue=0.25)
    first = geojson_dict(_scores(grid, 0), slide_name="cmu_small_region.svs")
    again = geojson_dict(_scores(grid, 1), slide_name="cmu_small_region.svs")  # other scores, same tiles
    ids = [f["id"] for f in first["features"]]
    assert ids == [f["id"] for f in again["features"]] and len(set(ids)) == len(ids) == 20
    t = grid[0]
    assert ids[0] == str(uuid.uuid5(NAMESPACE, f"cmu_small_region.svs/{t.row}/{t.col}")) == tile_id(
        "cmu_small_region.svs", t.row, t.col)
    assert uuid.UUID(ids[0]).version == 5
    other = geojson_dict(_scores(grid), slide_name="another.svs")
    assert not set(ids) & {f["id"] for f in other["features"]}
    meta = first["features"][0]["properties"]["metadata"]
    assert meta == {"row": str(t.row), "col": str(t.col), "source": "model", "model": "idc-wsi"}
    assert all(isinstance(v, str) for f in first["features"] for v in f["properties"]["metadata"].values())
    assert "bcviewer" not in first["features"][0]["properties"]  # QuPath would drop it


def test_object_types_are_the_shared_ones(svs) -> None:
    grid = physical_grid(svs, tile_um=200, mpp=4.0, min_tissue=0.25)
    assert OBJECT_TYPES == ("annotation", "detection", "tile")
    for kind in OBJECT_TYPES:
        assert {f["properties"]["objectType"] for f in geojson_dict(_scores(grid), kind)["features"]} == {kind}
    with pytest.raises(ExportError, match="annotation, detection, tile"):
        geojson_dict(_scores(grid), "cell")  # type: ignore[arg-type]
