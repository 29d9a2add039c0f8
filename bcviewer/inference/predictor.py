"""``Predictor``: streams a ``TileGrid`` through an ensemble and returns ``TileScores``.

Pipeline: tiles are read and preprocessed in background threads (:class:`TileFeeder`, bounded
queue), and the forward pass runs on the calling thread under ``torch.inference_mode`` (with
autocast float16 and channels_last memory on CUDA). Scores come back one batch at a time, through
:meth:`Predictor.iter_batches` (a generator) or the ``on_batch`` callback of
:meth:`Predictor.run`. A ``threading.Event`` cancels between batches; every thread the predictor
started has ended when ``run`` returns or the generator is closed. Qt-free, so a GUI worker thread
can drive it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import torch

from bcviewer.inference.device import choose_device
from bcviewer.inference.feeder import TileFeeder
from bcviewer.inference.scores import DEFAULT_THRESHOLD, ScoreBatch, TileScores
from bcviewer.nets import Ensemble, EnsemblePrediction, InputSpec, LoadedModel
from bcviewer.slides import SlideReader
from bcviewer.tiling import TileGrid

DEFAULT_BATCH_SIZE = 32


class Predictor:
    """Scores tiles with one ensemble on one device.

    ``model`` is a :class:`LoadedModel` (its input spec and name are used) or a bare
    :class:`Ensemble` with an explicit ``spec``. The ensemble is moved to the device in place.
    ``amp`` and ``channels_last`` default to on for CUDA only. ``read_workers`` threads read
    tiles; ``prefetch`` prepared batches may wait in the queue.
    """

    def __init__(self, model: LoadedModel | Ensemble, spec: InputSpec | None = None, *,
                 device: str | torch.device | None = "auto", amp: bool | None = None,
                 channels_last: bool | None = None, read_workers: int = 2, prefetch: int = 2,
                 name: str | None = None) -> None:
        if isinstance(model, LoadedModel):
            ensemble, spec, name = model.ensemble, spec or model.spec, name or model.name
        else:
            ensemble = model
            if spec is None:
                raise ValueError("a bare Ensemble needs the InputSpec it was trained with")
        self.device = choose_device(device)
        cuda = self.device.type == "cuda"
        self.amp = cuda if amp is None else amp
        self.channels_last = cuda if channels_last is None else channels_last
        self.spec = spec
        self.name = name or ""
        self.read_workers = read_workers
        self.prefetch = prefetch
        ensemble = ensemble.to(self.device).eval()
        if self.channels_last:
            ensemble = ensemble.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.ensemble = ensemble

    @property
    def members(self) -> int:
        return len(self.ensemble.members)

    def score_tensor(self, x: torch.Tensor) -> EnsemblePrediction:
        """Forward one preprocessed ``(B, 3, H, W)`` batch (on any device) and return its scores."""
        with torch.inference_mode():
            x = x.to(self.device, non_blocking=True)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(self.device.type, dtype=_amp_dtype(self.device), enabled=self.amp):
                return self.ensemble.predict_proba(x)

    def iter_batches(self, slide: SlideReader, grid: TileGrid, batch_size: int = DEFAULT_BATCH_SIZE,
                     cancel: threading.Event | None = None) -> Iterator[ScoreBatch]:
        """Yield a :class:`ScoreBatch` per scored batch, in grid order.

        Stops before the next batch once ``cancel`` is set. Closing the generator early (``break``)
        stops the reader threads too.
        """
        total = len(grid)
        if total == 0:
            return
        start, done = time.perf_counter(), 0
        with TileFeeder(slide, grid, self.spec, batch_size, workers=self.read_workers,
                        prefetch=self.prefetch, pin_memory=self.device.type == "cuda") as feeder:
            for indices, x in feeder.batches(cancel):
                if cancel is not None and cancel.is_set():
                    return
                prediction = self.score_tensor(x)
                done += len(indices)
                yield ScoreBatch(indices, prediction, done, total, time.perf_counter() - start)

    def run(self, slide: SlideReader, grid: TileGrid, batch_size: int = DEFAULT_BATCH_SIZE,
            on_batch: Callable[[ScoreBatch], None] | None = None, cancel: threading.Event | None = None,
            threshold: float = DEFAULT_THRESHOLD) -> TileScores:
        """Score every tile of ``grid`` and return :class:`TileScores`.

        ``on_batch`` is called on this thread after each batch (progress, live heatmap). After a
        cancel the result is partial: ``done`` marks the scored tiles, the others are NaN, and
        ``cancelled`` is True.
        """
        n, members = len(grid), self.members
        p, unc = np.full(n, np.nan), np.full(n, np.nan)
        member_probs, attention = np.full((n, members), np.nan), np.full((n, members, 2), np.nan)
        done = np.zeros(n, dtype=bool)
        batches = self.iter_batches(slide, grid, batch_size, cancel)
        try:
            for batch in batches:
                i, pred = batch.indices, batch.prediction
                p[i], unc[i], member_probs[i], attention[i] = (
                    pred.p_malignant, pred.uncertainty, pred.member_probs, pred.attention)
                done[i] = True
                if on_batch is not None:
                    on_batch(batch)
        finally:
            batches.close()
        cancelled = bool(cancel is not None and cancel.is_set() and not done.all())
        return TileScores(grid, p, unc, member_probs, attention, done, threshold=threshold,
                          cancelled=cancelled, model_name=self.name)


def _amp_dtype(device: torch.device) -> torch.dtype:
    return torch.bfloat16 if device.type == "cpu" else torch.float16
