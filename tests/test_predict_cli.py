"""`bcviewer predict` on the fixtures: every output written, per-input errors, exit codes."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from inference_helpers import IMAGE_SPEC, SLIDE_SPEC, save_tiny_model
from PIL import Image

from bcviewer.cli.main import main
from bcviewer.export import legend_band, read_geojson, read_tiles_csv
from bcviewer.inference import Predictor, analysis_grid
from bcviewer.nets import load_model
from bcviewer.slides import open_slide

ROOT = Path(__file__).resolve().parent.parent
PNGS = ["SOB_B_A-14-22549AB-100-001.png", "SOB_B_F-14-14134E-100-001.png",
        "SOB_M_DC-14-13412-100-001.png", "SOB_M_PC-14-12465-100-001.png"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch.set_num_threads(1)
    base = tmp_path_factory.mktemp("models")
    return {"image": save_tiny_model(base / "image", IMAGE_SPEC, seed=1),
            "slide": save_tiny_model(base / "slide", SLIDE_SPEC, seed=2)}


@pytest.fixture()
def inputs(tmp_path: Path, test_data: Path) -> Path:
    folder = tmp_path / "in"
    (folder / "nested").mkdir(parents=True)
    for name in PNGS[:3]:
        shutil.copy(test_data / "breakhis" / name, folder / name)
    shutil.copy(test_data / "breakhis" / PNGS[3], folder / "nested" / PNGS[3])
    (folder / "notes.txt").write_text("not an image")
    return folder


def _summary(out: Path) -> list[dict[str, str]]:
    with open(out / "summary.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_predict_folder_writes_every_output(inputs: Path, models: dict[str, Path], tmp_path: Path,
                                            test_data: Path) -> None:
    out = tmp_path / "out"
    code = main(["predict", str(inputs), "--model", str(models["image"]), "--out", str(out), "--device", "cpu",
                 "--batch-size", "4", "--quiet"])
    assert code == 0
    rows = _summary(out)
    assert list(rows[0]) == ["path", "status", "p_malignant", "label", "uncertainty", "n_tiles", "error",
                             "prediction_set", "outside_training", "verdict_rule", "verdict", "verdict_low",
                             "verdict_high", "review"]
    # the tiny model's card has no conformal calibration and no density: nothing is claimed
    assert all(r["prediction_set"] == "" and r["outside_training"] == "" and r["review"] == "" for r in rows)
    assert all(r["verdict_rule"] == "mean (not validated)" and r["verdict"] == r["label"] for r in rows)  # no rule in its card
    assert [Path(r["path"]).name for r in rows] == PNGS[:3] + [PNGS[3]]  # sorted, recursive; notes.txt skipped
    assert all(r["status"] == "ok" and r["n_tiles"] == "9" and r["error"] == "" for r in rows)
    # The summary's numbers are the library's image-level values for that file.
    with open_slide(test_data / "breakhis" / PNGS[2]) as slide:
        scores = Predictor(load_model(models["image"]), device="cpu").run(slide, analysis_grid(slide, IMAGE_SPEC))
    assert float(rows[2]["p_malignant"]) == pytest.approx(scores.image_p_malignant, abs=1e-6)
    assert float(rows[2]["uncertainty"]) == pytest.approx(scores.image_uncertainty, abs=1e-6)
    assert rows[2]["label"] == scores.image_label
    for row in rows:
        folder = out / Path(row["path"]).stem
        assert sorted(p.name for p in folder.iterdir()) == ["heatmap.png", "manifest.json", "overlay.png", "tiles.csv",
                                                            "tiles.geojson"]
        table = read_tiles_csv(folder / "tiles.csv", slide_size=(700, 460))
        assert len(table) == 9 and table.image_p_malignant == pytest.approx(float(row["p_malignant"]), abs=1e-6)
        assert len(read_geojson(folder / "tiles.geojson")) == 9
        with Image.open(folder / "heatmap.png") as heat, Image.open(folder / "overlay.png") as overlay:
            assert heat.mode == "RGBA" and overlay.mode == "RGB"
            assert heat.size[0] == 700 and heat.size[1] in (456, 460)
            # The overlay is the image at full size with its legend band (colour scale, scale bar) below.
            assert overlay.size == (700, heat.size[1] + legend_band(700).shape[0])
            assert (np.asarray(heat)[..., 3] == 255).all()  # 3x3 sub-images cover every pixel


def test_bad_files_are_reported_and_the_rest_still_run(inputs: Path, models: dict[str, Path], tmp_path: Path,
                                                       test_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edge = test_data / "slides" / "edge-cases"
    out = tmp_path / "out"
    code = main(["predict", str(edge / "unopenable.tiff"), str(inputs / PNGS[0]), str(tmp_path / "missing.png"),
                 str(edge / "unreadable.svs"), "--model", str(models["image"]), "--grid", "3x3",
                 "--out", str(out), "--device", "cpu", "--formats", "csv", "--quiet"])
    assert code == 2
    rows = _summary(out)
    assert [r["status"] for r in rows] == ["error", "ok", "error", "error"]
    assert "unopenable.tiff" in rows[0]["error"] and "does not exist" in rows[2]["error"]
    assert all("\n" not in r["error"] and r["p_malignant"] == "" for r in rows if r["status"] == "error")
    assert sorted(p.name for p in out.iterdir()) == [Path(PNGS[0]).stem, "summary.csv"]
    assert sorted(p.name for p in (out / Path(PNGS[0]).stem).iterdir()) == ["manifest.json", "tiles.csv"]  # csv only
    assert "1 of 4 inputs scored" in capsys.readouterr().err


def test_whole_slide_uses_the_cards_physical_tile(models: dict[str, Path], tmp_path: Path, test_data: Path) -> None:
    out = tmp_path / "out"
    svs = test_data / "slides" / "cmu_small_region.svs"
    assert main(["predict", str(svs), "--model", str(models["slide"]), "--out", str(out), "--device", "cpu",
                 "--formats", "geojson,png", "--quiet"]) == 0
    (row,) = _summary(out)
    with open_slide(svs) as slide:
        grid = analysis_grid(slide, SLIDE_SPEC)
    assert row["status"] == "ok" and int(row["n_tiles"]) == len(grid)
    back = read_geojson(out / "cmu_small_region" / "tiles.geojson")
    clipped = grid.rects()
    clipped[:, 3] = np.minimum(clipped[:, 1] + clipped[:, 3], 2967) - clipped[:, 1]  # bottom row ends at the edge
    assert clipped[:, 3].min() == 161  # the bottom row starts at y = 2806
    assert np.array_equal(back.rects(), clipped) and back.grid.slide_size == (2220, 2967)
    with Image.open(out / "cmu_small_region" / "overlay.png") as overlay:
        # longer side 2048, aspect ratio of 2220 x 2967, and the legend band below
        assert overlay.size == (1532, 2048 + legend_band(1532).shape[0])
    # A whole slide is never cut into sub-images, even when asked.
    assert main(["predict", str(svs), "--model", str(models["slide"]), "--grid", "2x2", "--out", str(out),
                 "--formats", "csv", "--quiet"]) == 2
    assert "never cut into sub-images" in _summary(out)[0]["error"]


def test_run_wide_errors_are_one_line_and_exit_2(models: dict[str, Path], tmp_path: Path, test_data: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    png = str(test_data / "breakhis" / PNGS[0])
    assert main(["predict", png, "--model", str(tmp_path / "no-such-model"), "--out", str(tmp_path)]) == 2
    assert main(["predict", png, "--model", str(models["image"]), "--formats", "csv,pdf", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "no model" in err[0] and "--formats" in err[1]
    assert not (tmp_path / "summary.csv").exists()
    if not torch.cuda.is_available():
        assert main(["predict", png, "--device", "cuda", "--out", str(tmp_path)]) == 2
        assert "cuda" in capsys.readouterr().err


def test_default_model_is_chosen_per_input_kind(models: dict[str, Path], tmp_path: Path, test_data: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "store"
    shutil.copytree(models["image"], store / "breakhis-100x")
    shutil.copytree(models["slide"], store / "idc-wsi")
    monkeypatch.setenv("BCVIEWER_MODELS", str(store))  # searched before the shipped models
    svs, png = test_data / "slides" / "cmu_small_region.svs", test_data / "breakhis" / PNGS[1]
    out = tmp_path / "out"
    assert main(["predict", str(svs), str(png), str(tmp_path / "gone.svs"), "--out", str(out),
                 "--formats", "csv", "--quiet"]) == 2
    rows = _summary(out)
    with open_slide(svs) as slide:
        n_slide_tiles = len(analysis_grid(slide, SLIDE_SPEC))
    assert [r["status"] for r in rows] == ["ok", "ok", "error"]  # summary keeps the input order
    assert [r["n_tiles"] for r in rows] == [str(n_slide_tiles), "9", ""]
    assert "does not exist" in rows[2]["error"]


def test_summary_gives_the_cards_conformal_set_for_each_image(models: dict[str, Path], tmp_path: Path,
                                                             test_data: Path) -> None:
    """The set follows the card's calibration scores: calibration images scored 0.5 from their label
    leave only the called label (its nonconformity is below 0.5, the other's above); images scored
    0.9 from their label let both labels in, so the image goes to review."""
    import shutil

    from bcviewer.nets import update_card

    model = tmp_path / "model"
    shutil.copytree(models["image"], model)
    png = test_data / "breakhis" / PNGS[0]
    out = tmp_path / "o1"
    assert main(["predict", str(png), "--model", str(model), "--out", str(out), "--device", "cpu", "--quiet"]) == 0
    row = _summary(out)[0]
    p, label = float(row["p_malignant"]), row["label"]
    assert 0.1 < p < 0.9 and p != 0.5
    for scores, expected in (([0.5] * 20, label), ([0.9] * 20, "review")):
        update_card(model, {"conformal": {"image": {"confidence": 0.9, "level": "image", "scores": scores}}})
        out = tmp_path / f"o-{expected}"
        assert main(["predict", str(png), "--model", str(model), "--out", str(out), "--device", "cpu",
                     "--quiet"]) == 0
        assert _summary(out)[0]["prediction_set"] == expected
        tiles = (out / Path(png).stem / "tiles.csv").read_text().splitlines()
        assert tiles[0].endswith(",prediction_set,outside_training,qc_flag,stain_method,stain_reference,stain_sha256")
        assert all(line.endswith(",,none,none,none") for line in tiles[1:])  # no tile calibration: empty cells


def test_the_console_says_each_verdict_its_model_and_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("BCVIEWER_MODELS", raising=False)  # the shipped models and their cards' rules
    sample = ROOT / "resources" / "sample" / "SOB_M_MC-14-13413-100-003.png"
    svs = ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs"
    out = tmp_path / "out"
    assert main(["predict", str(sample), str(svs), "--out", str(out), "--formats", "csv"]) == 0
    captured = capsys.readouterr()
    rows = {r["path"]: r for r in csv.DictReader(open(out / "summary.csv"))}
    lines = captured.out.splitlines()
    assert len(lines) == 2
    image, slide = rows[str(sample)], rows[str(svs)]
    assert lines[0] == (f"{sample.name}: {image['verdict']} · top 10% mean {float(image['p_malignant']):.3f} "
                        f"(95% interval {float(image['verdict_low']):.3f}–{float(image['verdict_high']):.3f}) · "
                        f"uncertainty {float(image['uncertainty']):.3f} · 9 tiles · model breakhis-100x (the default "
                        "for microscopy images)")
    assert lines[1].startswith(f"{svs.name}: {slide['verdict']} · mean (not validated) ")
    assert lines[1].endswith("· 20 tiles · model idc-wsi (the default for whole slides (aperio format))")
    labels = [image["label"], slide["label"]]
    counts = ", ".join(f"{labels.count(k)} {k}" for k in ("malignant", "benign") if labels.count(k))
    review = sum(r["review"] == "yes" for r in (image, slide))
    assert captured.err.splitlines()[-1] == (f"2 of 2 inputs scored: {counts}"
                                             + (f" ({review} for review)" if review else "")
                                             + f"; summary in {out / 'summary.csv'}")
    assert "tiles:" not in captured.err
    assert main(["predict", str(sample), "--out", str(tmp_path / "q"), "--formats", "csv", "--quiet"]) == 0
    assert capsys.readouterr().out == ""  # --quiet: no result lines
