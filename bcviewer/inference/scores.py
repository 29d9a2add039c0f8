"""``TileScores``: the result of running a model over a tile grid, and ``ScoreBatch``, one step of it.

Image-level aggregate (the rule shown to users and written to ``summary.csv``)
--------------------------------------------------------------------------------
* ``image_p_malignant`` is the **mean of the scored tiles' p_malignant** (for a BreakHis image:
  the mean over its 3x3 sub-images), the same rule the model's evaluation uses.
* ``image_uncertainty`` applies the ensemble's own rule (see :mod:`bcviewer.nets.ensemble`) to the
  image: ``(entropy(image p) + 2 * std over members of each member's mean tile p) / 2``, in 0..1.
  Scores read back from a CSV or GeoJSON file carry no member probabilities; there it falls back
  to the mean of the tiles' uncertainties.
* ``image_label`` is ``"malignant"`` when ``image_p_malignant >= threshold`` (0.5 by default).
* ``image_uncertain`` is true when the model card names an "uncertain" threshold (chosen on
  validation patients) and ``image_uncertainty`` exceeds it; ``verdict`` then reads
  "uncertain (leaning malignant)" instead of a plain label.

Tiles that were not scored (the run was cancelled) hold NaN and are left out of every aggregate,
so partial results stay valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from bcviewer.nets import EnsemblePrediction, binary_entropy_bits
from bcviewer.tiling import Tile, TileGrid

BENIGN = "benign"
MALIGNANT = "malignant"
DEFAULT_THRESHOLD = 0.5
TILE_FIELDS: tuple[str, ...] = ("x", "y", "w", "h", "row", "col", "tissue", "p_malignant", "uncertainty")
"""Columns of the per-tile table (CSV export), in order."""


def label_of(p: float, threshold: float = DEFAULT_THRESHOLD) -> str | None:
    """``"malignant"`` when ``p >= threshold``, ``"benign"`` below, None for NaN (not scored)."""
    if p is None or np.isnan(p):
        return None
    return MALIGNANT if p >= threshold else BENIGN


@dataclass(frozen=True)
class ScoreBatch:
    """One scored batch as it streams out of the predictor.

    ``indices`` are positions in the grid's tile list; ``prediction`` holds the ensemble outputs
    for those tiles (same order). ``done`` of ``total`` tiles are scored so far.
    """

    indices: np.ndarray
    prediction: EnsemblePrediction
    done: int
    total: int
    elapsed_s: float

    @property
    def fraction(self) -> float:
        """Progress in 0..1."""
        return self.done / self.total if self.total else 1.0

    @property
    def tiles_per_s(self) -> float:
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass(frozen=True, eq=False)
class TileScores:
    """Per-tile scores of one slide. Arrays are read-only; the first axis follows ``grid.tiles``.

    ``member_probs`` is ``(N, members)`` and ``attention`` ``(N, members, 2)`` (cnn, lstm branch
    weights); both have zero members when the scores were read back from a file. The object takes
    ownership of the arrays it is given and marks them read-only.
    """

    grid: TileGrid
    p_malignant: np.ndarray
    uncertainty: np.ndarray
    member_probs: np.ndarray
    attention: np.ndarray
    done: np.ndarray
    threshold: float = DEFAULT_THRESHOLD
    cancelled: bool = False
    model_name: str = ""
    uncertain_above: float | None = None

    def __post_init__(self) -> None:
        n = len(self.grid)
        shapes = {"p_malignant": (n,), "uncertainty": (n,), "done": (n,)}
        for name, shape in shapes.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {getattr(self, name).shape}")
        if self.member_probs.shape[0] != n or self.attention.shape[:1] != (n,):
            raise ValueError("member_probs and attention need one row per tile")
        for name in ("p_malignant", "uncertainty", "member_probs", "attention", "done"):
            getattr(self, name).flags.writeable = False

    # ---- construction ---------------------------------------------------------------------
    @classmethod
    def unscored(cls, grid: TileGrid, members: int = 0, **kwargs: object) -> TileScores:
        """Scores for ``grid`` with no tile scored yet (NaN everywhere)."""
        n = len(grid)
        return cls(grid, np.full(n, np.nan), np.full(n, np.nan), np.full((n, members), np.nan),
                   np.full((n, members, 2), np.nan), np.zeros(n, dtype=bool), **kwargs)  # type: ignore[arg-type]

    @classmethod
    def from_table(cls, rects: np.ndarray, rows: Sequence[int], cols: Sequence[int], tissue: Sequence[float],
                   p_malignant: Sequence[float], uncertainty: Sequence[float], slide_size: tuple[int, int],
                   threshold: float = DEFAULT_THRESHOLD, model_name: str = "") -> TileScores:
        """Rebuild scores from a per-tile table (the CSV or GeoJSON export); NaN p = not scored.

        The rebuilt grid reads every tile at level 0 with its own size; scores carry no members.
        """
        rects = np.asarray(rects, dtype=np.int64).reshape(-1, 4)
        tiles = tuple(Tile(int(x), int(y), int(w), int(h), 0, int(w), int(h), int(r), int(c), float(t))
                      for (x, y, w, h), r, c, t in zip(rects, rows, cols, tissue))
        n_rows = max((t.row for t in tiles), default=-1) + 1
        n_cols = max((t.col for t in tiles), default=-1) + 1
        grid = TileGrid(tiles, (int(slide_size[0]), int(slide_size[1])), n_rows, n_cols)
        p = np.asarray(p_malignant, dtype=np.float64).reshape(-1)
        u = np.asarray(uncertainty, dtype=np.float64).reshape(-1)
        n = len(tiles)
        return cls(grid, p, u, np.zeros((n, 0)), np.zeros((n, 0, 2)), ~np.isnan(p),
                   threshold=threshold, model_name=model_name)

    def with_threshold(self, threshold: float) -> TileScores:
        """The same scores with another decision threshold."""
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"the threshold must be between 0 and 1, got {threshold}")
        return replace(self, threshold=threshold)

    # ---- per tile -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.grid)

    @property
    def n_done(self) -> int:
        return int(self.done.sum())

    @property
    def complete(self) -> bool:
        """True when every tile was scored."""
        return bool(self.done.all())

    def rects(self) -> np.ndarray:
        """(N, 4) level-0 rectangles x, y, w, h."""
        return self.grid.rects()

    def labels(self) -> list[str | None]:
        """Per-tile label by the threshold; None for tiles not scored."""
        return [label_of(float(p), self.threshold) for p in self.p_malignant]

    def table_rows(self) -> list[tuple[int, int, int, int, int, int, float, float, float]]:
        """One tuple per tile in :data:`TILE_FIELDS` order (NaN scores for tiles not scored)."""
        return [(t.x, t.y, t.w, t.h, t.row, t.col, float(t.tissue), float(p), float(u))
                for t, p, u in zip(self.grid.tiles, self.p_malignant, self.uncertainty)]

    # ---- image level ----------------------------------------------------------------------
    @property
    def image_p_malignant(self) -> float:
        """Mean p_malignant of the scored tiles; NaN when none is scored."""
        return float(self.p_malignant[self.done].mean()) if self.n_done else float("nan")

    @property
    def image_member_probs(self) -> np.ndarray:
        """Each member's mean p_malignant over the scored tiles, ``(members,)``."""
        if not self.n_done:
            return np.full(self.member_probs.shape[1], np.nan)
        return self.member_probs[self.done].mean(axis=0)

    @property
    def image_uncertainty(self) -> float:
        """The ensemble's uncertainty rule applied to the image-level probabilities (see module doc)."""
        if not self.n_done:
            return float("nan")
        if self.member_probs.shape[1] == 0:
            return float(self.uncertainty[self.done].mean())
        entropy = float(binary_entropy_bits(np.array([self.image_p_malignant]))[0])
        return (entropy + 2.0 * float(self.image_member_probs.std())) / 2.0

    @property
    def image_uncertain(self) -> bool:
        """True when the model's "uncertain" threshold is known and the image's uncertainty is above it."""
        u = self.image_uncertainty
        return self.uncertain_above is not None and not np.isnan(u) and u > self.uncertain_above

    def tile_uncertain(self) -> np.ndarray:
        """Per tile: True where the tile's uncertainty is above the model's threshold (False when the
        model names none, or the tile was not scored)."""
        if self.uncertain_above is None:
            return np.zeros(len(self), dtype=bool)
        return np.nan_to_num(self.uncertainty, nan=-1.0) > self.uncertain_above

    @property
    def verdict(self) -> str | None:
        """The label, or "uncertain (leaning <label>)" when the image is uncertain; None if unscored."""
        label = self.image_label
        if label is None or not self.image_uncertain:
            return label
        return f"uncertain (leaning {label})"

    @property
    def image_label(self) -> str | None:
        """``"malignant"`` or ``"benign"`` by the threshold; None when no tile is scored."""
        return label_of(self.image_p_malignant, self.threshold)
