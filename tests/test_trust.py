"""Trust signals: margin uncertainty, conformal prediction sets, the outside-training flag, and
``evaluate`` scoring exactly what ``predict`` scores.

The conformal test draws exchangeable synthetic data (a known, calibrated model), where the
guarantee must hold; the outside-training tests use the shipped ``breakhis-100x`` card's density on
real inputs: a natural photo and bare glass must be flagged, BreakHis tissue must not be.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bcviewer.batch.work import PredictOptions, scored_inputs
from bcviewer.cli.main import main
from bcviewer.inference import Predictor, TileScores, Trust, margin_uncertainty
from bcviewer.inference.trust import ConformalSets, calibrate_sets, set_name, tile_looks
from bcviewer.nets import load_model
from bcviewer.slides import open_slide
from bcviewer.tiling import subimage_grid

BREAKHIS = ["SOB_B_A-14-22549AB-100-001.png", "SOB_B_F-14-14134E-100-001.png",
            "SOB_M_DC-14-13412-100-001.png", "SOB_M_PC-14-12465-100-001.png"]


def test_margin_uncertainty_is_zero_when_sure_and_one_at_a_coin_toss() -> None:
    assert margin_uncertainty(np.array([0.0, 1.0, 0.5, 0.25, 0.9])).tolist() == pytest.approx([0, 0, 1, 0.5, 0.2])
    assert np.isnan(margin_uncertainty(np.nan))


def _draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A calibrated classifier's p and labels drawn from it: P(y = 1 | p) = p."""
    p = 1.0 / (1.0 + np.exp(-rng.normal(0.0, 2.0, n)))
    return (rng.random(n) < p).astype(int), p


@pytest.mark.parametrize("confidence", [0.8, 0.9])
def test_conformal_sets_cover_the_truth_at_the_nominal_rate_on_exchangeable_data(confidence: float) -> None:
    rng = np.random.default_rng(20)
    coverages, review = [], []
    for _ in range(200):
        y_cal, p_cal = _draw(rng, 100)
        y, p = _draw(rng, 400)
        sets = ConformalSets.from_card(calibrate_sets(y_cal, p_cal, confidence, "image")).members(p)
        coverages.append(sets[np.arange(len(y)), y].mean())
        review.append(sets.all(axis=1).mean())
    # split conformal: E[coverage] lies in [confidence, confidence + 1/(n_cal + 1)]
    assert confidence - 0.005 <= np.mean(coverages) <= confidence + 1 / 101 + 0.005
    assert 0.0 < np.mean(review) < 1.0  # the sets are not trivially always both labels


def test_a_set_is_one_label_review_or_none() -> None:
    assert [set_name(True, False), set_name(False, True), set_name(True, True), set_name(False, False)] == [
        "benign", "malignant", "review", "none"]
    sets = ConformalSets(0.9, np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.1, 0.05, 0.2, 0.3, 0.35]))
    # the 90% quantile of these 10 scores (with the +1) is the largest, 0.6: labels with 1 - p <= 0.6 fit
    assert sets.names(np.array([0.95, 0.05, 0.5, np.nan])) == ["malignant", "benign", "review", None]


def test_scores_say_review_and_outside_in_the_verdict(test_data: Path) -> None:
    with open_slide(test_data / "breakhis" / BREAKHIS[0]) as slide:
        grid = subimage_grid(slide, 3, 3)
    n = len(grid)
    trust = Trust(image_sets=ConformalSets(0.9, np.linspace(0.0, 0.6, 20)), tile_sets=None)
    p = np.full(n, 0.55)
    scores = TileScores(grid, p, margin_uncertainty(p), np.zeros((n, 0)), np.zeros((n, 0, 2)), np.ones(n, bool),
                        trust=trust)
    assert scores.image_set == "review" and scores.image_uncertain
    assert scores.verdict == "review (leaning malignant)"
    assert scores.image_outside is None  # no density in this trust: nothing is claimed
    sure = TileScores(grid, np.full(n, 0.97), margin_uncertainty(np.full(n, 0.97)), np.zeros((n, 0)),
                      np.zeros((n, 0, 2)), np.ones(n, bool), trust=trust)
    assert sure.image_set == "malignant" and sure.verdict == "malignant"
    assert sure.image_uncertainty == pytest.approx(0.06)


