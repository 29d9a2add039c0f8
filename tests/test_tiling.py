"""Tile grids and tissue detection on the real fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bcviewer.slides import open_slide
from bcviewer.tiling import TilingError, detect_tissue, physical_grid, subimage_grid

SVS = "slides/cmu_small_region.svs"


@pytest.fixture(scope="module")
def svs(test_data: Path):
    with open_slide(test_data / SVS) as s:
        yield s


def test_subimage_grid_spreads_remainder_and_covers_everything(test_data: Path) -> None:
    with open_slide(test_data / "breakhis/SOB_B_A-14-22549AB-100-001.png") as s:  # 700 x 460
        grid = subimage_grid(s)
    assert len(grid) == 9 and (grid.rows, grid.cols) == (3, 3) and grid.kind == "subimage"
    assert [t.rect for t in grid] == [
        (0, 0, 233, 153), (233, 0, 233, 153), (466, 0, 234, 153),
        (0, 153, 233, 153), (233, 153, 233, 153), (466, 153, 234, 153),
        (0, 306, 233, 154), (233, 306, 233, 154), (466, 306, 234, 154),
    ]
    assert [(t.row, t.col) for t in grid] == [(r, c) for r in range(3) for c in range(3)]
    coverage = np.zeros((460, 700), dtype=np.int32)
    for t in grid:
        coverage[t.y : t.y + t.h, t.x : t.x + t.w] += 1
    assert (coverage == 1).all()  # no overlap, no gap


def test_subimage_grid_on_700x456_and_other_shapes(test_data: Path) -> None:
    with open_slide(test_data / "breakhis/SOB_M_PC-14-12465-100-001.png") as s:
        grid = subimage_grid(s)
        assert [t.h for t in grid][::3] == [152, 152, 152]
        two_by_four = subimage_grid(s, 2, 4)
        assert [t.w for t in two_by_four][:4] == [175, 175, 175, 175]
        with pytest.raises(TilingError, match="at least 1 row"):
            subimage_grid(s, 0, 3)


def test_subimage_tile_reads_native_pixels(test_data: Path) -> None:
    with open_slide(test_data / "breakhis/SOB_B_A-14-22549AB-100-001.png") as s:
        grid = subimage_grid(s)
        tile = grid[5]
        px = grid.read_tile(s, tile)
        assert px.shape == (153, 234, 3)
        assert np.array_equal(px, s.read_region(0, 0, 0, 700, 460)[153:306, 466:700])


def test_tissue_mask_on_svs(svs) -> None:
    mask = detect_tissue(svs)
    assert mask.mask.shape == (1024, 766)
    assert 0.30 < mask.fraction < 0.42
    # Corners of the field are glass; the centre of the strip is tissue.
    assert mask.fraction_in(1920, 0, 300, 300) == 0.0
    assert mask.fraction_in(0, 2667, 300, 300) == 0.0
    assert mask.fraction_in(1920, 2667, 300, 300) == 0.0
    assert mask.fraction_in(0, 0, 300, 300) < 0.05  # one speck of debris in the corner
    assert mask.fraction_in(1000, 2200, 300, 300) > 0.95


def test_physical_grid_in_pixels_exact(svs) -> None:
    grid = physical_grid(svs, tile_px=512)
    assert (grid.rows, grid.cols, len(grid)) == (6, 5, 30)
    assert grid[0].rect == (0, 0, 512, 512) and grid[0].tissue < 0.01
    assert grid[3].rect == (1536, 0, 512, 512) and grid[3].tissue < 0.01
    assert grid[12].rect == (1024, 1024, 512, 512) and grid[12].tissue > 0.9
    assert grid[7].rect == (1024, 512, 512, 512) and (grid[7].row, grid[7].col) == (1, 2)
    assert grid[-1].rect == (2048, 2560, 512, 512)  # edge tile runs past the 2220x2967 image
    assert grid.out_size == (512, 512) and grid.mpp == pytest.approx(0.499)


def test_physical_grid_in_microns_at_target_mpp(svs) -> None:
    grid = physical_grid(svs, tile_um=200, mpp=4.0)  # the IDC scale: 50 px at 4 µm/px
    assert grid.out_size == (50, 50) and grid.mpp == pytest.approx(4.0)
    assert (grid.rows, grid.cols, len(grid)) == (8, 6, 48)
    assert grid[1].rect == (401, 0, 401, 401)
    assert grid[8].rect == (802, 401, 401, 401)
    assert grid.read_tile(svs, grid[8]).shape == (50, 50, 3)
    dense = [t for t in grid if t.tissue > 0.9]
    assert dense and all(t.col in (2, 3) for t in dense)


def test_min_tissue_skips_background(svs) -> None:
    full = physical_grid(svs, tile_um=200, mpp=4.0)
    kept = physical_grid(svs, tile_um=200, mpp=4.0, min_tissue=0.5)
    assert len(kept) == sum(t.tissue >= 0.5 for t in full)
    assert 0 < len(kept) < len(full)
    assert all(t.tissue >= 0.5 for t in kept)
    assert {(t.row, t.col) for t in kept} <= {(t.row, t.col) for t in full}


def test_overlap_and_stride(svs) -> None:
    grid = physical_grid(svs, tile_px=512, overlap=0.5)
    assert grid[1].rect == (256, 0, 512, 512)
    assert (grid.rows, grid.cols) == (12, 9)
    strided = physical_grid(svs, tile_px=512, stride_px=1024)
    assert strided[1].x == 1024 and (strided.rows, strided.cols) == (3, 3)
    with pytest.raises(TilingError, match="overlap must be"):
        physical_grid(svs, tile_px=512, overlap=1.0)


def test_grid_reads_from_best_pyramid_level(test_data: Path) -> None:
    with open_slide(test_data / "slides/edge-cases/boxes.tiff") as s:  # 4 levels, mpp 352.78
        at_level = physical_grid(s, tile_px=32, level=2)
        assert at_level[0].level == 2 and (at_level[0].read_w, at_level[0].w) == (32, 129)
        assert at_level.read_tile(s, at_level[0]).shape == (32, 32, 3)
        coarse = physical_grid(s, tile_px=16, mpp=352.7778 * 8.5)
        assert coarse[0].level == 3  # downsample 8.5 -> level 3 (8.09) then resized
        assert coarse.read_tile(s, coarse[0]).shape == (16, 16, 3)
        fine = physical_grid(s, tile_px=16, mpp=352.7778 * 3)
        assert fine[0].level == 1


def test_microns_without_mpp_is_a_clear_error(test_data: Path) -> None:
    with open_slide(test_data / "breakhis/SOB_B_A-14-22549AB-100-001.png") as s:
        with pytest.raises(TilingError, match="does not record its pixel size"):
            physical_grid(s, tile_um=100)
        with pytest.raises(TilingError, match="either in µm"):
            physical_grid(s)


@pytest.mark.shared
def test_breakhis_subimages_are_mostly_tissue(shared_data: Path) -> None:
    fractions = []
    for p in sorted((shared_data / "breakhis" / "malignant").rglob("*.png"))[:20]:
        with open_slide(p) as s:
            fractions += [t.tissue for t in subimage_grid(s)]
    assert np.median(fractions) > 0.5
