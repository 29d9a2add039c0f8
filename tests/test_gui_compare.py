"""Two slides side by side: the link maths by hand, then in the window: a half-resolution copy
of cmu_small_region.svs opened beside the original follows its pan and zoom by µm, unlinking
lets one view move alone and linking again keeps the offset; swap; the same slide at two
thresholds after a real analysis; and a clear message without a slide."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from gui_helpers import dialogs, open_and_wait, settings, window  # noqa: F401

from bcviewer.gui.main_window import MainWindow
from bcviewer.gui.slide.view_link import LinkFrame, frame_for, view_centre
from bcviewer.slides import open_slide

ROOT = Path(__file__).resolve().parent.parent
SMALL_SVS = ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs"
MPP = 0.499  # cmu_small_region.svs records it


def test_link_frame_maps_points_and_scales_by_pixel_size() -> None:
    frame = frame_for(0.5, 0.25)  # the right slide has pixels half as wide: twice as many per µm
    assert frame == LinkFrame(2.0, 0.0, 0.0, physical=True)
    assert frame.to_right(100.0, 50.0) == (200.0, 100.0)
    assert frame.right_scale(0.5) == 0.25  # the same µm per screen pixel
    moved = frame.keeping((100.0, 50.0), (230.0, 90.0))
    assert (moved.offset_x, moved.offset_y) == (30.0, -10.0)
    assert moved.to_right(100.0, 50.0) == (230.0, 90.0) and moved.to_left(230.0, 90.0) == (100.0, 50.0)
    assert "µm" in frame.note
    unknown = frame_for(0.5, None)
    assert unknown == LinkFrame() and unknown.note == "linked pixel for pixel: a pixel size is unknown"


@pytest.fixture(scope="module")
def half_resolution_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cmu_small_region.svs at half the resolution (0.998 µm/px), one level, as a TIFF."""
    with open_slide(SMALL_SVS) as slide:
        image = slide.read_region(0, 0, 0, *slide.dimensions)
    h, w = image.shape[:2]
    half = cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    out = tmp_path_factory.mktemp("compare") / "cmu_half.tif"
    res = 1e4 / (2 * MPP)  # pixels per centimetre
    tifffile.imwrite(out, half, photometric="rgb", tile=(256, 256), resolution=(res, res), resolutionunit="CENTIMETER")
    return out


def _centre(view) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    x, y = view_centre(view)
    return round(x, 6), round(y, 6)


def test_open_beside_follows_by_micrometre_unlink_keeps_offset_and_swap(
        qtbot, window: MainWindow, half_resolution_copy: Path) -> None:  # noqa: F811
    open_and_wait(qtbot, window, SMALL_SVS)
    compare, left = window.slide.compare, window.slide.view
    right = compare.pane.view
    with qtbot.waitSignal(compare.link.changed, timeout=15_000):
        compare.open_beside(half_resolution_copy)
    assert compare.pane.isVisible() and compare.mode == "slide"
    assert right.reader is not None and right.reader.mpp == pytest.approx(2 * MPP, rel=1e-3)
    ratio = MPP / right.reader.mpp
    assert compare.link.frame.physical and compare.link.frame.ratio == pytest.approx(0.5, rel=1e-3)
    assert "linked by µm" in compare.pane.note.text() and compare.pane.title.text() == "cmu_half.tif"
    assert compare.left_heading.label.text() == "cmu_small_region.svs"

    left.zoom_to(0.5)
    left.center_on(1000.0, 800.0)
    assert right.scale == pytest.approx(0.5 / ratio)  # one screen pixel shows the same µm in both views
    assert _centre(right) == pytest.approx((1000.0 * ratio, 800.0 * ratio))

    right.pan_by(-40.0, 0.0)  # drag the right view: the left one follows
    assert _centre(left) == pytest.approx((1000.0 + 40.0 / right.scale / ratio, 800.0))

    compare.pane.link.setChecked(False)  # line up a re-cut: move the right view alone
    before_left = _centre(left)
    right.center_on(300.0, 250.0)
    assert _centre(left) == before_left and "not linked" in compare.pane.note.text()
    compare.pane.link.setChecked(True)
    left.center_on(1200.0, 900.0)  # linked again: the offset made while unlinked is kept
    offset = (300.0 - before_left[0] * ratio, 250.0 - before_left[1] * ratio)
    assert _centre(right) == pytest.approx((1200.0 * ratio + offset[0], 900.0 * ratio + offset[1]))

    with qtbot.waitSignal(window.slide.opened, timeout=15_000):
        compare.swap()
    qtbot.waitUntil(lambda: compare.right_path == SMALL_SVS and compare._open_job is None, timeout=15_000)
    assert window.slide.session.path == half_resolution_copy and Path(right.reader.path) == SMALL_SVS  # type: ignore[union-attr]
    compare.close()
    assert not compare.pane.isVisible() and right.reader is None and compare.mode == "closed"
    assert not compare.left_heading.label.isVisible()


def test_compare_thresholds_after_an_analysis(qtbot, window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.delenv("BCVIEWER_MODELS", raising=False)  # the shipped idc-wsi model
    open_and_wait(qtbot, window, SMALL_SVS)
    with qtbot.waitSignal(window.slide.analysis.finished, timeout=120_000) as done:
        window.slide.run()
    scores = done.args[0]
    compare = window.slide.compare
    with qtbot.waitSignal(compare.link.changed, timeout=15_000):
        compare.compare_thresholds()
    right = compare.pane.view.heatmap
    assert compare.mode == "thresholds" and compare.pane.title.text() == "same slide, own threshold"
    assert np.array_equal(right.probabilities, scores.p_malignant, equal_nan=True)
    assert right.rects.tolist() == window.slide.view.heatmap.rects.tolist()
    assert window.slide.view.heatmap.threshold == 0.0 and right.threshold == 0.5
    assert compare.left_heading.label.text() == "cmu_small_region.svs · threshold 0.00"
    compare.pane.threshold.setValue(0.9)  # the right view's own threshold; the left keeps its own
    assert right.threshold == 0.9 and window.slide.view.heatmap.threshold == 0.0
    assert compare.link.frame.ratio == 1.0 and compare.link.frame.physical

    with qtbot.waitSignal(window.slide.analysis.finished, timeout=120_000):
        window.slide.run()  # a new run: the right heatmap follows it, keeping its threshold
    qtbot.waitUntil(lambda: not compare._follow_timer.isActive(), timeout=5_000)
    assert np.array_equal(right.probabilities, window.slide.view.heatmap.probabilities, equal_nan=True)
    assert right.threshold == 0.9


def test_compare_without_a_slide_says_so(qtbot, window: MainWindow, dialogs: list[tuple[str, str]]) -> None:  # noqa: F811
    view_menu = window.action_set.view_menu.actions()
    assert [a.text() for a in view_menu[-3:]] == ["Open &Beside…", "Compare &Thresholds", "Close Side by Side"]
    assert window.slide.compare.compare_thresholds() is None
    assert window.slide.compare.open_beside(SMALL_SVS) is None
    assert [title for title, _ in dialogs] == ["Nothing to compare", "Nothing to compare"]
    assert "Open a slide first" in dialogs[0][1]
