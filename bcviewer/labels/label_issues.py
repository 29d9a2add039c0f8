"""A project-wide queue of likely label errors, in both directions, by confident learning.

The self-learning rule only ever moves sub-images from malignant to benign. This queue looks for
mistakes either way: a benign image that looks malignant to models that never saw it, a
malignant one that looks benign.

1. Every sub-image of the project gets an *out-of-sample* p_malignant from the one of ``folds``
   models (the self-learning trainer, default the ONNX probe) that was not trained on it. By default
   a fold holds whole images, label-stratified (``unit="image"``): the model has seen the patient's
   other images, whose labels are the evidence against an isolated mistake. ``unit="person"``
   holds out whole persons (:mod:`crossfit`), which also exposes a patient labelled wrong as a
   whole but ranked planted errors far worse on the dev set (``docs/selflearn.md``: precision@10
   1.000 against 0.300).
2. ``level="image"`` (the default): an image's p_malignant is the mean of its sub-images' (the
   rule the rounds' image accuracy uses) and its label the image label. ``level="subimage"``: each
   sub-image against its current label (benign sub-images of malignant images are the loop's
   relabels, so this level also finds relabels that look malignant again).
3. cleanlab's :func:`cleanlab.filter.find_label_issues` (confident learning, pruned by noise
   rate) picks the likely errors and ranks them by self-confidence: the out-of-sample probability
   of the current label, lowest first.

Nothing here imports PyTorch: the default trainer is the ONNX probe, and cleanlab needs only
numpy, scikit-learn and pandas.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bcviewer.labels.crossfit import _checked, crossfit_groups
from bcviewer.labels.errors import SelfLearningError
from bcviewer.labels.queries import SubImageRef
from bcviewer.labels.split import patient_group
from bcviewer.labels.store import LabelStore

LEVELS = ("image", "subimage")
UNITS = ("image", "person")
DEFAULT_FOLDS = 5
LABELS = ("benign", "malignant")  # class 0 and class 1 of the probabilities given to cleanlab

IssueProgress = Callable[[int, int], None]
"""``progress(models trained, folds)`` before each cross-fitted model is trained."""


class _Scorer(Protocol):
    def score(self, items: Sequence[SubImageRef]) -> np.ndarray: ...


class _Trainer(Protocol):
    def fit(self, examples: Sequence[SubImageRef], round_number: int) -> _Scorer: ...


@dataclass(frozen=True)
class LabelIssue:
    """One likely label error: ``subimage_id``, ``row`` and ``col`` are None at the image level."""

    rank: int
    image_id: int
    subimage_id: int | None
    path: Path
    patient: str
    row: int | None
    col: int | None
    label: str
    suggested: str
    self_confidence: float  # out-of-sample probability of the current label
    p_malignant: float

    @property
    def where(self) -> str:
        if self.row is None or self.col is None:
            return self.path.name
        return f"{self.path.name} sub-image {self.row + 1},{self.col + 1}"


@dataclass(frozen=True)
class LabelIssueQueue:
    """The ranked likely errors of one level and what they were computed on."""

    level: str
    issues: tuple[LabelIssue, ...]
    examples: int  # images (or sub-images) checked
    folds: int
    unit: str  # what a fold held out: "image" or "person"
    persons: int

    def image_ids(self) -> list[int]:
        """Images with a likely error, in the order of their first issue."""
        return list(dict.fromkeys(i.image_id for i in self.issues))

    def summary(self) -> str:
        unit = "images" if self.level == "image" else "sub-images"
        return (f"{len(self.issues)} likely label errors among {self.examples} {unit} of {self.persons} persons "
                f"(confident learning on probabilities from {self.folds} models, each scoring the "
                f"{self.unit}s it was not trained on)")


def image_folds(refs: Sequence[SubImageRef], k: int, seed: int = 0) -> list[list[int]]:
    """Indices into ``refs`` of ``k`` folds of whole images: shuffled by ``seed`` within each image
    label and dealt in turn, so every fold holds a share of benign and malignant images."""
    rng = np.random.default_rng(seed)
    by_image: dict[int, list[int]] = defaultdict(list)
    for i, ref in enumerate(refs):
        by_image[ref.image_id].append(i)
    order: list[int] = []
    for label in LABELS:
        ids = sorted(i for i, idx in by_image.items() if refs[idx[0]].image_label == label)
        order.extend(ids[j] for j in rng.permutation(len(ids)))
    folds: list[list[int]] = [[] for _ in range(k)]
    for n, image in enumerate(order):
        folds[n % k].extend(by_image[image])
    return folds


def out_of_sample_p(refs: Sequence[SubImageRef], trainer: _Trainer, folds: int, seed: int = 0,
                    progress: IssueProgress | None = None, should_stop: Callable[[], bool] | None = None,
                    unit: str = "image") -> np.ndarray:
    """p_malignant of every sub-image from the one of ``folds`` models that never saw its label.

    ``unit="image"``: folds of whole images (a model never sees the image, nor its sub-images, but
    may see other images of the same patient, whose labels an isolated mistake contradicts);
    ``unit="person"``: folds of persons (:mod:`crossfit`), a model never sees the patient at all.
    """
    if unit not in UNITS:
        raise SelfLearningError(f"the fold unit must be one of {', '.join(UNITS)}, not {unit!r}")
    if unit == "person":
        persons = len({patient_group(r.patient) for r in refs})
        if persons < 2:
            raise SelfLearningError("finding label errors by person folds needs at least two patients")
        k = min(folds, persons)
        index = {r.subimage_id: i for i, r in enumerate(refs)}
        parts = [[index[r.subimage_id] for r in refs if r.patient in g] for g in crossfit_groups(refs, k, seed)]
    else:
        images = len({r.image_id for r in refs})
        if images < 2:
            raise SelfLearningError("finding label errors needs at least two images")
        k = min(folds, images)
        parts = image_folds(refs, k, seed)
    p = np.full(len(refs), np.nan)
    for fold, inside in enumerate(parts):
        if should_stop is not None and should_stop():
            from bcviewer.labels.selflearn import SelfLearningCancelled

            raise SelfLearningCancelled("finding label errors was cancelled")
        if progress is not None:
            progress(fold, k)
        chosen = set(inside)
        scorer = trainer.fit([r for i, r in enumerate(refs) if i not in chosen], 0)
        p[inside] = _checked(scorer.score([refs[i] for i in inside]), len(inside))
    if progress is not None:
        progress(k, k)
    return p


def rank_label_issues(labels: np.ndarray, p_malignant: np.ndarray) -> list[int]:
    """Indices of the likely errors among ``labels`` (1 = malignant), most likely first
    (cleanlab: pruned by noise rate, ranked by self-confidence)."""
    from cleanlab.filter import find_label_issues  # type: ignore[import-untyped]  # loads pandas: only when asked

    labels = np.asarray(labels, dtype=np.int64)
    if len(set(labels.tolist())) < 2:
        raise SelfLearningError("every label is the same, so no label can be checked against another class")
    p = np.clip(np.asarray(p_malignant, dtype=np.float64), 0.0, 1.0)
    pred_probs = np.stack([1.0 - p, p], axis=1)
    ranked = find_label_issues(labels, pred_probs, return_indices_ranked_by="self_confidence", n_jobs=1)
    return [int(i) for i in ranked]


def _image_level(refs: Sequence[SubImageRef], p: np.ndarray) -> tuple[list[list[int]], np.ndarray, np.ndarray]:
    by_image: dict[int, list[int]] = defaultdict(list)
    for i, ref in enumerate(refs):
        by_image[ref.image_id].append(i)
    members = list(by_image.values())
    labels = np.array([refs[m[0]].image_label == "malignant" for m in members], dtype=np.int64)
    return members, labels, np.array([p[m].mean() for m in members])


def issue_queue(refs: Sequence[SubImageRef], p_malignant: np.ndarray, level: str = "image",
                folds: int = DEFAULT_FOLDS, unit: str = "image") -> LabelIssueQueue:
    """The queue of ``level`` from out-of-sample ``p_malignant`` (one per ref)."""
    if level not in LEVELS:
        raise SelfLearningError(f"the level must be one of {', '.join(LEVELS)}, not {level!r}")
    persons = len({patient_group(r.patient) for r in refs})
    issues = []
    if level == "image":
        members, labels, p = _image_level(refs, p_malignant)
        for rank, i in enumerate(rank_label_issues(labels, p), start=1):
            ref = refs[members[i][0]]
            issues.append(_issue(rank, ref, None, int(labels[i]), float(p[i])))
        examples = len(members)
    else:
        labels = np.array([r.label == "malignant" for r in refs], dtype=np.int64)
        for rank, i in enumerate(rank_label_issues(labels, p_malignant), start=1):
            issues.append(_issue(rank, refs[i], refs[i], int(labels[i]), float(p_malignant[i])))
        examples = len(refs)
    folds = min(folds, persons if unit == "person" else len({r.image_id for r in refs}))
    return LabelIssueQueue(level, tuple(issues), examples, folds, unit, persons)


def _issue(rank: int, ref: SubImageRef, sub: SubImageRef | None, label: int, p: float) -> LabelIssue:
    return LabelIssue(rank, ref.image_id, sub.subimage_id if sub else None, ref.path, ref.patient,
                      sub.row if sub else None, sub.col if sub else None, LABELS[label], LABELS[1 - label],
                      p if label else 1.0 - p, p)


def find_label_errors(store: LabelStore, trainer: _Trainer, *, level: str = "image", folds: int = DEFAULT_FOLDS,
                      seed: int = 0, unit: str = "image", progress: IssueProgress | None = None,
                      should_stop: Callable[[], bool] | None = None) -> LabelIssueQueue:
    """The queue of likely label errors of the project in ``store`` (changes nothing)."""
    if level not in LEVELS:
        raise SelfLearningError(f"the level must be one of {', '.join(LEVELS)}, not {level!r}")
    if folds < 2:
        raise SelfLearningError(f"finding label errors needs at least 2 folds, not {folds}")
    refs = store.subimage_refs()
    if not refs:
        raise SelfLearningError("the project holds no images; import some with 'bcviewer labels import'")
    if should_stop is not None and hasattr(trainer, "should_stop"):
        trainer.should_stop = should_stop  # polled between images while features are computed
    p = out_of_sample_p(refs, trainer, folds, seed, progress, should_stop, unit)
    return issue_queue(refs, p, level, folds, unit)


def issue_lines(queue: LabelIssueQueue, top: int | None = None) -> list[str]:
    """One line per issue: rank, where, patient, current and suggested label, self-confidence."""
    lines = []
    for issue in queue.issues[:top]:
        lines.append(f"{issue.rank:>4}  {issue.where}  patient {issue.patient}  {issue.label} -> {issue.suggested}"
                     f"  self-confidence {issue.self_confidence:.3f}")
    return lines


def to_records(queue: LabelIssueQueue) -> list[dict[str, Any]]:
    """The issues as JSON-ready dicts."""
    return [{"rank": i.rank, "image_id": i.image_id, "subimage_id": i.subimage_id, "path": str(i.path),
             "patient": i.patient, "row": i.row, "col": i.col, "label": i.label, "suggested": i.suggested,
             "self_confidence": i.self_confidence, "p_malignant": i.p_malignant} for i in queue.issues]
