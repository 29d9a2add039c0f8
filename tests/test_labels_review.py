"""Review queries (per-image uncertainty and disagreement, per-round predictions) and cancelling a run."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from labels_helpers import TableScorer, fixture_project
from test_labels_selflearn import DC, constructed_table

from bcviewer.labels import (
    ImageReview,
    LabelStore,
    SelfLearningCancelled,
    SelfLearningEngine,
    SubImageRef,
    TauSchedule,
)

BA_ID, BF_ID, DC_ID, PC_ID = 1, 2, 3, 4


@pytest.fixture()
def store(tmp_path: Path, test_data: Path) -> Iterator[LabelStore]:
    s = fixture_project(tmp_path / "project.bcv", test_data / "breakhis")
    yield s
    s.close()


def test_image_reviews_before_any_round(store: LabelStore) -> None:
    assert store.image(DC_ID).path.name == DC
    reviews = store.image_reviews()
    assert sorted(reviews) == [BA_ID, BF_ID, DC_ID, PC_ID]
    assert reviews[DC_ID] == ImageReview(DC_ID, inherited=9, model=0, human=0, scored=0, uncertainty=None,
                                         disagreement=0)


def test_image_reviews_follow_the_latest_completed_round(store: LabelStore) -> None:
    SelfLearningEngine(store, scorer=TableScorer(constructed_table()), schedule=TauSchedule((0.2,))).run_round()
    store.set_label([store.subimages(DC_ID)[2].id], "malignant")
    r = store.image_reviews()
    # BA: every p = 0.1. BF: one sub-image at 0.7 is called malignant but labelled benign.
    assert (r[BA_ID].uncertainty, r[BA_ID].disagreement) == (pytest.approx(0.2), 0)
    assert (r[BF_ID].uncertainty, r[BF_ID].disagreement) == (pytest.approx(0.6), 1)
    # DC: 0.05 and 0.15 became benign (model); 0.25, 0.35, 0.45 stay malignant against the call.
    assert (r[DC_ID].inherited, r[DC_ID].model, r[DC_ID].human, r[DC_ID].scored) == (6, 2, 1, 9)
    assert (r[DC_ID].uncertainty, r[DC_ID].disagreement) == (pytest.approx(0.9), 3)
    assert (r[PC_ID].uncertainty, r[PC_ID].disagreement) == (pytest.approx(0.76), 2)
    assert store.image_reviews(DC_ID) == {DC_ID: r[DC_ID]}

    # A second round saying 0.5 everywhere: maximal doubt, and every benign label disagrees.
    undecided = SelfLearningEngine(store, scorer=TableScorer({}, default=0.5), schedule=TauSchedule((0.2,)))
    second = undecided.run_round()
    r2 = store.image_reviews()
    assert {i: (v.uncertainty, v.disagreement) for i, v in r2.items()} == {
        BA_ID: (1.0, 9), BF_ID: (1.0, 9), DC_ID: (1.0, 2), PC_ID: (1.0, 2)}
    sub = store.subimages(DC_ID)[0].id
    assert [(p.round_number, p.p_malignant, p.status) for p in store.prediction_history(sub)] == [
        (1, pytest.approx(0.05), "done"), (2, 0.5, "done")]

    # A reverted round no longer counts as the latest model's opinion.
    store.revert_round(second.round_id)
    assert store.image_reviews() == r
    assert [p.status for p in store.prediction_history(sub)] == ["done", "reverted"]


class FlagAt:
    """A progress callback that raises a stop flag at one (stage, round) point."""

    def __init__(self, stage: str, position: int) -> None:
        self.at, self.stop, self.seen = (stage, position), False, []

    def __call__(self, stage: str, position: int, total: int) -> None:
        self.seen.append((stage, position))
        if (stage, position) == self.at:
            self.stop = True


def test_cancel_after_scoring_keeps_the_round_out(store: LabelStore) -> None:
    flag = FlagAt("score", 1)
    scorer = TableScorer(constructed_table())
    engine = SelfLearningEngine(store, scorer=scorer, progress=flag, should_stop=lambda: flag.stop)
    assert engine.run(3) == [] and engine.cancelled
    assert scorer.calls == 1 and flag.seen == [("score", 1)]
    (only,) = store.rounds()
    assert (only.status, only.stats) == ("interrupted", {"error": "cancelled"})
    assert store.predictions(only.id) == {} and store.counts().malignant == 18
    with pytest.raises(SelfLearningCancelled):
        engine.run_round()


def test_cancel_between_rounds_keeps_the_completed_ones(store: LabelStore) -> None:
    flag = FlagAt("done", 1)
    engine = SelfLearningEngine(store, scorer=TableScorer(constructed_table()), progress=flag,
                                should_stop=lambda: flag.stop)
    reports = engine.run(3)
    assert [r.number for r in reports] == [1] and engine.cancelled
    assert [r.status for r in store.rounds()] == ["done"]  # round 2 never started
    assert store.counts().malignant == 16


class StoppingTrainer:
    """Asks to stop while it trains, as a user pressing Cancel during a long fit."""

    def __init__(self) -> None:
        self.stop = False
        self.scorer = TableScorer(constructed_table())

    def fit(self, examples: Sequence[SubImageRef], round_number: int) -> TableScorer:
        self.stop = True
        return self.scorer


def test_cancel_during_training_skips_scoring(store: LabelStore) -> None:
    trainer = StoppingTrainer()
    engine = SelfLearningEngine(store, trainer=trainer, should_stop=lambda: trainer.stop)
    assert engine.run(2) == [] and engine.cancelled
    assert trainer.scorer.calls == 0 and [r.status for r in store.rounds()] == ["interrupted"]
