"""Memory behaviour of the pipeline: reads stay a bounded distance ahead of scoring, and large
levels are thumbnailed in strips. (Peak RSS for a 100k px slide: benchmarks/bench_slide_memory.py.)"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from inference_helpers import IMAGE_SPEC, tiny_ensemble

from bcviewer.inference import Predictor, ScoreBatch
from bcviewer.slides import SlideReader, open_slide
from bcviewer.tiling import physical_grid

pytestmark = pytest.mark.usefixtures("one_torch_thread")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))


class CountingSlide:
    """A slide that counts the tiles read from it (the pipeline only calls read_region)."""

    def __init__(self, slide: SlideReader) -> None:
        self._slide, self.reads, self._lock = slide, 0, threading.Lock()

    def read_region(self, *args: int) -> np.ndarray:
        with self._lock:
            self.reads += 1
        return self._slide.read_region(*args)

    def __getattr__(self, name: str) -> object:
        return getattr(self._slide, name)


def test_reads_stay_a_bounded_distance_ahead_of_scoring(test_data: Path) -> None:
    predictor = Predictor(tiny_ensemble(), IMAGE_SPEC, device="cpu", read_workers=2, prefetch=2)
    batch = 4
    with open_slide(test_data / "slides" / "cmu_small_region.svs") as svs:
        grid = physical_grid(svs, tile_px=96)
        slide = CountingSlide(svs)
        ahead: list[int] = []

        def on_batch(scored: ScoreBatch) -> None:
            time.sleep(0.01)  # a slow consumer: the readers run as far ahead as they are allowed to
            ahead.append(slide.reads - scored.done)

        scores = predictor.run(slide, grid, batch_size=batch, on_batch=on_batch)  # type: ignore[arg-type]
    assert scores.complete and slide.reads == len(grid) > 600
    # Ahead of the consumer at most: 2 batches of reads in flight, a partly filled batch, the
    # prefetch queue (2 batches) and the batch waiting to be queued -> 6 batches, never the slide.
    assert max(ahead) <= 6 * batch
    assert max(ahead) >= batch  # and reading does overlap scoring


def test_large_level_thumbnail_is_read_in_strips(tmp_path: Path) -> None:
    from synthetic_slide import TISSUE_RGB, write_pyramid

    path = write_pyramid(tmp_path / "s.tif", 20_000, downsamples=(1, 4))  # level 1 is 5000 x 5000 px
    with open_slide(path) as slide:
        assert slide.mpp == pytest.approx(0.25) and slide.level_count == 2
        regions: list[tuple[int, int]] = []
        read = slide.read_region

        def spy(level: int, x: int, y: int, w: int, h: int) -> np.ndarray:
            regions.append((w, h))
            return read(level, x, y, w, h)

        slide.read_region = spy  # type: ignore[method-assign]
        thumb = slide.thumbnail(1000)
    assert thumb.shape == (1000, 1000, 3)
    assert len(regions) > 1 and max(w * h for w, h in regions) <= 4096 * 4096  # never the whole level
    # Level 1's tile (0, 0) is "tissue", (1, 0) white; 512 level-1 px = 102.4 thumbnail px.
    assert np.abs(thumb[5, 5].astype(int) - TISSUE_RGB).max() <= 3
    assert (thumb[5, 150] >= 250).all() and (thumb[150, 5] >= 250).all()
    assert np.abs(thumb[150, 250].astype(int) - TISSUE_RGB).max() <= 3  # tile (2, 1): strips join cleanly
