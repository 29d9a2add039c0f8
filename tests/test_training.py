"""Training data, augmentation, metrics, evaluation and a short real training run."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from bcviewer.cli.main import main as cli_main
from bcviewer.datasets import index_breakhis, index_idc
from bcviewer.nets import EnsemblePrediction, HybridConfig, InputSpec, load_model
from bcviewer.training import (
    StageSchedule,
    TileSet,
    binary_metrics,
    breakhis_tiles,
    channel_stats,
    class_weights,
    evaluation_report,
    expected_calibration_error,
    grouped_patient_split,
    idc_tiles,
    image_probabilities,
    load_tileset,
    patient_group,
    train_augmentation,
    train_member,
)


def test_metrics_agree_with_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p = np.clip(0.3 * y + rng.random(200) * 0.7, 0, 1)
    m = binary_metrics(y, p)
    pred = (p >= 0.5).astype(int)
    assert m["accuracy"] == accuracy_score(y, pred)
    assert m["sensitivity"] == recall_score(y, pred)
    assert m["precision"] == precision_score(y, pred)
    assert m["f1"] == f1_score(y, pred)
    assert m["roc_auc"] == roc_auc_score(y, p)
    tn, fp, fn, tp = (int(v) for v in np.ravel(m["confusion_matrix"]))
    assert (tn, fp, fn, tp) == (int(((pred == 0) & (y == 0)).sum()), int(((pred == 1) & (y == 0)).sum()),
                                int(((pred == 0) & (y == 1)).sum()), int(((pred == 1) & (y == 1)).sum()))
    assert m["specificity"] == tn / (tn + fp)
    assert binary_metrics(np.ones(3, int), np.array([0.9, 0.2, 0.7]))["roc_auc"] is None


def test_expected_calibration_error_hand_computed() -> None:
    # confidences 0.9, 0.8, 0.7, 0.6 fall in four bins; correct, wrong, correct, correct
    y = np.array([1, 0, 0, 1])
    p = np.array([0.9, 0.8, 0.3, 0.6])
    assert expected_calibration_error(y, p) == pytest.approx((0.1 + 0.8 + 0.3 + 0.4) / 4)
    assert expected_calibration_error(np.array([1, 1]), np.array([1.0, 1.0])) == 0.0


def test_breakhis_sub_images_match_the_source_pixels(test_data: Path) -> None:
    images = index_breakhis(test_data / "breakhis")
    tiles = breakhis_tiles(images, (64, 42))
    assert len(tiles) == 36 and tiles.tiles.shape == (36, 42, 64, 3)
    assert tiles.labels.tolist() == [int(im.label == "malignant") for im in images for _ in range(9)]
    assert [im.label for im in tiles.images] == [0, 0, 1, 1]
    first = np.array(Image.open(images[0].path).convert("RGB"))
    h, w = first.shape[:2]
    expected = cv2.resize(first[: h // 3, : w // 3], (64, 42), interpolation=cv2.INTER_AREA)
    assert np.array_equal(tiles.tiles[0], expected)
    bottom_right = cv2.resize(first[2 * h // 3:, 2 * w // 3:], (64, 42), interpolation=cv2.INTER_AREA)
    assert np.array_equal(tiles.tiles[8], bottom_right)


def test_idc_patches_become_one_tile_each(test_data: Path) -> None:
    patches = index_idc(test_data / "idc")
    tiles = idc_tiles(patches, (48, 48))
    assert len(tiles) == len(patches) and tiles.image_index.tolist() == list(range(len(patches)))
    assert tiles.labels.tolist() == [p.label for p in patches]
    assert {im.subtype for im in tiles.images} == {"IDC", "non-IDC"}


def test_select_patients_and_channel_stats(test_data: Path) -> None:
    tiles = load_tileset(test_data / "breakhis", (32, 21))
    assert tiles.kind == "breakhis" and len(tiles.patient_ids()) == 4
    one = tiles.select_patients(["14-13412"])
    assert len(one) == 9 and one.labels.tolist() == [1] * 9 and one.image_index.tolist() == [0] * 9
    mean, std = channel_stats(one)
    pixels = one.tiles.reshape(-1, 3) / 255.0
    np.testing.assert_allclose(mean, pixels.mean(0))
    np.testing.assert_allclose(std, pixels.std(0))


def test_patient_groups_keep_slide_letter_variants_together() -> None:
    assert patient_group("14-22549AB") == patient_group("14-22549CD") == "14-22549"
    assert patient_group("14-9146") == "14-9146"


def test_augmentation_keeps_shape_and_is_seeded(test_data: Path) -> None:
    tile = load_tileset(test_data / "breakhis", (64, 42)).tiles[4]
    a = [train_augmentation((64, 42), seed=3)(image=tile)["image"] for _ in range(3)]
    b = [train_augmentation((64, 42), seed=3)(image=tile)["image"] for _ in range(3)]
    assert all(x.shape == (42, 64, 3) and x.dtype == np.uint8 for x in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], tile)


def test_class_weights_balance_the_classes() -> None:
    w = class_weights(np.array([0, 0, 0, 1]))
    assert w.tolist() == pytest.approx([4 / 6, 2.0])


def test_image_probability_is_the_mean_of_its_sub_images(test_data: Path) -> None:
    tiles = load_tileset(test_data / "breakhis", (32, 21))
    p_tile = np.linspace(0, 1, len(tiles))
    p_image, y_image, kept = image_probabilities(tiles, p_tile)
    assert kept.tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(p_image, p_tile.reshape(4, 9).mean(axis=1))
    zeros = np.zeros(len(tiles))
    prediction = EnsemblePrediction(p_tile, p_tile[:, None], zeros, zeros, zeros, np.full((len(tiles), 1, 2), 0.5))
    report = evaluation_report(tiles, prediction)
    assert report["image"]["n"] == 4 and report["tile"]["n"] == 36
    assert report["per_magnification"]["100X"]["image"]["accuracy"] == report["image"]["accuracy"]
    assert set(report["per_subtype"]) == {im.subtype for im in tiles.images}


def test_short_training_run_lowers_the_loss(test_data: Path) -> None:
    tiles = load_tileset(test_data / "breakhis", (40, 26))
    mean, std = channel_stats(tiles)
    spec = InputSpec(40, 26, mean, std)
    config = HybridConfig(backbone="resnet18", width=0.25, rnn_hidden=16, rows_size=16, fusion_width=32)
    schedule = StageSchedule(stage1_epochs=6, stage1_lr=3e-3, stage2_epochs=1, batch_size=12, patience=20,
                             augment=False, label_smoothing=0.0)
    result = train_member(config, tiles, tiles, spec, schedule, seed=0, progress=False)
    losses = [row["train_loss"] for row in result.history]
    assert len(losses) == 7 and [row["stage"] for row in result.history] == [1] * 6 + [2]
    assert min(losses[-3:]) < 0.85 * losses[0]
    assert result.best_val_loss < result.history[0]["val_loss"]


@pytest.mark.slow
def test_train_and_evaluate_commands_on_fixtures(test_data: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tiny"
    code = cli_main(["train", str(test_data / "breakhis"), "--out", str(out), "--members",
                     "resnet18:0.25:rows,resnet34:0.25:feature_map", "--input-size", "48x32", "--epochs", "2",
                     "--finetune-epochs", "1", "--fractions", "0.5,0.25,0.25", "--threads", "1", "--quiet"])
    assert code == 0
    model = load_model(out)
    card = model.card
    assert card["architecture"]["backbones"] == ["resnet18", "resnet34"]
    assert card["input"]["magnification"] == "100X" and card["input"]["tile_scheme"] == "breakhis-3x3"
    parts = card["training"]["patients"]
    assert sorted(parts["train"] + parts["val"] + parts["test"]) == load_tileset(
        test_data / "breakhis", (16, 16)).patient_ids()
    report_file = tmp_path / "report.json"
    assert cli_main(["evaluate", str(out), str(test_data / "breakhis"), "--patients", "test",
                     "--json", str(report_file), "--quiet"]) == 0
    report = json.loads(report_file.read_text())
    assert report["patients"] == parts["test"]
    assert report["image"] == card["metrics"]["test"]["image"]
    assert ("image level: mean (not validated) of the tiles' p_malignant as predict scores them (the model card's "
            "verdict rule") in capsys.readouterr().out


def test_evaluate_refuses_a_pickle_model(test_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    torch.save({"w": torch.zeros(2)}, tmp_path / "model.pth")
    assert cli_main(["evaluate", str(tmp_path / "model.pth"), str(test_data / "breakhis")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pickle" in err[0]


@pytest.mark.shared
def test_grouped_split_of_the_real_breakhis_folder(shared_data: Path) -> None:
    tiles = load_tileset(shared_data / "breakhis", (16, 16))
    split = grouped_patient_split(tiles, (0.6, 0.2, 0.2), seed=0)
    parts = split.to_dict()
    assert sum(len(v) for v in parts.values()) == 20
    for name, patients in parts.items():
        groups = {patient_group(p) for p in patients}
        others = {patient_group(p) for n, ps in parts.items() if n != name for p in ps}
        assert not groups & others
        labels = {tiles.images[i].label for i in range(len(tiles.images)) if tiles.images[i].patient in patients}
        assert labels == {0, 1}
    assert isinstance(tiles, TileSet)
