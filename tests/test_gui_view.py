"""The tiled slide view: geometry, tile cache, loading, level switching, zoom, pan, minimap, scale bar."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import openslide
import pytest
from gui_helpers import (  # noqa: F401
    SAMPLE_PNG,
    dialogs,
    open_and_wait,
    pyramid_tiff,
    settings,
    window,
)
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from bcviewer.gui import core
from bcviewer.gui.slide.scale_bar import format_length, nice_length
from bcviewer.gui.slide.tile_cache import TileCache, TileKey
from bcviewer.gui.slide.tile_loader import TileLoader
from bcviewer.gui.slide.view import BACKGROUND
from bcviewer.gui.slide.view_geometry import TileLayout, ViewTransform
from bcviewer.slides import open_slide


# ---- pure geometry ------------------------------------------------------------------------------
def test_adjacent_rectangles_share_their_screen_edge_at_any_zoom() -> None:
    rng = random.Random(7)
    for _ in range(500):
        t = ViewTransform(rng.uniform(0.01, 12.0), rng.uniform(-500, 3000), rng.uniform(-500, 3000))
        x, w1, w2 = rng.uniform(0, 2000), rng.uniform(1, 400), rng.uniform(1, 400)
        left = t.screen_rect(x, 10, w1, 50)
        right = t.screen_rect(x + w1, 10, w2, 50)
        assert left.x() + left.width() == right.x()  # no gap, no overlap


def test_zoom_about_keeps_the_anchor_point_still() -> None:
    t = ViewTransform(0.5, 100.0, 200.0)
    before = t.to_image(300, 150)
    t.zoom_about(2.7, 300, 150)
    after = t.to_image(300, 150)
    assert t.scale == pytest.approx(1.35)
    assert after == pytest.approx(before, abs=1e-9)


def test_tile_layout_of_the_cmu_pyramid(pyramid_tiff: Path) -> None:
    with open_slide(pyramid_tiff) as slide:
        assert slide.level_count == 4
        assert slide.level_dimensions == ((2220, 2967), (1110, 1483), (555, 741), (277, 370))
        layout = TileLayout(slide.level_dimensions, slide.level_downsamples)
    # The coarsest level that still gives >= 1 image pixel per screen pixel.
    assert [layout.level_for_scale(s) for s in (2.0, 1.0, 0.6, 0.5, 0.49, 0.3, 0.2, 0.12, 0.05)] == [
        0,
        0,
        0,
        0,
        1,
        1,
        2,
        3,
        3,
    ]
    assert layout.level_for_scale(0.5, device_pixel_ratio=2.0) == 0
    assert layout.grid_size(0) == (9, 12) and layout.grid_size(3) == (2, 2)
    assert layout.level_rect(0, 8, 11) == (2048, 2816, 172, 151)  # clipped at the image edge
    assert layout.read_args(1, 2, 1) == (
        1,
        round(512 * layout.level_downsamples[1]),
        round(256 * layout.level_downsamples[1]),
        256,
        256,
    )
    from PySide6.QtCore import QRectF

    tiles = layout.tiles_covering(0, QRectF(300, 300, 400, 100))
    assert set(tiles) == {(1, 1), (2, 1)}
    assert len(layout.tiles_covering(0, QRectF(300, 300, 400, 100), margin=1)) == 4 * 3


def test_tile_cache_evicts_least_recently_used_by_bytes() -> None:
    tile = QImage(256, 256, QImage.Format.Format_RGB32)  # 256 KiB each
    cache = TileCache(capacity_mb=1.0)
    keys = [TileKey(1, 0, i, 0) for i in range(5)]
    for k in keys[:4]:
        cache.put(k, tile)
    assert len(cache) == 4 and cache.size_bytes == 4 * 256 * 1024
    assert cache.get(keys[0]) is not None  # keys[0] becomes the most recent
    cache.put(keys[4], tile)
    assert keys[1] not in cache and keys[0] in cache and keys[4] in cache
    assert cache.size_bytes <= cache.capacity_bytes
    cache.put(TileKey(2, 0, 0, 0), tile)
    cache.drop_generation_except(2)
    assert len(cache) == 1


def test_scale_bar_lengths() -> None:
    assert nice_length(0.499) == pytest.approx((50.0, 50.0 / 0.499))
    assert nice_length(0.499 / 4) == pytest.approx((10.0, 10.0 / (0.499 / 4)))
    assert nice_length(8.0) == pytest.approx((500.0, 62.5))
    assert format_length(500.0) == "500 µm" and format_length(2000.0) == "2 mm"
    with pytest.raises(ValueError):
        nice_length(0.0)


def test_loader_reads_only_wanted_tiles_of_the_current_file(qtbot, test_data: Path) -> None:
    loader = TileLoader(threads=2)
    got: list[TileKey] = []
    loader.tile_ready.connect(lambda key, image: got.append(key))
    a = open_slide(test_data / "slides" / "cmu_small_region.svs")
    b = open_slide(SAMPLE_PNG)
    try:
        loader.set_source(a, TileLayout(a.level_dimensions, a.level_downsamples), 1)
        loader.request([TileKey(1, 0, c, r) for r in range(12) for c in range(9)])
        loader.set_source(b, TileLayout(b.level_dimensions, b.level_downsamples), 2)
        wanted = [TileKey(2, 0, c, r) for r in range(2) for c in range(3)]
        loader.request(wanted + [TileKey(1, 0, 0, 0)])  # a stale key in a request is ignored
        qtbot.waitUntil(lambda: not loader.busy, timeout=10_000)
        assert loader.shutdown()
        QApplication.processEvents()
        assert {k for k in got if k.generation == 2} == set(wanted)
        # Of the 108 tiles asked for file 1, only the few the two workers reached before it was replaced
        # were read (two in flight, a few more when this thread is descheduled on a loaded machine: 3 seen).
        assert loader.reads <= len(wanted) + 8
    finally:
        a.close()
        b.close()


def test_view_keeps_no_tile_of_a_replaced_file(qtbot, window, test_data: Path) -> None:
    open_and_wait(qtbot, window, test_data / "slides" / "cmu_small_region.svs")
    view = window.slide.view
    view.zoom_to(1.0)
    view.repaint()  # requests the visible level-0 tiles of the SVS
    open_and_wait(qtbot, window, SAMPLE_PNG)
    qtbot.waitUntil(lambda: not view.loader.busy, timeout=10_000)
    QApplication.processEvents()
    assert len(view.cache) > 0 and all(k.generation == view.generation for k in view.cache._items)


# ---- the widget ---------------------------------------------------------------------------------
def test_open_png_shows_the_image_at_fit(qtbot, window) -> None:
    open_and_wait(qtbot, window, SAMPLE_PNG)
    view = window.slide.view
    assert view.reader.dimensions == (700, 460) and view.current_level == 0
    assert view.scale == pytest.approx(view.fit_scale())
    assert view.cache.get(TileKey(view.generation, 0, 2, 1)) is not None  # bottom-right of 3x2 tiles
    assert window.status.mpp.text() == "mpp unknown"
    # The magnification comes from the BreakHis name (100X) once the core has loaded.
    qtbot.waitUntil(lambda: core.is_ready() and window.slide.jobs.pending == 0, timeout=120_000)
    assert window.status.zoom.text() == f"zoom {view.scale * 100:.0f}% · {100 * view.scale:.1f}×"
    assert window.windowTitle().startswith("SOB_M_MC-14-13413-100-003.png")


def test_open_svs_fixture_knows_its_scale(qtbot, window, test_data: Path) -> None:
    open_and_wait(qtbot, window, test_data / "slides" / "cmu_small_region.svs")
    view = window.slide.view
    assert view.reader.dimensions == (2220, 2967)
    assert window.status.mpp.text() == "0.499 µm/px"
    # Single level: zoomed out, the scanner's embedded 574x768 thumbnail is sharp enough.
    assert view.scale < 574 / 2220 and view.overview_suffices()
    assert view.loader.reads == 0 and len(view.cache) == 0 and view.is_settled()
    view.zoom_to(1.0)
    assert window.status.zoom.text() == "zoom 100% · 20.0×"  # the scanner's 20x objective
    assert not view.overview_suffices()
    qtbot.waitUntil(view.is_settled, timeout=10_000)
    assert view.loader.reads > 0 and all(k.level == 0 for k in view.cache._items)


def test_zoom_switches_pyramid_level_and_loads_its_tiles(qtbot, window, pyramid_tiff: Path) -> None:
    open_and_wait(qtbot, window, pyramid_tiff)
    view = window.slide.view
    assert openslide.OpenSlide.detect_format(str(pyramid_tiff)) == "generic-tiff"
    levels = []
    view.level_changed.connect(levels.append)
    fit_level = view.current_level
    assert fit_level >= 2  # a 2967-px-high image fitted in < 700 px needs >= 4x downsampling
    for scale, level in ((1.0, 0), (0.45, 1), (0.22, 2)):
        view.zoom_to(scale)
        assert view.current_level == level
        qtbot.waitUntil(view.is_settled, timeout=10_000)
        keys = view.visible_tile_keys()
        assert keys and all(k.level == level and k in view.cache for k in keys)
    assert levels == [0, 1, 2]
    assert window.status.level.text() == "level 2 of 4"


def test_pan_loads_the_newly_visible_tiles(qtbot, window, pyramid_tiff: Path) -> None:
    open_and_wait(qtbot, window, pyramid_tiff)
    view = window.slide.view
    view.zoom_to(1.0)
    view.center_on(300, 300)
    qtbot.waitUntil(view.is_settled, timeout=10_000)
    before = set(view.visible_tile_keys())
    view.pan_by(-900, -700)  # drag the image up and left: show more of the bottom right
    assert view.transform.origin_x == pytest.approx(300 - view.width() / 2 + 900)
    after = set(view.visible_tile_keys())
    assert after - before
    qtbot.waitUntil(view.is_settled, timeout=10_000)
    assert all(k in view.cache for k in after)


def test_placeholder_is_painted_before_tiles_arrive(qtbot, window, pyramid_tiff: Path) -> None:
    open_and_wait(qtbot, window, pyramid_tiff)
    view = window.slide.view
    view.zoom_to(1.0)
    view.center_on(1500, 2000)
    view.cache.clear()
    view.loader.shutdown()  # nothing can arrive now: the frame must come from the thumbnail
    frame = view.grab().toImage()
    centre = frame.pixelColor(view.width() // 2, view.height() // 2)
    assert centre != BACKGROUND and centre.name() != "#ffffff"  # tissue colour, not a hole
    assert not view.is_settled()


def test_wheel_zoom_keeps_the_point_under_the_cursor(qtbot, window, pyramid_tiff: Path) -> None:
    open_and_wait(qtbot, window, pyramid_tiff)
    view = window.slide.view
    cursor = QPointF(200.0, 150.0)
    target_image_point = view.transform.to_image(cursor.x(), cursor.y())
    scale0 = view.scale
    event = QWheelEvent(
        cursor,
        view.mapToGlobal(cursor),
        QPoint(0, 0),
        QPoint(0, 240),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view, event)
    qtbot.waitUntil(lambda: not view._zoom_timer.isActive(), timeout=3000)
    assert view.scale == pytest.approx(scale0 * 1.25**2)
    assert view.transform.to_image(cursor.x(), cursor.y()) == pytest.approx(target_image_point, abs=1e-6)


def test_drag_pans_by_the_mouse_movement(qtbot, window) -> None:
    open_and_wait(qtbot, window, SAMPLE_PNG)
    view = window.slide.view
    view.zoom_to(2.0)
    ox, oy = view.transform.origin_x, view.transform.origin_y

    def mouse(kind: QEvent.Type, x: float, y: float, buttons: Qt.MouseButton) -> None:
        p = QPointF(x, y)
        ev = QMouseEvent(
            kind,
            p,
            view.mapToGlobal(p),
            Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton,
            buttons,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(view, ev)

    mouse(QEvent.Type.MouseButtonPress, 300, 300, Qt.MouseButton.LeftButton)
    mouse(QEvent.Type.MouseMove, 340, 320, Qt.MouseButton.LeftButton)
    mouse(QEvent.Type.MouseMove, 400, 250, Qt.MouseButton.LeftButton)
    mouse(QEvent.Type.MouseButtonRelease, 400, 250, Qt.MouseButton.NoButton)
    assert view.transform.origin_x == pytest.approx(ox - 100 / 2.0)
    assert view.transform.origin_y == pytest.approx(oy + 50 / 2.0)


def test_minimap_shows_and_moves_the_viewport(qtbot, window, pyramid_tiff: Path) -> None:
    open_and_wait(qtbot, window, pyramid_tiff)
    view, minimap = window.slide.view, window.slide.view.minimap
    window.action_set.minimap.setChecked(True)
    assert not minimap.isVisible()  # the whole image is on screen: nothing to navigate
    view.zoom_to(1.0)
    view.center_on(500, 600)
    assert minimap.isVisible()
    vp = minimap.viewport
    assert vp.center().x() == pytest.approx(500) and vp.center().y() == pytest.approx(600)
    assert vp.width() == pytest.approx(view.width())
    minimap.navigate_requested.emit(1800.0, 2500.0)
    centre = view.transform.to_image(view.width() / 2, view.height() / 2)
    assert centre == pytest.approx((1800.0, 2500.0))
    window.action_set.minimap.setChecked(False)
    assert not minimap.isVisible()
    assert window.settings.overlay()["show_minimap"] is False


def test_rendered_pixels_match_the_slide(qtbot, window) -> None:
    """At 100 % a screen pixel is exactly the image pixel under it."""
    open_and_wait(qtbot, window, SAMPLE_PNG)
    view = window.slide.view
    view.zoom_to(1.0)
    view.center_on(350.0, 230.0)
    qtbot.waitUntil(view.is_settled, timeout=5000)
    from gui_helpers import grab_rgb

    shot = grab_rgb(view)
    sx, sy = view.width() // 2 - 100, view.height() // 2 - 75  # a 200 x 150 screen patch in the middle
    x0, y0 = (round(v) for v in view.transform.to_image(sx, sy))
    assert view.transform.to_image(sx, sy) == pytest.approx((x0, y0), abs=1e-9)  # whole pixels at 100 %
    with open_slide(SAMPLE_PNG) as slide:
        expected = slide.read_region(0, int(x0), int(y0), 200, 150)
    assert np.array_equal(shot[sy : sy + 150, sx : sx + 200], expected)
