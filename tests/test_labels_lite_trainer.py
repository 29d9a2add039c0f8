"""The lite self-learning trainer (PyTorch) on the four BreakHis fixtures: cached trunk features, a
head per round, cancel within a batch, and ``bcviewer selflearn`` continuing the tau schedule across
runs with the default (probe) and the lite trainer."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from labels_helpers import fixture_project

from bcviewer.cli.main import main
from bcviewer.labels import LabelStore, SelfLearningCancelled, SelfLearningEngine
from bcviewer.labels.lite_trainer import lite_trainer


@pytest.fixture()
def store(tmp_path: Path, test_data: Path) -> LabelStore:
    s = fixture_project(tmp_path / "project.bcv", test_data / "breakhis")
    yield s
    s.close()


def test_feature_maps_are_cached_on_disk_per_file_and_trunk(store: LabelStore, tmp_path: Path, test_data: Path) -> None:
    refs = store.subimage_refs()
    trainer = lite_trainer(cache_folder=tmp_path / "cache")
    maps = trainer.cache.maps(refs)
    # 36 sub-images of about 233x153 px, resized to 224x144: Lite0 after stage 4 gives 80 x 9 x 14
    assert maps.shape == (36, 80, 9, 14) and maps.dtype == np.float16
    assert trainer.cache.computed == 36
    files = sorted((tmp_path / "cache" / trainer.cache.trunk_id).glob("*.safetensors"))
    assert len(files) == 4  # one per image file
    again = lite_trainer(cache_folder=tmp_path / "cache")
    assert np.array_equal(again.cache.maps(refs[::-1]), maps[::-1])
    assert again.cache.computed == 0
    # an edited image file (new modification time) is read again; the others stay cached
    first = refs[0].path
    os.utime(first, ns=(first.stat().st_atime_ns, first.stat().st_mtime_ns + 1_000_000_000))
    fresh = lite_trainer(cache_folder=tmp_path / "cache")
    fresh.cache.maps(refs)
    assert fresh.cache.computed == 9


def test_a_round_trains_a_head_on_current_labels_and_is_repeatable(store: LabelStore, tmp_path: Path) -> None:
    refs = store.subimage_refs()
    trainer = lite_trainer(cache_folder=tmp_path / "cache")
    p1 = trainer.fit(refs, 1).score(refs)
    p2 = trainer.fit(refs, 2).score(refs)
    assert p1.shape == (36,) and np.all((p1 >= 0) & (p1 <= 1))
    assert np.array_equal(p1, p2)  # same seed, same labels: the same model
    truth = np.array([r.label == "malignant" for r in refs])
    assert ((p1 >= 0.5) == truth).mean() >= 0.9  # fits its training sub-images
    assert [h["subimages"] for h in trainer.history] == [36, 36] and trainer.history[0]["epochs"] == 12
    assert trainer.describe()["trainer"] == "lite" and trainer.describe()["input"] == [224, 144]


def test_cancel_lands_within_one_batch_and_the_round_is_interrupted(store: LabelStore, tmp_path: Path) -> None:
    trainer = lite_trainer(cache_folder=tmp_path / "cache")
    trainer.cache.maps(store.subimage_refs())
    polls = []

    def stop() -> bool:
        polls.append(1)
        return len(polls) > 5  # the engine's own checks, then the trainer's batch checks

    engine = SelfLearningEngine(store, trainer=trainer, should_stop=stop, heldout_patients=frozenset({"14-12465"}))
    assert trainer.should_stop is stop
    with pytest.raises(SelfLearningCancelled):
        engine.run_round()
    assert len(polls) == 6 and trainer.history == []
    assert [(r.number, r.status) for r in store.rounds()] == [(1, "interrupted")]
    assert store.counts().model == 0


def test_cli_trainers_continue_the_schedule_and_review_waits(tmp_path: Path, test_data: Path,
                                                                     capsys: pytest.CaptureFixture[str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    project = tmp_path / "p.bcv"
    assert main(["labels", "import", str(project), str(test_data / "breakhis")]) == 0
    stats = tmp_path / "stats.json"
    assert main(["selflearn", str(project), "--rounds", "2", "--quiet", "--json", str(stats)]) == 0
    data = json.loads(stats.read_text())
    assert [(r["round"], r["tau"]) for r in data["rounds"]] == [(1, 0.1), (2, 0.2)]
    assert main(["selflearn", str(project), "--rounds", "1", "--quiet", "--json", str(stats),
                 "--trainer", "lite"]) == 0
    assert [(r["round"], r["tau"]) for r in json.loads(stats.read_text())["rounds"]] == [(3, 0.3)]
    with LabelStore.open(project) as s:
        assert [r.params["trainer"] for r in s.rounds()] == ["probe", "probe", "lite"]  # probe: the default
    assert any((tmp_path / "xdg").rglob("*.safetensors"))  # the features went to the user's cache
    capsys.readouterr()
    assert main(["selflearn", str(project), "--mode", "review", "--rounds", "2"]) == 2
    assert capsys.readouterr().err.strip() == (
        "bcviewer selflearn: a review run does one round and then waits for you to accept or reject its "
        "proposals, so it cannot run 2 rounds; run one round, decide, then run the next (or use automatic "
        "mode for several rounds)")
    assert main(["selflearn", str(project), "--mode", "review", "--tau", "0.9", "--quiet"]) == 0
    with LabelStore.open(project) as s:
        pending = s.pending_review()
    assert pending is not None and pending[0] == 4 and pending[1] > 0
    capsys.readouterr()
    assert main(["selflearn", str(project), "--quiet"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"bcviewer selflearn: round 4 has {pending[1]} proposals waiting for review: list them with 'bcviewer "
        f"labels review {project}', then accept or reject them ('bcviewer labels accept {project} --all', "
        f"'bcviewer labels reject {project} ID...'), or revert round 4 ('bcviewer labels revert {project} 4'), "
        "before the next round")
