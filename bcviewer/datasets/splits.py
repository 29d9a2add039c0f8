"""Patient-level splits: no patient's images ever fall on both sides of a train/test boundary.

Images of one patient are far more alike than images of two patients, so splitting by image
inflates accuracy. Every split here works on the patient table (patient -> label) and is
stratified by that label, so that each part sees both classes.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np
from sklearn.model_selection import StratifiedKFold

from bcviewer.datasets.errors import DatasetError

PART_NAMES: tuple[str, str, str] = ("train", "val", "test")


class HasPatient(Protocol):
    """Anything that knows its patient and label (BreakHisImage, IDCPatch)."""

    @property
    def patient(self) -> str: ...

    @property
    def label(self) -> Any: ...


ItemT = TypeVar("ItemT", bound=HasPatient)


@dataclass(frozen=True)
class PatientSplit:
    """Three disjoint sets of patient ids."""

    train: frozenset[str]
    val: frozenset[str]
    test: frozenset[str]

    def __post_init__(self) -> None:
        shared = (self.train & self.val) | (self.train & self.test) | (self.val & self.test)
        if shared:
            raise DatasetError(
                f"Patients {', '.join(sorted(shared))} are in more than one part of the split."
            )

    def which(self, patient: str) -> str:
        """``"train"``, ``"val"`` or ``"test"``: the part holding ``patient``."""
        for part in PART_NAMES:
            if patient in getattr(self, part):
                return part
        raise DatasetError(f"Patient {patient} is in none of the parts of this split.")

    def partition(self, items: Iterable[ItemT]) -> dict[str, list[ItemT]]:
        """Sort images or patches into ``{"train": [...], "val": [...], "test": [...]}``."""
        parts: dict[str, list[ItemT]] = {part: [] for part in PART_NAMES}
        for item in items:
            parts[self.which(item.patient)].append(item)
        return parts

    def to_dict(self) -> dict[str, list[str]]:
        """Sorted patient lists per part, ready for a JSON model card."""
        return {part: sorted(getattr(self, part)) for part in PART_NAMES}

    @classmethod
    def from_dict(cls, parts: Mapping[str, Iterable[str]]) -> PatientSplit:
        """Inverse of :meth:`to_dict`."""
        missing = [part for part in PART_NAMES if part not in parts]
        if missing:
            raise DatasetError(f"The saved split lacks the part(s) {', '.join(missing)}.")
        return cls(**{part: frozenset(str(p) for p in parts[part]) for part in PART_NAMES})


def patient_labels_of(items: Iterable[HasPatient]) -> dict[str, str]:
    """Patient -> label, from BreakHisImage or IDCPatch lists.

    A BreakHis patient has one tumour class; an image contradicting it raises DatasetError.
    IDC patients have patches of both classes (labels are ints): a patient is labelled ``"1"``
    when at least half of its patches show invasive ductal carcinoma, otherwise ``"0"``. Ties
    count as IDC because the patches come from slides of IDC patients.
    """
    text_labels: dict[str, set[str]] = defaultdict(set)
    idc_votes: dict[str, Counter[int]] = defaultdict(Counter)
    for item in items:
        label = item.label
        if isinstance(label, (int, np.integer)):
            idc_votes[str(item.patient)][int(label)] += 1
        else:
            text_labels[str(item.patient)].add(str(label))
    mixed = sorted(set(text_labels) & set(idc_votes))
    if mixed:
        raise DatasetError(f"Patient(s) {', '.join(mixed)} have both text and numeric labels.")
    labels: dict[str, str] = {}
    for patient, found in text_labels.items():
        if len(found) > 1:
            raise DatasetError(
                f"Patient {patient} has images labelled {' and '.join(sorted(found))}; "
                "a patient must have one label."
            )
        labels[patient] = found.pop()
    for patient, votes in idc_votes.items():
        labels[patient] = "1" if votes[1] >= votes[0] else "0"
    if not labels:
        raise DatasetError("No images were given, so there are no patients to split.")
    return dict(sorted(labels.items()))


def _patient_table(patient_labels: Mapping[str, str | int]) -> tuple[list[str], list[str]]:
    if not patient_labels:
        raise DatasetError("No patients were given, so there is nothing to split.")
    patients = sorted(str(p) for p in patient_labels)
    if len(set(patients)) != len(patients):
        raise DatasetError("Some patient ids occur twice in the patient table.")
    by_text = {str(p): str(label) for p, label in patient_labels.items()}
    return patients, [by_text[p] for p in patients]


def _checked_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    if len(fractions) != 3:
        raise DatasetError(f"Give three fractions (train, val, test), not {len(fractions)}.")
    train, val, test = (float(f) for f in fractions)
    if min(train, val, test) < 0 or train <= 0 or not math.isclose(train + val + test, 1.0):
        raise DatasetError(
            f"Split fractions must be non-negative, give training some patients and add up "
            f"to 1; got {train}, {val}, {test}."
        )
    return train, val, test


def _class_counts(
    size: int, fractions: tuple[float, float, float], debt: list[float]
) -> list[int]:
    """How many of ``size`` patients of one class go to each part.

    Largest-remainder rounding, where ``debt`` carries each part's rounding loss over from the
    previous classes so that the part sizes as a whole stay close to the fractions.
    """
    exact = [size * f for f in fractions]
    counts = [math.floor(e) for e in exact]
    scores = [e - c + d for e, c, d in zip(exact, counts, debt)]
    active = [i for i in range(3) if fractions[i] > 0]
    by_need = sorted(active, key=lambda i: (-scores[i], -fractions[i], i))
    for part in by_need[: size - sum(counts)]:
        counts[part] += 1
    if size >= len(active):
        for part in active:
            if counts[part] == 0:
                counts[max(range(3), key=lambda i: counts[i])] -= 1
                counts[part] = 1
    for i in range(3):
        debt[i] += exact[i] - counts[i]
    return counts


def patient_split(
    patient_labels: Mapping[str, str | int],
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    seed: int = 0,
) -> PatientSplit:
    """Split patients into train/val/test, stratified by label and fixed by ``seed``.

    Each part with a non-zero fraction gets at least one patient of every class that has
    enough patients for it.
    """
    shares = _checked_fractions(fractions)
    patients, labels = _patient_table(patient_labels)
    needed = sum(f > 0 for f in shares)
    if len(patients) < needed:
        raise DatasetError(
            f"{len(patients)} patient(s) cannot fill {needed} parts of a split; "
            "add patients or set a fraction to 0."
        )
    # scikit-learn's stratified train_test_split cannot promise a rare class in every one of
    # three parts (and refuses one-patient classes), so the per-class counts are set here and
    # only the drawing of patients is left to NumPy's seeded generator.
    rng = np.random.default_rng(seed)
    parts: list[set[str]] = [set(), set(), set()]
    debt = [0.0, 0.0, 0.0]
    for label in sorted(set(labels)):
        members = [p for p, lab in zip(patients, labels) if lab == label]
        drawn = [members[i] for i in rng.permutation(len(members))]
        start = 0
        for part, count in zip(parts, _class_counts(len(members), shares, debt)):
            part.update(drawn[start : start + count])
            start += count
    return PatientSplit(*(frozenset(part) for part in parts))


def patient_kfold(
    patient_labels: Mapping[str, str | int], k: int = 5, seed: int = 0
) -> list[tuple[frozenset[str], frozenset[str]]]:
    """``k`` stratified (train, test) patient folds; every patient is tested exactly once."""
    patients, labels = _patient_table(patient_labels)
    if k < 2:
        raise DatasetError(f"Cross-validation needs at least 2 folds, not {k}.")
    if k > len(patients):
        raise DatasetError(f"{len(patients)} patient(s) cannot fill {k} folds; use fewer folds.")
    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    table = np.array(patients, dtype=object)
    try:
        indices = list(folds.split(np.zeros(len(patients)), labels))
    except ValueError as error:  # every class smaller than k
        raise DatasetError(f"Cannot make {k} stratified patient folds: {error}") from error
    return [(frozenset(table[train]), frozenset(table[test])) for train, test in indices]
