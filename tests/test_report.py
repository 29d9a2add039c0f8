"""The per-slide PDF report, read back with pypdfium2: the shipped sample image and
cmu_small_region.svs scored by the shipped models, a pyramid that records no pixel size, regions and
a labeling project's edits. Every figure is checked against an independent computation."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from pyramid_fixture import write_pyramid_tiff
from report_helpers import page_images, page_texts, rendered_page
from shapely.geometry import box

from bcviewer.export.colormaps import colormap_lut
from bcviewer.export.report import NOTICE, render_report, slide_report, write_report
from bcviewer.inference import Predictor
from bcviewer.inference.plan import InputPlan, PlanOptions, plan_input
from bcviewer.inference.scores import TileScores
from bcviewer.nets import open_model
from bcviewer.regions import Region
from bcviewer.safety import FileSafetyError
from bcviewer.slides import SlideReader, open_slide

SAMPLE = ROOT / "resources" / "sample" / "SOB_M_MC-14-13413-100-003.png"
SVS = ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs"
MODELS = ROOT / "models"
WHEN = datetime(2026, 12, 7, 12, 0, 0, tzinfo=timezone.utc)
MAGENTA = np.array([255, 0, 255])

Analysed = tuple[SlideReader, InputPlan, TileScores]


def _analyse(path: Path, options: PlanOptions | None = None) -> Analysed:
    slide = open_slide(path)
    plan = plan_input(slide, options or PlanOptions())
    scores = Predictor(open_model(plan.model.source), device="cpu").run(slide, plan.grid, qc_flags=plan.qc_flags)
    return slide, plan, scores


@pytest.fixture(scope="module")
def sample() -> Iterator[Analysed]:
    found = _analyse(SAMPLE)
    yield found
    found[0].close()


@pytest.fixture(scope="module")
def cmu() -> Iterator[Analysed]:
    found = _analyse(SVS)
    yield found
    found[0].close()


def _card(name: str) -> tuple[dict[str, object], str]:
    raw = (MODELS / name / "card.json").read_bytes()
    return json.loads(raw), hashlib.sha256(raw).hexdigest()


def _top_six(scores: TileScores) -> list[tuple[int, int]]:
    """The six scored tiles of highest p, ties in grid order: (x, y) of their level-0 corner."""
    flags = scores.qc_flags or ("ok",) * len(scores)
    candidates = [i for i in range(len(scores)) if scores.done[i] and flags[i] == "ok"
                  and math.isfinite(scores.p_malignant[i])]
    order = sorted(candidates, key=lambda i: (-float(scores.p_malignant[i]), i))[:6]
    return [(scores.grid.tiles[i].x, scores.grid.tiles[i].y) for i in order]


def _in_order(text: str, parts: list[str]) -> bool:
    at = 0
    for part in parts:
        at = text.find(part, at)
        if at < 0:
            return False
        at += len(part)
    return True


def _every_page_has_the_notice(texts: list[str]) -> None:
    for i, text in enumerate(texts, start=1):
        assert NOTICE in text and f"page {i} of {len(texts)}" in text


def test_sample_image_report_states_slide_model_verdict_and_top_tiles(sample: Analysed) -> None:
    slide, plan, scores = sample
    pdf = render_report(slide_report(slide, scores, plan, now=WHEN))
    texts = page_texts(pdf)
    text = "\n".join(texts)
    _every_page_has_the_notice(texts)
    card, card_sha = _card("breakhis-100x")
    assert "Slide report: SOB_M_MC-14-13413-100-003.png" in text
    assert "700 x 460 px" in text and "pixel size unknown" in text  # a microscopy image records none
    assert "unknown (the file names no scanner)" in text
    assert "2026-12-07 12:00:00 UTC" in text and "bcviewer version 0.1.0" in text
    assert "breakhis-100x; the default for microscopy images" in text
    assert card_sha in text and card["weights"]["sha256"] in text  # type: ignore[index]
    assert "stain normalisation none" in text  # the card's input.stain is null
    # the card's rule, top 10% mean: the highest of the 9 sub-images
    top_p = float(np.nanmax(scores.p_malignant))
    assert "Verdict: malignant" in text and f"top 10% mean of the tile p = {top_p:.3f}" in text
    assert "(not validated)" not in text  # the card validated its rule
    assert "Conformal prediction set: malignant." in text
    corners = _top_six(scores)
    assert _in_order(text, [f"{x}, {y}" for x, y in corners])
    assert "Quality control did not run" in text and "No labeling project was open." in text


def test_sample_report_embeds_the_heatmap_thumbnail_and_its_legend(sample: Analysed) -> None:
    slide, plan, scores = sample
    report = slide_report(slide, scores, plan, now=WHEN)
    pdf = render_report(report)
    images = page_images(pdf, 0)
    overlay = next(pixels for pixels, _ in images if pixels.shape == report.overlay.shape)
    np.testing.assert_array_equal(overlay, report.overlay)  # embedded losslessly
    thumb = slide.thumbnail(max(report.overlay.shape[:2]))
    assert np.abs(overlay.astype(int) - thumb.astype(int)).mean() > 10  # the heatmap is blended in
    assert (np.abs(overlay.astype(int) - MAGENTA).sum(axis=2) < 30).sum() > 1000  # the top tiles' outlines
    lut = colormap_lut("viridis").astype(int)
    band = next(pixels for pixels, _ in images if pixels.shape[0] < 100 and pixels.shape[1] == 900)
    for colour in (lut[0], lut[128], lut[255]):  # the colour bar runs through the colormap
        assert (np.abs(band.astype(int) - colour).sum(axis=2) < 6).sum() > 10
    # the page as a reader sees it: where the thumbnail is drawn, the page is not blank
    page = rendered_page(pdf, 0, scale=2.0)
    x0, y0, x1, y1 = next(bounds for pixels, bounds in images if pixels.shape == report.overlay.shape)
    height = page.shape[0] / 2.0
    region = page[round((height - y1) * 2):round((height - y0) * 2), round(x0 * 2):round(x1 * 2)]
    assert region.size and region.std() > 20 and (region < 250).mean() > 0.5


def test_cmu_slide_report_gives_size_in_mm_scanner_qc_and_the_unvalidated_rule(cmu: Analysed) -> None:
    slide, plan, scores = cmu
    pdf = render_report(slide_report(slide, scores, plan, now=WHEN))
    texts = page_texts(pdf)
    text = "\n".join(texts)
    _every_page_has_the_notice(texts)
    card, card_sha = _card("idc-wsi")
    assert "Slide report: cmu_small_region.svs" in text
    assert "2220 x 2967 px (1.11 x 1.48 mm)" in text  # 2220 x 0.499 µm = 1.108 mm
    assert "0.499 µm/px (recorded in the file)" in text
    assert "aperio, model CPAPERIOCS, 20x objective" in text
    assert card_sha in text and card["weights"]["sha256"] in text  # type: ignore[index]
    verdict = scores.slide_verdict
    mean_p = float(np.mean(scores.p_malignant[scores.done]))  # the default rule: the mean
    assert f"Verdict: {verdict.text}" in text and f"mean (not validated) of the tile p = {mean_p:.3f}" in text
    assert "The verdict rule is not validated for this model" in text
    flags = scores.qc_flags
    assert flags is not None
    left = sum(f != "ok" for f in flags)
    assert f"Quality control left out {left} of {len(flags)} tiles" in text
    assert _in_order(text, [f"{x}, {y}" for x, y in _top_six(scores)])


def test_regions_are_listed_with_their_areas(cmu: Analysed) -> None:
    slide, plan, scores = cmu
    region = Region("tumour?", "Tumor", box(800, 1200, 1600, 2800))
    text = "\n".join(page_texts(render_report(slide_report(slide, scores, plan, regions=[region], now=WHEN))))
    area_mm2 = 800 * 1600 * 0.499**2 / 1e6  # 0.319 mm²
    assert "tumour?" in text and "Tumor" in text and f"{area_mm2:.3f}" in text
    assert "No regions were drawn" not in text


def test_a_pyramid_without_pixel_size_says_where_the_users_came_from(tmp_path: Path, cmu: Analysed) -> None:
    slide = cmu[0]
    rgb = slide.read_region(0, 0, 0, 1600, 1200)
    path = write_pyramid_tiff(tmp_path / "no-mpp.tif", rgb, levels=3)
    for options, expected in ((PlanOptions(mpp=0.5, min_tissue=0.05), "0.5 µm/px (given by the user, from --mpp)"),
                              (PlanOptions(tile_px=400, min_tissue=0.05), "pixel size unknown")):
        found, plan, scores = _analyse(path, options)
        try:
            text = "\n".join(page_texts(render_report(slide_report(found, scores, plan, now=WHEN))))
        finally:
            found.close()
        assert "Slide report: no-mpp.tif" in text and expected in text
        assert ("1600 x 1200 px (0.80 x 0.60 mm)" if options.mpp else "1600 x 1200 px\r\n") in text
        assert "unknown (the file names no scanner)" in text
        assert _in_order(text, [f"{x}, {y}" for x, y in _top_six(scores)])


def test_label_edits_of_the_slide_come_from_the_projects_audit_trail(tmp_path: Path, test_data: Path,
                                                                      sample: Analysed) -> None:
    from labels_helpers import fixture_project

    image = test_data / "breakhis" / "SOB_B_A-14-22549AB-100-001.png"
    project = tmp_path / "labels.bcv"
    store = fixture_project(project, test_data / "breakhis")
    image_id = store.image_id_for(path=str(image))
    assert image_id is not None
    subs = store.subimages(image_id)
    store.set_label([subs[4].id], "malignant", reason="atypical nuclei")
    store.set_locked([subs[0].id], True)
    store.close()
    moved = tmp_path / "moved" / image.name  # found by its content when its path is not the project's
    moved.parent.mkdir()
    shutil.copy(image, moved)
    found, plan, scores = _analyse(moved)
    try:
        text = "\n".join(page_texts(render_report(slide_report(found, scores, plan, project=project, now=WHEN))))
    finally:
        found.close()
    assert "From the audit trail of labels.bcv, newest first." in text
    assert _in_order(text, ["0, 0", "lock"])  # newest first: the lock, then the label
    assert _in_order(text, ["1, 1", "label", "benign -> malignant", "human", "atypical nuclei"])
    slide, plan, scores = sample
    other = "\n".join(page_texts(render_report(slide_report(slide, scores, plan, project=project, now=WHEN))))
    assert "this slide is not in the labeling project labels.bcv" in other


def test_the_same_report_gives_the_same_bytes_and_a_project_is_never_replaced(sample: Analysed,
                                                                              tmp_path: Path) -> None:
    slide, plan, scores = sample
    report = slide_report(slide, scores, plan, now=WHEN)
    assert render_report(report) == render_report(slide_report(slide, scores, plan, now=WHEN))
    target = write_report(tmp_path / "r.pdf", report)
    assert target.read_bytes().startswith(b"%PDF-")
    project = tmp_path / "labels.pdf"
    project.write_bytes(b"SQLite format 3\x00" + bytes(100))
    with pytest.raises(FileSafetyError, match="SQLite"):
        write_report(project, report)
    with pytest.raises(FileSafetyError, match="folder"):
        write_report(tmp_path, report)


def test_the_model_input_stain_normalisation_is_named_with_its_reference_hash() -> None:
    from bcviewer.export.report_parts import stain_text

    stain = {"method": "macenko", "he": [[0.65, 0.07], [0.70, 0.99], [0.29, 0.11]], "max_c": [1.99, 1.06]}
    # The hash every output records: sha256 of the method and parameters as compact sorted JSON.
    digest = hashlib.sha256(json.dumps(stain, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert stain_text({"input": {"stain": stain}}) == f"macenko; reference: model card; sha256 {digest}"
    assert stain_text({"input": {"stain": None}}) == stain_text({"input": {}}) == "none"
