"""Plain, immutable rows the label store hands out (safe to pass between threads and to a GUI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class NewImage:
    """An image to add to a project: its file, identity, labels and size."""

    path: Path
    sha256: str
    patient: str
    magnification: int | None
    label: str
    width: int
    height: int
    subtype: str | None = None


@dataclass(frozen=True)
class SubImageRect:
    """A sub-image rectangle in level-0 pixels with its grid position and tissue fraction."""

    row: int
    col: int
    x: int
    y: int
    w: int
    h: int
    tissue: float | None = None


@dataclass(frozen=True)
class ImageRow:
    """One image of the project, with a summary of its sub-image labels."""

    id: int
    path: Path
    sha256: str
    patient: str
    magnification: int | None
    label: str
    subtype: str | None
    width: int
    height: int
    n_benign: int
    n_malignant: int
    n_human: int
    n_locked: int
    n_pending: int


@dataclass(frozen=True)
class SubImageRow:
    """One sub-image: where it lies, its current label and where that label came from.

    ``round`` is the self-learning round whose model produced the current label (0: inherited,
    or set by a human without a proposal). ``p_malignant`` is the latest round's prediction and
    ``proposal_id`` the pending review proposal, when there is one.
    """

    id: int
    image_id: int
    row: int
    col: int
    x: int
    y: int
    w: int
    h: int
    tissue: float | None
    label: str
    source: str
    locked: bool
    round: int
    p_malignant: float | None = None
    proposal_id: int | None = None
    proposed_label: str | None = None

    @property
    def rect(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)


@dataclass(frozen=True)
class HistoryRow:
    """One entry of the audit trail: a change of label, source or lock of one sub-image."""

    id: int
    subimage_id: int
    action: str
    old_label: str | None
    new_label: str
    old_source: str | None
    new_source: str
    old_locked: bool | None
    new_locked: bool
    round: int
    time: str
    reason: str
    batch: int
    undoes: int | None
    proposal_id: int | None
    person: str = ""  # who made the change ('' where it was not recorded)


@dataclass(frozen=True)
class ProposalRow:
    """A change a review-mode round suggests; an annotator accepts or rejects it."""

    id: int
    round_id: int
    round_number: int
    subimage_id: int
    image_id: int
    old_label: str
    new_label: str
    p_malignant: float
    status: str
    decided: str | None

    @property
    def confidence(self) -> float:
        """The model's probability for the proposed label."""
        return 1.0 - self.p_malignant if self.new_label == "benign" else self.p_malignant


@dataclass(frozen=True)
class RoundRow:
    """One self-learning round: its level, schedule value, parameters and statistics."""

    id: int
    number: int
    mode: str
    tau: float
    params: dict[str, Any]
    stats: dict[str, Any]
    status: str
    started: str
    finished: str | None


@dataclass(frozen=True)
class LabelCounts:
    """Sub-image label counts of a selection (a project, image, patient or magnification)."""

    benign: int = 0
    malignant: int = 0
    inherited: int = 0
    model: int = 0
    human: int = 0
    locked: int = 0
    pending: int = 0

    @property
    def total(self) -> int:
        return self.benign + self.malignant


@dataclass(frozen=True)
class UndoResult:
    """What an undo restored: the batch undone and the sub-images it touched."""

    batch: int
    action: str
    subimage_ids: tuple[int, ...]
    history_ids: tuple[int, ...] = field(default=())


@dataclass(frozen=True)
class DecisionResult:
    """Outcome of accepting or rejecting proposals: which were applied, which were skipped and why."""

    applied: tuple[int, ...]
    skipped: dict[int, str]
    history_ids: tuple[int, ...] = field(default=())
