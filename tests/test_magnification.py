"""Microscopy images at other magnifications: scale-matched tiles, where the magnification came from."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import torch
from gui_helpers import dialogs, models_dir, settings, tiny_models, window  # noqa: F401
from inference_helpers import IMAGE_SPEC, save_tiny_model

from bcviewer.cli.main import main
from bcviewer.inference.grids import analysis_grid, image_magnification, magnification_note
from bcviewer.slides import open_slide
from bcviewer.tiling.magnification import MagnificationError, parse_magnification, tiles_per_side

FIXTURE = "breakhis/SOB_B_A-14-22549AB-100-001.png"


@pytest.mark.parametrize("magnification,side", [(40, 8), (100, 3), (200, 2), (400, 1)])
def test_tiles_a_side_keep_the_tissue_field_of_a_100x_sub_image(magnification: int, side: int) -> None:
    assert tiles_per_side(magnification, 100, 3) == side


@pytest.mark.parametrize("text", ["4x0", "0", "-100", "100.5", "", "nan"])
def test_a_malformed_magnification_is_refused(text: str) -> None:
    with pytest.raises(MagnificationError):
        parse_magnification(text)
    assert parse_magnification("400X") == parse_magnification(" 400 ") == 400


def _copy(test_data: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copy(test_data / FIXTURE, target)
    return target


def test_the_magnification_comes_from_the_name_the_user_or_is_stated_as_assumed(test_data: Path,
                                                                                tmp_path: Path) -> None:
    named = _copy(test_data, tmp_path, "SOB_B_A-14-22549AB-400-001.png")
    plain = _copy(test_data, tmp_path, "case123.png")
    with open_slide(named) as slide:
        grid = analysis_grid(slide, IMAGE_SPEC)
        assert (grid.rows, grid.cols, len(grid)) == (1, 1, 1)
        assert grid[0].rect == (0, 0, 700, 460)
        assert image_magnification(slide, IMAGE_SPEC).source == "file name"
        assert "400X (from the file name)" in magnification_note(slide, IMAGE_SPEC, grid)
        chosen = analysis_grid(slide, IMAGE_SPEC, magnification=40)
        assert (chosen.rows, chosen.cols) == (8, 8) and chosen[1].rect == (87, 0, 88, 57)
    with open_slide(plain) as slide:
        grid = analysis_grid(slide, IMAGE_SPEC)
        assert (grid.rows, grid.cols) == (3, 3)
        note = magnification_note(slide, IMAGE_SPEC, grid)
        assert note is not None and "100X (assumed: the model's training magnification" in note
    with open_slide(test_data / FIXTURE) as slide:  # the model's own magnification, from the name
        assert magnification_note(slide, IMAGE_SPEC, analysis_grid(slide, IMAGE_SPEC)) is None


def test_predict_scores_a_400x_image_as_one_tile_and_says_why(test_data: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    torch.set_num_threads(1)
    model = save_tiny_model(tmp_path / "models" / "breakhis-100x", IMAGE_SPEC, seed=1)
    named = _copy(test_data, tmp_path, "SOB_B_A-14-22549AB-400-001.png")
    plain = _copy(test_data, tmp_path, "case123.png")
    out = tmp_path / "out"
    assert main(["predict", str(named), str(plain), "--model", str(model), "--out", str(out), "--formats", "csv",
                 "--device", "cpu", "--quiet", "--magnification", "200"]) == 0
    rows = {Path(r["path"]).name: r for r in csv.DictReader((out / "summary.csv").open())}
    assert rows[named.name]["n_tiles"] == "4" and rows[plain.name]["n_tiles"] == "4"  # the user's 200X wins
    err = capsys.readouterr().err
    assert "magnification 200X (chosen by the user); cut into 2x2 tiles" in err
    assert main(["predict", str(named), "--model", str(model), "--out", str(tmp_path / "o2"), "--formats", "csv",
                 "--device", "cpu", "--quiet"]) == 0
    row = next(csv.DictReader((tmp_path / "o2" / "summary.csv").open()))
    assert row["n_tiles"] == "1"
    assert "magnification 400X (from the file name); cut into 1x1 tiles" in capsys.readouterr().err


def test_the_viewer_analyses_at_the_chosen_magnification_and_forgets_it_for_the_next_image(
        qtbot, window, models_dir: Path, test_data: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from gui_helpers import open_and_wait

    named = _copy(test_data, tmp_path, "SOB_B_A-14-22549AB-400-001.png")
    open_and_wait(qtbot, window, named)
    with qtbot.waitSignal(window.slide.analysis.finished, timeout=120_000) as blocker:
        window.slide.run()
    assert len(blocker.args[0].grid) == 1  # 400X from the file name: one tile
    window.slide.set_magnification(40)
    checked = [a.data() for a in window.action_set.magnification_group.actions() if a.isChecked()]
    assert checked == [40]
    with qtbot.waitSignal(window.slide.analysis.finished, timeout=120_000) as blocker:
        window.slide.run()
    assert (blocker.args[0].grid.rows, blocker.args[0].grid.cols) == (8, 8)
    open_and_wait(qtbot, window, test_data / FIXTURE)
    assert window.slide.session.magnification is None
    assert [a.data() for a in window.action_set.magnification_group.actions() if a.isChecked()] == [0]
