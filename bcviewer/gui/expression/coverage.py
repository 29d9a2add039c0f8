"""``CoverageIndicator``: how many of a model's genes the profile measures, and which were imputed."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from bcviewer.genes import CoverageReport

WARN_BELOW = 0.95  # below this share of the model's genes the indicator turns amber
COLOURS = {"ok": "#2e7d32", "warn": "#b06000", "refused": "#c62828", "empty": "#777777"}
SHOWN_GENES = 30  # longer lists end with "… (+n)"


def gene_list(genes: list[str]) -> str:
    shown = ", ".join(genes[:SHOWN_GENES])
    return shown + (f" … (+{len(genes) - SHOWN_GENES})" if len(genes) > SHOWN_GENES else "")


class CoverageIndicator(QFrame):
    """A coloured headline (ok / warn / refused) over the lists of missing and imputed genes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.level = "empty"
        self.missing: list[str] = []
        self.imputed: list[str] = []  # genes filled for the shown sample beyond the missing ones
        self.headline = QLabel()
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.setSpacing(2)
        layout.addWidget(self.headline)
        layout.addWidget(self.details)
        self.clear()

    def clear(self, text: str = "Gene coverage: no profile loaded") -> None:
        self.level, self.missing, self.imputed = "empty", [], []
        self._show(text, "")

    def show_no_overlap(self, message: str) -> None:
        """None of the model's genes occur in the table."""
        self.level, self.missing, self.imputed = "refused", [], []
        self._show("No gene of this model in the profile: prediction refused", html.escape(message))

    def show_report(self, report: CoverageReport, floor: float, sample: str | None = None) -> None:
        """Show ``report``; with ``sample``, also the genes imputed for that sample only."""
        fraction = report.fraction
        low_samples = int((report.per_sample < floor).sum())
        if fraction < floor or low_samples or report.infinite:
            self.level = "refused"
        else:
            self.level = "warn" if fraction < WARN_BELOW else "ok"
        self.missing = list(report.missing)
        own = report.imputed.get(sample, []) if sample is not None else []
        self.imputed = [g for g in own if g not in report.missing]
        head = f"{len(report.present)} of {len(report.model_genes)} model genes measured ({fraction:.0%})"
        if self.level == "refused" and fraction < floor:
            head += f": prediction refused (floor {floor:.0%})"
        elif self.level == "refused" and low_samples:
            head += f"; {low_samples} sample(s) below the {floor:.0%} floor: prediction refused"
        elif self.level == "refused":
            n = report.bad_cells
            head += f"; {n} bad cell{'s' if n != 1 else ''} (infinite value{'s' if n != 1 else ''}): prediction refused"
        elif self.level == "warn":
            head += f": below {WARN_BELOW:.0%}, interpret with care"
        lines = []
        if self.missing:
            lines.append("<b>Missing</b> (imputed with the training median): " + html.escape(gene_list(self.missing)))
        if self.imputed:
            lines.append(f"<b>Also imputed for {html.escape(str(sample))}</b> (empty cells): "
                         + html.escape(gene_list(self.imputed)))
        if report.infinite:
            # Infinite values are neither measured nor imputed: say so where the imputed genes are listed.
            bad = report.infinite.get(sample, []) if sample is not None else []
            if bad:
                others = report.bad_cells - len(bad)
                lines.append(f"<b>Bad cells in {html.escape(str(sample))}</b> (infinite values; fix or remove them): "
                             + html.escape(gene_list(bad))
                             + (f" · {others} more in other samples" if others else ""))
            else:
                lines.append("<b>Bad cells</b> (infinite values; fix or remove them): "
                             + html.escape(report.bad_cells_text()))
        if not lines:
            lines.append("No gene imputed." if sample is None or not own else "")
        self._show(head, "<br>".join(lines))

    def _show(self, headline: str, details: str) -> None:
        colour = COLOURS[self.level]
        self.headline.setText(f"<span style='color:{colour}; font-size:14pt'>&#9679;</span> "
                              f"<b style='color:{colour}'>{html.escape(headline)}</b>")
        self.details.setText(details)
        self.details.setVisible(bool(details))
        self.setToolTip(f"Coverage below {WARN_BELOW:.0%} is flagged; below the floor the models refuse the profile.")
