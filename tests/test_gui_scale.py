"""The viewer on the TCGA-like case: a whole slide that records no pixel size is never cut 3x3;
the window asks for the pixel size, remembers it per file, explains the model and its scale,
and colours only tissue (glass stays transparent). Defaults shared with the exports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gui_helpers import (  # noqa: F401
    dialogs,
    grab_rgb,
    models_dir,
    open_and_wait,
    settings,
    tiny_models,
    window,
)
from pyramid_fixture import write_pyramid_tiff

from bcviewer import export
from bcviewer.gui.main_window import MainWindow
from bcviewer.gui.settings import ViewerSettings
from bcviewer.gui.slide import overlay, pixel_size
from bcviewer.slides import open_slide


@pytest.fixture(scope="module")
def tcga_like(test_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    with open_slide(test_data / "slides" / "cmu_small_region.svs") as s:
        rgb = s.read_region(0, 0, 0, *s.dimensions)
    return write_pyramid_tiff(tmp_path_factory.mktemp("tcga") / "tcga-like.tif", rgb, levels=2)


def _wait_described(qtbot, win) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: ":" in win.slide.panel.model_label.text().removeprefix("Model: "), timeout=60_000)


def test_the_window_asks_the_pixel_size_once_and_remembers_it(qtbot, window, models_dir: Path, tcga_like: Path,
                                                              settings: ViewerSettings, dialogs,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, float | None]] = []

    panel_while_asked: list[str] = []

    def answer(parent, reader, current):  # type: ignore[no-untyped-def]
        asked.append((reader.path.name, current))
        panel_while_asked.append(window.slide.panel.status_label.text())
        return 0.499

    monkeypatch.setattr(pixel_size, "ask_pixel_size", answer)
    open_and_wait(qtbot, window, tcga_like)
    _wait_described(qtbot, window)
    panel = window.slide.panel
    assert panel.model_label.text() == "Model: idc-wsi: whole slide, 100 µm tiles at 2 µm/px"
    assert "pixel size of this slide is unknown" in panel.warning_label.text()
    assert window.status.mpp.text() == "mpp unknown"
    with qtbot.waitSignal(window.slide.analysis.finished, timeout=120_000) as blocker:
        assert window.slide.run()  # fails with ScaleUnknownError, asks, runs again
    scores = blocker.args[0]
    assert asked == [("tcga-like.tif", None)] and dialogs == []
    assert panel_while_asked == ["Waiting for the pixel size of this slide (see the dialog) …"]  # nothing failed
    assert scores.grid.kind == "physical" and scores.grid.rows > 3  # never the 3x3 sub-image scheme
    # 100 µm at 0.499 µm/px = 200 level-0 px per tile, read from level 1.
    assert {t.w for t in scores.grid} == {200} and {t.level for t in scores.grid} == {1}
    assert settings.pixel_size(tcga_like) == pytest.approx(0.499)
    assert window.status.mpp.text() == "0.499 µm/px (entered)"
    assert window.status._magnification == pytest.approx(10 / 0.499)  # from the entered pixel size
    assert window.slide.view.heatmap.tissue_path is not None  # glass inside tiles stays transparent
    assert panel.warning_label.isHidden()
    assert "· uncertainty" in panel.label_label.text()

    # A second window with the same settings knows the answer and does not ask again.
    other = MainWindow(settings)
    qtbot.addWidget(other)
    try:
        open_and_wait(qtbot, other, tcga_like)
        with qtbot.waitSignal(other.slide.analysis.finished, timeout=120_000) as again:
            other.slide.run()
        assert len(asked) == 1 and len(again.args[0]) == len(scores)
    finally:
        other.shutdown()


def test_cancelling_the_question_runs_nothing_and_shows_no_error(qtbot, window, models_dir: Path, tcga_like: Path,
                                                                 dialogs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pixel_size, "ask_pixel_size", lambda parent, reader, current: None)
    open_and_wait(qtbot, window, tcga_like)
    with qtbot.waitSignal(window.slide.analysis.failed, timeout=60_000):
        window.slide.run()
    assert dialogs == [] and window.slide.session.scores is None and not window.slide.analysis.running
    assert window.slide.panel.status_label.text() == ("Analysis failed: the pixel size of this slide is unknown; give "
                                                      "it with Analysis > Pixel size…")
    assert window.slide.panel.progress.isHidden()
    assert window.slide.view.heatmap.scored_count == 0


def test_glass_inside_a_scored_tile_is_not_tinted(qtbot, window, models_dir: Path, test_data: Path) -> None:
    svs = test_data / "slides" / "cmu_small_region.svs"
    open_and_wait(qtbot, window, svs)
    window.slide.overlay_controls.opacity.setValue(100)  # opaque: any colour would replace the slide's pixel
    with qtbot.waitSignal(window.slide.analysis.finished, timeout=120_000) as blocker:
        window.slide.run()
    scores = blocker.args[0]
    qtbot.waitUntil(window.slide.view.is_settled, timeout=15_000)
    window.slide.view.heatmap.visible = False
    window.slide.view.repaint()
    plain = grab_rgb(window.slide.view)
    window.slide.view.heatmap.visible = True
    window.slide.view.repaint()
    shown = grab_rgb(window.slide.view)
    t = window.slide.view.transform
    from bcviewer.tiling import detect_tissue

    with open_slide(svs) as slide:
        mask = detect_tissue(slide)
    glass = tinted = 0
    for tile in scores.grid:
        for fx in (0.2, 0.5, 0.8):
            for fy in (0.2, 0.5, 0.8):
                x, y = tile.x + fx * tile.w, tile.y + fy * tile.h
                mx, my = int(x * mask.scale_x), int(y * mask.scale_y)
                sx, sy = t.screen_x(x), t.screen_y(y)
                if not (0 <= my < mask.mask.shape[0] and 0 <= mx < mask.mask.shape[1]):
                    continue
                near = mask.mask[max(0, my - 3):my + 4, max(0, mx - 3):mx + 4]
                if not near.any():  # well inside glass
                    glass += 1
                    assert np.array_equal(shown[sy, sx], plain[sy, sx])
                elif near.all():
                    tinted += int(not np.array_equal(shown[sy, sx], plain[sy, sx]))
    assert glass > 5 and tinted > 50


def test_smooth_style_is_offered_and_remembered(qtbot, window, settings: ViewerSettings) -> None:
    controls = window.slide.overlay_controls
    assert [controls.style_box.itemText(i) for i in range(controls.style_box.count())] == ["Tiles", "Smooth", "Uncertainty"]
    assert not window.slide.view.heatmap.smooth
    controls.style_box.setCurrentIndex(1)
    assert window.slide.view.heatmap.smooth and settings.overlay()["smooth"] is True
    controls.style_box.setCurrentIndex(2)  # the uncertainty layer: shown, not stored as a preference
    assert window.slide.view.heatmap.show_uncertainty and settings.overlay()["smooth"] is True
    controls.style_box.setCurrentIndex(0)
    assert not window.slide.view.heatmap.show_uncertainty and not window.slide.view.heatmap.smooth


def test_the_viewer_and_the_exports_share_one_default_look(settings: ViewerSettings) -> None:
    assert overlay.DEFAULT_COLORMAP == export.DEFAULT_COLORMAP == "viridis"
    assert overlay.DEFAULT_OPACITY == export.DEFAULT_OPACITY == 0.5
    assert overlay.COLORMAPS == export.COLORMAPS
    stored = settings.overlay()
    assert (stored["colormap"], stored["opacity"]) == ("viridis", 0.5)


def test_a_review_verdict_and_the_prediction_set_are_said_next_to_the_label(qtbot) -> None:  # type: ignore[no-untyped-def]
    from bcviewer.gui.slide.analysis_panel import AnalysisPanel
    from bcviewer.inference import TileScores, Trust
    from bcviewer.inference.trust import ConformalSets
    from bcviewer.tiling import Tile, TileGrid

    grid = TileGrid((Tile(0, 0, 10, 10, 0, 10, 10, 0, 0, 1.0), Tile(10, 0, 10, 10, 0, 10, 10, 0, 1, 1.0)), (20, 10), 1, 2)
    p, u = np.array([0.7, 0.8]), np.array([0.6, 0.4])
    panel = AnalysisPanel()
    qtbot.addWidget(panel)
    cases = ((Trust(), "MALIGNANT</span><span", "no conformal calibration"),
             (Trust(image_sets=ConformalSets(0.9, np.full(20, 0.5))), "MALIGNANT</span><span",
              "90% prediction set: malignant"),
             (Trust(image_sets=ConformalSets(0.9, np.full(20, 0.9))), "REVIEW</span> (leaning <span",
              "90% prediction set: benign or malignant"))
    for trust, expected, line in cases:
        scores = TileScores(grid, p.copy(), u.copy(), np.zeros((2, 0)), np.zeros((2, 0, 2)), np.ones(2, bool),
                            trust=trust)
        panel.show_result(scores, None)
        text = panel.label_label.text()
        assert expected in text and f"· uncertainty {scores.image_uncertainty:.3f}" in text
        assert "MALIGNANT" in text and line in panel.uncertainty_label.text()


def test_scripted_open_names_mpp_when_the_pixel_size_is_unknown(tmp_path: Path, tcga_like: Path,
                                                                tiny_models: Path) -> None:
    from test_gui_window import _bcviewer

    shot = tmp_path / "shot.png"
    refused = _bcviewer(["open", str(tcga_like), "--run", "--screenshot", str(shot), "--size", "900x600"], tmp_path,
                        tiny_models)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    lines = [ln for ln in refused.stderr.splitlines() if ln.startswith("bcviewer:")]
    assert len(lines) == 1 and "does not record its pixel size" in lines[0] and "--mpp" in lines[0]
    given = _bcviewer(["open", str(tcga_like), "--mpp", "0.499", "--run", "--screenshot", str(shot), "--size",
                       "900x600"], tmp_path, tiny_models)
    assert given.returncode == 0, given.stderr
    assert shot.exists()


def test_the_tile_tooltip_says_review_and_outside_training_data() -> None:
    from bcviewer.gui.slide.overlay import HeatmapLayer
    from bcviewer.gui.slide.view import tile_tooltip

    layer = HeatmapLayer()
    layer.set_grid(np.array([[0, 0, 10, 10], [10, 0, 10, 10], [20, 0, 10, 10]]), np.zeros(3), np.arange(3))
    layer.set_scores(np.arange(2), np.array([0.55, 0.97]), np.array([0.9, 0.06]))
    layer.set_trust(["review", "malignant", None], np.array([False, True, False]))
    review, outside, unscored = (tile_tooltip(layer.info(i)) for i in range(3))
    assert "prediction set: benign or malignant: review this tile" in review and "outside" not in review
    assert "prediction set: malignant only" in outside
    assert "outside training data: this tile looks unlike any the model learnt from" in outside
    assert "not scored yet" in unscored and "prediction set" not in unscored


def test_a_cnn_only_model_is_named_as_such_and_shows_no_attention_bar(qtbot) -> None:  # type: ignore[no-untyped-def]
    from bcviewer.gui.slide.analysis_panel import AnalysisPanel, has_lstm, member_names
    from bcviewer.inference import TileScores
    from bcviewer.tiling import Tile, TileGrid

    probe = {"architecture": {"members": [{"backbone": "efficientnet_lite0", "rnn_mode": "feature_map",
                                           "use_lstm": False, "head": "linear"}]}}
    hybrid = {"architecture": {"members": [{"backbone": "resnet18", "rnn_mode": "rows", "use_lstm": True}]}}
    assert member_names(probe, 1) == ["efficientnet_lite0, linear read-out (no LSTM)"]
    assert member_names(hybrid, 1) == ["resnet18 + LSTM (rows)"]
    assert not has_lstm(probe) and has_lstm(hybrid) and has_lstm(None)
    grid = TileGrid((Tile(0, 0, 10, 10, 0, 10, 10, 0, 0, 1.0),), (10, 10), 1, 1)
    panel = AnalysisPanel()
    qtbot.addWidget(panel)
    scores = TileScores(grid, np.array([0.8]), np.array([0.4]), np.array([[0.8]]), np.array([[[1.0, 0.0]]]),
                        np.ones(1, bool))
    panel.show_result(scores, probe)
    assert panel.attention_bar.isHidden() and "No LSTM branch" in panel.attention_title.text()
    panel.show_result(scores, hybrid)
    assert not panel.attention_bar.isHidden()


def test_the_pixel_size_dialog_starts_empty_or_says_where_its_value_comes_from(qtbot) -> None:  # type: ignore[no-untyped-def]
    from types import SimpleNamespace

    from bcviewer.inference import OBJECTIVE_MPP

    bare = SimpleNamespace(path=Path("scan.tif"), level_count=2, format="generic-tiff", objective_power=None)
    dialog = pixel_size.PixelSizeDialog(bare, OBJECTIVE_MPP, None)  # type: ignore[arg-type]
    qtbot.addWidget(dialog)
    assert dialog.mpp.value() == 0.0 and dialog.mpp.text() == "enter µm/px" and not dialog.ok_button.isEnabled()
    assert pixel_size.suggestion_note(bare, None) == "The file names no objective either, so the box starts empty."  # type: ignore[arg-type]
    dialog.mpp.setValue(0.25)
    assert dialog.ok_button.isEnabled() and dialog.value() == 0.25
    remembered = pixel_size.PixelSizeDialog(bare, OBJECTIVE_MPP, 0.499)  # type: ignore[arg-type]
    qtbot.addWidget(remembered)
    assert remembered.value() == 0.499 and remembered.ok_button.isEnabled()
    assert pixel_size.suggestion_note(bare, 0.499) == (  # type: ignore[arg-type]
        "The box holds 0.499 µm/px, the value given before for this file (or with --mpp): change it if it was wrong.")
    scanned = SimpleNamespace(path=Path("scan.tif"), level_count=2, format="generic-tiff", objective_power=40.0)
    with_objective = pixel_size.PixelSizeDialog(scanned, OBJECTIVE_MPP, None)  # type: ignore[arg-type]
    qtbot.addWidget(with_objective)
    assert with_objective.value() == OBJECTIVE_MPP[40.0]
    assert pixel_size.suggestion_note(scanned, None).startswith("The file names a 40x objective, so that objective's")  # type: ignore[arg-type]
