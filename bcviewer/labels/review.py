"""Review aids: which images most need an annotator's eye, and a sub-image's predictions per round.

The model's *call* on a sub-image is malignant when its latest completed round gave
``p_malignant >= 0.5``. An image's disagreement is the number of its sub-images whose current
label differs from that call; its uncertainty is that of its least certain sub-image,
``1 - 2 |p - 0.5|`` (1: the model could not decide, 0: it was sure).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class ImageReview:
    """Where an image's sub-image labels came from and how much the latest model doubts them."""

    image_id: int
    inherited: int
    model: int
    human: int
    scored: int  # sub-images with a prediction from a completed round
    uncertainty: float | None  # None: no sub-image was scored yet
    disagreement: int


@dataclass(frozen=True)
class RoundPrediction:
    """One round's prediction for one sub-image."""

    round_id: int
    round_number: int
    mode: str
    tau: float
    status: str  # of the round: done or reverted (interrupted rounds store no predictions)
    p_malignant: float
    started: str


# Rounds are few and predictions are keyed by (round, sub-image): walking the rounds newest first
# and looking each sub-image up by key is what keeps this fast on a project of 70 000 sub-images.
LATEST_P = ("(SELECT pr.p_malignant FROM rounds r CROSS JOIN predictions pr WHERE pr.round_id = r.id"
            " AND pr.subimage_id = s.id AND r.status = 'done' ORDER BY r.id DESC LIMIT 1)")


def image_reviews(conn: sqlite3.Connection, image_id: int | None = None) -> dict[int, ImageReview]:
    """Image id -> :class:`ImageReview`, of every image or of one."""
    where, args = ("WHERE s.image_id = ?", [image_id]) if image_id is not None else ("", [])
    sql = ("SELECT image_id, SUM(source = 'inherited'), SUM(source = 'model'), SUM(source = 'human'), COUNT(p),"
           " MAX(1.0 - 2.0 * ABS(p - 0.5)), COALESCE(SUM((p >= 0.5) != (label = 'malignant')), 0)"
           f" FROM (SELECT s.image_id, s.label, s.source, {LATEST_P} AS p FROM subimages s {where})"
           " GROUP BY image_id")
    return {int(r[0]): ImageReview(int(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]),
                                   None if r[5] is None else float(r[5]), int(r[6]))
            for r in conn.execute(sql, args)}


def prediction_history(conn: sqlite3.Connection, subimage_id: int) -> list[RoundPrediction]:
    """Every stored prediction of one sub-image, oldest round first."""
    return [RoundPrediction(*r) for r in conn.execute(
        "SELECT r.id, r.number, r.mode, r.tau, r.status, pr.p_malignant, r.started FROM predictions pr"
        " JOIN rounds r ON r.id = pr.round_id WHERE pr.subimage_id = ? ORDER BY r.id", (subimage_id,))]
