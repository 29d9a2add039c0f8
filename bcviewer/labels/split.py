"""Choosing the held-out patients of a self-learning project.

BreakHis ids that differ only in trailing letters (14-22549AB and 14-22549CD) may be one
person, so they are held out or kept together, as :mod:`bcviewer.training` does. Ids from a CSV
or class folders follow the same rule only where letters follow a digit.
"""

from __future__ import annotations

import re

from bcviewer.datasets import patient_split
from bcviewer.labels.errors import SelfLearningError
from bcviewer.labels.store import LabelStore


def patient_group(patient: str) -> str:
    """The conservative person key: the patient id without letters that follow its last digit.

    ``14-22549AB`` -> ``14-22549``. Ids with no digit before their final letters (``alice``,
    ``benign/case3`` from a class folder) stay whole: stripping them would merge unrelated people.
    """
    return re.sub(r"(?<=\d)[A-Za-z]+$", "", patient)


def choose_heldout_patients(store: LabelStore, fraction: float, seed: int = 0) -> frozenset[str]:
    """A label-stratified share ``fraction`` of the project's patient groups, by ``seed``."""
    if not 0.0 <= fraction < 1.0:
        raise SelfLearningError(f"the held-out fraction must be at least 0 and below 1, got {fraction}")
    images = store.images()
    if not images:
        raise SelfLearningError("the project holds no images; import some with 'bcviewer labels import'")
    if fraction == 0.0:
        return frozenset()
    votes: dict[str, list[bool]] = {}
    for image in images:
        votes.setdefault(patient_group(image.patient), []).append(image.label == "malignant")
    group_labels = {g: "malignant" if sum(v) * 2 >= len(v) else "benign" for g, v in votes.items()}
    if len(group_labels) < 2:
        raise SelfLearningError("holding patients out needs at least two patients in the project")
    groups = patient_split(group_labels, (1.0 - fraction, 0.0, fraction), seed).test
    return frozenset(i.patient for i in images if patient_group(i.patient) in groups)
