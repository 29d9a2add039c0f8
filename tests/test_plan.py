"""The one input decision (``bcviewer.inference.plan``): what an input is, its scale and where
that came from, the model and why, the grid with its tissue mask, and the notes; and ``predict``
opening each input once, choosing its model when it opens it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bcviewer.batch.work import PlannedInput, model_runs
from bcviewer.cli.main import main
from bcviewer.export import tissue_for
from bcviewer.inference import SlideJob, TileScores
from bcviewer.inference.plan import NoTilesError, PlanOptions, choose_model, plan_input
from bcviewer.slides import open_slide

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_PNG = ROOT / "resources" / "sample" / "SOB_M_MC-14-13413-100-003.png"
SMALL_SVS = ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs"


@pytest.fixture()
def shipped_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BCVIEWER_MODELS", raising=False)


def test_a_microscopy_image_is_planned_as_3x3_sub_images_by_the_breakhis_model(shipped_models: None) -> None:
    with open_slide(SAMPLE_PNG) as slide:
        plan = plan_input(slide)
    assert (plan.kind, plan.mpp, plan.mpp_source) == ("image", None, "unknown")
    assert (plan.model.source, plan.model.reason) == ("breakhis-100x", "the default for microscopy images")
    assert (plan.grid.kind, plan.grid.rows, plan.grid.cols, len(plan.grid)) == ("subimage", 3, 3, 9)
    # 700 x 460 px cut at i * size // n: widths 233, 233, 234 and heights 153, 153, 154.
    assert plan.grid.rects()[[0, 2, 8]].tolist() == [[0, 0, 233, 153], [466, 0, 234, 153], [466, 306, 234, 154]]
    assert plan.description == "breakhis-100x: microscopy images at 100X, cut 3x3"
    assert plan.notes() == () and plan.panel_warnings() == []  # 100X read from the file name: nothing to say


def test_a_whole_slide_is_planned_with_the_idc_model_its_pixel_size_and_its_tissue_mask(shipped_models: None) -> None:
    with open_slide(SMALL_SVS) as slide:
        plan = plan_input(slide)
        assert (plan.kind, plan.kind_reason, plan.mpp, plan.mpp_source) == ("whole-slide", "aperio format", 0.499,
                                                                            "file")
        assert (plan.model.source, plan.model.reason) == ("idc-wsi", "the default for whole slides (aperio format)")
        grid = plan.grid
        assert (grid.kind, grid.rows, grid.cols, len(grid), grid.out_size) == ("physical", 8, 6, 20, (50, 50))
        assert grid.rects()[0].tolist() == [802, 0, 401, 401]  # 200 µm at 0.499 µm/px
        # The grid carries the mask its tissue fractions came from; the exports reuse it.
        assert grid.tissue is not None
        assert np.allclose(grid.tissue.fractions(grid.rects().astype(float)).round(4), [t.tissue for t in grid])
        n = len(grid)
        scores = TileScores(grid, np.full(n, 0.5), np.zeros(n), np.zeros((n, 1, 2)), np.zeros((n, 1, 2)),
                            np.ones(n, bool), model_name="idc-wsi")
        assert tissue_for(scores, slide) is grid.tissue  # not detected a second time


def test_a_requested_model_is_used_and_said_to_be_the_users(shipped_models: None) -> None:
    with open_slide(SAMPLE_PNG) as slide:
        choice = choose_model(slide, "idc-wsi")
        assert (choice.source, choice.name, choice.reason) == ("idc-wsi", "idc-wsi", "chosen by the user")
        plan = plan_input(slide, PlanOptions(model="idc-wsi", tile_px=230))
    assert plan.model.source == "idc-wsi" and plan.grid.kind == "physical"
    # Said aloud, not guessed away: the wrong kind of input, and a scale that cannot be matched.
    assert plan.notes() == (
        "warning: idc-wsi was trained on whole-slide tiles of 200 µm, but SOB_M_MC-14-13413-100-003.png is a "
        "microscopy image; its scores are out of distribution",
        "warning: the pixel size of SOB_M_MC-14-13413-100-003.png is unknown, so its tiles cannot be matched to "
        "the 200 µm tiles idc-wsi was trained on")


def test_no_tile_with_tissue_is_one_clear_error(tmp_path: Path, shipped_models: None) -> None:
    blank = tmp_path / "glass.png"
    Image.new("RGB", (700, 460), (250, 250, 250)).save(blank)
    with open_slide(blank) as slide, pytest.raises(NoTilesError, match="glass.png: no tile has enough tissue"):
        plan_input(slide, PlanOptions(min_tissue=0.5))


def _job(model: str | None) -> SlideJob:
    key = PlannedInput(0, Path(f"{model}.png"))
    if model is None:
        return SlideJob(key, error=ValueError("unreadable"))
    key.plan = type("Plan", (), {"model": type("Choice", (), {"source": model})()})()  # type: ignore[assignment]
    return SlideJob(key)


def test_model_runs_split_consecutive_inputs_by_model_and_keep_the_order() -> None:
    jobs = [_job(None), _job("a"), _job("a"), _job(None), _job("b"), _job("a")]
    runs = [(model, [j.key.model_source for j in run]) for model, run in model_runs(iter(jobs))]
    assert runs == [(None, [None]), ("a", ["a", "a", None]), ("b", ["b"]), ("a", ["a"])]


def test_predict_opens_each_input_once_and_chooses_its_model_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   shipped_models: None) -> None:
    import bcviewer.batch.work as work

    inputs = tmp_path / "in"
    inputs.mkdir()
    names = ["a.png", "b.svs", "c.png"]
    for name, source in zip(names, (SAMPLE_PNG, SMALL_SVS, SAMPLE_PNG)):
        shutil.copy(source, inputs / name)
    opened: list[str] = []

    def counting_open(path: Path):  # type: ignore[no-untyped-def]
        opened.append(Path(path).name)
        return open_slide(path)

    monkeypatch.setattr(work, "open_slide", counting_open)
    out = tmp_path / "out"
    assert main(["predict", *(str(inputs / n) for n in names), "--out", str(out), "--formats", "csv",
                 "--quiet"]) == 0
    assert opened == names  # once each, in order
    sources = [json.loads((out / Path(n).stem / "manifest.json").read_text())["model"]["source"] for n in names]
    assert sources == ["breakhis-100x", "idc-wsi", "breakhis-100x"]


def test_the_model_choice_is_made_in_one_function() -> None:
    """Only the plan reads the default model names; everything else asks choose_model."""
    allowed = {"inference/grids.py", "inference/plan.py", "inference/__init__.py"}
    offenders = []
    for path in sorted((ROOT / "bcviewer").rglob("*.py")):
        rel = path.relative_to(ROOT / "bcviewer").as_posix()
        text = path.read_text()
        if rel not in allowed and ("DEFAULT_IMAGE_MODEL" in text or "DEFAULT_SLIDE_MODEL" in text):
            offenders.append(rel)
    assert offenders == []
