"""File > Export > Report PDF… in the viewer: the report of the analysis on screen, written on a
worker with the heatmap's look, the drawn regions and the open labeling project's edits; a path
that cannot be written gives a dialog, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

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
from report_helpers import page_texts
from shapely.geometry import box

from bcviewer.export.report import NOTICE
from bcviewer.regions import Region


def _analysed(qtbot, window):  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, SAMPLE_PNG)
    with qtbot.waitSignal(window.slide.analysis.finished, timeout=60_000) as blocker:
        assert window.slide.run()
    return blocker.args[0]


def test_export_report_writes_the_analysis_on_screen_with_the_projects_edits(qtbot, window, models_dir: Path,
                                                                              tmp_path: Path, dialogs) -> None:
    from bcviewer.labels import LabelStore
    from bcviewer.labels.importer import import_images

    project = tmp_path / "labels.bcv"
    with LabelStore.create(project) as store:
        import_images(store, [SAMPLE_PNG.parent])
        image_id = store.image_id_for(path=str(SAMPLE_PNG))
        assert image_id is not None
        store.set_label([store.subimages(image_id)[2].id], "benign", reason="stroma only")
    assert window.workspaces.labeling().open_project(project)
    scores = _analysed(qtbot, window)
    window.slide.regions.apply([Region("upper half", "Tumor", box(0, 0, 700, 230))], save=False)
    target = tmp_path / "report.pdf"
    job = window.slide.export("report", str(target))
    assert job is not None
    qtbot.waitUntil(lambda: window.slide.jobs.pending == 0 and window.slide.report.job is None, timeout=60_000)
    assert dialogs == []
    texts = page_texts(target)
    text = "\n".join(texts)
    assert all(NOTICE in t and f"of {len(texts)}" in t for t in texts)
    assert "Slide report: SOB_M_MC-14-13413-100-003.png" in text
    assert f"Verdict: {scores.slide_verdict.text}" in text
    weights = json.loads((models_dir / "breakhis-100x" / "card.json").read_text())["weights"]["sha256"]
    assert "breakhis-100x; the default for microscopy images" in text and weights in text  # the tiny model
    assert "upper half" in text and "Tumor" in text
    assert "From the audit trail of labels.bcv" in text and "0, 2" in text and "stroma only" in text
    assert f"Saved the report {target}" in window.status.currentMessage()


@pytest.mark.parametrize("make", ["folder", "project"])
def test_a_report_path_that_cannot_be_written_shows_a_dialog(qtbot, window, models_dir: Path, tmp_path: Path,
                                                             dialogs, make: str) -> None:
    _analysed(qtbot, window)
    target = tmp_path / "out.pdf"
    if make == "folder":
        target.mkdir()
    else:
        target.write_bytes(b"SQLite format 3\x00" + bytes(100))
    window.slide.export("report", str(target))
    qtbot.waitUntil(lambda: window.slide.jobs.pending == 0 and window.slide.report.job is None, timeout=60_000)
    assert len(dialogs) == 1
    title, message = dialogs[0]
    assert title == "The report could not be written" and "Traceback" not in message
    assert ("is a folder" if make == "folder" else "SQLite") in message
