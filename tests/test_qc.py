"""Quality control on real tissue and transformed copies of it: a blurred copy is blur, a drawn
green, blue or black stroke is pen, white glass is background, a darkened copy is dark, and the
clean tiles pass (also when the slide is cut in smaller tiles); ``bcviewer qc`` finds the tiles a pen stroke crosses."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from bcviewer.cli.main import main
from bcviewer.inference.plan import plan_input
from bcviewer.qc import qc_grid, qc_tile
from bcviewer.slides import open_slide
from bcviewer.tiling import physical_grid

ROOT = Path(__file__).resolve().parent.parent
BREAKHIS = sorted((ROOT / "tests" / "data" / "breakhis").glob("*.png"))
SAMPLE = ROOT / "resources" / "sample" / "SOB_M_MC-14-13413-100-003.png"
SMALL_SVS = ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs"


def _real_tiles() -> list[np.ndarray]:
    """The centre sub-image of each BreakHis fixture and of the sample, and the 20 tiles of the
    idc-wsi grid of cmu_small_region.svs (401 px at 0.499 µm/px)."""
    tiles = []
    for path in [*BREAKHIS, SAMPLE]:
        with open_slide(path) as slide:
            tiles.append(slide.read_region(0, 233, 153, 233, 153))
    with open_slide(SMALL_SVS) as slide:
        tiles += [slide.read_region(0, t.x, t.y, t.w, t.h) for t in plan_input(slide).grid]
    return tiles


TILES = _real_tiles()


def _stroke(colour: tuple[int, int, int]):  # type: ignore[no-untyped-def]
    def draw(tile: np.ndarray) -> np.ndarray:
        out = tile.copy()
        h, w = out.shape[:2]
        cv2.line(out, (0, h // 3), (w, 2 * h // 3), colour, max(3, h // 8))
        return out
    return draw


TRANSFORMS = {
    "blurred (Gaussian, sigma 3 px)": (lambda t: cv2.GaussianBlur(t, (0, 0), 3), "blur"),
    "green marker stroke": (_stroke((40, 170, 60)), "pen"),
    "blue marker stroke": (_stroke((30, 60, 200)), "pen"),
    "black marker stroke": (_stroke((12, 12, 12)), "pen"),
    "white glass": (lambda t: np.full_like(t, 242), "background"),
    "darkened to 15% (a fold)": (lambda t: (t * 0.15).astype(np.uint8), "dark"),
}


def test_clean_tissue_passes() -> None:
    assert [qc_tile(t).flag for t in TILES] == ["ok"] * len(TILES) == ["ok"] * 25
    with open_slide(SMALL_SVS) as slide:  # 100 µm tiles: denser nuclei, smaller fields
        small = physical_grid(slide, tile_um=100.0, mpp=2.0, min_tissue=0.25)
        assert len(small) == 75
        assert [r.flag for r in qc_grid(slide, small)] == ["ok"] * 75


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_a_transformed_copy_is_flagged(name: str) -> None:
    transform, flag = TRANSFORMS[name]
    assert [qc_tile(transform(t)).flag for t in TILES] == [flag] * len(TILES)


def _scale_od(tile: np.ndarray, k: float) -> np.ndarray:
    """The tile with k times its stain: each channel's optical density multiplied by k."""
    od = -np.log(np.clip(tile.astype(np.float32) / 255.0, 1 / 255.0, 1.0))
    return np.clip(255.0 * np.exp(-k * od), 0, 255).round().astype(np.uint8)


PALE = ROOT / "tests" / "data" / "qc" / "SOB_M_MC-14-13413-100-030.png"  # pale mucinous carcinoma, 100X


