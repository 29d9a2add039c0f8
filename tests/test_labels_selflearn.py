"""Self-learning rounds: exact statistics on a constructed case, injected trainers, exports."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from labels_helpers import TableScorer, fixture_project

from bcviewer.labels import (
    CSV_FIELDS,
    LabelStore,
    SelfLearningEngine,
    SelfLearningError,
    SubImageRef,
    TauSchedule,
    labels_csv_text,
    write_labels_geojson,
)
from bcviewer.qupath import tile_id

BA, BF = "SOB_B_A-14-22549AB-100-001.png", "SOB_B_F-14-14134E-100-001.png"
DC, PC = "SOB_M_DC-14-13412-100-001.png", "SOB_M_PC-14-12465-100-001.png"


def constructed_table() -> dict[tuple[str, int, int], float]:
    """Row-major sub-image probabilities of the four fixture images."""
    grids = {
        BA: [0.1] * 9,
        BF: [0.7] + [0.2] * 8,
        DC: [0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.95],
        PC: [0.08, 0.18, 0.28, 0.38, 0.9, 0.9, 0.9, 0.9, 0.9],
    }
    return {(name, k // 3, k % 3): p for name, ps in grids.items() for k, p in enumerate(ps)}


@pytest.fixture()
def store(tmp_path: Path, test_data: Path) -> LabelStore:
    s = fixture_project(tmp_path / "project.bcv", test_data / "breakhis")
    yield s
    s.close()


def test_round_statistics_exact_on_a_constructed_case(store: LabelStore) -> None:
    heldout = frozenset({"14-12465", "14-14134E"})
    engine = SelfLearningEngine(store, scorer=TableScorer(constructed_table()), heldout_patients=heldout)
    reports = engine.run(4)
    assert [r.tau for r in reports] == [0.1, 0.2, 0.3, 0.4] and [r.number for r in reports] == [1, 2, 3, 4]
    assert [(r.counts["100"]["benign"], r.counts["100"]["malignant"]) for r in reports] == [
        (20, 16), (22, 14), (24, 12), (26, 10)]
    assert [r.stats["relabelled"] for r in reports] == [2, 2, 2, 2]
    assert [r.stats["train"]["malignant"] for r in reports] == [9, 8, 7, 6]  # DC only: PC is held out
    held = reports[0].heldout
    assert held["images"] == 2 and held["subimages"] == 18
    assert held["image_accuracy"] == 1.0  # BF mean 0.256 -> benign, PC mean 0.602 -> malignant
    assert held["image_accuracy_any"] == 0.5  # BF has one sub-image at 0.7
    assert held["subimage_accuracy"] == pytest.approx(13 / 18)
    assert held["by_magnification"] == {"100": {"images": 2, "image_accuracy": 1.0}}
    saved = store.rounds()
    assert [r.stats for r in saved] == [r.stats for r in reports]  # what was returned is what was stored
    assert saved[0].params["heldout_patients"] == ["14-12465", "14-14134E"]
    assert store.predictions(saved[0].id)[store.subimages(1)[0].id] == pytest.approx(0.1)
    # a fifth round repeats tau 0.4: every sub-image below it is benign already
    assert engine.run_round(5, 5).stats["relabelled"] == 0


class RecordingTrainer:
    """Trains nothing: records its examples and scores by a fixed table."""

    def __init__(self) -> None:
        self.seen: list[list[tuple[str, str]]] = []

    def fit(self, examples: Sequence[SubImageRef], round_number: int) -> TableScorer:
        self.seen.append([(r.patient, r.label) for r in examples])
        return TableScorer(constructed_table())


def test_trainer_sees_only_training_patients_and_current_labels(store: LabelStore) -> None:
    store.set_heldout_patients(["14-12465"])
    trainer = RecordingTrainer()
    progress: list[tuple[str, int, int]] = []
    engine = SelfLearningEngine(store, trainer=trainer, progress=lambda *a: progress.append(a))
    assert engine.heldout == frozenset({"14-12465"})  # read from the project
    engine.run(2)
    assert len(trainer.seen) == 2 and all(p != "14-12465" for p, _ in trainer.seen[0])
    assert sum(label == "malignant" for _, label in trainer.seen[0]) == 9
    assert sum(label == "malignant" for _, label in trainer.seen[1]) == 8  # round 1 relabelled one DC
    assert progress[:4] == [("train", 1, 2), ("score", 1, 2), ("apply", 1, 2), ("done", 1, 2)]
    final = engine.evaluate()
    assert final is not None and final.images == 1 and len(trainer.seen) == 3


class BrokenScorer:
    def score(self, items: Sequence[SubImageRef]) -> np.ndarray:
        return np.full(len(items) - 1, 0.5)


def test_a_failing_scorer_interrupts_the_round_and_changes_nothing(store: LabelStore) -> None:
    engine = SelfLearningEngine(store, scorer=BrokenScorer())
    with pytest.raises(SelfLearningError, match="one probability in \\[0, 1\\] per sub-image"):
        engine.run_round()
    assert [r.status for r in store.rounds()] == ["interrupted"] and store.counts().malignant == 18
    with pytest.raises(SelfLearningError):
        SelfLearningEngine(store)
    with pytest.raises(SelfLearningError, match="between 0 and 1"):
        TauSchedule.parse("0.1,1.5")
    assert TauSchedule.parse("0.1, 0.2").tau(5) == 0.2


def test_csv_export(store: LabelStore) -> None:
    SelfLearningEngine(store, scorer=TableScorer(constructed_table()), schedule=TauSchedule((0.2,))).run_round()
    dc_sub = store.subimages(3)[8].id
    store.set_locked([dc_sub])
    rows = list(csv.reader(io.StringIO(labels_csv_text(store))))
    assert tuple(rows[0]) == CSV_FIELDS == ("image", "patient", "image_label", "row", "col", "label", "source",
                                            "locked", "round")
    assert len(rows) == 1 + 36
    dc = [r for r in rows[1:] if r[0].endswith(DC)]
    assert dc[0][1:] == ["14-13412", "malignant", "0", "0", "benign", "model", "0", "1"]
    assert dc[2][5:] == ["malignant", "inherited", "0", "0"]
    assert dc[8][5:] == ["malignant", "inherited", "1", "0"]
    assert {r[5] for r in rows[1:] if r[2] == "benign"} == {"benign"}


def test_geojson_export_in_qupath_format(store: LabelStore, tmp_path: Path) -> None:
    SelfLearningEngine(store, scorer=TableScorer(constructed_table()), schedule=TauSchedule((0.2,))).run_round()
    files = write_labels_geojson(store, tmp_path / "geo")
    assert sorted(f.name for f in files) == sorted(n.replace(".png", ".geojson") for n in (BA, BF, DC, PC))
    data = json.loads((tmp_path / "geo" / DC.replace(".png", ".geojson")).read_text())
    assert data["type"] == "FeatureCollection" and len(data["features"]) == 9
    assert data["bcviewer"]["image_label"] == "malignant" and data["bcviewer"]["size"] == [700, 460]
    first, last = data["features"][0], data["features"][8]
    assert first["geometry"] == {"type": "Polygon",
                                 "coordinates": [[[0, 0], [233, 0], [233, 153], [0, 153], [0, 0]]]}
    assert last["geometry"]["coordinates"][0][2] == [700, 460]  # the last tile reaches the image corner
    props = first["properties"]
    assert props["objectType"] == "annotation" and props["classification"]["name"] == "Benign"
    assert props["isLocked"] is False
    # QuPath keeps only string metadata; the id is stable across exports (uuid5 of name, row, col).
    assert props["metadata"] == {"row": "0", "col": "0", "source": "model", "round": "1", "locked": "false",
                                 "subimage_id": props["metadata"]["subimage_id"]}
    assert first["id"] == tile_id(DC, 0, 0) and len({f["id"] for f in data["features"]}) == 9
    assert props["measurements"]["p_malignant"] == pytest.approx(0.05)
    assert last["properties"]["classification"] == {"name": "Malignant", "color": [200, 0, 0]}
    tiles = write_labels_geojson(store, tmp_path / "tiles", object_type="tile")
    assert json.loads(tiles[0].read_text())["features"][0]["properties"]["objectType"] == "tile"
    again = json.loads((tmp_path / "tiles" / DC.replace(".png", ".geojson")).read_text())
    assert [f["id"] for f in again["features"]] == [f["id"] for f in data["features"]]
