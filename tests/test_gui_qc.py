"""Quality control in the viewer: on a whole slide with a marker line, the tiles it crosses are
left out of the run, hatched grey on the heatmap layer, and the panel says so."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
from gui_helpers import dialogs, open_and_wait, settings, window  # noqa: F401
from pyramid_fixture import write_pyramid_tiff

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
