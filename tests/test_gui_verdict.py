"""The viewer shows the verdict: the analysis panel (the slide's) and the Regions panel (each region's)."""

from __future__ import annotations

import numpy as np
from shapely.geometry import box

from bcviewer.inference import TileScores, Trust
from bcviewer.inference.rules import VerdictRule
from bcviewer.inference.trust import ConformalSets
from bcviewer.regions import Region, region_stats
from bcviewer.tiling import Tile, TileGrid


def _scores(p: np.ndarray, trust: Trust, qc_flags: tuple[str, ...] | None = None) -> TileScores:
    n = len(p)
    grid = TileGrid(tuple(Tile(10 * k, 0, 10, 10, 0, 10, 10, 0, k, 1.0) for k in range(n)), (10 * n, 10), 1, n)
    return TileScores(grid, p, np.zeros(n), np.zeros((n, 0)), np.zeros((n, 0, 2)), ~np.isnan(p), trust=trust,
                      qc_flags=qc_flags)


def test_the_analysis_panel_shows_the_rule_its_value_interval_and_review(qtbot) -> None:  # type: ignore[no-untyped-def]
    from bcviewer.gui.slide.analysis_panel import AnalysisPanel

    panel = AnalysisPanel()
    qtbot.addWidget(panel)
    # top 10% of 10 tiles = the highest, 0.55: malignant, but the sets (wide calibration) say review.
    trust = Trust(image_sets=ConformalSets(0.9, np.full(20, 0.9)),
                  rule=VerdictRule("top_k_mean", top_share=0.1, validated=True))
    scores = _scores(np.array([0.1, 0.2, 0.3, 0.2, 0.1, 0.55, 0.3, 0.2, 0.1, 0.4]), trust)
    panel.show_result(scores, None)
    verdict = scores.slide_verdict
    assert panel.probability_label.text() == "P(malignant) 0.550"
    assert "REVIEW</span> (leaning <span style='color:#c62828'>MALIGNANT</span>)" in panel.label_label.text()
    assert "· uncertainty 0.900" in panel.label_label.text()  # 1 - |2 * 0.55 - 1|
    assert panel.verdict_label.text() == (
        f"Verdict rule: top 10% mean of the tile p = 0.550 (95% interval over the tiles {verdict.low:.3f}–0.550; "
        "10 tiles scored), malignant at ≥ 0.50")
    assert 0.3 <= verdict.low < 0.55  # resamples without the 0.55 tile fall to the next highest
    assert "top 10% mean" in panel.label_label.toolTip()


def test_no_verdict_is_said_when_no_tile_was_scored(qtbot) -> None:  # type: ignore[no-untyped-def]
    from bcviewer.gui.slide.analysis_panel import AnalysisPanel

    panel = AnalysisPanel()
    qtbot.addWidget(panel)
    scores = _scores(np.full(2, np.nan), Trust(), qc_flags=("background", "pen"))
    panel.show_result(scores, None)
    assert "NO VERDICT" in panel.label_label.text() and "MALIGNANT" not in panel.label_label.text()
    assert panel.probability_label.text() == "P(malignant) –"
    assert panel.verdict_label.text() == "No verdict: not enough tissue (quality control left out every tile)."


def test_the_regions_panel_gives_each_region_its_verdict(qtbot) -> None:  # type: ignore[no-untyped-def]
    from bcviewer.gui.slide.regions_panel import COLUMNS, RegionsPanel

    panel = RegionsPanel()
    qtbot.addWidget(panel)
    p = np.array([0.9, 0.8, np.nan, np.nan])
    scores = _scores(p, Trust(), qc_flags=("ok", "ok", "background", "background"))
    tumour, glass = Region("tumour", "Tumor", box(0, 0, 20, 10)), Region("glass", "Other", box(20, 0, 40, 10))
    stats = {0: region_stats(tumour, scores, None), 1: region_stats(glass, scores, None)}
    panel.show_regions([tumour, glass], stats, selected=1)
    column = COLUMNS.index("Verdict")
    assert [panel.table.item(r, column).text() for r in (0, 1)] == ["malignant", "no verdict"]
    assert panel.table.item(1, column).toolTip() == "no verdict: not enough tissue (quality control left out every tile)"
    assert "NO VERDICT" in panel.details.text() and "MALIGNANT" not in panel.details.text()
    panel.show_regions([tumour, glass], stats, selected=0)
    assert "MALIGNANT" in panel.details.text() and "mean (not validated) of the tile p = 0.850" in panel.details.text()
