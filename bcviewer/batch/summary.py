"""One line of ``bcviewer predict``'s summary.csv: an input's status, its verdict and why it failed.

The columns are :data:`bcviewer.cli.predict.SUMMARY_FIELDS`; the verdict's come from
:class:`bcviewer.inference.verdict.Verdict`, the same object the viewer and regions.csv show.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bcviewer.filenames import escaped_text

if TYPE_CHECKING:
    from bcviewer.inference import TileScores


@dataclass
class SummaryRow:
    """One line of summary.csv."""

    path: str
    status: str = "ok"
    p_malignant: float | None = None
    label: str = ""
    uncertainty: float | None = None
    n_tiles: int | None = None
    error: str = ""
    prediction_set: str = ""  # benign / malignant / review; empty: the card has no conformal calibration
    outside_training: bool | None = None  # None: the card has no outside-training density
    # The verdict (bcviewer.inference.verdict): its rule, its words, its 95% interval over the tiles.
    verdict_rule: str = ""
    verdict: str = ""
    verdict_low: float | None = None
    verdict_high: float | None = None
    review: bool | None = None  # None: the card has no conformal calibration, or there is no verdict

    @classmethod
    def scored(cls, path: str, scores: TileScores) -> SummaryRow:
        """The row of a scored input: every verdict column from ``scores.slide_verdict``."""
        v = scores.slide_verdict
        return cls(path, "ok", v.value, v.label or "", v.uncertainty, len(scores),
                   prediction_set=v.prediction_set or "", outside_training=v.outside, verdict_rule=v.rule,
                   verdict=v.text, verdict_low=v.low, verdict_high=v.high, review=v.review)

    def cells(self) -> list[str]:
        def num(v: float | None) -> str:
            return "" if v is None or math.isnan(v) else f"{v:.6f}"  # NaN: no tile was scored

        def yes_no(v: bool | None) -> str:
            return "" if v is None else ("yes" if v else "no")

        # Names that are not UTF-8 go in escaped (bad_\xff.png), so summary.csv stays valid UTF-8.
        return [escaped_text(self.path), self.status, num(self.p_malignant), self.label, num(self.uncertainty),
                "" if self.n_tiles is None else str(self.n_tiles), escaped_text(self.error), self.prediction_set,
                yes_no(self.outside_training), self.verdict_rule, self.verdict, num(self.verdict_low),
                num(self.verdict_high), yes_no(self.review)]
