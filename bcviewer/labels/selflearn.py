"""Hierarchical self-learning: rounds of train, score, relabel, with the rule of :mod:`rules`.

Round k of the project (k = 1, 2, ...; the project counts its completed rounds, so the schedule
advances across runs, and a reverted round's level runs again):

1. a :class:`Trainer` fits a model on the current labels of the *training* patients (every
   patient not held out), giving a :class:`Scorer`; or a fixed injected scorer is used;
2. the scorer gives ``p_malignant`` for every sub-image of the project;
3. malignant sub-images of malignant images with ``p_malignant < tau_k`` become benign, keeping
   the invariants (benign images untouched, one malignant anchor per malignant image, human
   and locked labels untouched); ``auto`` applies them, ``review`` stores proposals;
4. the round's statistics are committed with it: benign/malignant counts per magnification
   after the round (the paper's table) and the held-out accuracy of the model the round trained.

Held-out patients never train a model. Their sub-images are scored and, like every sub-image,
relabelled by the rule; held-out accuracy is measured against labels that never change (the
image label, and the inherited label of each sub-image), so relabelling cannot inflate it.
The round's model is trained on the labels *before* its relabels, so the accuracy of round 1
is the inherited-labels baseline; :meth:`SelfLearningEngine.evaluate` trains once more on the
final labels.

With ``crossfit_folds = k >= 2`` step 1-2 are cross-fitted (:mod:`crossfit`): ``k`` models,
each trained on ``k - 1`` of ``k`` fixed patient groups, score the training sub-images of the
group they did not see, and their mean scores the held-out patients. A model scoring its own
training sub-images has memorised their labels and is rarely confidently benign about them.

Default schedule ``tau = 0.1, 0.2, 0.3, 0.4``: each level relabels only what the model is more
confidently benign about than in the level before it; past the last value the last one repeats.

A ``review`` run is one round: its proposals wait for a person, and no round starts while any
proposal is pending (:func:`bcviewer.labels.rounds.start_round` refuses it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, cast

import numpy as np

from bcviewer.labels.crossfit import crossfit_groups, crossfit_scores
from bcviewer.labels.errors import SelfLearningError
from bcviewer.labels.queries import SubImageRef
from bcviewer.labels.round_notes import heldout_stats, relabel_candidates
from bcviewer.labels.store import LabelStore


class Scorer(Protocol):
    """Anything that gives ``p_malignant`` (an array in [0, 1]) for a list of sub-images."""

    def score(self, items: Sequence[SubImageRef]) -> np.ndarray: ...


class Trainer(Protocol):
    """Anything that trains a scorer on sub-images labelled with their current labels."""

    def fit(self, examples: Sequence[SubImageRef], round_number: int) -> Scorer: ...


Progress = Callable[[str, int, int], None]
"""``progress(stage, round_position, rounds)``; stage is "train", "score", "apply" or "done"."""


@dataclass(frozen=True)
class TauSchedule:
    """The relabel threshold of each level: ``taus[k - 1]`` for round k of the project."""

    taus: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4)

    def __post_init__(self) -> None:
        if not self.taus or any(not 0.0 <= t <= 1.0 for t in self.taus):
            raise SelfLearningError(f"every tau must lie between 0 and 1, got {list(self.taus)}")

    def tau(self, level: int) -> float:
        """Threshold of the project's round ``level`` (1-based); the last value repeats."""
        return self.taus[min(max(level, 1), len(self.taus)) - 1]

    @classmethod
    def parse(cls, text: str) -> TauSchedule:
        """``"0.1,0.2,0.3,0.4"`` or one value for every round."""
        try:
            return cls(tuple(float(t) for t in text.replace(" ", "").split(",") if t))
        except ValueError as exc:
            raise SelfLearningError(f"the tau schedule must be numbers separated by commas, got {text!r}") from exc


