"""Cross-fitted scoring of a self-learning round.

A model that scores the sub-images it was trained on has memorised their (noisy) labels, so
it is rarely confidently benign about a sub-image labelled malignant and the rule proposes
few relabels. Cross-fitting removes that: the training patients are split into ``k`` groups
(by person, stratified by label, fixed across rounds), ``k`` models are trained each on
``k - 1`` groups, and every training sub-image is scored by the one model that never saw its
patient. Held-out patients are scored by the mean of the ``k`` models (no extra training;
none of the ``k`` models saw them), so held-out accuracy measures the same ensemble in every
round.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from bcviewer.labels.errors import SelfLearningError
from bcviewer.labels.queries import SubImageRef
from bcviewer.labels.split import patient_group


class _Scorer(Protocol):
    def score(self, items: Sequence[SubImageRef]) -> np.ndarray: ...


class _Trainer(Protocol):
    def fit(self, examples: Sequence[SubImageRef], round_number: int) -> _Scorer: ...


def crossfit_groups(train: Sequence[SubImageRef], k: int, seed: int = 0) -> list[frozenset[str]]:
    """The training patients of each of ``k`` cross-fitting groups.

    Patients whose ids differ only in trailing letters stay together. Person groups are
    labelled by their images' majority label, shuffled by ``seed`` within each label and dealt
    in turn to the ``k`` groups, so each group holds a share of benign and malignant persons.
    """
    if k < 2:
        raise SelfLearningError(f"cross-fitting needs at least 2 folds, not {k}")
    votes: dict[str, dict[int, bool]] = {}
    members: dict[str, set[str]] = {}
    for ref in train:
        person = patient_group(ref.patient)
        votes.setdefault(person, {})[ref.image_id] = ref.image_label == "malignant"
        members.setdefault(person, set()).add(ref.patient)
    if len(votes) < k:
        raise SelfLearningError(f"cross-fitting with {k} folds needs at least {k} training patients "
                                f"(persons), but there are {len(votes)}; use fewer folds or none")
    rng = np.random.default_rng(seed)
    order: list[str] = []
    for malignant in (False, True):
        persons = sorted(p for p, v in votes.items() if (sum(v.values()) * 2 >= len(v)) == malignant)
        order.extend(persons[i] for i in rng.permutation(len(persons)))
    groups: list[set[str]] = [set() for _ in range(k)]
    for i, person in enumerate(order):
        groups[i % k] |= members[person]
    return [frozenset(g) for g in groups]


def _checked(p: np.ndarray, n: int) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64).reshape(-1)
    if p.shape[0] != n or not np.all((p >= 0.0) & (p <= 1.0)):
        raise SelfLearningError(f"the scorer must give one probability in [0, 1] per sub-image "
                                f"({n}); it gave {p.shape[0]} values, some outside [0, 1] or NaN")
    return p


def crossfit_scores(trainer: _Trainer, train: Sequence[SubImageRef], held: Sequence[SubImageRef],
                    groups: Sequence[frozenset[str]], round_number: int,
                    before_fit: Callable[[int], None] = lambda fold: None) -> tuple[np.ndarray, np.ndarray]:
    """``(p of train, p of held)``: each training sub-image by the model that did not see its
    patient, each held-out sub-image by the mean of the ``len(groups)`` models.

    ``before_fit(fold)`` runs before each model is trained (progress, cancellation).
    """
    p_train = np.full(len(train), np.nan)
    p_held = np.zeros(len(held))
    for fold, group in enumerate(groups):
        before_fit(fold)
        scorer = trainer.fit([r for r in train if r.patient not in group], round_number)
        inside = [i for i, r in enumerate(train) if r.patient in group]
        p_train[inside] = _checked(scorer.score([train[i] for i in inside]), len(inside))
        if held:
            p_held += _checked(scorer.score(held), len(held)) / len(groups)
    if np.isnan(p_train).any():  # a training patient in no group: groups built from other sub-images
        raise SelfLearningError("some training sub-images belong to no cross-fitting group")
    return p_train, p_held
