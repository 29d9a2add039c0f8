"""Quality control in the viewer: on a whole slide with a marker line, the tiles it crosses are
left out of the run, hatched grey on the heatmap layer, and the panel says so."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
from gui_helpers import dialogs, open_and_wait, settings, window  # noqa: F401
from pyramid_fixture import write_pyramid_tiff
from PySide6.QtWidgets import QMenu

from bcviewer.slides import open_slide

ROOT = Path(__file__).resolve().parent.parent
SMALL_SVS = ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs"


@pytest.fixture()
def marked_slide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("BCVIEWER_MODELS", raising=False)  # the shipped idc-wsi model
    with open_slide(SMALL_SVS) as slide:
        rgb = slide.read_region(0, 0, 0, *slide.dimensions).copy()
    cv2.line(rgb, (700, 1000), (1700, 1000), (40, 170, 60), 120)
    return write_pyramid_tiff(tmp_path / "marked.svs", rgb, levels=2, aperio_mag=20)


def test_flagged_tiles_are_left_out_and_hatched(qtbot, window, marked_slide: Path) -> None:  # noqa: F811
    window.slide.session.mpp_override = 0.499  # as `bcviewer open --mpp 0.499`
    open_and_wait(qtbot, window, marked_slide)
    with qtbot.waitSignal(window.slide.analysis.finished, timeout=120_000) as done:
        assert window.slide.run()
    scores = done.args[0]
    assert scores.qc_flags is not None and scores.qc_flags.count("pen") == 3
    assert scores.n_done == len(scores) - 3 and scores.complete
    layer = window.slide.view.heatmap
    assert layer.qc_skipped is not None and layer.qc_skipped.tolist() == [f == "pen" for f in scores.qc_flags]
    assert layer.scored_count == len(scores) - 3
    text = window.slide.panel.status_label.text()
    assert f"Done: {len(scores) - 3} tiles scored" in text and "quality control left out 3 (3 pen)" in text


def _count_qc_passes(monkeypatch: pytest.MonkeyPatch, delay_s: float = 0.0) -> list[int]:
    """Count every pass of quality control over a grid (the QC job's and the plan's), each tile
    slowed by ``delay_s`` so that a test can cancel in the middle."""
    import time

    import bcviewer.inference.plan as plan_module
    import bcviewer.qc as qc_package
    import bcviewer.qc.slide as qc_slide

    passes: list[int] = []
    real_grid, real_tile = qc_slide.qc_grid, qc_slide.qc_tile

    def counted(slide, grid, *args, **kwargs):  # type: ignore[no-untyped-def]
        passes.append(len(grid))
        return real_grid(slide, grid, *args, **kwargs)

    def slow(rgb):  # type: ignore[no-untyped-def]
        time.sleep(delay_s)
        return real_tile(rgb)

    monkeypatch.setattr(qc_package, "qc_grid", counted)
    monkeypatch.setattr(plan_module, "qc_grid", counted)
    if delay_s:
        monkeypatch.setattr(qc_slide, "qc_tile", slow)
    return passes


def test_qc_job_shows_progress_and_cancel_keeps_the_tiles_checked(qtbot, window, marked_slide: Path,  # noqa: F811
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    passes = _count_qc_passes(monkeypatch, delay_s=0.15)
    window.slide.session.mpp_override = 0.499
    open_and_wait(qtbot, window, marked_slide)
    started: list[str] = []
    window.slide.analysis.started.connect(started.append)
    quality = window.slide.quality
    seen: list[tuple[int, int]] = []
    quality.controller.progress.connect(lambda done, total: seen.append((done, total)))
    assert window.slide.run()  # a whole slide: QC first, as its own job
    assert quality.running and not window.slide.analysis.running
    qtbot.waitUntil(lambda: bool(seen) and seen[-1][0] >= 2, timeout=30_000)
    assert quality.panel.progress.maximum() == 21 and quality.panel.progress.text() == f"QC {seen[-1][0]} / 21 tiles"
    with qtbot.waitSignal(quality.controller.cancelled, timeout=30_000) as cancelled:
        window.slide.cancel()  # Esc: stops QC, and with it the analysis that waited for it
    partial = cancelled.args[0]
    assert 2 <= len(partial.results) < 21 and not partial.complete
    assert quality.usable() is None and quality.layer.flags == [r.flag for r in partial.results]
    rows = quality.panel.legend_rows()
    assert sum(int(n) for n, _ in rows.values()) == len(partial.results)
    assert "The analysis was not started" in quality.panel.status_label.text()
    qtbot.wait(300)
    assert started == [] and not window.slide.analysis.running and passes == [21]


def test_qc_layer_and_legend_before_any_analysis(qtbot, window, marked_slide: Path,  # noqa: F811
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from bcviewer.qc import summarise

    window.slide.session.mpp_override = 0.499
    open_and_wait(qtbot, window, marked_slide)
    quality = window.slide.quality
    menus = {o.title(): [a.text() for a in o.actions()] for o in quality.check_action.associatedObjects()
             if isinstance(o, QMenu)}
    analysis = menus["&Analysis"]
    assert analysis.index("Check &quality") + 1 == analysis.index("&Run analysis")
    assert "&QC layer" in [a.text() for o in quality.layer_action.associatedObjects() if isinstance(o, QMenu)
                           for a in o.actions()]
    with qtbot.waitSignal(quality.controller.finished, timeout=60_000) as done:
        quality.check_action.trigger()  # Analysis > Check quality
    result = done.args[0]
    summary = summarise(result.grid, result.results)
    assert summary.tiles["pen"] == 3 and summary.tiles["ok"] == 18 and len(result.grid) == 21
    rows = quality.panel.legend_rows()
    assert rows == {f: (str(summary.tiles[f]), f"{100 * summary.tissue_share[f]:.1f}") for f in rows}
    assert rows["pen"][0] == "3" and 0 < float(rows["pen"][1]) < 100 - float(rows["ok"][1]) + 0.1
    assert window.slide.session.scores is None and not window.slide.analysis.running
    # The toggle: the action and the panel's check box follow each other, and the pen tiles turn green.
    pen = [i for i, r in enumerate(result.results) if r.flag == "pen"][0]
    x, y, w, h = result.grid[pen].rect
    view = window.slide.view
    view.fit()
    qtbot.waitUntil(view.is_settled, timeout=10_000)
    centre = view.transform.to_screen(x + w / 2, y + h / 2).toPoint()
    before = view.grab().toImage().pixelColor(centre)
    quality.panel.layer_box.setChecked(True)
    assert quality.layer_action.isChecked() and quality.layer.visible
    qtbot.waitUntil(view.is_settled, timeout=10_000)
    after = view.grab().toImage().pixelColor(centre)
    assert after.green() > after.red() and after.green() > after.blue() and after != before
    quality.layer_action.setChecked(False)
    assert not quality.panel.layer_box.isChecked() and not quality.layer.visible


def test_the_analysis_reuses_the_finished_qc(qtbot, window, marked_slide: Path,  # noqa: F811
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    passes = _count_qc_passes(monkeypatch)
    window.slide.session.mpp_override = 0.499
    open_and_wait(qtbot, window, marked_slide)
    for _ in range(2):  # the first run checks quality first, the second reuses it
        with qtbot.waitSignal(window.slide.analysis.finished, timeout=120_000) as done:
            assert window.slide.run()
        scores = done.args[0]
        assert scores.qc_flags is not None and scores.qc_flags.count("pen") == 3 and scores.n_done == 18
        assert window.slide.analysis.plan is not None and window.slide.analysis.plan.qc_given
    assert passes == [21] and window.slide.quality.controller.runs_started == 1
