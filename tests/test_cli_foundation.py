"""`bcviewer info` and `bcviewer tiles`, in process and as a real console command."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bcviewer.cli.main import main
from bcviewer.errors import BcviewerError

SVS = "slides/cmu_small_region.svs"
PNG = "breakhis/SOB_B_A-14-22549AB-100-001.png"


def test_info_json_reports_the_svs_properties(test_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(test_data / SVS), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["width"], info["height"]) == (2220, 2967)
    assert info["mpp"] == pytest.approx(0.499)
    assert info["objective_power"] == 20
    assert info["format"] == "aperio" and info["vendor"] == "aperio"
    assert info["levels"] == [{"level": 0, "width": 2220, "height": 2967, "downsample": 1.0}]
    assert info["associated_images"] == ["label", "macro", "thumbnail"]


def test_info_text_for_png(test_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(test_data / PNG)]) == 0
    out = capsys.readouterr().out
    assert "dimensions:  700 x 460 px" in out and "mpp:         unknown" in out and "associated:  none" in out


def test_tiles_default_is_3x3_table(test_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tiles", str(test_data / PNG)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "# 9 tiles, 3 rows x 3 cols (subimage)"
    assert lines[2].split()[:7] == ["0", "0", "233", "153", "0", "0", "0"]
    assert lines[-1].split()[:7] == ["466", "306", "234", "154", "0", "2", "2"]


def test_tiles_csv_and_json(test_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tiles.csv"
    assert main(["tiles", str(test_data / SVS), "--tile-um", "200", "--target-mpp", "4", "--min-tissue", "0.5", "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["x", "y", "w", "h", "level", "row", "col", "tissue"]
    assert all(float(r["tissue"]) >= 0.5 for r in rows) and all(r["w"] == "401" for r in rows)
    capsys.readouterr()
    assert main(["tiles", str(test_data / SVS), "--tile-px", "512", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert (payload["rows"], payload["cols"], len(payload["tiles"])) == (6, 5, 30)
    assert payload["tiles"][7] == {**payload["tiles"][7], "x": 1024, "y": 512, "row": 1, "col": 2}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["info", "/no/such/slide.svs"], "bcviewer info: /no/such/slide.svs does not exist"),
        (["tiles", "{png}", "--tile-um", "100"], "does not record its pixel size (mpp)"),
        (["tiles", "{png}", "--grid", "3by3"], "--grid must look like 3x3"),
        (["tiles", "{png}", "--min-tissue", "2"], "--min-tissue must be between 0 and 1"),
        (["tiles", "{svs}", "--tile-px", "64", "--level", "3"], "level 3 does not exist"),
        (["info", "{edge}/unopenable.tiff"], "OpenSlide cannot open it"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, test_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = {"png": test_data / PNG, "svs": test_data / SVS, "edge": test_data / "slides/edge-cases"}
    argv = [a.format(**paths) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def _info_raises(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    import bcviewer.cli.info

    def run(args: object) -> int:
        raise error

    monkeypatch.setattr(bcviewer.cli.info, "run", run)


def test_project_error_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("BCVIEWER_DEBUG", raising=False)
    _info_raises(monkeypatch, BcviewerError("the slide is\nunusable"))
    assert main(["info", "any.svs"]) == 2
    assert capsys.readouterr().err == "bcviewer info: the slide is\nunusable\n"


def test_bcviewer_debug_reraises_with_the_traceback(monkeypatch: pytest.MonkeyPatch, test_data: Path) -> None:
    monkeypatch.setenv("BCVIEWER_DEBUG", "1")
    with pytest.raises(BcviewerError, match="does not exist"):
        main(["info", "/no/such/slide.svs"])
    _info_raises(monkeypatch, OSError("disk full"))
    with pytest.raises(OSError, match="disk full"):
        main(["info", "any.svs"])
    monkeypatch.setenv("BCVIEWER_DEBUG", "0")  # off again: one line
    assert main(["info", "any.svs"]) == 2


def test_a_bug_is_not_turned_into_a_user_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BCVIEWER_DEBUG", raising=False)
    _info_raises(monkeypatch, ValueError("a bug"))
    with pytest.raises(ValueError, match="a bug"):
        main(["info", "any.svs"])


def test_bcviewer_debug_shows_the_traceback_of_the_console_command(test_data: Path) -> None:
    cmd = [sys.executable, "-m", "bcviewer", "info", "/no/such/slide.svs"]
    env = {**os.environ, "BCVIEWER_DEBUG": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1 and "Traceback" in result.stderr and "does not exist" in result.stderr


def test_console_script_and_module_agree(test_data: Path) -> None:
    cmd = [sys.executable, "-m", "bcviewer", "info", str(test_data / SVS), "--json"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["width"] == 2220
    bad = subprocess.run([sys.executable, "-m", "bcviewer", "tiles", str(test_data / "slides/edge-cases")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "is a folder" in bad.stderr


@pytest.mark.shared
def test_info_on_shared_slide_matches_issue_contract(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(shared_data / "slides" / "cmu_small_region.svs"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["width"], info["height"], info["mpp"], info["objective_power"]) == (2220, 2967, 0.499, 20.0)


def test_info_says_which_magnification_is_used_and_where_it_came_from(
        test_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sample = Path(__file__).resolve().parent.parent / "resources" / "sample" / "SOB_M_MC-14-13413-100-003.png"
    assert main(["info", str(sample)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "kind:        microscopy image (one level, 700 x 460 px)" in lines
    assert "magnification: 100X (from the file name): predict and the viewer use it" in lines
    renamed = tmp_path / "field.png"
    renamed.write_bytes(sample.read_bytes())
    assert main(["info", str(renamed), "--json"]) == 0
    mag = json.loads(capsys.readouterr().out)["magnification"]
    assert (mag["value"], mag["source"]) == (None, None)
    assert mag["note"].startswith("neither the file nor its name records it; predict and the viewer assume")
    assert main(["info", str(test_data / SVS)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "objective:   20x (from the file)" in lines and "kind:        whole slide (aperio format)" in lines
    assert ("magnification: 20X (from the file): whole slides are analysed by their pixel size (µm/px), "
            "not by their objective") in lines


def test_tiles_takes_the_slide_pixel_size_with_mpp_and_the_output_resolution_with_target_mpp(
        test_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = str(test_data / PNG)  # 700 x 460, records no pixel size
    assert main(["tiles", png, "--tile-um", "100"]) == 2
    assert "--mpp" in capsys.readouterr().err
    assert main(["tiles", png, "--tile-um", "100", "--mpp", "0.5", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert {(t["w"], t["h"]) for t in payload["tiles"]} == {(200, 200)}  # 100 µm at 0.5 µm/px
    assert (payload["rows"], payload["cols"]) == (3, 4)
    assert main(["tiles", png, "--tile-um", "100", "--mpp", "0.5", "--target-mpp", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["out_size"] == [100, 100]  # 100 µm at 1 µm/px
