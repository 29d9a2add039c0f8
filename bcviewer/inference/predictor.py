"""``Predictor``: streams a ``TileGrid`` through an ensemble and returns ``TileScores``.

Pipeline: tiles are read and preprocessed in background threads (:class:`TileFeeder`, bounded
queue), and the forward pass runs on the calling thread: on the CPU in ONNX Runtime by default, on
a GPU in torch under ``torch.inference_mode`` (with autocast float16 and channels_last memory on
CUDA); see :mod:`bcviewer.inference.runtime` for the rule and the split of threads. Scores come
back one batch at a time, through :meth:`Predictor.iter_batches` (a generator) or the
``on_batch`` callback of :meth:`Predictor.run` (each :class:`ScoreBatch`);
:meth:`Predictor.iter_results` scores a stream of slides (a folder) with batches that span images
(``on_tiles_done`` gets each batch's number of tiles). With ONNX Runtime, batches are preprocessed
in numpy (:func:`bcviewer.nets.preprocess_numpy`, bit-identical to the torch path) and never become
tensors. A ``threading.Event`` cancels between batches; every thread the predictor started has ended
when ``run`` returns or the generator is closed. Qt-free, so a GUI worker thread can drive it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bcviewer.inference.device import resolve_device
from bcviewer.inference.feeder import JobFailed, JobStarted, SlideJob, TileBatch, TileFeeder
from bcviewer.inference.runtime import (
    DEFAULT_BATCH_SIZE,
    OnnxEnsemble,
    choose_runtime,
    onnx_ensemble,
    thread_plan,
)
from bcviewer.inference.scores import DEFAULT_THRESHOLD, ScoreBatch, TileScores
from bcviewer.inference.trust import Trust
from bcviewer.nets.errors import ModelCardError, OnnxExportError
from bcviewer.nets.prediction import EnsemblePrediction
from bcviewer.nets.stain import NONE_PROVENANCE, stain_provenance
from bcviewer.nets.stored import StoredModel
from bcviewer.slides import SlideReader
from bcviewer.tiling import TileGrid

if TYPE_CHECKING:
    import torch

    from bcviewer.inference.torch_scorer import TorchScorer
    from bcviewer.nets import Ensemble, InputSpec

__all__ = ["DEFAULT_BATCH_SIZE", "JobResult", "Predictor"]


class Predictor:
    """Scores tiles with one ensemble on one device.

    ``model`` is a :class:`StoredModel` (from :func:`bcviewer.nets.open_model`; a
    :class:`LoadedModel` is one too) whose input spec and name are used, or a bare
    :class:`Ensemble` with an explicit ``spec``. ``runtime`` is ``"auto"`` (ONNX Runtime on the
    CPU, torch on a GPU), ``"onnx"``, ``"torch"`` or ``"int8"``; the ONNX runtimes need no
    PyTorch for a model that ships its ONNX file. For the torch runtime the ensemble is loaded and
    moved to the device; ``amp`` and ``channels_last`` default to on for CUDA only.
    ``read_workers`` threads read tiles and ``threads`` run an ONNX forward pass (default:
    :func:`thread_plan`); ``prefetch`` prepared batches may wait in the queue.
    """

    def __init__(self, model: StoredModel | Ensemble, spec: InputSpec | None = None, *,
                 device: str | torch.device | None = "auto", amp: bool | None = None,
                 channels_last: bool | None = None, read_workers: int | None = None, prefetch: int = 2,
                 name: str | None = None, runtime: str | None = "auto", threads: int | None = None) -> None:
        if isinstance(model, StoredModel):
            spec, name = spec or model.spec, name or model.name
        elif spec is None:
            raise ValueError("a bare Ensemble needs the InputSpec it was trained with")
        self.device = resolve_device(device)
        cuda = self.device.startswith("cuda")
        self.amp = cuda if amp is None else amp
        self.channels_last = cuda if channels_last is None else channels_last
        self.spec = spec
        self.name = name or ""
        self.trust = _trust(model)
        self.stain = stain_provenance(spec)  # what the model's input went through, for every output
        plan = thread_plan()
        self.read_workers = plan.readers if read_workers is None else read_workers
        self.threads = plan.intra_op if threads is None else threads
        self.prefetch = prefetch
        self.runtime = choose_runtime(runtime, self.device)
        self.onnx: OnnxEnsemble | None = None
        self.torch: TorchScorer | None = None
        self.runtime_note = ""  # said to the user when "auto" could not use ONNX Runtime
        if self.runtime != "torch":
            try:
                self.onnx = onnx_ensemble(model, spec, self.runtime, self.threads)
                self.runtime_note = self.onnx.note
            except OnnxExportError as exc:
                if (runtime or "auto").strip().lower() != "auto":
                    raise
                self.runtime = "torch"  # slower, same scores: better than no analysis
                self.runtime_note = f"running in PyTorch, not ONNX Runtime: {exc}"
        self._model = model
        if self.runtime == "torch":
            self.torch = self._torch_scorer(model)
        self.members = len(self.onnx.member_weights) if self.onnx is not None else len(self.ensemble.members)

    def _torch_scorer(self, model: StoredModel | Ensemble) -> TorchScorer:
        from bcviewer.inference.torch_scorer import TorchScorer

        ensemble = model.torch_model().ensemble if isinstance(model, StoredModel) else model
        return TorchScorer(ensemble, self.device, self.amp, self.channels_last)

    @property
    def ensemble(self) -> Ensemble:
        """The torch ensemble (the torch runtime's; for the others loaded from the weights, which
        imports PyTorch)."""
        if self.torch is not None:
            return self.torch.ensemble
        return self._model.torch_model().ensemble if isinstance(self._model, StoredModel) else self._model

    def score_tensor(self, x: torch.Tensor | np.ndarray) -> EnsemblePrediction:
        """Forward one preprocessed ``(B, 3, H, W)`` batch (on any device) and return its scores.

        A numpy batch (from :func:`bcviewer.nets.preprocess_numpy`) is for the ONNX runtimes only."""
        if self.onnx is not None:
            return self.onnx.predict(x)
        assert self.torch is not None
        return self.torch.predict(x)

    def _feeder(self, jobs: Iterable[SlideJob], batch_size: int) -> TileFeeder:
        return TileFeeder(jobs, self.spec, batch_size, workers=self.read_workers, prefetch=self.prefetch,
                          pin_memory=self.device.startswith("cuda"), looks=self.trust.looks is not None,
                          as_numpy=self.onnx is not None)

    def iter_batches(self, slide: SlideReader, grid: TileGrid, batch_size: int = DEFAULT_BATCH_SIZE,
                     cancel: threading.Event | None = None, qc_flags: tuple[str, ...] | None = None
                     ) -> Generator[ScoreBatch, None, None]:
        """Yield a :class:`ScoreBatch` per scored batch of one slide, in grid order.

        Stops before the next batch once ``cancel`` is set. Closing the generator early (``break``)
        stops the reader threads too. A tile that cannot be read raises its error here. Tiles
        whose ``qc_flags`` entry is not "ok" are left out.
        """
        job = SlideJob(slide.path, slide, grid, qc_flags=qc_flags)
        total = len(job.scored_tiles())
        if total == 0:
            return
        start, done = time.perf_counter(), 0
        with self._feeder([job], batch_size) as feeder:
            for message in feeder.messages(cancel):
                if isinstance(message, JobFailed):
                    raise message.error
                if not isinstance(message, TileBatch):
                    continue
                if cancel is not None and cancel.is_set():
                    return
                prediction = self.score_tensor(message.x)
                done += len(message.tile_ids)
                yield ScoreBatch(message.tile_ids, prediction, done, total, time.perf_counter() - start,
                                 self._distances(message))

    def iter_results(self, jobs: Iterable[SlideJob], batch_size: int = DEFAULT_BATCH_SIZE,
                     cancel: threading.Event | None = None, on_tiles_done: Callable[[int], object] | None = None,
                     threshold: float = DEFAULT_THRESHOLD) -> Generator[JobResult, None, None]:
        """Score many slides as one stream and yield a :class:`JobResult` per job, in job order.

        Batches span slides, so folders of small images (9 sub-images each) still fill every
        batch and reading overlaps the forward pass. ``jobs`` is consumed on a background thread,
        so it may open the slides lazily. A job that fails (its ``error``, or a tile that cannot
        be read) yields a result with the error; the others go on. ``on_tiles_done(n_tiles)`` is
        called after each batch with its number of tiles. After ``cancel``, jobs not finished are not yielded. Slides of
        jobs with ``close_slide`` are closed after their result is handed over (or on exit).
        """
        members = self.members
        accumulators: dict[int, _Accumulator] = {}
        finished: dict[int, JobResult] = {}
        next_id = 0
        feeder = self._feeder(jobs, batch_size)
        try:
            with feeder:
                for message in feeder.messages(cancel):
                    if isinstance(message, JobStarted):
                        acc = _Accumulator(message.job, members)
                        accumulators[message.job_id] = acc
                        if acc.complete:  # a grid without tiles: nothing to score
                            finished[message.job_id] = JobResult(message.job, acc.scores(threshold, self.name,
                                                                                      trust=self.trust, stain=self.stain))
                    elif isinstance(message, TileBatch):
                        if cancel is not None and cancel.is_set():
                            return
                        self._scatter(message, self.score_tensor(message.x), self._distances(message),
                                      accumulators)
                        if on_tiles_done is not None:
                            on_tiles_done(len(message.tile_ids))
                        for job_id in np.unique(message.job_ids).tolist():
                            acc = accumulators[job_id]
                            if acc.complete and job_id not in finished:
                                finished[job_id] = JobResult(acc.job, acc.scores(threshold, self.name,
                                                                                     trust=self.trust, stain=self.stain))
                    else:
                        finished[message.job_id] = JobResult(accumulators[message.job_id].job, None, message.error)
                    while next_id in finished:
                        result = finished.pop(next_id)
                        accumulators.pop(next_id, None)
                        next_id += 1
                        yield result
                        _close_if_owned(result.job)
        finally:
            for job in feeder.jobs_seen:
                _close_if_owned(job)

    def _distances(self, batch: TileBatch) -> np.ndarray | None:
        """Each tile's distance from the training tiles, when the card has a density."""
        if self.trust.looks is None or batch.looks is None:
            return None
        return self.trust.looks.distance(batch.looks)

    @staticmethod
    def _scatter(batch: TileBatch, prediction: EnsemblePrediction, distances: np.ndarray | None,
                 accumulators: dict[int, _Accumulator]) -> None:
        for job_id in np.unique(batch.job_ids).tolist():
            rows = np.flatnonzero(batch.job_ids == job_id)
            accumulators[job_id].add(batch.tile_ids[rows], prediction, rows, distances)

    def run(self, slide: SlideReader, grid: TileGrid, batch_size: int = DEFAULT_BATCH_SIZE,
            on_batch: Callable[[ScoreBatch], object] | None = None, cancel: threading.Event | None = None,
            threshold: float = DEFAULT_THRESHOLD, qc_flags: tuple[str, ...] | None = None) -> TileScores:
        """Score every tile of ``grid`` (but those ``qc_flags`` marks) and return :class:`TileScores`.

        ``on_batch(batch)`` is called on this thread with each :class:`ScoreBatch` (progress, live
        heatmap). After a cancel the result is partial: ``done`` marks the scored tiles, the others are NaN, and
        ``cancelled`` is True.
        """
        acc = _Accumulator(SlideJob(slide.path, slide, grid, qc_flags=qc_flags), self.members)
        batches = self.iter_batches(slide, grid, batch_size, cancel, qc_flags)
        try:
            for batch in batches:
                acc.add(batch.indices, batch.prediction, slice(None), batch.looks_distance)
                if on_batch is not None:
                    on_batch(batch)
        finally:
            batches.close()
        cancelled = bool(cancel is not None and cancel.is_set() and not acc.complete)
        return acc.scores(threshold, self.name, cancelled, self.trust, self.stain)


