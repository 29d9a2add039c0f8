"""`bcviewer predict` on the TCGA-like case (a two-level pyramidal TIFF without pixel size), and
the CLI's help and error contract (every option shows its default, errors name the sub-command)."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import pytest
import torch
from inference_helpers import IMAGE_SPEC, SLIDE_SPEC, save_tiny_model
from pyramid_fixture import write_pyramid_tiff

from bcviewer.cli.main import build_parser, main
from bcviewer.slides import open_slide


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch.set_num_threads(1)
    base = tmp_path_factory.mktemp("models")
    return {"image": save_tiny_model(base / "breakhis-100x", IMAGE_SPEC, seed=1),
            "slide": save_tiny_model(base / "idc-wsi", SLIDE_SPEC, seed=2)}


@pytest.fixture(scope="module")
def tcga_like(test_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    with open_slide(test_data / "slides" / "cmu_small_region.svs") as s:
        rgb = s.read_region(0, 0, 0, *s.dimensions)
    return write_pyramid_tiff(tmp_path_factory.mktemp("tcga") / "tcga-like.tif", rgb, levels=2)


def _summary(out: Path) -> list[dict[str, str]]:
    with open(out / "summary.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_unknown_pixel_size_is_refused_naming_mpp_and_tile_px(tcga_like: Path, models: dict[str, Path],
                                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BCVIEWER_MODELS", str(models["slide"].parent))
    out = tmp_path / "out"
    assert main(["predict", str(tcga_like), "--out", str(out), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"bcviewer predict: {tcga_like}: ")  # one line, nothing else
    assert "--mpp" in err[0] and "--tile-px" in err[0] and "is a whole slide (2 pyramid levels, generic-tiff)" in err[0]
    assert not out.exists()  # nothing was scored: no output folder is left behind


def test_mpp_scores_the_slide_as_if_it_recorded_it(tcga_like: Path, models: dict[str, Path], tmp_path: Path,
                                                  test_data: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BCVIEWER_MODELS", str(models["slide"].parent))
    out = tmp_path / "out"
    svs = test_data / "slides" / "cmu_small_region.svs"
    assert main(["predict", str(tcga_like), str(svs), "--mpp", "0.499", "--out", str(out), "--device", "cpu",
                 "--formats", "csv,geojson", "--quiet"]) == 0
    given, recorded = _summary(out)
    # Same pixels, same pixel size, so the same 20 tissue tiles (idc-wsi chosen for both).
    assert given["status"] == recorded["status"] == "ok" and given["n_tiles"] == recorded["n_tiles"] == "20"
    data = json.loads((out / "tcga-like" / "tiles.geojson").read_text())
    assert data["bcviewer"]["notes"] == ["pixel size 0.499 µm/px from --mpp (the file records none)"]
    assert data["bcviewer"]["model"] == "tiny-2"
    rects = [f["geometry"]["coordinates"][0][0] for f in data["features"]]
    other = json.loads((out / "cmu_small_region" / "tiles.geojson").read_text())
    assert rects == [f["geometry"]["coordinates"][0][0] for f in other["features"]]
    assert json.loads((out / "cmu_small_region" / "tiles.geojson").read_text())["bcviewer"]["notes"] == []
    err = capsys.readouterr().err
    assert "bcviewer predict: tcga-like.tif: pixel size 0.499 µm/px from --mpp (the file records none)" in err
    assert "warning" not in err


def test_tile_px_works_without_pixel_size_and_warns(tcga_like: Path, models: dict[str, Path], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["predict", str(tcga_like), "--model", str(models["slide"]), "--tile-px", "400", "--out", str(out),
                 "--device", "cpu", "--formats", "csv,png", "--quiet"]) == 0
    (row,) = _summary(out)
    assert row["status"] == "ok" and int(row["n_tiles"]) > 0
    err = capsys.readouterr().err
    assert "bcviewer predict: tcga-like.tif: warning: the pixel size of tcga-like.tif is unknown" in err
    assert sorted(p.name for p in (out / "tcga-like").iterdir()) == ["heatmap.png", "manifest.json", "overlay.png",
                                                                     "tiles.csv"]


def test_image_model_on_a_slide_warns_of_the_mismatch(tcga_like: Path, models: dict[str, Path], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(tcga_like), "--model", str(models["image"]), "--tile-um", "200", "--mpp", "0.5",
                 "--out", str(tmp_path), "--device", "cpu", "--formats", "csv", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "tcga-like.tif: warning: tiny-1 was trained on microscopy images at 100X, but tcga-like.tif is a whole " \
           "slide" in err


def _options(parser: argparse.ArgumentParser, name: str = "bcviewer"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _options(sub, f"{name} {sub_name}")
        elif action.option_strings and action.dest not in ("help", "version"):
            yield name, parser, action


def test_every_option_has_help_that_shows_its_default() -> None:
    seen = 0
    for name, parser, action in _options(build_parser()):
        assert action.help, f"{name} {action.option_strings[0]} has no help text"
        text = parser._get_formatter()._get_help_string(action) % {"default": action.default}
        assert action.required or "default" in text, f"{name} {action.option_strings[0]}: {text}"
        seen += 1
    assert seen > 60
    help_text = " ".join(build_parser("predict")._subparsers._group_actions[0].choices["predict"].format_help().split())
    assert "(default: viridis)" in help_text and "--mpp UM" in help_text and "--tile-px N" in help_text


def test_object_type_means_the_same_in_predict_and_labels_export() -> None:
    found = {name: action for name, _, action in _options(build_parser()) if "--object-type" in action.option_strings}
    assert set(found) == {"bcviewer predict", "bcviewer labels export"}
    predict, labels = found["bcviewer predict"], found["bcviewer labels export"]
    assert tuple(predict.choices) == tuple(labels.choices) == ("annotation", "detection", "tile")
    assert predict.help.split(" (default")[0] == labels.help.split(" (default")[0]


def test_usage_errors_name_the_sub_command(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for argv, prefix in ((["predict", "x.png", "--bogus"], "bcviewer predict: error: unrecognized arguments: --bogus"),
                         (["predict", "x.png", "--object-type", "cell"],
                          "bcviewer predict: error: argument --object-type"),
                         (["labels", "export", "p.bcv", "--nope"], "bcviewer labels export: error: unrecognized"),
                         (["predict"], "bcviewer predict: error: the following arguments are required")):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(prefix), err


def test_tiles_never_cuts_a_whole_slide_into_sub_images(tcga_like: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tiles", str(tcga_like)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["bcviewer tiles: tcga-like.tif is a whole slide (2 pyramid levels); it is never cut into "
                   "sub-images like a microscopy image; give --tile-um N or --tile-px N"]
    assert main(["tiles", str(tcga_like), "--tile-px", "400", "--min-tissue", "0.25"]) == 0
    assert "(physical)" in capsys.readouterr().out


def test_tcga_fixture_is_what_the_issue_describes(tcga_like: Path) -> None:
    with open_slide(tcga_like) as s:
        assert (s.level_count, s.mpp, s.dimensions, s.level_dimensions[1]) == (2, None, (2220, 2967), (1110, 1483))
        props = s.properties
        assert props.get("tiff.ResolutionUnit") == "none"  # no physical resolution recorded


def _manifest(out: Path, stem: str) -> dict:  # type: ignore[type-arg]
    return json.loads((out / stem / "manifest.json").read_text())


def test_mpp_applies_only_to_inputs_that_need_it_and_resume_keeps_the_others(
        tcga_like: Path, models: dict[str, Path], tmp_path: Path, test_data: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BCVIEWER_MODELS", str(models["slide"].parent))
    png = test_data / "breakhis" / "SOB_B_A-14-22549AB-100-001.png"
    svs = test_data / "slides" / "cmu_small_region.svs"  # records 0.499 µm/px
    out = tmp_path / "out"
    args = ["predict", str(png), str(tcga_like), str(svs), "--out", str(out), "--device", "cpu", "--quiet",
            "--formats", "csv"]
    assert main([*args, "--mpp", "0.5"]) == 0
    assert _manifest(out, "tcga-like")["options"]["mpp"] == 0.5  # the slide that needed it
    assert _manifest(out, png.stem)["options"]["mpp"] is None  # cut into sub-images: needs none
    assert _manifest(out, "cmu_small_region")["options"]["mpp"] is None  # records its own
    assert "0.5 µm/px" not in json.dumps(_manifest(out, png.stem))
    capsys.readouterr()
    assert main([*args, "--mpp", "0.6", "--resume"]) == 0  # only the slide it applies to is redone
    assert "3 of 3 inputs scored (2 already complete, skipped): " in capsys.readouterr().err
    assert _manifest(out, "tcga-like")["options"]["mpp"] == 0.6


def test_mpp_table_gives_each_file_its_own_pixel_size(tcga_like: Path, models: dict[str, Path], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BCVIEWER_MODELS", str(models["slide"].parent))
    other = tmp_path / "scans" / "other.tif"
    other.parent.mkdir()
    other.write_bytes(tcga_like.read_bytes())
    table = tmp_path / "scans" / "pixel_sizes.csv"
    table.write_text("File,MPP\nother.tif,0.25\n")  # relative to the table; headers in any case
    out = tmp_path / "out"
    assert main(["predict", str(tcga_like), str(other), "--mpp", "0.5", "--mpp-table", str(table), "--out", str(out),
                 "--device", "cpu", "--quiet", "--formats", "csv"]) == 0
    assert _manifest(out, "tcga-like")["options"]["mpp"] == 0.5
    assert _manifest(out, "other")["options"]["mpp"] == 0.25
    tiles = {stem: {r["w"] for r in csv.DictReader(open(out / stem / "tiles.csv"))} for stem in ("tcga-like", "other")}
    assert tiles == {"tcga-like": {"400"}, "other": {"800"}}  # 200 µm tiles at 0.5 and at 0.25 µm/px
    err = capsys.readouterr().err
    assert "other.tif: pixel size 0.25 µm/px from --mpp-table (the file records none)" in err
    assert "tcga-like.tif: pixel size 0.5 µm/px from --mpp (the file records none)" in err
    table.write_text("path,mpp\nother.tif,zero\n")
    assert main(["predict", str(other), "--mpp-table", str(table), "--out", str(tmp_path / "o2"), "--quiet"]) == 2
    assert capsys.readouterr().err.strip() == (f"bcviewer predict: --mpp-table {table} row 2: needs a file and a pixel "
                                               "size from 0.01 to 1000 µm/px, got 'other.tif' and 'zero'")
