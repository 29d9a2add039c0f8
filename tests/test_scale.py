"""Whole slide or microscopy image, and at what scale: decided from the input, never guessed.

The TCGA-like case is a two-level pyramidal TIFF that records no pixel size, written here with
tifffile from the real CMU slide's pixels (generic TIFF, and Aperio with AppMag 20 but no MPP).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from inference_helpers import IMAGE_SPEC, SLIDE_SPEC
from pyramid_fixture import write_pyramid_tiff

from bcviewer.inference.plan import choose_model
from bcviewer.inference import (
    ScaleUnknownError,
    analysis_grid,
    describe_model,
    input_kind,
    is_whole_slide,
    mpp_for_objective,
    scale_warnings,
    trained_on,
)
from bcviewer.nets.store import read_card
from bcviewer.slides import open_slide
from bcviewer.tiling import TilingError

PNG = "breakhis/SOB_M_DC-14-13412-100-001.png"
SVS = "slides/cmu_small_region.svs"


@pytest.fixture(scope="module")
def tcga_like(test_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    with open_slide(test_data / SVS) as s:
        rgb = s.read_region(0, 0, 0, *s.dimensions)
    return write_pyramid_tiff(tmp_path_factory.mktemp("tcga") / "tcga-like.tif", rgb, levels=2)


@pytest.fixture(scope="module")
def tcga_aperio(test_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    with open_slide(test_data / SVS) as s:
        rgb = s.read_region(0, 0, 0, *s.dimensions)
    return write_pyramid_tiff(tmp_path_factory.mktemp("tcga") / "tcga-aperio.svs", rgb, levels=2, aperio_mag=20)


def test_kind_comes_from_levels_format_and_size_not_from_the_pixel_size(test_data: Path, tcga_like: Path,
                                                                        tcga_aperio: Path) -> None:
    with open_slide(test_data / PNG) as png, open_slide(test_data / SVS) as svs, \
            open_slide(tcga_like) as tif, open_slide(tcga_aperio) as aperio:
        assert (png.level_count, png.mpp, input_kind(png)) == (1, None, "image")
        assert (svs.level_count, svs.mpp, input_kind(svs)) == (1, 0.499, "whole-slide")  # Aperio format
        assert (tif.format, tif.level_count, tif.mpp, input_kind(tif)) == ("generic-tiff", 2, None, "whole-slide")
        assert (aperio.format, aperio.mpp, aperio.objective_power) == ("aperio", None, 20.0)
        assert is_whole_slide(aperio) and choose_model(tif).source == "idc-wsi" == choose_model(aperio).source
        assert choose_model(png).source == "breakhis-100x"


def test_a_slide_without_pixel_size_is_refused_not_cut_3x3(tcga_like: Path) -> None:
    with open_slide(tcga_like) as tif:
        with pytest.raises(ScaleUnknownError, match="tcga-like.tif is a whole slide .2 pyramid levels.*does not "
                                                    "record its pixel size"):
            analysis_grid(tif, SLIDE_SPEC)
        with pytest.raises(TilingError, match="never cut into sub-images"):
            analysis_grid(tif, IMAGE_SPEC, subimages=(3, 3))
        with pytest.raises(ScaleUnknownError):
            analysis_grid(tif, IMAGE_SPEC)  # the BreakHis card has no physical tile, still no 3x3


def test_given_pixel_size_gives_the_same_grid_as_a_recorded_one(test_data: Path, tcga_like: Path) -> None:
    with open_slide(tcga_like) as tif, open_slide(test_data / SVS) as svs:
        given = analysis_grid(tif, SLIDE_SPEC, mpp=0.499)
        recorded = analysis_grid(svs, SLIDE_SPEC)
        # 200 µm at 0.499 µm/px = 401 level-0 px, read from level 1 (downsample 2) and resized to 50 px.
        assert given.kind == "physical" and given.out_size == (50, 50) and given.mpp == pytest.approx(4.0, abs=0.01)
        assert [t.rect for t in given] == [t.rect for t in recorded] and len(given) == 20
        assert {t.level for t in given} == {1}


def test_tile_px_needs_no_pixel_size(tcga_like: Path) -> None:
    with open_slide(tcga_like) as tif:
        grid = analysis_grid(tif, SLIDE_SPEC, tile_px=400)
        assert grid.kind == "physical" and grid.mpp is None and (grid.rows, grid.cols) == (8, 6)
        assert {t.w for t in grid} == {400} and min(t.tissue for t in grid) >= 0.25


def test_model_descriptions_and_cards_say_what_they_were_trained_on() -> None:
    models = Path(__file__).resolve().parents[1] / "models"
    wsi, img = read_card(models / "idc-wsi"), read_card(models / "breakhis-100x")
    assert describe_model("idc-wsi", wsi, SLIDE_SPEC) == "idc-wsi: whole slide, 200 µm tiles at 4 µm/px"
    assert describe_model("breakhis-100x", img, IMAGE_SPEC) == "breakhis-100x: microscopy images at 100X, cut 3x3"
    t = trained_on(wsi, None)
    assert (t.kind, t.tile_um, t.mpp, t.magnification) == ("whole-slide", 200.0, 4.0, "2.5x")
    assert "breast" in t.tissue and "H&E" in t.tissue
    t = trained_on(img, None)
    assert (t.kind, t.magnification) == ("image", "100X") and "breast" in t.tissue
    assert trained_on({}, SLIDE_SPEC).kind == "whole-slide" and trained_on(None, IMAGE_SPEC).kind == "image"


def test_scale_warnings(test_data: Path, tcga_like: Path) -> None:
    with open_slide(test_data / SVS) as svs, open_slide(test_data / PNG) as png, open_slide(tcga_like) as tif:
        assert scale_warnings(svs, SLIDE_SPEC, None, "idc-wsi", 401, svs.mpp) == []
        far = scale_warnings(svs, SLIDE_SPEC, None, "idc-wsi", 1000, svs.mpp)  # 499 µm tiles
        assert far == ["tiles of 499 µm are 2.5x the 200 µm tiles idc-wsi was trained on; the model sees "
                       "tissue at a scale it never saw"]
        unknown = scale_warnings(tif, SLIDE_SPEC, None, "idc-wsi", 400, None)
        assert unknown and "pixel size of tcga-like.tif is unknown" in unknown[0]
        mismatch = scale_warnings(png, SLIDE_SPEC, None, "idc-wsi", None, None)
        assert mismatch == ["idc-wsi was trained on whole-slide tiles of 200 µm, but SOB_M_DC-14-13412-100-001.png "
                            "is a microscopy image; its scores are out of distribution"]
        assert "is a whole slide" in scale_warnings(svs, IMAGE_SPEC, None, "breakhis-100x", 401, 0.499)[0]


def test_objective_power_maps_to_its_usual_pixel_size() -> None:
    assert [mpp_for_objective(p) for p in (40, 20, 10, 5, 2.5)] == [0.25, 0.5, 1.0, 2.0, 4.0]