@pytest.fixture(scope="module")
def shipped() -> Predictor:
    return Predictor(load_model("breakhis-100x"), runtime="onnx")


def _outside(predictor: Predictor, paths: list[Path]) -> list[TileScores]:
    out = []
    for result in scored_inputs(predictor, list(enumerate(paths)), PredictOptions(formats=())):
        assert result.scores is not None, result.error
        out.append(result.scores)
    return out


def test_outside_training_fires_on_a_natural_photo_and_glass_and_not_on_tissue(
        shipped: Predictor, test_data: Path, tmp_path: Path) -> None:
    from skimage import data as photos

    assert shipped.trust.looks is not None, "the shipped card must carry its outside-training density"
    Image.fromarray(photos.astronaut()).save(tmp_path / "astronaut.png")
    with open_slide(test_data / "slides" / "cmu_small_region.svs") as slide:
        Image.fromarray(slide.read_region(0, 0, 0, 700, 460)).save(tmp_path / "glass.png")  # bare glass corner
    photo, glass, *tissue = _outside(shipped, [tmp_path / "astronaut.png", tmp_path / "glass.png",
                                               *(test_data / "breakhis" / n for n in BREAKHIS)])
    assert photo.image_outside and photo.tile_outside().all()
    assert glass.image_outside and glass.tile_outside().sum() >= 6  # a corner tile may catch the tissue edge
    assert photo.verdict is not None and photo.verdict.endswith(", outside training data")
    for scores in tissue:
        assert scores.image_outside is False and scores.tile_outside().sum() <= 1


def test_tile_looks_separate_glass_from_stained_tissue(test_data: Path) -> None:
    with open_slide(test_data / "breakhis" / BREAKHIS[2]) as slide:
        tissue = slide.read_region(0, 0, 0, 224, 144)
    glass = np.full((144, 224, 3), 238, dtype=np.uint8)
    looks = tile_looks(np.stack([tissue, glass]))
    white = looks[:, 6]  # white_share
    assert looks.shape == (2, 12) and white[1] == 1.0 and white[0] < 0.5
    assert looks[0, 0] > looks[1, 0]  # tissue absorbs more red light than glass


def test_evaluate_scores_each_image_as_predict_does(test_data: Path, tmp_path: Path) -> None:
    """Same p for every image from ``predict`` and ``evaluate``, at 100X (3x3) and at 40X and 400X,
    where predict scale-matches the tiles (8x8 and 1x1), as evaluate must too."""
    folder = tmp_path / "images"
    folder.mkdir()
    names = [*BREAKHIS[:2], "SOB_M_LC-14-12204-40-001.png", "SOB_B_A-14-22549AB-400-002.png"]
    for name in names:
        source = test_data / ("breakhis" if "-100-" in name else "breakhis_multimag") / name
        (folder / name).write_bytes(source.read_bytes())
    out = tmp_path / "out"
    assert main(["predict", str(folder), "--model", "breakhis-100x", "--out", str(out), "--quiet"]) == 0
    with open(out / "summary.csv", newline="") as fh:
        predicted = {Path(r["path"]).name: r for r in csv.DictReader(fh)}
    assert main(["evaluate", "breakhis-100x", str(folder), "--json", str(tmp_path / "e.json"), "--quiet"]) == 0
    report = json.loads((tmp_path / "e.json").read_text())
    evaluated = {Path(r["path"]).name: r for r in report["per_image"]}
    assert sorted(evaluated) == sorted(names)
    for name in names:
        assert evaluated[name]["p_malignant"] == pytest.approx(float(predicted[name]["p_malignant"]), abs=1e-6)
        assert evaluated[name]["n_tiles"] == int(predicted[name]["n_tiles"])
        assert (evaluated[name]["prediction_set"] or "") == predicted[name]["prediction_set"]
    assert evaluated["SOB_M_LC-14-12204-40-001.png"]["n_tiles"] == 64
    assert evaluated["SOB_B_A-14-22549AB-400-002.png"]["n_tiles"] == 1
    assert set(report["per_magnification"]) == {"40X", "100X", "400X"}
