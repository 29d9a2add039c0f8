"""``TileScores``: the result of running a model over a tile grid, and ``ScoreBatch``, one step of it.

Image-level aggregate (the rule shown to users and written to ``summary.csv``)
--------------------------------------------------------------------------------
* :attr:`TileScores.slide_verdict` is the :class:`~bcviewer.inference.verdict.Verdict` of every
  scored tile by the model card's rule (:mod:`bcviewer.inference.rules`; the mean tile p for a
  card that names none); a region's verdict is the same function over the region's tiles.
* ``image_p_malignant`` is that rule's value (for ``breakhis-100x``: the mean of the top 10% of
  the tiles' p, the highest sub-image of a 3x3 image), ``image_label`` is ``"malignant"`` when it
  is at or above ``threshold`` (0.5 by default).
* ``image_uncertainty`` is the calibrated margin of that value, ``1 - |2p - 1|`` (see
  :mod:`bcviewer.inference.trust`); tiles carry the same rule on their own p.
* ``image_set`` is the conformal prediction set of the value ("benign", "malignant", "review" for
  both, "none" for neither) when the model card carries conformal calibration; ``verdict`` then
  reads "review (leaning malignant)" instead of a plain label when the set is not a single label.
* ``image_outside`` is true when at least half of the scored tiles look unlike every training
  tile (the card's outside-training density); ``verdict`` adds "outside training data".

Tiles that were not scored (the run was cancelled) hold NaN and are left out of every aggregate,
so partial results stay valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from bcviewer.inference.trust import NEEDS_REVIEW, Trust, margin_uncertainty
from bcviewer.inference.verdict import Verdict, verdict_of
from bcviewer.nets import EnsemblePrediction
from bcviewer.nets.stain import NONE_PROVENANCE
from bcviewer.tiling import Tile, TileGrid

BENIGN = "benign"
MALIGNANT = "malignant"
DEFAULT_THRESHOLD = 0.5
TILE_FIELDS: tuple[str, ...] = ("x", "y", "w", "h", "row", "col", "tissue", "p_malignant", "uncertainty")
"""Columns of the per-tile table (CSV export), in order; a table read back must have them."""
TILE_TRUST_FIELDS: tuple[str, ...] = ("prediction_set", "outside_training", "qc_flag")
"""Columns written after :data:`TILE_FIELDS`: empty where the model card gives no calibration,
and ``qc_flag`` empty where quality control did not run (see :mod:`bcviewer.qc`)."""
QC_OK = "ok"


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
    looks_distance: np.ndarray | None = None

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
    weights); both have zero members when the scores were read back from a file. ``looks_distance``
    is each tile's distance from the training tiles (NaN when unknown), ``trust`` the card's
    calibration (:class:`Trust`). The object takes ownership of the arrays it is given and marks
    them read-only.
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
    trust: Trust = Trust()
    looks_distance: np.ndarray | None = None
    qc_flags: tuple[str, ...] | None = None  # each tile's quality-control flag; None: QC did not run
    stain: dict[str, str] = field(default_factory=lambda: dict(NONE_PROVENANCE))  # nets.stain.stain_provenance

    def __post_init__(self) -> None:
        n = len(self.grid)
        if self.qc_flags is not None and len(self.qc_flags) != n:
            raise ValueError(f"qc_flags needs one flag per tile ({n}), got {len(self.qc_flags)}")
        if self.looks_distance is None:
            object.__setattr__(self, "looks_distance", np.full(n, np.nan))
        shapes = {"p_malignant": (n,), "uncertainty": (n,), "done": (n,), "looks_distance": (n,)}
        for name, shape in shapes.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {getattr(self, name).shape}")
        if self.member_probs.shape[0] != n or self.attention.shape[:1] != (n,):
            raise ValueError("member_probs and attention need one row per tile")
        for name in ("p_malignant", "uncertainty", "member_probs", "attention", "done", "looks_distance"):
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
        """True when every tile was scored, or left out by quality control."""
        return bool((self.done | self.qc_skipped()).all())

    def qc_skipped(self) -> np.ndarray:
        """Per tile: True where quality control flagged it, so it was never scored."""
        if self.qc_flags is None:
            return np.zeros(len(self), dtype=bool)
        return np.array([flag != QC_OK for flag in self.qc_flags], dtype=bool)

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
    @cached_property
    def slide_verdict(self) -> Verdict:
        """The verdict over every scored tile by the card's rule (see the module doc)."""
        return verdict_of(self)

    @property
    def image_p_malignant(self) -> float:
        """The verdict rule's value over the scored tiles; NaN when none is scored."""
        return self.slide_verdict.value

    @property
    def image_member_probs(self) -> np.ndarray:
        """Each member's mean p_malignant over the scored tiles, ``(members,)``."""
        if not self.n_done:
            return np.full(self.member_probs.shape[1], np.nan)
        return np.asarray(self.member_probs[self.done].mean(axis=0), dtype=np.float64)

    @property
    def image_uncertainty(self) -> float:
        """The calibrated margin of the image p, ``1 - |2p - 1|`` (see module doc); NaN if unscored."""
        return float(margin_uncertainty(self.image_p_malignant))

    @property
    def image_set(self) -> str | None:
        """The image's conformal prediction set ("benign", "malignant", "review"); None when the
        model card has no calibration or no tile is scored."""
        return self.slide_verdict.prediction_set

    @property
    def image_uncertain(self) -> bool:
        """True when the image's prediction set holds both labels, or neither: a person must review it."""
        return self.image_set in NEEDS_REVIEW

    def tile_sets(self) -> list[str | None]:
        """Per tile: its conformal set (tile-level calibration), None when unscored or uncalibrated."""
        sets = self.trust.tile_sets
        if sets is None:
            return [None] * len(self)
        return sets.names(self.p_malignant)

    def tile_outside(self) -> np.ndarray:
        """Per tile: True where it looks unlike every training tile (False when unknown)."""
        looks = self.trust.looks
        if looks is None or self.looks_distance is None:
            return np.zeros(len(self), dtype=bool)
        return np.asarray(looks.outside(self.looks_distance) & self.done, dtype=bool)

    def tile_uncertain(self) -> np.ndarray:
        """Per tile: True where its prediction set holds both labels or neither (False when uncalibrated)."""
        return np.array([s in NEEDS_REVIEW for s in self.tile_sets()], dtype=bool)

    @property
    def image_outside(self) -> bool | None:
        """True when at least half the scored tiles are outside the training data; None when the
        card has no outside-training density or no tile is scored."""
        return self.slide_verdict.outside

    @property
    def verdict(self) -> str | None:
        """The label, "review (leaning <label>)" when the set holds both labels, with ", outside
        training data" appended when the image is; None if unscored."""
        return self.slide_verdict.text if self.image_label is not None else None

    @property
    def image_label(self) -> str | None:
        """``"malignant"`` or ``"benign"`` by the threshold; None when there is no verdict."""
        return self.slide_verdict.label
