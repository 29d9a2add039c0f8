"""The verdict of a slide, an image or a region: one function for all three.

:func:`verdict_of` takes the scores of a slide and a set of its tiles (all of them for the slide's
verdict, the tiles inside a region for the region's) and returns a :class:`Verdict`:

* the **rule** (the model card's ``verdict``, see :mod:`bcviewer.inference.rules`) and its value
  over the scored tiles of the set; tiles quality control left out are never scored, so they never
  count: a region of glass alone has **no verdict** ("not enough tissue"), never "malignant";
* the **label** by the scores' threshold, or None (no verdict) when fewer than the rule's
  ``min_tiles`` tiles were scored;
* its **interval**: the 2.5th and 97.5th percentiles of the rule's value over
  :data:`RESAMPLES` bootstrap resamples of the set's scored tiles (seeded, so every output says the
  same). It says how much the verdict rests on which tiles were scored, not how right the model
  is: tiles next to each other are alike, so on a big slide it is narrower than the truth; one tile
  gives no interval;
* **review**: the value's conformal prediction set (the card's ``conformal.image``, calibrated on
  development images aggregated by the same rule) is not a single label;
* **outside training data**: at least half the set's scored tiles look unlike every training tile.

:attr:`Verdict.text` is the one wording the viewer, ``summary.csv``, ``regions.csv`` and the
batch outputs all show.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bcviewer.inference.rules import VerdictRule
from bcviewer.inference.trust import NEEDS_REVIEW, margin_uncertainty

if TYPE_CHECKING:
    from bcviewer.inference.scores import TileScores

RESAMPLES = 500
INTERVAL = 0.95
OUTSIDE_SHARE = 0.5
"""A set is outside the training data when at least this share of its scored tiles is."""
NO_VERDICT = "no verdict"
VERDICT_FIELDS: tuple[str, ...] = ("verdict_rule", "verdict", "verdict_value", "verdict_low", "verdict_high",
                                   "prediction_set", "review", "outside_training")
"""The verdict's columns in regions.csv, in order (see :meth:`Verdict.cells`); summary.csv has
the same under its older names (p_malignant for the value)."""


@dataclass(frozen=True)
class Verdict:
    """A verdict (see the module doc). ``label`` is None when there is none, ``reason`` says why."""

    rule: str
    label: str | None
    value: float
    threshold: float
    low: float
    high: float
    prediction_set: str | None  # None: the card has no conformal calibration, or no verdict
    outside: bool | None  # None: the card has no outside-training density, or no verdict
    tiles_used: int
    reason: str = ""

    @property
    def review(self) -> bool | None:
        """True when a person must decide (the set holds both labels or neither); None when uncalibrated."""
        if self.label is None or self.prediction_set is None:
            return None
        return self.prediction_set in NEEDS_REVIEW

    @property
    def uncertainty(self) -> float:
        """The calibrated margin ``1 - |2v - 1|`` of the value; NaN without a verdict."""
        return float(margin_uncertainty(self.value))

    @property
    def text(self) -> str:
        """"malignant", "review (leaning benign)", "no verdict: ..." plus ", outside training data"."""
        if self.label is None:
            return f"{NO_VERDICT}: {self.reason}"
        text = f"review (leaning {self.label})" if self.review else self.label
        return text + (", outside training data" if self.outside else "")

    @property
    def interval_text(self) -> str:
        """"0.61 (95% 0.52-0.70)", or the value alone when there is no interval."""
        if self.label is None:
            return "–"
        if math.isnan(self.low):
            return f"{self.value:.2f}"
        return f"{self.value:.2f} ({INTERVAL:.0%} {self.low:.2f}–{self.high:.2f})"

    def cells(self) -> list[str]:
        """The values of :data:`VERDICT_FIELDS` as CSV cells (empty where unknown)."""
        def num(v: float) -> str:
            return "" if math.isnan(v) else f"{v:.6f}"

        def yes_no(v: bool | None) -> str:
            return "" if v is None else ("yes" if v else "no")

        return [self.rule, self.text, num(self.value), num(self.low), num(self.high), self.prediction_set or "",
                yes_no(self.review), yes_no(self.outside)]


def tile_weights(scores: TileScores) -> np.ndarray:
    """Each tile's tissue area in level-0 pixels (a microscopy grid counts all of a tile as tissue)."""
    rects = scores.rects().astype(np.float64)
    area = rects[:, 2] * rects[:, 3] if len(rects) else np.zeros(0)
    if scores.grid.kind != "physical":
        return area
    return area * np.array([t.tissue for t in scores.grid.tiles], dtype=np.float64)


def verdict_of(scores: TileScores, tiles: np.ndarray | None = None, rule: VerdictRule | None = None) -> Verdict:
    """The verdict over ``tiles`` (a boolean mask or indices into the grid; None: every tile),
    by ``rule`` (None: the card's, ``scores.trust.rule``)."""
    rule = rule or scores.trust.rule
    chosen = np.ones(len(scores), dtype=bool)
    if tiles is not None:
        tiles = np.asarray(tiles)
        chosen = tiles.astype(bool) if tiles.dtype == bool else np.isin(np.arange(len(scores)), tiles)
    used = chosen & scores.done
    n = int(used.sum())
    if n < rule.min_tiles:
        if n:
            reason = f"{n} tissue tile(s) scored, {rule.min_tiles} needed"
        elif not chosen.any():
            reason = "not enough tissue (no tissue tile inside)"
        elif bool((chosen & ~scores.qc_skipped()).any()):
            reason = "no tile scored yet"
        else:
            reason = "not enough tissue (quality control left out every tile)"
        return Verdict(rule.title, None, math.nan, scores.threshold, math.nan, math.nan, None, None, n, reason)
    p = np.asarray(scores.p_malignant[used], dtype=np.float64)
    weights = tile_weights(scores)[used]
    value = rule.aggregate(p, weights, scores.threshold)
    if math.isnan(value):  # tiles without tissue area
        return Verdict(rule.title, None, math.nan, scores.threshold, math.nan, math.nan, None, None, n,
                       "not enough tissue")
    low = high = math.nan
    if n > 1:
        draws = rule.bootstrap(p, weights, scores.threshold, RESAMPLES)
        tail = (1.0 - INTERVAL) / 2 * 100
        low, high = (float(v) for v in np.percentile(draws, [tail, 100 - tail]))
    sets = scores.trust.image_sets
    prediction_set = sets.names(np.array([value]))[0] if sets is not None else None
    outside = None
    if scores.trust.looks is not None:
        outside = bool(scores.tile_outside()[used].mean() >= OUTSIDE_SHARE)
    label = "malignant" if value >= scores.threshold else "benign"
    return Verdict(rule.title, label, value, scores.threshold, low, high, prediction_set, outside, n)
