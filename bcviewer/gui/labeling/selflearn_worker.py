"""``SelfLearnWorker``: self-learning rounds on a worker thread with progress and cancel.

The worker opens its own :class:`~bcviewer.labels.LabelStore` on the project file (a store
belongs to the thread that opened it) and commits each round as it finishes, so the panel,
which polls the file for changes, shows each round's results while the next one trains.
Cancelling sets a flag the engine checks between steps and the fast trainer checks between
images and batches; the round in progress is then recorded as interrupted and changes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from PySide6.QtCore import QObject, Signal

from bcviewer.gui.workers import BackgroundRun, SingleRunWorker
from bcviewer.labels import LabelStore, Scorer, SelfLearningEngine, TauSchedule, Trainer
from bcviewer.labels.trainers import DEFAULT_TRAINER

STAGE_TEXT = {"train": "training the model", "score": "scoring every sub-image", "apply": "saving the results",
              "done": "done"}
TRAINERS = {
    "probe": ("Fast: a linear read-out of cached ImageNet features",
              ("A class-balanced logistic regression on the channel means and spreads of frozen ImageNet "
               "EfficientNet-Lite0 features of the sub-images (the read-out the shipped breakhis-100x model "
               "uses); features are computed once (about a minute for 300 images) and cached, so a round then "
               "takes about a second. Needs no PyTorch")),
    "lite": ("Lite hybrid: retrain LSTM, fusion and head on cached ImageNet features (PyTorch)",
             ("The LSTM, attention fusion and head of the Lite hybrid retrain each round on frozen ImageNet "
              "EfficientNet-Lite0 features of the sub-images; features are computed once (about a minute for 300 "
              "images) and cached, so a round then takes seconds")),
    "hybrid": ("Full: train a small CNN+LSTM from scratch (PyTorch)",
               ("The whole hybrid (a small ResNet-18 and an LSTM over rows, 64x42 inputs) trains from scratch "
                "every round on the sub-image pixels: minutes per round, no ImageNet features")),
}


@dataclass(frozen=True)
class SelfLearnRequest:
    """What to run: how many rounds, auto or review, the tau schedule, and the held-out share.

    ``holdout`` is used only when the project has no held-out patients recorded yet (its first
    run); later runs keep the recorded ones, as ``bcviewer selflearn`` does. ``trainer`` is a key
    of :data:`TRAINERS`.
    """

    rounds: int = 1
    mode: str = "review"
    schedule: TauSchedule = field(default_factory=TauSchedule)
    holdout: float = 0.2
    split_seed: int = 0
    trainer: str = DEFAULT_TRAINER
    crossfit: int = 0  # 0: off; k >= 2: each training sub-image scored by one of k models that never saw its patient


def make_trainer(kind: str) -> Trainer:
    """The trainer ``bcviewer selflearn --trainer KIND`` uses (worker thread; ``lite`` and ``hybrid``
    import PyTorch, and say so in one line where it is not installed)."""
    from bcviewer.labels.trainers import trainer_for

    return cast(Trainer, trainer_for(kind))


class _Signals(QObject):
    progress = Signal(str, int, int)  # stage, round position (1-based), rounds
    round_finished = Signal(object)  # RoundReport
    finished = Signal(object, bool)  # list[RoundReport], cancelled
    failed = Signal(object)  # the exception
    detail = Signal(str)  # a line about slow preparation (feature maps)


def _feature_text(done: int, total: int) -> str:
    return f"Computing CNN features of the sub-images: {done} of {total} (cached for later rounds)…"


class _Run(BackgroundRun):
    signals: _Signals

    def __init__(self, project: Path, request: SelfLearnRequest, trainer_factory: Callable[[], Trainer] | None,
                 scorer_factory: Callable[[], Scorer] | None, stop: threading.Event) -> None:
        super().__init__(_Signals(), stop)
        self.project, self.request, self.stop = project, request, stop
        self.trainer_factory, self.scorer_factory = trainer_factory, scorer_factory

    def emit_finished(self, result: tuple[list[Any], bool]) -> None:
        self.signals.finished.emit(*result)

    def work(self) -> tuple[list[Any], bool]:
        from bcviewer.labels.split import choose_heldout_patients

        req = self.request
        with LabelStore.open(self.project) as store:
            heldout = store.heldout_patients()
            if heldout is None:
                heldout = choose_heldout_patients(store, req.holdout, req.split_seed)
                store.set_heldout_patients(sorted(heldout))
            if self.stop.is_set():
                return [], True
            parts: dict[str, Any] = ({"scorer": self.scorer_factory()} if self.scorer_factory is not None
                                     else {"trainer": (self.trainer_factory or (lambda: make_trainer(req.trainer)))()})
            trainer = parts.get("trainer")
            if trainer is not None and hasattr(trainer, "feature_progress"):
                trainer.feature_progress = lambda done, total: self.signals.detail.emit(_feature_text(done, total))
            engine = SelfLearningEngine(
                store, schedule=req.schedule, mode=req.mode, heldout_patients=heldout,
                params={"started_from": "labeling panel", **_trainer_params(trainer)},
                progress=self.signals.progress.emit, should_stop=self.stop.is_set,
                crossfit_folds=req.crossfit if "trainer" in parts else 0, **parts)
            reports = engine.run(req.rounds, on_round=self.signals.round_finished.emit)
            return reports, engine.cancelled


def _trainer_params(trainer: Any) -> dict[str, Any]:
    """What the round records about the trainer (its plan or its own description)."""
    if hasattr(trainer, "describe"):
        return dict(trainer.describe())
    plan = getattr(trainer, "plan", None)
    return {"plan": plan.to_dict()} if plan is not None else {}


class SelfLearnWorker(SingleRunWorker):
    """Runs one self-learning run at a time on its own thread; signals arrive on the GUI thread.

    ``trainer_factory`` / ``scorer_factory`` make the model on the worker thread (default: the
    request's trainer, :func:`make_trainer`); give a scorer factory for a fixed model.
    """

    started = Signal()
    progress = Signal(str, int, int)  # stage ("train", "score", "apply", "done"), position, rounds
    round_finished = Signal(object)  # RoundReport
    finished = Signal(object, bool)  # list[RoundReport], cancelled
    failed = Signal(object)  # exception
    detail = Signal(str)  # a line about slow preparation

    def __init__(self, parent: QObject | None = None, *, trainer_factory: Callable[[], Trainer] | None = None,
                 scorer_factory: Callable[[], Scorer] | None = None) -> None:
        super().__init__(parent)
        self.trainer_factory, self.scorer_factory = trainer_factory, scorer_factory

    def start(self, project: str | Path, request: SelfLearnRequest) -> bool:
        """Start a run on ``project``; False (and nothing started) while another run is going."""
        if self.running:
            return False
        run = _Run(Path(project), request, self.trainer_factory, self.scorer_factory, self.new_stop())
        run.signals.progress.connect(self.progress)
        run.signals.round_finished.connect(self.round_finished)
        run.signals.detail.connect(self.detail)
        run.signals.finished.connect(lambda reports, cancelled: self.done(run, self.finished, reports, cancelled))
        run.signals.failed.connect(lambda exc: self.done(run, self.failed, exc))
        self.launch(run)
        self.started.emit()
        return True