def test_staining_limits_on_real_tiles() -> None:
    # The CMU slide's tiles (TILES[5:]): with doubled stain the densest are dark (a fold's rule comes
    # first), one more is overstained (mean OD 1.010 -> 1.887), the rest stay within real tissue's range.
    cmu = TILES[5:]
    assert [qc_tile(t).flag for t in cmu] == ["ok"] * 20
    doubled = [qc_tile(_scale_od(t, 2.0)).flag for t in cmu]
    assert doubled.count("dark") == 4 and doubled.count("ok") == 15
    assert [i for i, f in enumerate(doubled) if f == "overstained"] == [9]
    assert qc_tile(cmu[9]).optical_density == pytest.approx(1.010, abs=0.001)
    # A pale BreakHis image: its nine sub-images pass, and all nine are understained at 0.4x stain.
    rgb = np.asarray(Image.open(PALE).convert("RGB"))
    h, w = rgb.shape[:2]
    subs = [rgb[r * h // 3:(r + 1) * h // 3, c * w // 3:(c + 1) * w // 3] for r in range(3) for c in range(3)]
    assert [qc_tile(t).flag for t in subs] == ["ok"] * 9
    assert [qc_tile(_scale_od(t, 0.4)).flag for t in subs] == ["understained"] * 9
    assert [qc_tile(_scale_od(t, 2.0)).flag for t in subs] == ["ok"] * 9  # 2x of a pale stain is still in range


def test_qc_command_finds_the_tiles_a_pen_stroke_crosses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rgb = np.asarray(Image.open(SAMPLE).convert("RGB")).copy()
    cv2.line(rgb, (0, 230), (699, 230), (40, 170, 60), 30)  # across the middle row of the 3x3 cut
    marked = tmp_path / SAMPLE.name  # the same BreakHis name: the same grid
    Image.fromarray(rgb).save(marked)
    table = tmp_path / "qc.csv"
    assert main(["qc", str(marked), "--csv", str(table), "--quiet"]) == 0
    rows = [line.split(",") for line in table.read_text().splitlines()[1:]]
    assert [(r[4], r[5], r[7]) for r in rows] == [(str(i // 3), str(i % 3), "pen" if i // 3 == 1 else "ok")
                                                  for i in range(9)]
    assert "9 tiles of the breakhis-100x grid: 6 ok" in capsys.readouterr().out
    assert main(["qc", str(SMALL_SVS), "--json", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == "idc-wsi" and report["tiles"]["ok"] == 20 and report["tissue_share"]["ok"] == 1.0


def test_predict_leaves_out_what_quality_control_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    from pyramid_fixture import write_pyramid_tiff

    with open_slide(SMALL_SVS) as slide:
        rgb = slide.read_region(0, 0, 0, *slide.dimensions).copy()
    cv2.line(rgb, (700, 1000), (1700, 1000), (40, 170, 60), 120)  # a green marker line across tissue
    marked = write_pyramid_tiff(tmp_path / "marked.svs", rgb, levels=2, aperio_mag=20)
    out = tmp_path / "out"
    assert main(["predict", str(marked), "--mpp", "0.499", "--out", str(out), "--quiet"]) == 0
    assert "quality control left out 3 of 21 tiles (3 pen)" in capsys.readouterr().err
    with (out / "marked" / "tiles.csv").open(newline="") as table:
        rows = list(csv.DictReader(table))
    pen = [r for r in rows if r["qc_flag"] == "pen"]
    assert len(pen) == 3 and all(r["p_malignant"] == "" for r in pen)  # never scored
    assert all(int(r["y"]) <= 1000 < int(r["y"]) + int(r["h"]) for r in pen)  # the tiles the line crosses
    assert all(r["p_malignant"] != "" for r in rows if r["qc_flag"] == "ok")
    features = json.loads((out / "marked" / "tiles.geojson").read_text())["features"]
    ignored = [f for f in features if f["properties"]["classification"]["name"] == "Ignore*"]
    assert sorted(f["properties"]["metadata"]["qc_flag"] for f in ignored) == ["pen"] * 3
    heat = np.asarray(Image.open(out / "marked" / "heatmap.png"))
    assert (heat.reshape(-1, 4) == (90, 90, 90, 200)).all(axis=1).sum() > 1000  # hatched grey


def test_a_glass_only_image_never_turns_malignant(tmp_path: Path) -> None:
    glass = tmp_path / "SOB_B_A-14-22549AB-100-099.png"
    Image.new("RGB", (700, 460), (244, 244, 244)).save(glass)
    out = tmp_path / "out"
    assert main(["predict", str(glass), "--qc", "on", "--out", str(out), "--quiet"]) == 0
    row = (out / "summary.csv").read_text().splitlines()[1].split(",")
    assert row[1:5] == ["ok", "", "", ""]  # nothing scored: no p, no label
    with open(out / glass.stem / "tiles.csv", newline="") as fh:
        flags = [r["qc_flag"] for r in csv.DictReader(fh)]
    assert flags == ["background"] * 9


def test_the_plan_reuses_quality_control_already_run(monkeypatch: pytest.MonkeyPatch) -> None:
    import bcviewer.inference.plan as plan_module
    from bcviewer.inference.plan import PlanOptions
    from bcviewer.qc import GridQc
    from bcviewer.regions import Region
    from shapely.geometry import box

    passes: list[int] = []
    real = plan_module.qc_grid
    monkeypatch.setattr(plan_module, "qc_grid", lambda slide, grid: passes.append(len(grid)) or real(slide, grid))
    with open_slide(SMALL_SVS) as slide:
        first = plan_input(slide)
        assert passes == [20] and first.qc is not None and not first.qc_given
        done = GridQc(first.grid, first.qc)
        again = plan_input(slide, qc=done)
        assert passes == [20] and again.qc == first.qc and again.qc_given
        # Inside a region: the flags of the tiles inside, from the same pass.
        left = Region("left", "Tumor", box(0, 0, 1100, 2967))
        inside = plan_input(slide, PlanOptions(regions=(left,)), qc=done)
        assert passes == [20] and inside.qc_given and len(inside.qc or ()) == len(inside.grid) < 20
        # A partial pass (cancelled) or another grid is not reused: the plan checks the tiles itself.
        partial = plan_input(slide, qc=GridQc(first.grid, first.qc[:5]))
        assert passes == [20, 20] and not partial.qc_given
        smaller = plan_input(slide, PlanOptions(tile_um=100.0), qc=done)
        assert passes[-1] == len(smaller.grid) != 20 and not smaller.qc_given


def test_understained_tiles_through_qc_and_predict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The pale BreakHis image with 0.4x its stain, under its own name (so the same 3x3 grid).
    rgb = _scale_od(np.asarray(Image.open(PALE).convert("RGB")), 0.4)
    faded = tmp_path / PALE.name
    Image.fromarray(rgb).save(faded)
    assert main(["qc", str(faded), "--json", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tiles"]["understained"] == 9 and report["tissue_share"]["understained"] == 1.0
    out = tmp_path / "out"
    assert main(["predict", str(faded), "--qc", "on", "--out", str(out), "--quiet"]) == 0
    assert "quality control left out 9 of 9 tiles (9 understained)" in capsys.readouterr().err
    with (out / faded.stem / "tiles.csv").open(newline="") as table:
        rows = list(csv.DictReader(table))
    assert [r["qc_flag"] for r in rows] == ["understained"] * 9 and all(r["p_malignant"] == "" for r in rows)
    features = json.loads((out / faded.stem / "tiles.geojson").read_text())["features"]
    assert [f["properties"]["classification"]["name"] for f in features] == ["Ignore*"] * 9
    assert {f["properties"]["metadata"]["qc_flag"] for f in features} == {"understained"}
