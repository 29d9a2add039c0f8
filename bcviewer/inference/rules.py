"""Aggregation rules: how the p_malignant of a set of scored tiles becomes one number.

A rule maps the scored tiles of an image, a slide or a region to a value in [0, 1]; the set is
called malignant when the value is at or above the decision threshold. The candidates:

* ``mean``: the mean tile p (every tile counts once).
* ``top_k_mean``: the mean of the k highest tile p, ``k = ceil(top_share * n)`` (at least 1), so
  k grows with the number of tiles: 3 of a BreakHis image's 9 sub-images at 25%, 1 of a 400X
  image's single tile, 250 of a 1,000-tile slide. A fixed k would mean "the whole image" on a
  small image and "a speck" on a big slide.
* ``tissue_share``: the share of the scored tissue whose tile p is at or above the threshold
  (each tile weighted by its tissue area); the set is malignant when that share is at or above
  ``share_cut``. The value is rescaled so that ``share_cut`` lands on the threshold, and
  every rule is read against the same threshold (see :meth:`VerdictRule.aggregate`).

Which rule a model uses is in its card (``verdict``), chosen on development patients by
``scripts/choose_verdict_rule.py``; a card without one uses :data:`DEFAULT_RULE` (the mean).
Numpy only: the viewer, ``predict`` and the exports all read it without torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

RULE_NAMES = ("mean", "top_k_mean", "tissue_share")


@dataclass(frozen=True)
class VerdictRule:
    """A named aggregation rule and its parameters (see the module doc)."""

    name: str = "mean"
    top_share: float = 0.25  # top_k_mean: the share of the tiles averaged
    share_cut: float = 0.5  # tissue_share: the share of tissue that makes the set malignant
    min_tiles: int = 1  # fewer scored tiles than this: no verdict
    validated: bool = False  # chosen and tested on held-out patients (the card's verdict.validated)

    def __post_init__(self) -> None:
        if self.name not in RULE_NAMES:
            raise ValueError(f"unknown verdict rule {self.name!r}; use one of {', '.join(RULE_NAMES)}")
        if not 0.0 < self.top_share <= 1.0 or not 0.0 < self.share_cut < 1.0:
            raise ValueError("top_share must lie in (0, 1] and share_cut in (0, 1)")
        if self.min_tiles < 1:
            raise ValueError("a verdict needs at least one scored tile (min_tiles >= 1)")

    @classmethod
    def from_card(cls, entry: Mapping[str, Any] | None) -> VerdictRule:
        """From a card's ``verdict`` field (``rule`` and ``parameters``); None: the default."""
        if not entry:
            return DEFAULT_RULE
        return cls(str(entry["rule"]), **{k: v for k, v in (entry.get("parameters") or {}).items()
                                          if k in ("top_share", "share_cut", "min_tiles")},
                   validated=bool(entry.get("validated", False)))

    def parameters(self) -> dict[str, Any]:
        """The parameters this rule reads, as JSON values (for the card)."""
        own = {"top_k_mean": {"top_share": self.top_share}, "tissue_share": {"share_cut": self.share_cut}}
        return {**own.get(self.name, {}), "min_tiles": self.min_tiles}

    @property
    def base_title(self) -> str:
        """A short name for people: "mean", "top 25% mean", "tissue share >= 50%"."""
        if self.name == "top_k_mean":
            return f"top {self.top_share:.0%} mean"
        if self.name == "tissue_share":
            return f"tissue share >= {self.share_cut:.0%}"
        return "mean"

    @property
    def title(self) -> str:
        """:attr:`base_title`, with " (not validated)" unless the card's patients validated the rule:
        said wherever the verdict is, so an untested rule is never taken for a tested one."""
        return self.base_title + ("" if self.validated else " (not validated)")

    def k_of(self, n: int) -> int:
        """How many tiles ``top_k_mean`` averages out of ``n``."""
        return max(1, math.ceil(self.top_share * n - 1e-9)) if n else 0

    def aggregate(self, p: np.ndarray, weights: np.ndarray | None = None, threshold: float = 0.5) -> float:
        """The rule's value for scored tiles ``p`` (no NaN) with tissue ``weights`` (tissue_share
        only; None: equal). NaN for no tile.

        For ``tissue_share`` the raw share s of tissue at or above ``threshold`` is mapped piecewise
        linearly so that 0, ``share_cut`` and 1 land on 0, ``threshold`` and 1: the set is malignant
        exactly when s >= share_cut, and the value reads against the threshold like the others.
        """
        p = np.asarray(p, dtype=np.float64)
        if p.size == 0:
            return math.nan
        if self.name == "mean":
            return float(p.mean())
        if self.name == "top_k_mean":
            k = self.k_of(p.size)
            return float(np.partition(p, p.size - k)[p.size - k:].mean())
        w = np.ones(p.size) if weights is None else np.asarray(weights, dtype=np.float64)
        total = float(w.sum())
        if total <= 0:
            return math.nan
        return share_to_value(float(w[p >= threshold].sum()) / total, self.share_cut, threshold)

    def bootstrap(self, p: np.ndarray, weights: np.ndarray | None, threshold: float,
                  resamples: int, seed: int = 0) -> np.ndarray:
        """The rule's value on ``resamples`` resamples of the tiles, drawn with replacement."""
        p = np.asarray(p, dtype=np.float64)
        w = np.ones(p.size) if weights is None else np.asarray(weights, dtype=np.float64)
        n = p.size
        rng = np.random.default_rng(seed)
        chunk = max(1, min(resamples, 2_000_000 // max(n, 1)))  # bounded memory on slides of 100k tiles
        out = np.empty(resamples)
        for start in range(0, resamples, chunk):
            m = min(chunk, resamples - start)
            idx = rng.integers(0, n, size=(m, n))
            draws = p[idx]
            if self.name == "mean":
                out[start:start + m] = draws.mean(axis=1)
            elif self.name == "top_k_mean":
                k = self.k_of(n)
                out[start:start + m] = np.partition(draws, n - k, axis=1)[:, n - k:].mean(axis=1)
            else:
                ws = w[idx]
                share = (ws * (draws >= threshold)).sum(axis=1) / np.maximum(ws.sum(axis=1), 1e-300)
                out[start:start + m] = [share_to_value(float(s), self.share_cut, threshold) for s in share]
        return out


def share_to_value(share: float, cut: float, threshold: float) -> float:
    """Map a tissue share so that ``cut`` lands on ``threshold`` (0 and 1 stay put)."""
    if share < cut:
        return share / cut * threshold
    return threshold + (share - cut) / (1.0 - cut) * (1.0 - threshold)


DEFAULT_RULE = VerdictRule("mean")
"""The rule of a card that names none: the mean tile p, bcviewer's image aggregate before issue 21
(not validated as a verdict rule for that model)."""
