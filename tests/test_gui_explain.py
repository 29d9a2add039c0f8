"""The explain panel in the viewer: after a real run of the shipped breakhis-100x on the sample
image, explaining the centre tile shows the heatmap's p for it, the method and the map; Cancel
stops a run; the opacity slider changes the blend; Save writes the explain PNG."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import SAMPLE_PNG, dialogs, grab_rgb, open_and_wait, settings, window  # noqa: F401
from PIL import Image
from PySide6.QtCore import Qt

from bcviewer.gui.main_window import MainWindow
from bcviewer.inference import TileScores
from bcviewer.inference.explain import NO_ATTENTION


def _analysed(qtbot, win: MainWindow) -> TileScores:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, win, SAMPLE_PNG)
    with qtbot.waitSignal(win.slide.analysis.finished, timeout=120_000) as done:
        assert win.slide.run()
    scores: TileScores = done.args[0]
    return scores


def test_panel_explains_the_centre_tile_with_the_heatmaps_p(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: F811
    scores = _analysed(qtbot, window)
    control = window.slide.explain
    panel = control.panel
    control.select(4, outline=True)  # what a right-click on the tile does before its menu opens
    view = window.slide.view
    qtbot.waitUntil(view.is_settled, timeout=10_000)
    rect = view.transform.screen_rect(233.0, 153.0, 233.0, 153.0)
    edge = grab_rgb(view)[rect.top():rect.bottom(), rect.left() - 3]
    assert (edge == 255).all(axis=1).any()  # the dashed white outline around the tile
    assert "Tile 4 (row 2, column 2; x 233, y 153, 233 x 153 level-0 px): p 0.796" in panel.tile_label.text()
    assert panel.explain_button.isEnabled()
    with qtbot.waitSignal(control.explained, timeout=60_000) as got:
        qtbot.mouseClick(panel.explain_button, Qt.MouseButton.LeftButton)
    explanation = got.args[0]
    assert explanation.p_malignant == pytest.approx(float(scores.p_malignant[4]), abs=1e-6)
    text = panel.details.text()
    assert f"p_malignant {float(scores.p_malignant[4]):.4f}" in text and "p_malignant 0.7957" in text
    assert NO_ATTENTION in text and "method: occlusion, 18x18 px window" in text
    assert panel.picture.pixmap() is not None and not panel.picture.pixmap().isNull()
    assert panel.save_button.isEnabled() and not panel.cancel_button.isEnabled()

    from bcviewer.export.explanation import DEFAULT_EXPLAIN_OPACITY
    from bcviewer.gui.slide.explain_panel import DEFAULT_OPACITY_PERCENT

    assert DEFAULT_OPACITY_PERCENT == round(DEFAULT_EXPLAIN_OPACITY * 100) == panel.opacity.value()
    # the opacity slider: 0 shows the tile alone, more opacity moves the picture towards the map colours
    panel.opacity.setValue(0)
    assert np.array_equal(panel.blend, explanation.tile_rgb)
    panel.opacity.setValue(40)
    weak = np.abs(panel.blend.astype(int) - explanation.tile_rgb).sum()
    panel.opacity.setValue(100)
    strong = np.abs(panel.blend.astype(int) - explanation.tile_rgb).sum()
    assert 0 < weak < strong and panel.opacity_label.text() == "100%"

    out = tmp_path / "explanation.png"
    job = control.save(str(out))
    assert job is not None
    qtbot.waitUntil(lambda: control.jobs.pending == 0, timeout=20_000)
    with Image.open(out) as image:
        assert image.width >= 640


def test_cancel_stops_an_explanation(qtbot, window: MainWindow) -> None:  # noqa: F811
    _analysed(qtbot, window)
    control = window.slide.explain
    control.select(0)
    assert control.explain()
    assert control.cancel()
    qtbot.waitUntil(lambda: not control.running, timeout=30_000)
    assert control.panel.details.text() == "Explanation cancelled."
    assert control.panel.explanation is None and control.panel.explain_button.isEnabled()


def test_explain_without_a_run_says_what_to_do(qtbot, window: MainWindow, dialogs) -> None:  # noqa: F811
    open_and_wait(qtbot, window, SAMPLE_PNG)
    control = window.slide.explain
    control.select(4)  # no scores yet: nothing is selected
    assert control.selected is None and not control.panel.explain_button.isEnabled()
    assert not control.explain()
    assert dialogs and "Run the analysis" in dialogs[-1][1]


@pytest.mark.skipif(importlib.util.find_spec("captum") is None or importlib.util.find_spec("torch") is None,
                    reason="needs PyTorch and captum (the torch extra)")
def test_on_the_torch_runtime_the_panel_shows_grad_cam(qtbot, window: MainWindow) -> None:  # noqa: F811
    window.slide.set_runtime("torch")
    scores = _analysed(qtbot, window)
    assert window.slide.analysis.runtime_used == "torch"
    control = window.slide.explain
    control.select(4)
    with qtbot.waitSignal(control.explained, timeout=120_000) as got:
        assert control.explain()
    explanation = got.args[0]
    assert explanation.method == "grad-cam" and explanation.runtime == "torch"
    assert explanation.p_malignant == pytest.approx(float(scores.p_malignant[4]), abs=1e-6)
    assert "method: Grad-CAM (captum LayerGradCam" in control.panel.details.text()


def test_right_click_on_a_tile_offers_explain_this_tile(qtbot, window: MainWindow, monkeypatch) -> None:  # noqa: F811
    from PySide6.QtGui import QContextMenuEvent
    from PySide6.QtWidgets import QApplication, QMenu

    scores = _analysed(qtbot, window)
    offered: list[str] = []

    def pick_explain(menu: QMenu, _at: object) -> None:  # the user picks the menu's entry
        offered.extend(a.text() for a in menu.actions())
        menu.actions()[0].trigger()

    view, control = window.slide.view, window.slide.explain
    monkeypatch.setattr(control, "open_menu", pick_explain)
    centre = view.transform.to_screen(466 + 116, 306 + 76)  # tile 8: row 3, column 3
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, centre.toPoint(), view.mapToGlobal(centre.toPoint()))
    with qtbot.waitSignal(control.explained, timeout=60_000) as got:
        QApplication.sendEvent(view, event)
    assert offered == ["Explain this tile"] and control.selected == control.outlined == 8
    assert got.args[0].p_malignant == pytest.approx(float(scores.p_malignant[8]), abs=1e-6)
