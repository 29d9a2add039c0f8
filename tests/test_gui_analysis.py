"""Analysis from the window: progressive heatmap, result panel, cancel, restart, errors, exports.

The models are tiny random ensembles saved to a temporary model folder (see gui_helpers): the
tests check the wiring (which tiles, which values, which threads), not accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import (  # noqa: F401
    SAMPLE_PNG,
    dialogs,
    models_dir,
    open_and_wait,
    settings,
    tiny_models,
    window,
)
from PIL import Image
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from bcviewer.export import heatmap_rgba, legend_band, read_geojson, read_tiles_csv
from bcviewer.gui.slide.analysis_panel import mean_attention
from bcviewer.gui.slide.view import tile_tooltip
from bcviewer.inference import Predictor, analysis_grid
from bcviewer.nets import load_model
from bcviewer.slides import open_slide


def _run_and_wait(qtbot, win, timeout: int = 60_000, **kwargs):  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(win.slide.analysis.finished, timeout=timeout) as blocker:
        assert win.slide.run(**kwargs)
    return blocker.args[0]


def test_run_on_an_image_fills_the_heatmap_and_the_result_panel(qtbot, window, models_dir: Path) -> None:
    open_and_wait(qtbot, window, SAMPLE_PNG)
    seen: list[int] = []
    window.slide.analysis.progress.connect(lambda batch: seen.append(window.slide.view.heatmap.scored_count))
    scores = _run_and_wait(qtbot, window)

    with open_slide(SAMPLE_PNG) as slide:
        model = load_model(models_dir / "breakhis-100x")
        grid = analysis_grid(slide, model.spec)
        expected = Predictor(model, device="cpu").run(slide, grid, batch_size=9)
    assert len(scores) == 9 and scores.complete and scores.model_name == "breakhis-100x"
    assert np.array_equal(scores.rects(), grid.rects())  # the 3x3 BreakHis sub-image grid
    np.testing.assert_allclose(scores.p_malignant, expected.p_malignant, atol=1e-5)

    layer = window.slide.view.heatmap
    assert layer.tile_count == 9 and layer.scored_count == 9
    np.testing.assert_allclose(layer.probabilities, expected.p_malignant, atol=1e-5)
    assert seen == sorted(seen) and seen[-1] == 9 and len(seen) >= 3  # filled in over several batches

    panel = window.slide.panel
    assert panel.probability_label.text() == f"P(malignant) {scores.image_p_malignant:.3f}"
    # The uncertainty sits next to the verdict, on the same line.
    assert scores.image_label.upper() in panel.label_label.text()
    assert f"· uncertainty {scores.image_uncertainty:.3f}" in panel.label_label.text()
    # The model explains itself, and a BreakHis-like image at the BreakHis model raises no warning.
    assert panel.model_label.text() == "Model: breakhis-100x: microscopy images at 100X, cut 3x3"
    assert panel.warning_label.isHidden()
    assert panel.members_table.rowCount() == 2
    assert panel.members_table.item(0, 0).text() == "resnet18 + LSTM (rows)"
    assert panel.members_table.item(1, 0).text() == "resnet18 + LSTM (feature_map)"
    assert panel.members_table.item(1, 1).text() == f"{scores.image_member_probs[1]:.3f}"
    cnn, lstm = mean_attention(scores)
    assert cnn + lstm == pytest.approx(1.0) and panel.attention_bar.cnn == pytest.approx(cnn)
    assert panel.progress.value() == 9 and not window.action_set.cancel.isEnabled()
    assert all(a.isEnabled() for a in window.action_set.exports.values())


def test_whole_slide_uses_the_model_cards_physical_grid(qtbot, window, models_dir: Path, test_data: Path) -> None:
    svs = test_data / "slides" / "cmu_small_region.svs"
    open_and_wait(qtbot, window, svs)
    scores = _run_and_wait(qtbot, window)
    assert scores.model_name == "idc-wsi"  # chosen automatically: the slide records its mpp
    with open_slide(svs) as slide:
        grid = analysis_grid(slide, load_model(models_dir / "idc-wsi").spec)
    assert grid.kind == "physical" and len(scores) == len(grid) > 20
    assert np.array_equal(window.slide.view.heatmap.rects, grid.rects().astype(float))


def test_cancel_mid_run_leaves_a_usable_partial_heatmap(qtbot, window, models_dir: Path, test_data: Path) -> None:
    open_and_wait(qtbot, window, test_data / "slides" / "cmu_small_region.svs")
    window.slide.analysis.batch_size = 2
    with qtbot.waitSignal(window.slide.analysis.progress, timeout=60_000):
        window.slide.run()
    with qtbot.waitSignal(window.slide.analysis.cancelled, timeout=60_000) as blocker:
        window.action_set.cancel.trigger()
    partial = blocker.args[0]
    assert partial is not None and partial.cancelled
    assert 0 < partial.n_done < len(partial)
    assert not window.slide.analysis.running
    layer = window.slide.view.heatmap
    assert layer.scored_count == partial.n_done and layer.tile_count == len(partial)
    assert window.slide.panel.status_label.text().startswith(f"Cancelled: {partial.n_done} of {len(partial)}")
    assert window.slide.panel.result_box.title() == "Result (partial)"
    assert window.action_set.exports["csv"].isEnabled()  # partial results can be exported


def test_new_run_cancels_the_old_one(qtbot, window, models_dir: Path, test_data: Path) -> None:
    open_and_wait(qtbot, window, test_data / "slides" / "cmu_small_region.svs")
    window.slide.analysis.batch_size = 2
    finished, cancelled = [], []
    window.slide.analysis.finished.connect(finished.append)
    window.slide.analysis.cancelled.connect(cancelled.append)
    with qtbot.waitSignal(window.slide.analysis.progress, timeout=60_000):
        window.slide.run()
    first_run = window.slide.analysis._current
    window.slide.analysis.batch_size = None
    scores = _run_and_wait(qtbot, window)
    assert first_run.cancel_event.is_set()
    assert len(finished) == 1 and cancelled == []  # the replaced run reports nothing
    assert scores.complete and window.slide.view.heatmap.scored_count == len(scores)


def test_missing_model_shows_a_dialog_and_the_app_stays_usable(qtbot, window, models_dir: Path, dialogs) -> None:
    open_and_wait(qtbot, window, SAMPLE_PNG)
    with qtbot.waitSignal(window.slide.analysis.failed, timeout=30_000):
        window.slide.run(model="no-such-model")
    assert len(dialogs) == 1
    title, message = dialogs[0]
    assert title == "The analysis failed" and "no model 'no-such-model'" in message
    assert "Traceback" not in message
    assert window.slide.panel.status_label.text().startswith("Analysis failed")
    scores = _run_and_wait(qtbot, window)  # the default model still works afterwards
    assert scores.complete


def test_run_without_a_slide_explains_what_to_do(window, dialogs) -> None:
    assert window.slide.run() is False
    assert dialogs and dialogs[0][0] == "Nothing to analyse" and "Open a slide or image first" in dialogs[0][1]


def test_exports_write_valid_files(qtbot, window, models_dir: Path, tmp_path: Path) -> None:
    open_and_wait(qtbot, window, SAMPLE_PNG)
    scores = _run_and_wait(qtbot, window)
    window.slide.overlay_controls.opacity.setValue(70)
    window.slide.overlay_controls.colormap.setCurrentText("viridis")
    paths = {
        kind: tmp_path / f"out-{kind}{ext}"
        for kind, ext in (("heatmap", ".png"), ("overlay", ".png"), ("csv", ".csv"), ("geojson", ".geojson"))
    }
    for kind, path in paths.items():
        window.slide.export(kind, str(path))
    qtbot.waitUntil(lambda: window.slide.jobs.pending == 0, timeout=30_000)

    heat = np.asarray(Image.open(paths["heatmap"]))
    assert heat.shape == (460, 700, 4)
    np.testing.assert_array_equal(heat, heatmap_rgba(scores, 1.0, cmap="viridis", opacity=0.7, threshold=0.0))
    overlay = Image.open(paths["overlay"])
    # The image with the legend band (colour scale; no scale bar: a PNG records no pixel size) below.
    assert overlay.size == (700, 460 + legend_band(700).shape[0]) and overlay.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(overlay)[460:], legend_band(700, um_per_px=None))
    table = read_tiles_csv(paths["csv"])
    np.testing.assert_allclose(table.p_malignant, scores.p_malignant, atol=1e-6)
    assert np.array_equal(table.rects(), scores.rects())
    geo = json.loads(paths["geojson"].read_text())
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 9
    np.testing.assert_allclose(read_geojson(paths["geojson"]).p_malignant, scores.p_malignant, atol=1e-6)


def test_hovering_a_tile_shows_its_score(qtbot, window, models_dir: Path) -> None:
    open_and_wait(qtbot, window, SAMPLE_PNG)
    scores = _run_and_wait(qtbot, window)
    view = window.slide.view
    tile = scores.grid.tiles[4]  # the centre sub-image
    point = view.transform.to_screen(tile.x + tile.w / 2, tile.y + tile.h / 2)
    event = QMouseEvent(
        QEvent.Type.MouseMove,
        point,
        view.mapToGlobal(point),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(view, event)
    assert view.hovered_tile == 4
    assert window.status.tile.text() == f"tile r2 c2: P(malignant) {scores.p_malignant[4]:.3f}"
    text = tile_tooltip(view.heatmap.info(4))
    assert text.splitlines() == [
        "tile 4  (row 2, column 2)",
        f"malignant probability: {scores.p_malignant[4]:.3f}",
        f"uncertainty: {scores.uncertainty[4]:.3f}",
    ]
    off = QPointF(-5.0, -5.0)
    QApplication.sendEvent(
        view,
        QMouseEvent(
            QEvent.Type.MouseMove,
            off,
            view.mapToGlobal(off),
            Qt.MouseButton.NoButton,
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
        ),
    )
    assert view.hovered_tile is None


def test_tile_grid_toggle_outlines_the_tiles_a_run_would_score(
    qtbot, window, models_dir: Path, test_data: Path
) -> None:
    svs = test_data / "slides" / "cmu_small_region.svs"
    open_and_wait(qtbot, window, svs)
    layer = window.slide.view.heatmap
    assert not layer.has_grid
    window.action_set.grid.setChecked(True)
    qtbot.waitUntil(lambda: layer.has_grid, timeout=30_000)
    with open_slide(svs) as slide:
        grid = analysis_grid(slide, load_model(models_dir / "idc-wsi").spec)
    assert np.array_equal(layer.rects, grid.rects().astype(float)) and layer.scored_count == 0
    assert layer.show_grid


def test_threshold_hides_low_tiles_and_persists(qtbot, window, models_dir: Path) -> None:
    open_and_wait(qtbot, window, SAMPLE_PNG)
    scores = _run_and_wait(qtbot, window)
    view = window.slide.view
    view.set_minimap_enabled(False)
    window.slide.overlay_controls.opacity.setValue(100)
    cut = float(np.sort(scores.p_malignant)[4]) + 1e-6  # hides the five lowest tiles
    window.slide.overlay_controls.threshold.setValue(int(np.ceil(cut * 100)))
    assert view.heatmap.threshold == pytest.approx(np.ceil(cut * 100) / 100)
    shot = view.grab().toImage()
    lut = view.heatmap.lut
    for tile, p in zip(scores.grid.tiles, scores.p_malignant):
        c = view.transform.to_screen(tile.x + tile.w / 2, tile.y + tile.h / 2)
        pixel = shot.pixelColor(int(c.x()), int(c.y()))
        rgb = tuple(int(v) for v in lut[int(round(p * 255))])
        assert ((pixel.red(), pixel.green(), pixel.blue()) == rgb) == (p >= view.heatmap.threshold)
    assert window.settings.overlay()["threshold"] == pytest.approx(view.heatmap.threshold)
    assert window.settings.overlay()["opacity"] == pytest.approx(1.0)


def test_runtime_setting_reaches_the_predictor_and_persists(qtbot, window, settings) -> None:  # noqa: F811
    open_and_wait(qtbot, window, SAMPLE_PNG)
    assert window.slide.analysis.runtime == "auto"
    by_default = _run_and_wait(qtbot, window)
    assert window.slide.analysis.runtime_used == "onnx"  # no GPU here: the fast CPU runtime by default
    torch_action = next(a for a in window.action_set.runtime_group.actions() if a.data() == "torch")
    torch_action.trigger()
    assert torch_action.isChecked() and settings.runtime() == "torch" and window.slide.analysis.runtime == "torch"
    by_torch = _run_and_wait(qtbot, window)
    assert window.slide.analysis.runtime_used == "torch"
    np.testing.assert_allclose(by_torch.p_malignant, by_default.p_malignant, rtol=0, atol=1e-4)
