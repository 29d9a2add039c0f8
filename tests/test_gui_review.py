"""The tiles that matter, in the viewer: after a real run of the tiny whole-slide model on
cmu_small_region.svs, the N / U / P keys walk the tiles in the order of p / uncertainty and centre
the view on each to the pixel; the Tiles gallery lists the top N with their pictures and a click
goes there; the ruler measures in µm from the slide's own pixel size (and says when there is
none); the uncertainty toggle recolours the tiles with its own colormap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gui_helpers import (  # noqa: F401
    SAMPLE_PNG,
    dialogs,
    grab_rgb,
    models_dir,
    open_and_wait,
    settings,
    tiny_models,
    window,
)
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from bcviewer.export import colormap_lut
from bcviewer.gui.main_window import MainWindow
from bcviewer.gui.slide.gallery import DEFAULT_COUNT, THUMB_PX, caption
from bcviewer.gui.slide.tile_queue import OUTLINE
from bcviewer.inference import TileScores
from bcviewer.slides import open_slide

ROOT = Path(__file__).resolve().parent.parent
SMALL_SVS = ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs"


def _run(qtbot, win: MainWindow):  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(win.slide.analysis.finished, timeout=120_000) as done:
        assert win.slide.run()
    qtbot.waitUntil(lambda: win.slide.review.gallery.indices.size > 0, timeout=10_000)
    return done.args[0]


def _expected_order(values: np.ndarray, candidate: np.ndarray) -> list[int]:
    return [int(i) for i in np.argsort(-values, kind="stable") if candidate[i]]


def _view_centre(win: MainWindow) -> tuple[float, float]:
    view = win.slide.view
    return view.transform.to_image(view.width() / 2, view.height() / 2)


def _assert_centred_on(win: MainWindow, rect: np.ndarray) -> None:
    x, y, w, h = (float(v) for v in rect)
    cx, cy = _view_centre(win)
    assert abs(cx - (x + w / 2)) < 1 and abs(cy - (y + h / 2)) < 1


def _where(scores, i: int) -> str:  # type: ignore[no-untyped-def]
    tile = scores.grid[i]
    return f"(row {tile.row + 1}, col {tile.col + 1})"


def test_next_tile_keys_walk_the_rankings_and_centre_each_tile(qtbot, window, models_dir: Path) -> None:  # noqa: F811
    acts, view = window.action_set.review, window.slide.view
    open_and_wait(qtbot, window, SMALL_SVS)
    assert not any(a.isEnabled() for a in acts.steps)  # nothing to walk before a run
    scores = _run(qtbot, window)
    assert all(a.isEnabled() for a in acts.steps)
    candidate = scores.done & ~scores.qc_skipped()
    p, u = scores.p_malignant, scores.uncertainty
    by_p = _expected_order(p, candidate)
    assert 20 < len(by_p) <= len(scores)

    view.setFocus()
    for rank in range(3):
        QTest.keyClick(view, Qt.Key.Key_N)
        i = by_p[rank]
        assert window.slide.review.navigator.current == i
        _assert_centred_on(window, scores.rects()[i])
        assert window.status.currentMessage() == (f"tile {rank + 1} of {len(by_p)} most malignant: "
                                                  f"p = {p[i]:.3f} {_where(scores, i)}")
    x, y, w, h = scores.rects()[by_p[2]]
    screen = view.transform.screen_rect(x, y, w, h)
    assert abs(min(screen.width(), screen.height()) - min(view.width(), view.height()) / 2) <= 1
    rgb = grab_rgb(view)
    assert tuple(rgb[screen.center().y(), screen.left() - 3]) == (OUTLINE.red(), OUTLINE.green(), OUTLINE.blue())

    QTest.keyClick(view, Qt.Key.Key_P)
    _assert_centred_on(window, scores.rects()[by_p[1]])
    assert window.status.currentMessage().startswith(f"tile 2 of {len(by_p)} most malignant")

    by_u = _expected_order(u, candidate)
    QTest.keyClick(view, Qt.Key.Key_U)
    QTest.keyClick(view, Qt.Key.Key_U)
    i = by_u[1]
    _assert_centred_on(window, scores.rects()[i])
    assert window.status.currentMessage() == (f"tile 2 of {len(by_u)} most uncertain: uncertainty = {u[i]:.3f}, "
                                              f"p = {p[i]:.3f} {_where(scores, i)}")


def test_gallery_lists_the_top_tiles_and_a_click_goes_there(qtbot, window, models_dir: Path) -> None:  # noqa: F811
    open_and_wait(qtbot, window, SMALL_SVS)
    scores = _run(qtbot, window)
    gallery = window.slide.review.gallery
    panel, items = gallery.panel, gallery.panel.list
    window.slide.side.setCurrentIndex(2)
    assert window.slide.side.tabText(2) == "Tiles"
    candidate = scores.done & ~scores.qc_skipped()
    p, u = scores.p_malignant, scores.uncertainty
    by_p = _expected_order(p, candidate)
    assert items.count() == DEFAULT_COUNT and gallery.indices.tolist() == by_p[:DEFAULT_COUNT]

    panel.count.setValue(6)
    assert [items.item(r).text() for r in range(items.count())] == [
        caption(r, p[i], u[i]) for r, i in enumerate(by_p[:6])]
    qtbot.waitUntil(lambda: not gallery.pictures_pending, timeout=10_000)
    with open_slide(SMALL_SVS) as slide:  # each picture is its tile, shrunk to the thumbnail size
        for i in by_p[:6]:
            x, y, w, h = (int(v) for v in scores.rects()[i])
            picture = gallery.pictures[i].convertToFormat(gallery.pictures[i].Format.Format_RGB888)
            assert max(picture.width(), picture.height()) == THUMB_PX
            pixels = np.frombuffer(picture.constBits(), np.uint8, picture.sizeInBytes())
            pixels = pixels.reshape(picture.height(), picture.bytesPerLine())[:, : picture.width() * 3]
            tile = slide.read_region(0, x, y, w, h)
            assert np.abs(pixels.reshape(-1, 3).mean(0) - tile.reshape(-1, 3).mean(0)).max() < 3

    rect = items.visualItemRect(items.item(2))
    QTest.mouseClick(items.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    _assert_centred_on(window, scores.rects()[by_p[2]])
    assert window.status.currentMessage().startswith(f"tile 3 of {len(by_p)} most malignant: p = {p[by_p[2]]:.3f}")
    window.action_set.review.next_malignant.trigger()  # the keys walk on from the tile clicked
    _assert_centred_on(window, scores.rects()[by_p[3]])
    assert items.currentRow() == 3

    assert items.item(2).toolTip() == (f"3 of {len(by_p)} most malignant: p = {p[by_p[2]]:.3f}, uncertainty = "
                                       f"{u[by_p[2]]:.3f} {_where(scores, by_p[2])}; click to go there")

    panel.order.setCurrentIndex(1)  # by uncertainty
    by_u = _expected_order(u, candidate)
    assert gallery.indices.tolist() == by_u[:6]
    assert items.item(0).text() == caption(0, p[by_u[0]], u[by_u[0]])


def test_gallery_refreshes_while_streaming_without_redrawing_per_batch(qtbot, window, models_dir: Path) -> None:  # noqa: F811
    open_and_wait(qtbot, window, SMALL_SVS)
    gallery = window.slide.review.gallery
    window.slide.analysis.batch_size = 2
    gallery.refresh_ms = 100  # a long run's pace, in a run this short
    batches: list[int] = []
    refreshes: list[int] = []
    window.slide.analysis.progress.connect(lambda batch: batches.append(batch.done))
    original = gallery.refresh

    def counted() -> None:
        refreshes.append(window.slide.view.heatmap.scored_count)
        original()

    gallery._timer.timeout.disconnect()
    gallery._timer.timeout.connect(counted)
    scores = _run(qtbot, window)
    qtbot.waitUntil(lambda: refreshes[-1] == scores.n_done, timeout=5_000)  # the finished run, at once
    assert len(batches) >= 10 and 2 <= len(refreshes) < len(batches) / 2
    assert 0 < refreshes[0] < scores.n_done  # it showed the tiles scored so far while the run went on
    assert gallery.indices.tolist() == _expected_order(scores.p_malignant, scores.done & ~scores.qc_skipped())[:24]


def test_uncertainty_toggle_recolours_the_tiles_with_its_own_colormap(qtbot, window, models_dir: Path) -> None:  # noqa: F811
    open_and_wait(qtbot, window, SMALL_SVS)
    scores = _run(qtbot, window)
    layer, controls, toggle = window.slide.view.heatmap, window.slide.overlay_controls, window.action_set.review.uncertainty
    i = int(np.nanargmax(scores.p_malignant))  # a sure tile: its two colours differ most
    x, y, w, h = scores.rects()[i]
    window.slide.view.center_on(x + w / 2, y + h / 2)
    window.slide.view.zoom_to(2.0)
    before = grab_rgb(window.slide.view)
    colour_by_p = layer._tile_colors()[i]

    window.slide.view.setFocus()
    QTest.keyClick(window.slide.view, Qt.Key.Key_U, Qt.KeyboardModifier.ShiftModifier)
    assert toggle.isChecked() and layer.show_uncertainty and controls.style_box.currentText() == "Uncertainty"
    assert controls.scale_label.text().startswith("Uncertainty")
    assert not controls.colormap.isEnabled() and not controls.threshold.isEnabled()  # they apply to p only
    inferno = colormap_lut("inferno")[round(float(scores.uncertainty[i]) * 255)]
    colour = layer._tile_colors()[i]
    layer.set_colormap(layer.colormap)  # as when the stored colormap is applied: p's table is dropped
    assert layer._tile_colors() is layer._tile_colors()  # and still the colours are built once, not per frame
    assert (colour.red(), colour.green(), colour.blue()) == tuple(int(v) for v in inferno) != (
        colour_by_p.red(), colour_by_p.green(), colour_by_p.blue())
    unscored = np.flatnonzero(~scores.done)
    assert all(layer._tile_colors()[j].alpha() == 0 for j in unscored)  # unscored and QC tiles stay uncoloured
    after = grab_rgb(window.slide.view)
    r = window.slide.view.transform.screen_rect(x, y, w, h)  # the tissue in the tile changes colour
    changed = np.abs(after.astype(int) - before.astype(int))[r.top():r.bottom(), r.left():r.right()].max(axis=2)
    assert (changed > 20).mean() > 0.2

    toggle.trigger()
    assert not layer.show_uncertainty and controls.style_box.currentText() == "Tiles"
    assert controls.scale_label.text() == "Malignant probability"
    assert layer._tile_colors()[i] == colour_by_p
    controls.style_box.setCurrentIndex(2)  # the heatmap box's own control ticks the action
    assert toggle.isChecked()


def _drag(view, start: tuple[int, int], end: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    QTest.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(*start))
    QTest.mouseMove(view, QPoint(*end))
    QTest.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(*end))


def test_ruler_measures_in_micrometres_from_the_slides_pixel_size(qtbot, window) -> None:  # noqa: F811
    with open_slide(SMALL_SVS) as slide:
        mpp = slide.mpp
    assert mpp == pytest.approx(0.499)
    open_and_wait(qtbot, window, SMALL_SVS)
    view, ruler = window.slide.view, window.slide.review.ruler
    view.zoom_to(0.5)
    view.center_on(1100, 1500)
    origin = (view.transform.origin_x, view.transform.origin_y)
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_R)
    assert ruler.active and window.action_set.review.ruler.isChecked()
    _drag(view, (100, 100), (400, 500))  # 300 x 400 screen px at 0.5: a 1000 px line at level 0
    assert (view.transform.origin_x, view.transform.origin_y) == origin  # measuring does not pan
    assert ruler.start == pytest.approx((origin[0] + 200, origin[1] + 200))
    assert ruler.length_px == pytest.approx(1000.0)
    assert ruler.text() == f"{1000 * mpp:.1f} µm" == "499.0 µm"
    assert window.status.currentMessage() == "Ruler: 499.0 µm (1000 px at 0.499 µm/px)"

    view.zoom_to(0.25)
    _drag(view, (50, 60), (650, 60))  # 600 screen px at 0.25: 2400 px, over a millimetre
    assert ruler.length_px == pytest.approx(2400.0) and ruler.text() == f"{2400 * mpp / 1000:.2f} mm" == "1.20 mm"

    cancelled: list[bool] = []
    window.action_set.cancel.setEnabled(True)  # as while a run streams: Esc is also its shortcut
    window.action_set.cancel.triggered.connect(lambda: cancelled.append(True))
    QTest.keyClick(view, Qt.Key.Key_Escape)
    assert ruler.start is None and ruler.text() is None and cancelled == []  # Esc went to the ruler
    assert not ruler.active and not window.action_set.review.ruler.isChecked()
    QTest.keyClick(view, Qt.Key.Key_Escape)  # with nothing to clear, Esc is Cancel again
    assert cancelled == [True]
    window.action_set.cancel.setEnabled(False)


def test_ruler_says_when_the_pixel_size_is_unknown(qtbot, window) -> None:  # noqa: F811
    open_and_wait(qtbot, window, SAMPLE_PNG)  # a BreakHis PNG records no pixel size
    assert window.slide.session.mpp() is None
    view, ruler = window.slide.view, window.slide.review.ruler
    view.zoom_to(1.0)
    window.action_set.review.ruler.trigger()
    _drag(view, (100, 100), (400, 500))
    assert ruler.text() == "pixel size unknown: 500 px"
    assert window.status.currentMessage().startswith("Ruler: pixel size unknown: 500 px; set it in Analysis")

    regions = window.slide.regions  # one mouse tool at a time
    regions.panel.tool_buttons["polygon"].click()
    assert regions.tool.tool == "polygon" and not ruler.active and not window.action_set.review.ruler.isChecked()
    window.action_set.review.ruler.trigger()
    assert ruler.active and regions.tool.tool == "none"


def test_tiles_quality_control_left_out_are_never_walked_to_or_listed(qtbot, window, models_dir: Path) -> None:  # noqa: F811
    open_and_wait(qtbot, window, SMALL_SVS)
    scores = _run(qtbot, window)
    by_p = _expected_order(scores.p_malignant, scores.done & ~scores.qc_skipped())
    top, second = by_p[0], by_p[1]
    # The same run as if quality control had kept the most malignant tile from scoring (pen ink).
    flags = tuple("pen" if i == top else "ok" for i in range(len(scores)))
    p, u, done = scores.p_malignant.copy(), scores.uncertainty.copy(), scores.done.copy()
    p[top], u[top], done[top] = np.nan, np.nan, False
    flagged = TileScores(scores.grid, p, u, scores.member_probs.copy(), scores.attention.copy(), done,
                         model_name=scores.model_name, qc_flags=flags)
    window.slide.display.show_scores(flagged)
    gallery = window.slide.review.gallery
    qtbot.waitUntil(lambda: gallery.indices.size > 0 and int(gallery.indices[0]) == second, timeout=5_000)
    assert top not in gallery.indices.tolist()
    window.action_set.review.next_malignant.trigger()
    _assert_centred_on(window, scores.rects()[second])
    assert window.status.currentMessage().startswith(f"tile 1 of {len(by_p) - 1} most malignant")
    assert window.slide.view.heatmap.qc_skipped.tolist() == [i == top for i in range(len(scores))]
