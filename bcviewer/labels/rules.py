"""The relabel rule of hierarchical self-learning, as a pure multiple-instance rule.

Prior knowledge (BreakHis): a benign image holds only benign tissue; a malignant image holds
malignant tissue and often benign tissue as well (stroma, fat, normal ducts). So:

* sub-images of benign images are never relabelled;
* a malignant sub-image of a malignant image becomes benign when the model is confidently
  benign about it, ``p_malignant < tau``;
* every malignant image keeps at least one malignant sub-image, its most probable one among
  those still malignant (the *anchor*), so the image label stays explained;
* a sub-image a human labelled (source ``human``) or locked is never changed.

The rule only ever moves labels from malignant to benign; it never creates malignant labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

BENIGN = "benign"
MALIGNANT = "malignant"


@dataclass(frozen=True)
class SubImageState:
    """What the rule needs to know about one sub-image of an image."""

    subimage_id: int
    label: str
    source: str
    locked: bool

    @property
    def protected(self) -> bool:
        """True when the loop must leave this sub-image alone."""
        return self.locked or self.source == "human"


@dataclass(frozen=True)
class Relabel:
    """One change the rule asks for."""

    subimage_id: int
    old_label: str
    new_label: str
    p_malignant: float


@dataclass(frozen=True)
class RuleOutcome:
    """The changes for one image and why the other low-probability sub-images were kept."""

    relabels: tuple[Relabel, ...]
    anchor: int | None  # sub-image kept malignant to explain the image label
    kept_as_anchor: int  # below tau but kept because it is the anchor
    kept_protected: int  # below tau but human-labelled or locked


def anchor_of(states: Sequence[SubImageState], p_malignant: Sequence[float]) -> int | None:
    """Index of the most probable sub-image among those labelled malignant (ties: first)."""
    best: int | None = None
    for i, state in enumerate(states):
        if state.label == MALIGNANT and (best is None or p_malignant[i] > p_malignant[best]):
            best = i
    return best


def relabel_image(
    image_label: str, states: Sequence[SubImageState], p_malignant: Sequence[float], tau: float
) -> RuleOutcome:
    """Apply the rule to the sub-images of one image.

    ``states[i]`` and ``p_malignant[i]`` describe the same sub-image. Returns the relabels; the
    caller applies or proposes them.
    """
    if len(states) != len(p_malignant):
        raise ValueError(f"{len(states)} sub-images but {len(p_malignant)} probabilities")
    if not 0.0 <= tau <= 1.0:
        raise ValueError(f"tau must lie in [0, 1], got {tau}")
    for p in p_malignant:
        if not 0.0 <= p <= 1.0:  # also rejects NaN
            raise ValueError(f"a probability must lie in [0, 1], got {p}")
    if image_label != MALIGNANT:
        return RuleOutcome((), None, 0, 0)
    anchor = anchor_of(states, p_malignant)
    relabels: list[Relabel] = []
    kept_anchor = kept_protected = 0
    for i, state in enumerate(states):
        if state.label != MALIGNANT or not p_malignant[i] < tau:
            continue
        if i == anchor:
            kept_anchor += 1
        elif state.protected:
            kept_protected += 1
        else:
            relabels.append(Relabel(state.subimage_id, MALIGNANT, BENIGN, float(p_malignant[i])))
    anchor_id = states[anchor].subimage_id if anchor is not None else None
    return RuleOutcome(tuple(relabels), anchor_id, kept_anchor, kept_protected)


def invariant_violations(
    image_label: str, before: Sequence[SubImageState], after: Sequence[SubImageState]
) -> list[str]:
    """Ways ``after`` breaks the invariants relative to ``before`` (empty list: none).

    Both list the same sub-images in the same order. Used by tests and as a guard before a
    round is committed.
    """
    problems: list[str] = []
    for b, a in zip(before, after):
        changed = (a.label, a.source, a.locked) != (b.label, b.source, b.locked)
        if changed and b.protected:
            problems.append(f"sub-image {b.subimage_id} was human-labelled or locked but changed")
        if image_label == BENIGN and a.label != b.label:
            problems.append(f"sub-image {b.subimage_id} of a benign image was relabelled")
        if a.label == MALIGNANT and b.label == BENIGN:
            problems.append(f"sub-image {b.subimage_id} was moved from benign to malignant")
    had_malignant = any(s.label == MALIGNANT for s in before)
    if image_label == MALIGNANT and had_malignant and not any(s.label == MALIGNANT for s in after):
        problems.append("a malignant image was left without a malignant sub-image")
    return problems