@dataclass(frozen=True)
class HeldOutAccuracy:
    """Accuracy on held-out patients against labels the loop never changes.

    ``image_accuracy``: image called malignant when the mean sub-image p_malignant >= 0.5.
    ``image_accuracy_any``: called malignant when any sub-image has p_malignant >= 0.5 (the
    multiple-instance reading). ``subimage_accuracy``: each sub-image against its inherited label.
    """

    images: int
    image_accuracy: float
    image_accuracy_any: float
    subimages: int
    subimage_accuracy: float
    by_magnification: dict[str, dict[str, float]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def heldout_accuracy(refs: Sequence[SubImageRef], p_malignant: np.ndarray) -> HeldOutAccuracy | None:
    """Accuracy of ``p_malignant`` (one per ref) on these sub-images; None when there are none."""
    if not refs:
        return None
    by_image: dict[int, list[int]] = defaultdict(list)
    for i, ref in enumerate(refs):
        by_image[ref.image_id].append(i)
    truth = np.array([ref.image_label == "malignant" for ref in refs])
    sub_correct = (p_malignant >= 0.5) == truth
    rows = []  # (magnification, mean rule correct, any rule correct)
    for idx in by_image.values():
        label = truth[idx[0]]
        p = p_malignant[idx]
        rows.append((refs[idx[0]].magnification, (p.mean() >= 0.5) == label, (p.max() >= 0.5) == label))
    per_mag: dict[str, dict[str, float]] = {}
    for mag in sorted({r[0] for r in rows if r[0] is not None}):
        picked = [r for r in rows if r[0] == mag]
        per_mag[str(mag)] = {"images": len(picked), "image_accuracy": float(np.mean([r[1] for r in picked]))}
    return HeldOutAccuracy(len(rows), float(np.mean([r[1] for r in rows])), float(np.mean([r[2] for r in rows])),
                           len(refs), float(sub_correct.mean()), per_mag)


@dataclass(frozen=True)
class RoundReport:
    """What one round did; ``stats`` is exactly what the project file records for it."""

    round_id: int
    number: int
    position: int
    tau: float
    mode: str
    stats: dict[str, Any]

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        return cast("dict[str, dict[str, int]]", self.stats["counts"])

    @property
    def heldout(self) -> dict[str, Any] | None:
        return self.stats.get("heldout")


def check_run(mode: str, rounds: int) -> None:
    """Raise :class:`SelfLearningError` when a ``mode`` run of ``rounds`` rounds may not start."""
    if rounds < 1:
        raise SelfLearningError(f"run at least one round, not {rounds}")
    if mode == "review" and rounds > 1:
        raise SelfLearningError(
            f"a review run does one round and then waits for you to accept or reject its proposals, "
            f"so it cannot run {rounds} rounds; run one round, decide, then run the next "
            f"(or use automatic mode for several rounds)")


class SelfLearningCancelled(SelfLearningError):
    """``should_stop`` asked the engine to stop; the round in progress was not committed."""

    def __init__(self, message: str = "the self-learning run was cancelled; completed rounds are kept") -> None:
        super().__init__(message)


class SelfLearningEngine:
    """Runs self-learning rounds on a project with an injected trainer or scorer.

    ``should_stop`` is polled before a round starts, after training and after scoring; a trainer
    with a ``should_stop`` attribute gets it too and polls it between batches; see :meth:`run`. ``crossfit_folds`` >= 2 turns
    cross-fitted scoring on (needs a trainer; 0 is off); ``crossfit_seed`` fixes its patient groups.
    """

    def __init__(self, store: LabelStore, *, trainer: Trainer | None = None, scorer: Scorer | None = None,
                 schedule: TauSchedule = TauSchedule(), mode: str = "auto",
                 heldout_patients: frozenset[str] | None = None, params: dict[str, Any] | None = None,
                 progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
                 crossfit_folds: int = 0, crossfit_seed: int = 0) -> None:
        if (trainer is None) == (scorer is None):
            raise SelfLearningError("give either a trainer (retrained every round) or a fixed scorer")
        if crossfit_folds == 1 or crossfit_folds < 0:
            raise SelfLearningError(f"cross-fitting needs at least 2 folds (0: off), not {crossfit_folds}")
        if crossfit_folds and trainer is None:
            raise SelfLearningError("cross-fitting trains its own models, so it needs a trainer, not a fixed scorer")
        self.crossfit_folds, self.crossfit_seed = crossfit_folds, crossfit_seed
        if mode not in ("auto", "review"):
            raise SelfLearningError(f"mode must be auto or review, not {mode!r}")
        self.store, self.trainer, self.scorer = store, trainer, scorer
        self.schedule, self.mode = schedule, mode
        stored = store.heldout_patients()
        self.heldout = frozenset(heldout_patients if heldout_patients is not None else stored or ())
        self.params = dict(params or {})
        self._progress = progress or (lambda stage, position, total: None)
        self._should_stop = should_stop or (lambda: False)
        if trainer is not None and hasattr(trainer, "should_stop"):
            # A trainer that can stop between its own batches polls the same flag, so a cancel
            # lands within one batch instead of after a whole training.
            trainer.should_stop = self._should_stop
        self.cancelled = False

    def _parts(self) -> tuple[list[SubImageRef], list[SubImageRef], list[SubImageRef]]:
        refs = self.store.subimage_refs()
        if not refs:
            raise SelfLearningError("the project holds no images; import some with 'bcviewer labels import'")
        train = [r for r in refs if r.patient not in self.heldout]
        if not train:
            raise SelfLearningError("every patient is held out, so there is nothing to train on")
        return refs, train, [r for r in refs if r.patient in self.heldout]

    def _groups(self, train: list[SubImageRef]) -> list[frozenset[str]] | None:
        return crossfit_groups(train, self.crossfit_folds, self.crossfit_seed) if self.crossfit_folds else None

    def _crossfit(self, train: list[SubImageRef], held: list[SubImageRef], groups: list[frozenset[str]],
                  number: int, position: int, total: int) -> tuple[np.ndarray, np.ndarray]:
        def before_fit(fold: int) -> None:
            if fold:
                self._check_stop()
            self._progress("train", position, total)

        assert self.trainer is not None
        return crossfit_scores(self.trainer, train, held, groups, number, before_fit)

    def _scores(self, train: list[SubImageRef], refs: list[SubImageRef], number: int,
                position: int, total: int, groups: list[frozenset[str]] | None = None) -> np.ndarray:
        if groups is not None:
            held = [r for r in refs if r.patient in self.heldout]
            p_train, p_held = self._crossfit(train, held, groups, number, position, total)
            self._check_stop()
            self._progress("score", position, total)
            by_id = {r.subimage_id: p for r, p in zip(train, p_train)}
            by_id.update({r.subimage_id: p for r, p in zip(held, p_held)})
            return np.array([by_id[r.subimage_id] for r in refs])
        scorer = self.scorer
        if self.trainer is not None:
            self._progress("train", position, total)
            scorer = self.trainer.fit(train, number)
        assert scorer is not None
        self._check_stop()
        self._progress("score", position, total)
        p = np.asarray(scorer.score(refs), dtype=np.float64).reshape(-1)
        if p.shape[0] != len(refs) or not np.all((p >= 0.0) & (p <= 1.0)):
            raise SelfLearningError(f"the scorer must give one probability in [0, 1] per sub-image "
                                    f"({len(refs)}); it gave {p.shape[0]} values, some outside [0, 1] or NaN")
        return p

    def _check_stop(self) -> None:
        if self._should_stop():
            raise SelfLearningCancelled()

    def run_round(self, position: int = 1, total: int = 1) -> RoundReport:
        """Run round ``position`` of a run of ``total`` rounds and commit it.

        When ``should_stop`` turns true before the round's results are committed, the round is
        recorded as interrupted, nothing else changes, and :class:`SelfLearningCancelled` is raised.
        """
        self._check_stop()
        refs, train, held = self._parts()
        groups = self._groups(train)
        params = {**self.params, "position": position, "schedule": list(self.schedule.taus),
                  "heldout_patients": sorted(self.heldout), "trained": self.trainer is not None,
                  "crossfit_folds": self.crossfit_folds,
                  "crossfit_groups": [sorted(g) for g in groups] if groups is not None else None}
        round_id, number = self.store.start_round(self.mode, self.schedule.tau, params)
        tau = self.schedule.tau(number)
        try:
            p = self._scores(train, refs, number, position, total, groups)
            self._check_stop()
        except SelfLearningCancelled:
            self.store.abort_round(round_id, "cancelled")
            raise
        except BaseException as exc:
            self.store.abort_round(round_id, f"{type(exc).__name__}: {exc}")
            raise
        index = {r.subimage_id: i for i, r in enumerate(refs)}
        accuracy = heldout_accuracy(held, p[[index[r.subimage_id] for r in held]]) if held else None
        train_counts = {"images": len({r.image_id for r in train}), "subimages": len(train),
                        "benign": sum(r.label == "benign" for r in train),
                        "malignant": sum(r.label == "malignant" for r in train)}
        self._progress("apply", position, total)
        stats = self.store.apply_round(
            round_id, {r.subimage_id: float(p[i]) for i, r in enumerate(refs)},
            {"position": position, "train": train_counts, "candidates": relabel_candidates(refs, p),
             "heldout": heldout_stats(accuracy.to_dict()) if accuracy is not None else None})
        self._progress("done", position, total)
        return RoundReport(round_id, number, position, tau, self.mode, stats)

    def check_run(self, rounds: int) -> None:
        """Raise :class:`SelfLearningError` when a run of ``rounds`` rounds cannot start."""
        check_run(self.mode, rounds)

    def run(self, rounds: int, on_round: Callable[[RoundReport], None] | None = None) -> list[RoundReport]:
        """Run ``rounds`` rounds, each at the project's next level, committing each as it finishes.

        ``on_round`` is called with each committed round. A cancelled run (``should_stop``,
        checked between steps and by the trainer) returns the rounds completed before it stopped
        and sets :attr:`cancelled`.
        """
        self.check_run(rounds)
        self.cancelled = False
        reports: list[RoundReport] = []
        for k in range(1, rounds + 1):
            try:
                reports.append(self.run_round(k, rounds))
            except SelfLearningCancelled:
                self.cancelled = True
                break
            if on_round is not None:
                on_round(reports[-1])
        return reports

    def evaluate(self) -> HeldOutAccuracy | None:
        """Train on the current labels and measure held-out accuracy, changing nothing.

        Cross-fitted: the mean of the ``k`` fold models, as in the rounds.
        """
        refs, train, held = self._parts()
        if not held:
            return None
        groups = self._groups(train)
        if groups is not None:
            assert self.trainer is not None
            return heldout_accuracy(held, crossfit_scores(self.trainer, train, held, groups, 0)[1])
        scorer = self.trainer.fit(train, 0) if self.trainer is not None else self.scorer
        assert scorer is not None
        return heldout_accuracy(held, np.asarray(scorer.score(held), dtype=np.float64).reshape(-1))
