"""Predictor pipeline: values equal the direct forward, order, streaming, cancel, threads, errors."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from inference_helpers import IMAGE_SPEC, SLIDE_SPEC, tiny_ensemble

from bcviewer.inference.plan import choose_model
from bcviewer.inference import (
    DeviceUnavailableError,
    Predictor,
    ScoreBatch,
    TileScores,
    choose_device,
    analysis_grid,
)
from bcviewer.nets import preprocess
from bcviewer.slides import RegionReadError, open_slide
from bcviewer.tiling import Tile, TileGrid, TilingError, physical_grid

PNG = "breakhis/SOB_M_DC-14-13412-100-001.png"
SVS = "slides/cmu_small_region.svs"


def _our_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("bcviewer-")]


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    torch.set_num_threads(1)
    return Predictor(tiny_ensemble(), IMAGE_SPEC, device="cpu", read_workers=2, prefetch=2, name="tiny")


@pytest.fixture(scope="module")
def svs(test_data: Path):
    with open_slide(test_data / SVS) as slide:
        yield slide


@pytest.fixture(scope="module")
def svs_grid(svs) -> TileGrid:
    # 128 px tiles with some tissue: about 200 tiles, enough batches to cancel in the middle.
    return physical_grid(svs, tile_px=128, min_tissue=0.05)


def test_pipeline_scores_equal_a_direct_forward_in_grid_order(test_data: Path, predictor: Predictor) -> None:
    with open_slide(test_data / PNG) as slide:
        grid = analysis_grid(slide, IMAGE_SPEC)
        scores = predictor.run(slide, grid, batch_size=4)
        tiles = [grid.read_tile(slide, t) for t in grid]
    direct = predictor.ensemble.predict_proba(preprocess(tiles, IMAGE_SPEC))
    assert len(scores) == 9 and scores.complete and not scores.cancelled
    np.testing.assert_allclose(scores.p_malignant, direct.p_malignant, rtol=0, atol=1e-6)
    np.testing.assert_allclose(scores.uncertainty, direct.uncertainty, rtol=0, atol=1e-6)
    np.testing.assert_allclose(scores.member_probs, direct.member_probs, rtol=0, atol=1e-6)
    assert scores.attention.shape == (9, 2, 2)
    # Image-level rule: the mean of the sub-image probabilities, malignant at >= 0.5.
    assert scores.image_p_malignant == pytest.approx(scores.p_malignant.mean(), abs=1e-12)
    assert scores.image_p_malignant == pytest.approx(direct.p_malignant.mean(), abs=1e-6)
    assert scores.image_label == ("malignant" if scores.p_malignant.mean() >= 0.5 else "benign")
    assert scores.model_name == "tiny"


def test_iter_batches_streams_in_order_with_progress(svs, svs_grid: TileGrid, predictor: Predictor) -> None:
    batches = list(predictor.iter_batches(svs, svs_grid, batch_size=50))
    n = len(svs_grid)
    assert n > 150
    assert [b.done for b in batches] == [*range(50, n, 50), n]
    assert all(b.total == n for b in batches)
    assert np.array_equal(np.concatenate([b.indices for b in batches]), np.arange(n))
    assert batches[-1].fraction == 1.0 and batches[-1].tiles_per_s > 0
    assert _our_threads() == []


def test_cancel_in_callback_stops_after_that_batch(svs, svs_grid: TileGrid, predictor: Predictor) -> None:
    cancel = threading.Event()
    seen: list[ScoreBatch] = []

    def on_batch(batch: ScoreBatch) -> None:
        seen.append(batch)
        cancel.set()

    scores = predictor.run(svs, svs_grid, batch_size=8, on_batch=on_batch, cancel=cancel)
    assert len(seen) == 1 and scores.cancelled and not scores.complete
    assert scores.n_done == 8 and scores.done[:8].all() and not scores.done[8:].any()
    assert np.isnan(scores.p_malignant[8:]).all() and not np.isnan(scores.p_malignant[:8]).any()
    assert scores.image_p_malignant == pytest.approx(scores.p_malignant[:8].mean())
    assert scores.labels()[8] is None
    assert _our_threads() == []


def test_cancel_from_another_thread_stops_within_one_batch(svs, svs_grid: TileGrid, predictor: Predictor) -> None:
    cancel, second = threading.Event(), threading.Event()
    counts: list[int] = []

    def on_batch(batch: ScoreBatch) -> None:
        counts.append(batch.done)
        if len(counts) == 2:
            second.set()
            cancel.wait(30)  # the GUI thread presses Cancel while this batch's results are shown

    canceller = threading.Thread(target=lambda: (second.wait(30), cancel.set()))
    canceller.start()
    scores = predictor.run(svs, svs_grid, batch_size=4, on_batch=on_batch, cancel=cancel)
    canceller.join()
    assert counts == [4, 8] and scores.n_done == 8 and scores.cancelled
    assert _our_threads() == []


def test_breaking_out_of_the_generator_joins_the_readers(svs, svs_grid: TileGrid, predictor: Predictor) -> None:
    gen = predictor.iter_batches(svs, svs_grid, batch_size=4)
    first = next(gen)
    assert first.done == 4 and _our_threads()  # readers are running ahead
    gen.close()
    assert _our_threads() == []


def test_read_error_is_raised_with_its_type_and_threads_end(test_data: Path, predictor: Predictor) -> None:
    with open_slide(test_data / "slides/edge-cases/unreadable.svs") as slide:
        grid = TileGrid((Tile(0, 0, 16, 16, 0, 16, 16, 0, 0, 1.0),), slide.dimensions, 1, 1)
        with pytest.raises(RegionReadError):
            predictor.run(slide, grid, batch_size=2)
    assert _our_threads() == []


def test_empty_grid_gives_empty_scores(svs, predictor: Predictor) -> None:
    scores = predictor.run(svs, TileGrid((), svs.dimensions, 0, 0), batch_size=4)
    assert len(scores) == 0 and np.isnan(scores.image_p_malignant) and scores.image_label is None


def test_default_grids_follow_the_model_card(test_data: Path, svs) -> None:
    with open_slide(test_data / PNG) as png:
        grid = analysis_grid(png, IMAGE_SPEC)
        assert (grid.kind, len(grid), grid.rows, grid.cols) == ("subimage", 9, 3, 3)
        assert choose_model(png).source == "breakhis-100x"
    slide_grid = analysis_grid(svs, SLIDE_SPEC)
    # 200 µm at 0.499 µm/px = 401 level-0 px, resized to 50 px (200 µm at 4 µm/px); 20 tissue tiles.
    assert slide_grid.kind == "physical" and slide_grid.out_size == (50, 50)
    assert {t.w for t in slide_grid} == {401} and len(slide_grid) == 20
    assert min(t.tissue for t in slide_grid) >= 0.25
    assert choose_model(svs).source == "idc-wsi"
    with pytest.raises(TilingError, match="does not define a physical tile size"):
        analysis_grid(svs, IMAGE_SPEC)


def test_tile_scores_arrays_are_read_only_and_threshold_relabels(svs, svs_grid: TileGrid,
                                                                  predictor: Predictor) -> None:
    scores = predictor.run(svs, svs_grid.with_min_tissue(0.9), batch_size=16)
    with pytest.raises(ValueError):
        scores.p_malignant[0] = 0.0
    p = scores.image_p_malignant
    assert scores.with_threshold(p).image_label == "malignant"
    assert scores.with_threshold(min(1.0, p + 1e-9)).image_label == "benign"
    assert scores.image_uncertainty == pytest.approx(1 - abs(2 * p - 1))  # the calibrated margin
    done = scores.p_malignant[scores.done]
    np.testing.assert_allclose(scores.uncertainty[scores.done], 1 - np.abs(2 * done - 1))
    empty = TileScores.unscored(svs_grid, members=2)
    assert empty.n_done == 0 and np.isnan(empty.image_uncertainty)


def test_choose_device() -> None:
    assert choose_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert choose_device("auto").type == expected
    with pytest.raises(DeviceUnavailableError, match="unknown device"):
        choose_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceUnavailableError, match="--device cpu"):
            choose_device("cuda")


def _breakhis_jobs(test_data: Path, names: list[str]) -> list:
    from bcviewer.inference import SlideJob

    jobs = []
    for name in names:
        slide = open_slide(test_data / "breakhis" / name)
        jobs.append(SlideJob(name, slide, analysis_grid(slide, IMAGE_SPEC), close_slide=True))
    return jobs


BREAKHIS = ["SOB_B_A-14-22549AB-100-001.png", "SOB_B_F-14-14134E-100-001.png",
            "SOB_M_DC-14-13412-100-001.png", "SOB_M_PC-14-12465-100-001.png"]


def test_many_slides_stream_in_order_with_batches_spanning_images(test_data: Path, predictor: Predictor) -> None:
    from bcviewer.inference import SlideJob

    unreadable = open_slide(test_data / "slides/edge-cases/unreadable.svs")
    bad_grid = TileGrid((Tile(0, 0, 16, 16, 0, 16, 16, 0, 0, 1.0),), unreadable.dimensions, 1, 1)
    jobs = _breakhis_jobs(test_data, BREAKHIS[:2])
    jobs += [SlideJob("unreadable", unreadable, bad_grid, close_slide=True),
             SlideJob("unopenable", error=ValueError("could not open")),
             *_breakhis_jobs(test_data, BREAKHIS[2:])]
    batch_sizes: list[int] = []
    results = list(predictor.iter_results(iter(jobs), batch_size=8, on_tiles_done=batch_sizes.append))
    assert [r.key for r in results] == [*BREAKHIS[:2], "unreadable", "unopenable", *BREAKHIS[2:]]
    assert [r.ok for r in results] == [True, True, False, False, True, True]
    assert isinstance(results[2].error, RegionReadError) and str(results[3].error) == "could not open"
    # 36 readable tiles in batches of 8 that cross image boundaries (the bad tile is dropped).
    assert sum(batch_sizes) == 36 and batch_sizes[:4] == [8, 8, 8, 8]
    for result in (r for r in results if r.ok):
        assert result.job.slide.closed  # close_slide: closed once handed over
        with open_slide(test_data / "breakhis" / result.key) as slide:
            alone = predictor.run(slide, analysis_grid(slide, IMAGE_SPEC), batch_size=9)
        np.testing.assert_allclose(result.scores.p_malignant, alone.p_malignant, atol=1e-6)
        assert result.scores.complete and result.scores.model_name == "tiny"
    assert unreadable.closed and _our_threads() == []


def test_cancelling_many_slides_stops_and_closes_everything(test_data: Path, predictor: Predictor) -> None:
    jobs = _breakhis_jobs(test_data, BREAKHIS)
    cancel = threading.Event()
    results = list(predictor.iter_results(jobs, batch_size=9, cancel=cancel, on_tiles_done=lambda n: cancel.set()))
    assert [r.key for r in results] == BREAKHIS[:1]  # the first image was one whole batch
    assert all(job.slide.closed for job in jobs) and _our_threads() == []
