"""Ranking the tiles to look at first, and walking down a ranking (bcviewer.inference.ranking)."""

from __future__ import annotations

import numpy as np
import pytest

from bcviewer.inference import TileScores
from bcviewer.inference.ranking import TileQueue, rank_scores, rank_tiles
from bcviewer.inference.trust import margin_uncertainty
from bcviewer.tiling import Tile, TileGrid

NAN = float("nan")
P = np.array([0.20, NAN, 0.90, 0.55, 0.90, 0.97, 0.48])
U = margin_uncertainty(P)  # 1 - |2p - 1|: 0.40, NaN, 0.20, 0.90, 0.20, 0.06, 0.96
QC = np.array([False, False, False, False, False, True, False])


def test_by_p_highest_first_ties_in_grid_order_without_nan_or_qc_tiles() -> None:
    assert rank_tiles(P, U, "p").tolist() == [5, 2, 4, 3, 6, 0]
    assert rank_tiles(P, U, "p", QC).tolist() == [2, 4, 3, 6, 0]  # tile 5 was left out by QC


def test_by_uncertainty_the_closest_to_a_coin_toss_first() -> None:
    assert rank_tiles(P, U, "uncertainty", QC).tolist() == [6, 3, 0, 2, 4]


def test_bad_key_and_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown ranking 'q'"):
        rank_tiles(P, U, "q")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one uncertainty per tile"):
        rank_tiles(P, U[:3], "uncertainty")


def test_rank_scores_leaves_out_tiles_the_run_did_not_score() -> None:
    tiles = tuple(Tile(i * 10, 0, 10, 10, 0, 10, 10, 0, i, 1.0) for i in range(len(P)))
    grid = TileGrid(tiles, (70, 10), 1, len(P))
    done = ~np.isnan(P)
    done[2] = False  # a cancelled run that never reached tile 2
    p = np.where(done, P, NAN)
    scores = TileScores(grid, p, margin_uncertainty(p), np.zeros((7, 0)), np.zeros((7, 0, 2)), done,
                        qc_flags=tuple("pen" if q else "ok" for q in QC))
    assert rank_scores(scores, "p").tolist() == [4, 3, 6, 0]


def test_a_walk_clamps_at_the_ends_and_follows_its_tile_when_the_ranking_changes() -> None:
    queue = TileQueue()
    queue.update("p", np.array([5, 2, 4]))
    assert [queue.step(1), queue.step(1), queue.step(1), queue.at_end, queue.step(1)] == [5, 2, 4, True, 4]
    assert [queue.step(-1), queue.step(-1), queue.step(-1)] == [2, 5, 5]
    queue.step(1)  # on tile 2, rank 1
    queue.update("p", np.array([7, 5, 4, 2]))  # more tiles scored: tile 2 now ranks 3
    assert (queue.position, queue.step(-1)) == (3, 4)
    queue.update("uncertainty", np.array([6, 3]))  # another ranking starts at its top
    assert queue.step(1) == 6 and queue.go_to(1) == 3 and queue.go_to(2) is None
    queue.reset()
    assert queue.step(1) is None and queue.current is None
