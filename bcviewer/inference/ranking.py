"""The tiles to look at first: scored tissue tiles ranked by malignant probability or by uncertainty,
and :class:`TileQueue`, a walk down such a ranking (the viewer's "next tile" keys and its gallery).

Only tiles with a score are candidates: a tile not scored yet (NaN) or left out by quality control
is never ranked. Ties keep grid order, so the same scores always give the same ranking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from bcviewer.inference.scores import TileScores

RankKey = Literal["p", "uncertainty"]
RANK_KEYS: tuple[RankKey, ...] = ("p", "uncertainty")


def rank_tiles(p_malignant: npt.ArrayLike, uncertainty: npt.ArrayLike, key: RankKey,
               qc_skipped: npt.ArrayLike | None = None) -> npt.NDArray[np.int64]:
    """Grid indices of the scored tiles, highest ``key`` first ("p": malignant probability,
    "uncertainty": its calibrated margin); NaN and quality-control-skipped tiles are left out."""
    if key not in RANK_KEYS:
        raise ValueError(f"unknown ranking '{key}'; choose one of {', '.join(RANK_KEYS)}")
    p = np.asarray(p_malignant, dtype=np.float64).reshape(-1)
    values = p if key == "p" else np.asarray(uncertainty, dtype=np.float64).reshape(-1)
    if values.shape != p.shape:
        raise ValueError(f"one uncertainty per tile is needed ({len(p)}), got {len(values)}")
    candidate = np.isfinite(p) & np.isfinite(values)
    if qc_skipped is not None:
        candidate &= ~np.asarray(qc_skipped, dtype=bool).reshape(-1)
    indices = np.flatnonzero(candidate)
    return indices[np.argsort(-values[indices], kind="stable")].astype(np.int64)


def rank_scores(scores: TileScores, key: RankKey) -> npt.NDArray[np.int64]:
    """:func:`rank_tiles` over a run's scores (tiles it did not score are left out)."""
    p = np.where(scores.done, scores.p_malignant, np.nan)
    return rank_tiles(p, scores.uncertainty, key, scores.qc_skipped())


@dataclass
class TileQueue:
    """A walk down one ranking. ``position`` is the rank shown (-1: none yet); steps stop at the ends.

    When the ranking is refreshed while the scores stream in, the walk stays on the tile it shows
    and continues from where that tile now ranks.
    """

    key: RankKey = "p"
    order: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    position: int = -1

    @property
    def current(self) -> int | None:
        """The grid index of the tile shown, or None."""
        return int(self.order[self.position]) if 0 <= self.position < len(self.order) else None

    @property
    def at_end(self) -> bool:
        """True when the tile shown is the last of the ranking."""
        return len(self.order) > 0 and self.position == len(self.order) - 1

    def update(self, key: RankKey, order: npt.NDArray[np.int64]) -> None:
        """A fresh ranking by ``key``: another key starts before its first tile."""
        current = self.current
        if key != self.key:
            self.position = -1
        elif current is not None:
            found = np.flatnonzero(order == current)
            self.position = int(found[0]) if len(found) else min(self.position, len(order) - 1)
        else:
            self.position = min(self.position, len(order) - 1)
        self.key, self.order = key, np.asarray(order, dtype=np.int64)

    def step(self, delta: int) -> int | None:
        """Move ``delta`` ranks (clamped to the ranking); the tile now shown, None when none is ranked."""
        if not len(self.order):
            self.position = -1
            return None
        self.position = min(max(self.position + delta, 0), len(self.order) - 1)
        return self.current

    def go_to(self, rank: int) -> int | None:
        """Show the tile at ``rank`` (0 = first); None when out of range."""
        if not 0 <= rank < len(self.order):
            return None
        self.position = rank
        return self.current

    def reset(self) -> None:
        """Forget the ranking (a new slide or a new run)."""
        self.order, self.position = np.zeros(0, dtype=np.int64), -1
