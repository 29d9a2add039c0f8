"""Which scaling a prediction used and why, in words, beside the prediction and in the status text.

The decision and its reason come from the gene core (:class:`bcviewer.genes.platform.ScalingDecision`);
this module only words and styles them. Information is grey; it turns into a warning when the user
forced the training statistics on a table that looks like another platform.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QLabel, QWidget

if TYPE_CHECKING:
    from bcviewer.genes.platform import ScalingDecision
    from bcviewer.gui.expression.worker import ModelOutcome

INFO_STYLE = "color: #444"
WARNING_STYLE = "color: #b06000"


def scaling_words(scaling: str) -> str:
    """``the table's own z-scores (cohort)``: the scaling in words, its key in brackets."""
    from bcviewer.genes.platform import SCALING_WORDS  # after a run only: it brings scikit-learn

    words = SCALING_WORDS.get(scaling, scaling)
    return words if f"({scaling})" in words else f"{words} ({scaling})"


def looks_forced_wrong(decision: ScalingDecision) -> bool:
    """The user forced the training statistics although the table looks like another platform."""
    platform = decision.platform
    return not decision.automatic and decision.scaling == "model" and platform is not None and not platform.matches


def scaling_sentence(decision: ScalingDecision) -> str:
    """``Scaled by … (cohort), chosen automatically: <the core's reason>`` as rich text."""
    who = "chosen automatically" if decision.automatic else "chosen by you"
    reason = decision.reason.removeprefix("chosen by the user; ").removeprefix("chosen by the user ")
    joint = ", " if reason.startswith("although") else ": "  # "chosen by you, although the table looks like …"
    return f"<b>Scaled by {escape(scaling_words(decision.scaling), False)}</b>, {who}{joint}{escape(reason, False)}"


def run_status(outcomes: Sequence[ModelOutcome]) -> tuple[str, str]:
    """``(short, full)``: ``scaling cohort (auto)`` for the status field and each model's one-line summary."""
    decisions = [(o.name, o.result.scaling) for o in outcomes if o.result is not None and o.result.scaling]
    if not decisions:
        return "", ""
    kinds = {f"scaling {d.scaling} ({'auto' if d.automatic else 'chosen'})" for _, d in decisions}
    short = kinds.pop() if len(kinds) == 1 else "scaling: " + ", ".join(
        f"{name.split('/')[-1]} {d.scaling}" for name, d in decisions)
    return short, "\n".join(f"{name}: {d.summary()}" for name, d in decisions)


class ScalingNote(QLabel):
    """One word-wrapped line under the sample headline; ``level`` is "", "info" or "warning"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setToolTip("How the profile's genes were scaled before the model saw them, and why "
                        "(compared with the model's training cohort)")
        self.level = ""
        self.show_decision(None)

    def show_decision(self, decision: ScalingDecision | None) -> None:
        """Show ``decision`` (None: hide the line)."""
        if decision is None:
            self.level = ""
            self.clear()
            self.hide()
            return
        self.level = "warning" if looks_forced_wrong(decision) else "info"
        self.setStyleSheet(WARNING_STYLE if self.level == "warning" else INFO_STYLE)
        self.setText(("⚠ " if self.level == "warning" else "") + scaling_sentence(decision))
        self.show()
