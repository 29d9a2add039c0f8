"""The sentences the labeling panel shows: counts with the right plural, refusals, run results."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sized

from bcviewer.labels import DecisionResult, RoundReport
from bcviewer.labels.round_notes import nothing_changed_reason, round_notes


def plural(items: Sized | int, noun: str = "sub-image") -> str:
    """``plural(3) == "3 sub-images"``, ``plural([x], "round") == "1 round"``."""
    count = items if isinstance(items, int) else len(items)
    return f"{count} {noun}{'s' if count != 1 else ''}"


def skipped_message(result: DecisionResult, accept: bool) -> str:
    """Why some proposals were not accepted (rejected), grouped by reason; "" when none was skipped."""
    if not result.skipped:
        return ""
    verb = "accepted" if accept else "rejected"
    lines = [f"{plural(count, 'proposal')}: {reason}" for reason, count in Counter(result.skipped.values()).items()]
    return f"Not {verb}, to keep every label sound:\n" + "\n".join(lines)


def round_message(report: RoundReport) -> str:
    """What a round changed, and the held-out accuracy of the model it trained (when measured)."""
    if report.mode == "auto":
        text = f"Self-learning round {report.number}: {plural(report.stats['relabelled'])} relabelled."
    else:
        text = f"Self-learning round {report.number}: {plural(report.stats['proposed'])} proposed for review."
    why = nothing_changed_reason(report.stats)
    if why:
        text += f" {why[0].upper()}{why[1:]}."
    held = report.heldout
    if held:
        text += (f" Held-out patients: image accuracy {held['image_accuracy']:.2f} ({plural(held['images'], 'image')}),"
                 f" sub-image accuracy {held['subimage_accuracy']:.2f}.")
    return text


def run_message(reports: list[RoundReport], cancelled: bool) -> str:
    if cancelled:
        return f"Cancelled; {plural(reports, 'round')} completed before."
    return f"Finished {plural(reports, 'round')}."


def notes_message(reports: list[RoundReport]) -> str:
    """The last round's notes: why it changed nothing, how far its held-out accuracy goes ("" if none)."""
    return " ".join(f"Round {r.number}: {note}." for r in reports[-1:] for note in round_notes(r.stats))
