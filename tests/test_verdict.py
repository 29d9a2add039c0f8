"""The slide and region verdict: the rules on hand-computed inputs, "no verdict" without scored
tissue, and the verdict columns of summary.csv and regions.csv on the real fixture slide."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import box

from bcviewer.cli.main import main
from bcviewer.inference import TileScores, Trust
from bcviewer.inference.rules import VerdictRule
from bcviewer.inference.trust import ConformalSets
from bcviewer.inference.verdict import VERDICT_FIELDS, verdict_of
from bcviewer.regions import Region, region_stats, regions_geojson, stats_csv_text
from bcviewer.tiling import Tile, TileGrid

ROOT = Path(__file__).resolve().parent.parent
SMALL_SVS = ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs"
SAMPLE_PNG = ROOT / "resources" / "sample" / "SOB_M_MC-14-13413-100-003.png"
P9 = np.array([0.1, 0.2, 0.9, 0.4, 0.7, 0.3, 0.8, 0.6, 0.5])  # a 3x3 image's sub-image p, sum 4.5


def test_each_rule_on_nine_sub_images_gives_the_hand_computed_value() -> None:
    assert VerdictRule("mean").aggregate(P9) == pytest.approx(0.5)
    assert VerdictRule("top_k_mean", top_share=0.1).aggregate(P9) == pytest.approx(0.9)  # k = ceil(0.9) = 1
    assert VerdictRule("top_k_mean", top_share=0.25).aggregate(P9) == pytest.approx((0.9 + 0.8 + 0.7) / 3)  # k = 3
    assert VerdictRule("top_k_mean", top_share=0.5).aggregate(P9) == pytest.approx(0.7)  # k = 5: 0.9 .. 0.5
    # 5 of 9 tiles at or above 0.5: share 5/9, mapped so that a share of 0.5 lands on 0.5: 0.5 + 1/18.
    share = VerdictRule("tissue_share", share_cut=0.5)
    assert share.aggregate(P9) == pytest.approx(0.5 + 1 / 18)
    weights = np.array([1, 1, 1, 1, 1, 1, 1, 1, 10.0])  # the 0.5 tile holds most of the tissue: 14/18 above
    assert share.aggregate(P9, weights) == pytest.approx(0.5 + (14 / 18 - 0.5))
    # A quarter of the tissue malignant makes the set malignant at share_cut 0.25: 0.25 -> 0.5.
    assert VerdictRule("tissue_share", share_cut=0.25).aggregate(np.array([0.9, 0.1, 0.2, 0.3])) == pytest.approx(0.5)
    assert VerdictRule("tissue_share", share_cut=0.25).aggregate(np.array([0.4, 0.1, 0.2, 0.3])) == pytest.approx(0.0)


def test_top_k_grows_with_the_number_of_tiles() -> None:
    rule = VerdictRule("top_k_mean", top_share=0.1)
    assert [rule.k_of(n) for n in (0, 1, 4, 9, 10, 11, 64, 1000, 12345)] == [0, 1, 1, 1, 1, 2, 7, 100, 1235]
    slide = np.r_[np.full(900, 0.2), np.full(100, 0.9)]  # a 1,000-tile slide with a 10% malignant focus
    assert rule.aggregate(slide) == pytest.approx(0.9) and VerdictRule().aggregate(slide) == pytest.approx(0.27)


def test_a_card_names_its_rule_and_one_without_gets_the_mean() -> None:
    entry = {"rule": "top_k_mean", "parameters": {"top_share": 0.1, "min_tiles": 1}}
    assert Trust.from_card({"verdict": entry}).rule == VerdictRule("top_k_mean", top_share=0.1)
    assert Trust.from_card({"verdict": {**entry, "validated": True}}).rule.title == "top 10% mean"
    # A rule no patient tested says so wherever the verdict is shown.
    assert Trust.from_card({}).rule == VerdictRule("mean") and Trust.from_card({}).rule.title == "mean (not validated)"
    with pytest.raises(ValueError, match="unknown verdict rule 'max'"):
        VerdictRule.from_card({"rule": "max"})


def _grid(n: int) -> TileGrid:
    return TileGrid(tuple(Tile(10 * k, 0, 10, 10, 0, 10, 10, 0, k, 1.0) for k in range(n)), (10 * n, 10), 1, n)


def test_the_verdict_of_a_tile_set_and_its_interval() -> None:
    p = np.array([0.2, 0.4, 0.9, 0.7, np.nan])  # the last tile was not scored
    trust = Trust(image_sets=ConformalSets(0.9, np.full(20, 0.5)), rule=VerdictRule("top_k_mean", top_share=0.25))
    scores = TileScores(_grid(5), p, np.zeros(5), np.zeros((5, 0)), np.zeros((5, 0, 2)), ~np.isnan(p), trust=trust)
    slide = scores.slide_verdict
    # 4 scored tiles, k = ceil(0.25 * 4) = 1: the highest p.
    assert (slide.rule, slide.value, slide.label, slide.tiles_used) == ("top 25% mean (not validated)", 0.9, "malignant", 4)
    assert slide.prediction_set == "malignant" and slide.review is False and slide.outside is None
    assert 0.4 <= slide.low <= slide.value <= slide.high <= 0.9 and slide.text == "malignant"
    assert scores.image_p_malignant == 0.9 and scores.verdict == "malignant"
    region = verdict_of(scores, np.array([0, 1]))  # the same code on two tiles: k = 1 of 2
    assert (region.value, region.label, region.tiles_used) == (0.4, "benign", 2)
    assert math.isnan(verdict_of(scores, np.array([2])).low)  # one tile: no interval
    cells = dict(zip(VERDICT_FIELDS, region.cells()))
    assert cells == {"verdict_rule": "top 25% mean (not validated)", "verdict": "benign", "verdict_value": "0.400000",
                     "verdict_low": "0.200000", "verdict_high": "0.400000", "prediction_set": "benign",
                     "review": "no", "outside_training": ""}


def test_a_region_of_glass_or_unscored_tiles_has_no_verdict_never_malignant() -> None:
    p = np.array([0.95, np.nan, np.nan, 0.99])
    flags = ("ok", "background", "background", "ok")  # quality control never scores glass
    scores = TileScores(_grid(4), p, np.zeros(4), np.zeros((4, 0)), np.zeros((4, 0, 2)), ~np.isnan(p),
                        qc_flags=flags)
    glass = verdict_of(scores, np.array([False, True, True, False]))
    assert glass.label is None and glass.tiles_used == 0 and np.isnan(glass.value)
    assert glass.text == "no verdict: not enough tissue (quality control left out every tile)"
    assert glass.cells()[1:] == [glass.text, "", "", "", "", "", ""]
    empty = verdict_of(scores, np.zeros(4, dtype=bool))
    assert empty.text == "no verdict: not enough tissue (no tissue tile inside)" and empty.review is None
    cancelled = TileScores.unscored(_grid(4))
    assert verdict_of(cancelled).text == "no verdict: no tile scored yet" and cancelled.image_label is None
    assert verdict_of(scores).label == "malignant"  # the slide itself: its two tissue tiles
    strict = verdict_of(scores, None, VerdictRule("mean", min_tiles=3))
    assert strict.text == "no verdict: 2 tissue tile(s) scored, 3 needed"


def test_regions_csv_says_no_verdict_for_a_glass_region_of_the_real_slide(tmp_path: Path) -> None:
    """cmu_small_region.svs scored by the shipped model; quality control is told the top-right
    square is glass (as it would flag a glass tile), so none of its tiles is scored."""
    from bcviewer.inference import Predictor
    from bcviewer.inference.plan import plan_input
    from bcviewer.nets import load_model
    from bcviewer.regions import tiles_inside
    from bcviewer.slides import open_slide

    top, bottom = Region("top", "Tumor", box(802, 0, 1604, 802)), Region("rest", "Tumor", box(0, 802, 2220, 2967))
    with open_slide(SMALL_SVS) as slide:
        plan = plan_input(slide)
        glass = tiles_inside(plan.grid, top.shape)
        flags = tuple("background" if g else "ok" for g in glass)
        scores = Predictor(load_model(plan.model.source), device="cpu", runtime="onnx").run(
            slide, plan.grid, qc_flags=flags)
    assert glass.sum() == 3 and not scores.done[glass].any()
    stats = [region_stats(r, scores, 0.499, plan.grid.tissue) for r in (top, bottom)]
    rows = list(csv.DictReader(stats_csv_text(stats).splitlines()))
    assert rows[0]["verdict"] == "no verdict: not enough tissue (quality control left out every tile)"
    assert rows[0]["verdict_value"] == "" and rows[0]["tiles_scored"] == "0"
    scored = scores.p_malignant[tiles_inside(plan.grid, bottom.shape) & scores.done]
    assert rows[1]["verdict_rule"] == "mean (not validated)" and float(rows[1]["verdict_value"]) == pytest.approx(scored.mean(), abs=1e-6)
    assert rows[1]["verdict"].split(",")[0] in ("benign", "malignant", "review (leaning benign)",
                                                "review (leaning malignant)")


@pytest.fixture()
def shipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BCVIEWER_MODELS", raising=False)


def test_summary_and_regions_csv_carry_the_verdict_of_the_shipped_cards(tmp_path: Path, shipped: None) -> None:
    roi = tmp_path / "roi.geojson"
    roi.write_text(json.dumps(regions_geojson([Region("top", "Tumor", box(802, 0, 1604, 802))])))
    out = tmp_path / "out"
    assert main(["predict", str(SAMPLE_PNG), "--out", str(out), "--quiet", "--runtime", "onnx"]) == 0
    assert main(["predict", str(SMALL_SVS), "--roi", str(roi), "--out", str(tmp_path / "roi"), "--quiet",
                 "--runtime", "onnx"]) == 0
    with open(out / "summary.csv", newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    with open(out / SAMPLE_PNG.stem / "tiles.csv", newline="") as fh:
        p = [float(t["p_malignant"]) for t in csv.DictReader(fh)]
    # breakhis-100x's rule is the top 10% mean: 1 of 9 sub-images, the highest.
    assert row["verdict_rule"] == "top 10% mean" and float(row["p_malignant"]) == pytest.approx(max(p), abs=1e-6)
    assert row["label"] == ("malignant" if max(p) >= 0.5 else "benign")
    assert float(row["verdict_low"]) <= float(row["p_malignant"]) <= float(row["verdict_high"])
    assert row["review"] == ("yes" if row["prediction_set"] in ("review", "none") else "no")
    assert row["verdict"].startswith("review (leaning" if row["review"] == "yes" else row["label"])
    manifest = json.loads((out / SAMPLE_PNG.stem / "manifest.json").read_text())
    assert manifest["summary"]["verdict"] == row["verdict"]  # the batch record says the same, and the GeoJSON
    meta = json.loads((out / SAMPLE_PNG.stem / "tiles.geojson").read_text())["bcviewer"]
    assert (meta["verdict_rule"], meta["verdict"]) == (row["verdict_rule"], row["verdict"])
    assert meta["verdict_interval"] == pytest.approx([float(row["verdict_low"]), float(row["verdict_high"])], abs=1e-6)
    with open(tmp_path / "roi" / "cmu_small_region" / "regions.csv", newline="") as fh:
        (region,) = list(csv.DictReader(fh))
    with open(tmp_path / "roi" / "cmu_small_region" / "tiles.csv", newline="") as fh:
        p = [float(t["p_malignant"]) for t in csv.DictReader(fh)]
    assert list(region)[-len(VERDICT_FIELDS):] == list(VERDICT_FIELDS)
    assert region["verdict_rule"] == "mean (not validated)" and float(region["verdict_value"]) == pytest.approx(np.mean(p), abs=1e-6)
    with open(tmp_path / "roi" / "summary.csv", newline="") as fh:
        (slide_row,) = list(csv.DictReader(fh))
    # Every tile of the run lies in the one region: the slide's verdict and the region's are the same.
    assert slide_row["verdict"] == region["verdict"] and slide_row["verdict_low"] == region["verdict_low"]
