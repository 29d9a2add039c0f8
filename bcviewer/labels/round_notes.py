"""What a self-learning round tells the annotator beyond its table: why it changed nothing, and how
far its held-out accuracy can be trusted.

Both notes are computed from a round's recorded statistics, so the CLI, the panel and a later
``labels stats`` word them the same way. :func:`relabel_candidates` is what the engine records for
the first note: the p_malignant of the sub-images the rule could have relabelled.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bcviewer.labels.queries import SubImageRef
from bcviewer.labels.rules import MALIGNANT, SubImageState, anchor_of

# Below this many held-out images the accuracy is flagged. At 30 images and accuracy 0.8 the 95%
# Wilson interval is 0.63-0.90 (0.27 wide) and one image moves accuracy by 0.033; at 10 images the
# interval of a perfect 1.000 still reaches down to 0.72, and one image moves it by 0.10.
FEW_HELDOUT_IMAGES = 30


def relabel_candidates(refs: Sequence[SubImageRef], p_malignant: np.ndarray) -> dict[str, Any]:
    """The sub-images the rule may move to benign and the lowest p_malignant among them.

    Candidates are malignant sub-images of malignant images that are neither human-labelled,
    locked, nor their image's anchor (its most probable malignant sub-image, always kept).
    """
    by_image: dict[int, list[int]] = defaultdict(list)
    for i, ref in enumerate(refs):
        if ref.image_label == MALIGNANT:
            by_image[ref.image_id].append(i)
    lowest: tuple[float, int] | None = None
    count = protected = 0
    for idx in by_image.values():
        states = [SubImageState(refs[i].subimage_id, refs[i].label, refs[i].source, refs[i].locked) for i in idx]
        probs = [float(p_malignant[i]) for i in idx]
        anchor = anchor_of(states, probs)
        for j, (state, p) in enumerate(zip(states, probs)):
            if state.label != MALIGNANT or j == anchor:
                continue
            if state.protected:
                protected += 1
                continue
            count += 1
            if lowest is None or p < lowest[0]:
                lowest = (p, idx[j])
    out: dict[str, Any] = {"candidates": count, "protected": protected, "lowest_p": None}
    if lowest is not None:
        ref = refs[lowest[1]]
        out.update(lowest_p=lowest[0], lowest_subimage=ref.subimage_id,
                   lowest_where=f"{ref.path.name} sub-image {ref.row + 1},{ref.col + 1}")
    return out


def _above(value: float) -> float:
    """The smallest two-decimal tau that lies strictly above ``value``."""
    return (math.floor(value * 100 + 1e-9) + 1) / 100


def nothing_changed_reason(stats: Mapping[str, Any]) -> str | None:
    """Why a completed round relabelled and proposed nothing, with its numbers; None when it changed
    something, or when the round predates the recorded candidates."""
    if stats.get("relabelled", 0) or stats.get("proposed", 0) or "candidates" not in stats:
        return None
    c = stats["candidates"]
    tau = float(stats["tau"])
    verb, act = ("proposed", "propose") if stats.get("mode") == "review" else ("relabelled", "relabel")
    if c["lowest_p"] is None:
        why = ("no malignant sub-image of a malignant image may change: each image's most probable one "
               "is kept as its anchor")
        if c["protected"]:
            why += f" and {c['protected']} are human-labelled or locked"
        return f"nothing {verb}: {why}; only a person can change them (or unlock them)"
    low = float(c["lowest_p"])
    if low >= tau:
        return (f"nothing {verb}: the lowest p_malignant among the {c['candidates']} malignant sub-images the "
                f"rule may change is {low:.3f} ({c.get('lowest_where', 'one sub-image')}), and tau is {tau:g}; "
                f"only p < tau is relabelled. A tau of at least {_above(low):.2f} would {act} that one "
                f"(--tau, or the panel's tau box); the next levels of the schedule raise tau")
    kept = []
    if stats.get("kept_as_anchor"):
        kept.append(f"{stats['kept_as_anchor']} as their image's last malignant sub-image (anchor)")
    if stats.get("kept_protected"):
        kept.append(f"{stats['kept_protected']} as human-labelled or locked")
    detail = "; kept " + " and ".join(kept) if kept else ""
    return (f"nothing {verb}: the lowest p_malignant among the rule's candidates was {low:.3f}, below tau "
            f"{tau:g}, but the labels changed while the model trained{detail}")


def wilson_interval(correct: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of ``correct`` successes in ``total`` trials (scipy's binomtest)."""
    from scipy.stats import binomtest

    ci = binomtest(correct, total).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def heldout_stats(accuracy: Mapping[str, Any]) -> dict[str, Any]:
    """A round's held-out accuracy with the 95% Wilson interval of its image accuracy, computed
    where the round runs (a worker), so showing it later needs no scipy."""
    n = int(accuracy["images"])
    correct = round(float(accuracy["image_accuracy"]) * n)
    return {**accuracy, "image_wilson95": list(wilson_interval(correct, n)) if n else None}


def heldout_note(heldout: Mapping[str, Any] | None) -> str | None:
    """Held-out image accuracy with its image count and 95% Wilson interval; it says how little the
    number means when fewer than :data:`FEW_HELDOUT_IMAGES` images are held out."""
    if not heldout or not heldout.get("images"):
        return None
    n = int(heldout["images"])
    acc = float(heldout["image_accuracy"])
    stored = heldout.get("image_wilson95")
    low, high = stored if stored else wilson_interval(round(acc * n), n)
    text = f"held-out image accuracy {acc:.3f} on {n} image{'s' if n != 1 else ''} (95% Wilson CI {low:.2f}-{high:.2f})"
    if n < FEW_HELDOUT_IMAGES:
        text += (f"; warning: fewer than {FEW_HELDOUT_IMAGES} held-out images, so one image moves the accuracy "
                 f"by {1 / n:.2f} and the interval is wide (images of one patient are alike, so the truth is "
                 "wider still); hold out more patients (--holdout with --resplit) before trusting it")
    return text


def round_notes(stats: Mapping[str, Any]) -> list[str]:
    """The notes of one round, in the order they are shown."""
    return [n for n in (nothing_changed_reason(stats), heldout_note(stats.get("heldout"))) if n]
