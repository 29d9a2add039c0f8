"""The relabel rule and its invariants, on the real BreakHis fixtures with injected scorers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from labels_helpers import DarknessScorer, SeededScorer, fixture_project

from bcviewer.labels import (
    SelfLearningEngine,
    SelfLearningError,
    SubImageState,
    TauSchedule,
    invariant_violations,
    relabel_image,
)


def _states(store, image_id):
    return [SubImageState(s.id, s.label, s.source, s.locked) for s in store.subimages(image_id)]


def test_rule_on_a_constructed_malignant_image() -> None:
    states = [SubImageState(i, "malignant", "inherited", False) for i in range(9)]
    states[2] = SubImageState(2, "malignant", "human", False)
    states[3] = SubImageState(3, "malignant", "inherited", True)
    p = [0.05, 0.5, 0.01, 0.02, 0.9, 0.29, 0.3, 0.31, 0.1]
    out = relabel_image("malignant", states, p, tau=0.3)
    assert [r.subimage_id for r in out.relabels] == [0, 5, 8]  # 6 is not < 0.3; 2 human, 3 locked
    assert all(r.old_label == "malignant" and r.new_label == "benign" for r in out.relabels)
    assert out.anchor == 4 and out.kept_protected == 2 and out.kept_as_anchor == 0


def test_anchor_is_kept_when_every_subimage_is_below_tau() -> None:
    states = [SubImageState(i, "malignant", "inherited", False) for i in range(9)]
    p = [0.01 * (i + 1) for i in range(9)]
    out = relabel_image("malignant", states, p, tau=0.5)
    assert out.anchor == 8 and out.kept_as_anchor == 1
    assert sorted(r.subimage_id for r in out.relabels) == list(range(8))
    # ties: the first of the most probable sub-images is the anchor
    tied = relabel_image("malignant", states, [0.2] * 9, tau=0.5)
    assert tied.anchor == 0 and len(tied.relabels) == 8


def test_anchor_is_chosen_among_subimages_still_malignant() -> None:
    states = [SubImageState(0, "benign", "human", False), SubImageState(1, "malignant", "inherited", False),
              SubImageState(2, "malignant", "inherited", False)]
    out = relabel_image("malignant", states, [0.99, 0.1, 0.2], tau=0.5)
    assert out.anchor == 2 and [r.subimage_id for r in out.relabels] == [1]


def test_benign_images_and_bad_input() -> None:
    states = [SubImageState(i, "benign", "inherited", False) for i in range(3)]
    assert relabel_image("benign", states, [0.0, 0.0, 0.0], tau=1.0).relabels == ()
    with pytest.raises(ValueError):
        relabel_image("malignant", states, [0.1, 0.2], tau=0.5)
    with pytest.raises(ValueError):
        relabel_image("malignant", states, [0.1, float("nan"), 0.2], tau=0.5)
    with pytest.raises(ValueError):
        relabel_image("malignant", states, [0.1, 0.2, 0.3], tau=1.5)


def test_invariant_checker_detects_each_violation() -> None:
    before = [SubImageState(0, "malignant", "inherited", False), SubImageState(1, "malignant", "human", False)]
    all_benign = [SubImageState(0, "benign", "model", False), SubImageState(1, "benign", "human", False)]
    problems = invariant_violations("malignant", before, all_benign)
    assert any("human-labelled or locked" in p for p in problems)
    assert any("without a malignant sub-image" in p for p in problems)
    benign_before = [SubImageState(0, "benign", "inherited", False)]
    assert invariant_violations("benign", benign_before, [SubImageState(0, "malignant", "model", False)])
    assert invariant_violations("malignant", before, before) == []


@pytest.mark.parametrize("mode", ["auto", "review"])
def test_rounds_on_fixture_images_keep_the_invariants(tmp_path: Path, test_data: Path, mode: str) -> None:
    store = fixture_project(tmp_path / "p.bcv", test_data / "breakhis")
    images = store.images()
    malignant = next(i for i in images if i.label == "malignant")
    subs = store.subimages(malignant.id)
    store.set_label([subs[0].id], "malignant", "checked by a pathologist")
    store.set_locked([subs[1].id])
    scorer = DarknessScorer()
    p = scorer.score(store.subimage_refs())
    assert 0.0 < p.min() < p.max() <= 1.0  # the content-based scorer separates the sub-images
    before = {i.id: _states(store, i.id) for i in images}
    engine = SelfLearningEngine(store, scorer=scorer, schedule=TauSchedule((0.3, 0.6, 0.9, 1.0)), mode=mode)
    if mode == "review":  # one round, then it waits for a person; tau 1.0 here to propose all it may
        with pytest.raises(SelfLearningError, match="a review run does one round"):
            engine.run(4)
        engine.schedule = TauSchedule((1.0,))
        reports = engine.run(1)
    else:
        reports = engine.run(4)
    for image in images:
        after = _states(store, image.id)
        assert invariant_violations(image.label, before[image.id], after) == []
        if image.label == "malignant":
            refs = [r for r in store.subimage_refs() if r.image_id == image.id]
            p_img = scorer.score(refs)
            assert after[int(np.argmax(p_img))].label == "malignant"  # the most probable one stays
    assert store.subimage(subs[0].id).label == "malignant" and store.subimage(subs[1].id).label == "malignant"
    relabelled = sum(r.stats["relabelled"] for r in reports)
    proposed = sum(r.stats["proposed"] for r in reports)
    assert (relabelled > 0) == (mode == "auto") and (proposed > 0) == (mode == "review")
    if mode == "auto":  # with tau 1.0 every unprotected sub-image but the anchor became benign
        assert store.counts(image_id=malignant.id).malignant == 3  # anchor, human label, lock


def test_random_scores_never_break_the_invariants(tmp_path: Path, test_data: Path) -> None:
    store = fixture_project(tmp_path / "p.bcv", test_data / "breakhis")
    images = store.images()
    before = {i.id: _states(store, i.id) for i in images}
    for seed in range(5):
        engine = SelfLearningEngine(store, scorer=SeededScorer(seed), schedule=TauSchedule((0.5,)))
        engine.run_round()
        for image in images:
            assert invariant_violations(image.label, before[image.id], _states(store, image.id)) == []
        for round_ in store.rounds("done")[-1:]:
            preds = store.predictions(round_.id)
            for image in images:
                for sub in store.subimages(image.id):
                    if sub.source == "model" and sub.round == round_.number:
                        assert preds[sub.id] < 0.5
