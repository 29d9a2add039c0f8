"""Regions of interest in the core: reading QuPath's GeoJSON (polygons, multipolygons, holes), the
tiles a region analyses, its measurements against hand-computed values on cmu_small_region.svs,
the bounds offset, and ``predict --roi``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from shapely.geometry import MultiPolygon, Polygon, box

from bcviewer.cli.main import main
from bcviewer.inference.plan import NoTilesError, PlanOptions, plan_input
from bcviewer.regions import (
    Region,
    RegionError,
    read_regions,
    region_stats,
    regions_from_geojson,
    regions_geojson,
    tiles_inside,
    write_regions,
)
from bcviewer.slides import open_slide

ROOT = Path(__file__).resolve().parent.parent
SMALL_SVS = ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs"
MPP = 0.499  # what cmu_small_region.svs records (aperio.MPP)
# The idc-wsi grid of cmu_small_region.svs starts with tiles at (802, 0), (802, 401) and (1202, 401),
# 401 px a side (200 µm at 0.499 µm/px); this square holds exactly their centres.
TOP = box(802, 0, 1604, 802)


@pytest.fixture()
def shipped_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BCVIEWER_MODELS", raising=False)


def _feature(geometry: Any, name: str, cls: str = "Tumor") -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry,
            "properties": {"objectType": "annotation", "name": name, "classification": {"name": cls}}}


def test_qupath_exports_read_with_multipolygons_and_holes(tmp_path: Path) -> None:
    ring = [[0, 0], [100, 0], [100, 100], [0, 100], [0, 0]]
    hole = [[25, 25], [75, 25], [75, 75], [25, 75], [25, 25]]
    far = [[200, 200], [210, 200], [210, 210], [200, 210], [200, 200]]
    exported = [  # QuPath's "Export objects" writes a bare list of features
        _feature({"type": "Polygon", "coordinates": [ring, hole]}, "donut"),
        _feature({"type": "MultiPolygon", "coordinates": [[ring], [far]]}, "two parts", "Stroma"),
        _feature({"type": "Point", "coordinates": [5, 5]}, "a point"),  # not an area: left out
    ]
    source = tmp_path / "qupath.geojson"
    source.write_text(json.dumps(exported))
    donut, parts = read_regions(source)
    assert (donut.name, donut.classification, donut.shape.area) == ("donut", "Tumor", 100 * 100 - 50 * 50)
    assert isinstance(parts.shape, MultiPolygon) and parts.shape.area == 100 * 100 + 10 * 10
    assert parts.classification == "Stroma"
    # Round trip through our own writer: same names, classes and coordinates.
    again = tmp_path / "again.geojson"
    write_regions(again, [donut, parts], "slide.svs")
    back = read_regions(again)
    assert [(r.name, r.classification) for r in back] == [("donut", "Tumor"), ("two parts", "Stroma")]
    assert all(a.shape.equals(b.shape) for a, b in zip(back, [donut, parts]))
    written = json.loads(again.read_text())["features"][0]
    assert written["properties"]["objectType"] == "annotation" and written["geometry"]["coordinates"][1][0] == [25.0, 25.0]


@pytest.mark.parametrize(("document", "needle"), [
    ({"type": "FeatureCollection", "features": []}, "holds no polygon"),
    ([1, 2], "holds no polygon"),
    ("text", "is not GeoJSON with polygons"),
    (_feature({"type": "Polygon", "coordinates": [[[0, 0], [10, 10], [10, 0], [0, 10], [0, 0]]]}, "bow tie"),
     "region 'bow tie' is not a valid area (Self-intersection"),
])
def test_unusable_region_files_are_one_clear_error(document: Any, needle: str) -> None:
    with pytest.raises(RegionError, match=needle.replace("(", r"\(")):
        regions_from_geojson(document)


def test_a_region_scores_only_the_tiles_whose_centre_lies_inside(shipped_models: None) -> None:
    region = Region("top", "Tumor", TOP)
    with open_slide(SMALL_SVS) as slide:
        full = plan_input(slide)
        plan = plan_input(slide, PlanOptions(regions=(region,)))
    assert tiles_inside(full.grid, TOP).nonzero()[0].tolist() == [0, 1, 2]
    assert plan.grid.rects().tolist() == [[802, 0, 401, 401], [802, 401, 401, 401], [1202, 401, 401, 401]]
    assert plan.notes() == ("analysed inside 1 region(s): 3 of 20 tiles",)
    # The heatmap keeps the slide's whole tissue outline, not one cut to the region.
    assert plan.grid.tissue is not None and full.grid.tissue is not None
    assert np.array_equal(plan.grid.tissue.mask, full.grid.tissue.mask)


def test_regions_in_qupath_coordinates_follow_the_slide_bounds(shipped_models: None) -> None:
    class Bounded:  # the same slide as QuPath would show it, cropped to OpenSlide bounds at x = 400
        def __init__(self, slide: Any) -> None:
            self._slide = slide
            self.properties = {**slide.properties, "openslide.bounds-x": "400", "openslide.bounds-y": "0"}

        def __getattr__(self, name: str) -> Any:
            return getattr(self._slide, name)

    in_qupath = Region("top", "Tumor", box(402, 0, 1204, 802))  # TOP, 400 px to the left
    with open_slide(SMALL_SVS) as slide:
        plan = plan_input(Bounded(slide), PlanOptions(regions=(in_qupath,)))  # type: ignore[arg-type]
    assert plan.regions[0].shape.equals(TOP)
    assert plan.grid.rects()[:, :2].tolist() == [[802, 0], [802, 401], [1202, 401]]


def test_a_region_with_no_tile_centre_is_refused(shipped_models: None) -> None:
    with open_slide(SMALL_SVS) as slide, pytest.raises(NoTilesError, match="no tile's centre lies inside"):
        plan_input(slide, PlanOptions(regions=(Region("corner", "Tumor", box(0, 0, 50, 50)),)))


def test_predict_roi_writes_the_region_measurements(tmp_path: Path, shipped_models: None) -> None:
    roi = tmp_path / "roi.geojson"
    roi.write_text(json.dumps(regions_geojson([Region("top", "Tumor", TOP)])))
    out = tmp_path / "out"
    assert main(["predict", str(SMALL_SVS), "--roi", str(roi), "--out", str(out), "--quiet"]) == 0
    with open(out / "cmu_small_region" / "regions.csv", newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    # 802 x 802 px at 0.499 µm/px = 160 158 µm²: computed by hand, not by the code under test.
    assert float(row["area_mm2"]) == pytest.approx(802 * 802 * MPP * MPP / 1e6, abs=1e-6)
    assert row["area_mm2"] == "0.160158"
    assert (row["region"], row["classification"], row["tiles_scored"]) == ("top", "Tumor", "3")
    with open(out / "cmu_small_region" / "tiles.csv", newline="") as fh:
        tiles = list(csv.DictReader(fh))
    p = [float(t["p_malignant"]) for t in tiles]
    assert len(tiles) == 3 and float(row["max_p"]) == pytest.approx(max(p), abs=1e-6)
    assert float(row["mean_p"]) == pytest.approx(np.mean(p), abs=1e-6)
    # Tissue inside: the mask's pixels inside the square (it is aligned with them), counted directly.
    with open_slide(SMALL_SVS) as slide:
        mask = plan_input(slide).grid.tissue
    assert mask is not None
    x0, x1 = round(802 * mask.scale_x), round(1604 * mask.scale_x)
    y1 = round(802 * mask.scale_y)
    direct = mask.mask[0:y1, x0:x1].sum() / (mask.scale_x * mask.scale_y) * MPP * MPP / 1e6
    assert float(row["tissue_mm2"]) == pytest.approx(direct, rel=0.02)
    manifest = json.loads((out / "cmu_small_region" / "manifest.json").read_text())
    assert "regions.csv" in manifest["outputs"] and len(manifest["options"]["roi"]) == 64  # its sha256


def test_areas_are_refused_without_a_pixel_size(shipped_models: None) -> None:
    sample = ROOT / "resources" / "sample" / "SOB_M_MC-14-13413-100-003.png"
    with open_slide(sample) as slide:
        plan = plan_input(slide, PlanOptions(regions=(Region("left", "Tumor", box(0, 0, 350, 460)),)))
        assert "the regions' areas in mm² are left out: the pixel size of this input is unknown" in plan.notes()
    assert plan.grid.rects()[:, 0].tolist() == [0, 233, 0, 233, 0, 233]  # two columns of the 3x3 cut
    from bcviewer.inference.scores import TileScores

    n = len(plan.grid)
    scores = TileScores(plan.grid, np.linspace(0.1, 0.6, n), np.zeros(n), np.zeros((n, 1, 2)), np.zeros((n, 1, 2)),
                        np.ones(n, bool))
    stats = region_stats(plan.regions[0], scores, mpp=None)
    assert stats.area_mm2 is None and stats.tissue_mm2 is None and stats.tiles_scored == 6
    assert stats.max_p == pytest.approx(0.6) and stats.pct_tissue_above == pytest.approx(100 * 2 / 6, abs=0.5)
    assert isinstance(plan.regions[0].shape, Polygon)
