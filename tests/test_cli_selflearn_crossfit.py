"""``bcviewer selflearn --crossfit K`` on the BreakHis fixtures: K real hybrid models per round."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bcviewer.cli.main import main
from bcviewer.labels import LabelStore


def test_selflearn_crossfit_trains_one_model_per_fold(tmp_path: Path, test_data: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "p.bcv"
    assert main(["labels", "import", str(project), str(test_data / "breakhis")]) == 0
    capsys.readouterr()  # the import's own lines
    assert main(["selflearn", str(project), "--crossfit", "1"]) == 2
    assert capsys.readouterr().err.strip() == "bcviewer selflearn: --crossfit must be 0 (off) or at least 2, got 1"
    stats = tmp_path / "stats.json"
    code = main(["selflearn", str(project), "--rounds", "1", "--tau", "0.5", "--trainer", "hybrid", "--epochs", "1",
                 "--finetune-epochs",
                 "0", "--quiet", "--crossfit", "2", "--json", str(stats)])
    assert code == 0
    data = json.loads(stats.read_text())
    assert data["crossfit"] == 2 and len(data["heldout_patients"]) == 2
    # two training persons (one image of 9 sub-images each): each model is fitted on the other one
    assert [t["fit_subimages"] for t in data["training"]] == [9, 9]
    with LabelStore.open(project) as store:
        (round_,) = store.rounds()
        groups = round_.params["crossfit_groups"]
        assert round_.params["crossfit_folds"] == 2 and sorted(len(g) for g in groups) == [1, 1]
        assert not set(sum(groups, [])) & set(data["heldout_patients"])
        assert len(store.predictions(round_.id)) == 36
    held = data["rounds"][0]["heldout"]
    assert held["images"] == 2 and held["subimages"] == 18
