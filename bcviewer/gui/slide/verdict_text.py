"""The words and colours of a verdict (:class:`~bcviewer.inference.verdict.Verdict`) in the slide
workspace: the analysis panel shows the slide's, the regions panel each region's, in the same words
as summary.csv and regions.csv (``Verdict.text``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the window shows before bcviewer.inference is imported
    from bcviewer.inference.verdict import Verdict

MALIGNANT_COLOR = "#c62828"
BENIGN_COLOR = "#2e7d32"
REVIEW_COLOR = "#b35c00"
OUTSIDE_COLOR = "#b0009a"
NONE_COLOR = "#616161"


def verdict_html(verdict: Verdict) -> str:
    """The verdict in capitals and colour: "MALIGNANT", "REVIEW (leaning BENIGN)", "NO VERDICT", with
    "· OUTSIDE TRAINING DATA" when the set's tiles look unlike training."""
    if verdict.label is None:
        return f"<span style='color:{NONE_COLOR}'>NO VERDICT</span>"
    color = MALIGNANT_COLOR if verdict.label == "malignant" else BENIGN_COLOR
    html = f"<span style='color:{color}'>{verdict.label.upper()}</span>"
    if verdict.review:  # the conformal set holds both labels, or neither: a person must decide
        html = f"<span style='color:{REVIEW_COLOR}'>REVIEW</span> (leaning {html})"
    if verdict.outside:
        html += f" <span style='color:{OUTSIDE_COLOR}'>· OUTSIDE TRAINING DATA</span>"
    return html


def verdict_detail(verdict: Verdict) -> str:
    """How the verdict was reached: the rule, its value and interval, the tiles; or why there is none."""
    from bcviewer.inference.verdict import INTERVAL

    if verdict.label is None:
        return f"No verdict: {verdict.reason}."
    interval = ("one tile: no interval" if verdict.tiles_used < 2 else
                f"{INTERVAL:.0%} interval over the tiles {verdict.low:.3f}–{verdict.high:.3f}")
    return (f"Verdict rule: {verdict.rule} of the tile p = {verdict.value:.3f} ({interval}; "
            f"{verdict.tiles_used} tiles scored), malignant at ≥ {verdict.threshold:.2f}")


def verdict_short(verdict: Verdict) -> str:
    """A table cell: "malignant", "benign", "review", "no verdict", with "*" when outside training."""
    if verdict.label is None:
        return "no verdict"
    return ("review" if verdict.review else verdict.label) + (" *" if verdict.outside else "")
