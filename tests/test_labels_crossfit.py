"""Cross-fitted self-learning: no training sub-image is scored by a model that saw its patient."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from labels_helpers import fixture_project

from bcviewer.labels import LabelStore, SelfLearningEngine, SelfLearningError, SubImageRef, SubImageState, TauSchedule
from bcviewer.labels.crossfit import crossfit_groups
from bcviewer.labels.rules import invariant_violations

SEEN = 0.99  # what a fake model says about a patient it was trained on (memorised: never relabelled)


class FoldScorer:
    """Model ``index``: ``SEEN`` for its own training patients, else a value that names the model."""

    def __init__(self, index: int, patients: frozenset[str], unseen: float | None = None) -> None:
        self.index, self.patients, self.unseen = index, patients, unseen
        self.scored: list[int] = []

    def value(self, ref: SubImageRef) -> float:
        if ref.patient in self.patients:
            return SEEN
        if self.unseen is not None:  # deterministic spread of values, so the rule has work to do
            return ((ref.subimage_id * 7 + self.index * 3) % 10) / 10
        return 0.1 * (self.index + 1)

    def score(self, items: Sequence[SubImageRef]) -> np.ndarray:
        self.scored.extend(r.subimage_id for r in items)
        return np.array([self.value(r) for r in items])


class FoldTrainer:
    """Records the patients each model was trained on; trains nothing."""

    def __init__(self, spread: bool = False) -> None:
        self.models: list[FoldScorer] = []
        self.spread = spread

    def fit(self, examples: Sequence[SubImageRef], round_number: int) -> FoldScorer:
        model = FoldScorer(len(self.models), frozenset(r.patient for r in examples), 0.0 if self.spread else None)
        self.models.append(model)
        return model


@pytest.fixture()
def store(tmp_path: Path, test_data: Path) -> LabelStore:
    s = fixture_project(tmp_path / "project.bcv", test_data / "breakhis")
    yield s
    s.close()


def test_every_training_subimage_is_scored_by_a_model_that_never_saw_its_patient(store: LabelStore) -> None:
    held = frozenset({"14-12465"})
    trainer = FoldTrainer()
    engine = SelfLearningEngine(store, trainer=trainer, heldout_patients=held, crossfit_folds=3)
    report = engine.run_round()
    assert len(trainer.models) == 3
    train_patients = {"14-22549AB", "14-14134E", "14-13412"}
    # three training persons in three groups: each model trained on the other two
    assert sorted(sorted(m.patients) for m in trainer.models) == sorted(
        sorted(train_patients - {p}) for p in train_patients)
    refs = {r.subimage_id: r for r in store.subimage_refs()}
    p = store.predictions(report.round_id)
    assert len(p) == 36
    for sid, ref in refs.items():
        if ref.patient in held:  # held out: mean of the three models, none of which saw it
            assert p[sid] == pytest.approx((0.1 + 0.2 + 0.3) / 3)
            assert all(ref.patient not in m.patients and sid in m.scored for m in trainer.models)
        else:  # scored by exactly one model, whose training set excluded this patient
            scorers = [m for m in trainer.models if sid in m.scored]
            assert len(scorers) == 1 and ref.patient not in scorers[0].patients
            assert p[sid] == pytest.approx(0.1 * (scorers[0].index + 1))
    assert SEEN not in p.values()
    assert store.rounds()[0].params["crossfit_folds"] == 3
    assert sorted(map(tuple, store.rounds()[0].params["crossfit_groups"])) == [
        ("14-13412",), ("14-14134E",), ("14-22549AB",)]


def test_without_crossfitting_the_model_scores_its_own_training_patients(store: LabelStore) -> None:
    trainer = FoldTrainer()
    report = SelfLearningEngine(store, trainer=trainer, heldout_patients=frozenset({"14-12465"})).run_round()
    p = store.predictions(report.round_id)
    assert len(trainer.models) == 1 and sum(v == SEEN for v in p.values()) == 27


def states(store: LabelStore, image_id: int) -> list[SubImageState]:
    return [SubImageState(s.id, s.label, s.source, s.locked) for s in store.subimages(image_id)]


def test_crossfitted_rounds_keep_the_rule_invariants(store: LabelStore) -> None:
    images = {i.id: i for i in store.images()}
    malignant = [i for i in images.values() if i.label == "malignant"]
    first = store.subimages(malignant[0].id)
    store.set_label([first[0].id], "malignant", "pathologist")  # human
    store.set_locked([first[1].id])
    protected = {s.id: (s.label, s.source, s.locked) for s in store.subimages(malignant[0].id)[:2]}
    assert protected[first[0].id][1] == "human" and protected[first[1].id][2]
    trainer = FoldTrainer(spread=True)
    engine = SelfLearningEngine(store, trainer=trainer, heldout_patients=frozenset(), crossfit_folds=2,
                                schedule=TauSchedule((0.3, 0.5, 0.7)))
    relabelled = 0
    for position in (1, 2, 3):
        before = {i: states(store, i) for i in images}
        report = engine.run_round(position, 3)
        relabelled += report.stats["relabelled"]
        p = store.predictions(report.round_id)
        for image_id, image in images.items():
            after = states(store, image_id)
            assert invariant_violations(image.label, before[image_id], after) == []
            if image.label == "malignant":  # the most probable malignant sub-image stays malignant
                candidates = [s for s in before[image_id] if s.label == "malignant"]
                anchor = max(candidates, key=lambda s: p[s.subimage_id])
                assert next(s for s in after if s.subimage_id == anchor.subimage_id).label == "malignant"
            else:
                assert [s.label for s in after] == ["benign"] * 9
    assert relabelled > 0  # the rule had work to do
    assert len(trainer.models) == 6
    assert {i: (store.subimage(i).label, store.subimage(i).source, store.subimage(i).locked)
            for i in protected} == protected


def test_final_evaluation_is_the_mean_of_the_fold_models(store: LabelStore) -> None:
    trainer = FoldTrainer()
    engine = SelfLearningEngine(store, trainer=trainer, heldout_patients=frozenset({"14-12465", "14-14134E"}),
                                crossfit_folds=2)
    final = engine.evaluate()
    # every held-out sub-image gets (0.1 + 0.2) / 2 = 0.15: benign image right, malignant image wrong
    assert final is not None and final.images == 2 and final.image_accuracy == 0.5
    assert len(trainer.models) == 2 and all("14-12465" not in m.patients for m in trainer.models)
    assert store.rounds() == []


def test_crossfitting_refuses_what_it_cannot_do(store: LabelStore) -> None:
    with pytest.raises(SelfLearningError, match="at least 2 folds"):
        SelfLearningEngine(store, trainer=FoldTrainer(), crossfit_folds=1)
    with pytest.raises(SelfLearningError, match="needs a trainer"):
        SelfLearningEngine(store, scorer=FoldScorer(0, frozenset()), crossfit_folds=2)
    engine = SelfLearningEngine(store, trainer=FoldTrainer(), heldout_patients=frozenset({"14-12465"}),
                                crossfit_folds=4)
    with pytest.raises(SelfLearningError, match="needs at least 4 training patients"):
        engine.run_round()
    assert store.rounds() == []  # refused before a round was started


def ref(patient: str, image_id: int, label: str) -> SubImageRef:
    return SubImageRef(image_id, image_id, Path("x.png"), patient, 100, label, 0, 0, 0, 0, 1, 1, label, "inherited",
                       False)


def test_groups_keep_persons_together_and_mix_labels() -> None:
    patients = {"14-22549AB": "benign", "14-22549CD": "benign", "14-1": "benign", "14-2": "benign",
                "14-3": "malignant", "14-4": "malignant", "14-5F": "malignant", "14-5G": "malignant",
                "14-6": "malignant", "14-7": "malignant"}
    refs = [ref(p, i, label) for i, (p, label) in enumerate(patients.items())]
    groups = crossfit_groups(refs, 3, seed=1)
    assert sorted(p for g in groups for p in g) == sorted(patients)  # every patient in exactly one group
    for pair in (("14-22549AB", "14-22549CD"), ("14-5F", "14-5G")):
        assert sum(pair[0] in g and pair[1] in g for g in groups) == 1
    # 3 benign and 5 malignant persons dealt in turn: every group gets at least one of each
    assert all({patients[p] for p in g} == {"benign", "malignant"} for g in groups)
    assert crossfit_groups(refs, 3, seed=1) == groups and crossfit_groups(list(reversed(refs)), 3, seed=1) == groups
    with pytest.raises(SelfLearningError, match="at least 9 training patients"):
        crossfit_groups(refs, 9)
