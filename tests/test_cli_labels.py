"""``bcviewer labels import|export|stats`` and ``bcviewer selflearn`` on the BreakHis fixtures."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bcviewer.cli.main import main
from bcviewer.labels import LabelStore


def _import(tmp_path: Path, test_data: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    project = tmp_path / "p.bcv"
    assert main(["labels", "import", str(project), str(test_data / "breakhis")]) == 0
    out = capsys.readouterr().out
    assert out.strip() == ("4 images added, 0 already in the project, 0 duplicate files skipped, 0 unreadable; "
                           "the project now holds 36 sub-images (18 benign, 18 malignant)")
    return project


def test_import_twice_stats_and_export(tmp_path: Path, test_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = _import(tmp_path, test_data, capsys)
    assert main(["labels", "import", str(project), str(test_data / "breakhis" / "SOB_B_A-14-22549AB-100-001.png")]) == 0
    assert capsys.readouterr().out.startswith("0 images added, 1 already in the project")
    with LabelStore.open(project) as store:
        store.set_label([store.subimages(3)[0].id], "benign", "stroma")
        store.set_locked([store.subimages(3)[1].id])
    assert main(["labels", "stats", str(project)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["100X", "19", "17"] and lines[2].split() == ["all", "19", "17"]
    assert lines[3] == "sources: 35 inherited, 0 model, 1 human; 1 locked; 0 proposals pending"
    out_csv, geo = tmp_path / "labels.csv", tmp_path / "geo"
    assert main(["labels", "export", str(project), "--csv", str(out_csv), "--geojson", str(geo)]) == 0
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 36 and list(rows[0]) == ["image", "patient", "image_label", "row", "col", "label",
                                                 "source", "locked", "round"]
    dc = [r for r in rows if "SOB_M_DC" in r["image"]]
    assert (dc[0]["label"], dc[0]["source"], dc[1]["locked"]) == ("benign", "human", "1")
    assert len(list(geo.glob("*.geojson"))) == 4


def test_user_errors_are_one_line_with_exit_2(tmp_path: Path, test_data: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["labels", "import", str(tmp_path / "new.bcv"), str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"bcviewer labels: {tmp_path / 'missing'} does not exist"
    assert not (tmp_path / "new.bcv").exists()  # a bad source does not leave an empty project behind
    assert main(["labels", "export", str(tmp_path / "none.bcv"), "--csv", str(tmp_path / "x.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    project = _import(tmp_path, test_data, capsys)
    assert main(["labels", "export", str(project)]) == 2
    assert capsys.readouterr().err.strip() == "bcviewer labels: say what to export: --csv FILE and/or --geojson DIR"
    assert main(["selflearn", str(project), "--tau", "0.1,x"]) == 2
    assert "numbers separated by commas" in capsys.readouterr().err
    assert main(["selflearn", str(project), "--rounds", "0"]) == 2
    assert capsys.readouterr().err.strip() == "bcviewer selflearn: --rounds must be at least 1, got 0"


def test_selflearn_trains_the_hybrid_and_reports_each_round(tmp_path: Path, test_data: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    project = _import(tmp_path, test_data, capsys)
    stats = tmp_path / "stats.json"
    code = main(["selflearn", str(project), "--rounds", "2", "--tau", "0.5", "--trainer", "hybrid", "--epochs", "1",
                 "--finetune-epochs", "0", "--quiet", "--json", str(stats)])
    assert code == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["round", "tau", "mag", "benign", "malignant", "changed", "img", "acc", "img", "any",
                              "sub", "acc"]
    assert out[1].split() == ["0", "-", "100X", "18", "18", "-"]
    data = json.loads(stats.read_text())
    assert [r["round"] for r in data["rounds"]] == [1, 2] and data["schedule"] == [0.5]
    assert len(data["heldout_patients"]) == 2  # one benign, one malignant of the four patients
    with LabelStore.open(project) as store:
        assert store.heldout_patients() == frozenset(data["heldout_patients"])
        rounds = store.rounds()
        assert [r.status for r in rounds] == ["done", "done"]
        for r, row in zip(data["rounds"], out[2:4]):
            benign, malignant = r["counts"]["100"]["benign"], r["counts"]["100"]["malignant"]
            assert benign + malignant == 36 and benign >= 18
            assert row.split()[:6] == [str(r["round"]), "0.50", "100X", str(benign), str(malignant),
                                       str(r["relabelled"])]
            held = r["heldout"]
            assert held["images"] == 2 and held["subimages"] == 18
            assert 0.0 <= held["image_accuracy"] <= 1.0
        assert len(store.predictions(rounds[0].id)) == 36
        assert len(data["training"]) == 2 and data["training"][0]["validation_on_training_patients"] is True