@dataclass(frozen=True, eq=False)
class JobResult:
    """The outcome of one :class:`SlideJob`: its scores, or the error that stopped it."""

    job: SlideJob
    scores: TileScores | None
    error: BaseException | None = None

    @property
    def key(self) -> Any:
        return self.job.key

    @property
    def ok(self) -> bool:
        return self.error is None


class _Accumulator:
    """Per-tile arrays of one job, filled batch by batch."""

    def __init__(self, job: SlideJob, members: int) -> None:
        n = len(job.grid) if job.grid is not None else 0
        self.job = job
        self.p, self.unc = np.full(n, np.nan), np.full(n, np.nan)
        self.member_probs, self.attention = np.full((n, members), np.nan), np.full((n, members, 2), np.nan)
        self.done = np.zeros(n, dtype=bool)
        self.looks_distance = np.full(n, np.nan)

    @property
    def complete(self) -> bool:
        """Every tile scored but those quality control left out (a job without a grid, i.e. a
        failed one, never is)."""
        if self.job.grid is None or self.job.error is not None:
            return False
        return bool(self.done[self.job.scored_tiles()].all())

    def add(self, tiles: np.ndarray, pred: EnsemblePrediction, rows: np.ndarray | slice,
            distances: np.ndarray | None = None) -> None:
        self.p[tiles], self.unc[tiles] = pred.p_malignant[rows], pred.uncertainty[rows]
        if distances is not None:
            self.looks_distance[tiles] = distances[rows]
        self.member_probs[tiles], self.attention[tiles] = pred.member_probs[rows], pred.attention[rows]
        self.done[tiles] = True

    def scores(self, threshold: float, model_name: str, cancelled: bool = False,
               trust: Trust | None = None, stain: dict[str, str] | None = None) -> TileScores:
        assert self.job.grid is not None
        scores = TileScores(self.job.grid, self.p, self.unc, self.member_probs, self.attention, self.done,
                            threshold=threshold, cancelled=cancelled, model_name=model_name,
                            trust=trust or Trust(), looks_distance=self.looks_distance, qc_flags=self.job.qc_flags,
                            stain=stain or dict(NONE_PROVENANCE))
        scores.slide_verdict  # noqa: B018 - its tile bootstrap (about 1 s at 100k tiles) runs here, not on the GUI thread
        return scores


def _trust(model: StoredModel | Ensemble) -> Trust:
    """The card's conformal calibration and outside-training density (none for a bare ensemble)."""
    if not isinstance(model, StoredModel):
        return Trust()
    try:
        return Trust.from_card(model.card)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelCardError(f"model {model.name}: its card's calibration cannot be read ({exc})") from exc


def _close_if_owned(job: SlideJob) -> None:
    if job.close_slide and job.slide is not None:
        job.slide.close()

