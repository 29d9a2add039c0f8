"""Inputs that used to hang or flood (issue 23, "Hangs" and "messages that name what to fix"):
FIFOs in place of the files bcviewer reads (manifests are in test_bad_input_manifests.py), the
ONNX cache, tile grids over budget, absurd --mpp values and symlink loops.

Cases that could hang run the real command in a child process with a timeout, so a regression
fails instead of stopping the suite.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from bad_input_helpers import PNG, SVS, fails_with_one_line, run_cli
from inference_helpers import SLIDE_SPEC, save_tiny_model

from bcviewer.cli.main import main
from bcviewer.errors import BcviewerError
from bcviewer.inference.grids import analysis_grid
from bcviewer.safety import FileSafetyError, read_regular_bytes
from bcviewer.slides import open_slide
from bcviewer.tiling import physical_grid
from bcviewer.tiling.budget import MAX_TILES, GridBudgetError

pytestmark = [pytest.mark.usefixtures("one_torch_thread"),
              pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are a POSIX matter")]
RUN = ["--device", "cpu", "--quiet", "--grid", "3x3", "--formats", "csv"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("models") / "tiny", seed=4)


def _fifo(path: Path) -> Path:
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    return path


# ---- the shared regular-file reader -------------------------------------------------------------
def test_the_shared_reader_refuses_a_fifo_without_opening_it_blocking(tmp_path: Path) -> None:
    fifo = _fifo(tmp_path / "manifest.json")
    outcome: list[str] = []

    def read() -> None:
        try:
            read_regular_bytes(fifo, "manifest")
        except FileSafetyError as exc:
            outcome.append(str(exc))

    worker = threading.Thread(target=read, daemon=True)  # daemon: a regression cannot keep pytest alive
    worker.start()
    worker.join(10)
    assert outcome == [(f"{fifo} is not a regular file (it is a named pipe); bcviewer reads only regular files, "
                        "so give the manifest itself")]


def test_the_shared_reader_names_a_symlink_loop(tmp_path: Path) -> None:
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop.name)
    with pytest.raises(FileSafetyError, match="symlink loop"):
        read_regular_bytes(loop)


# ---- the ONNX cache ------------------------------------------------------------------------------
@pytest.fixture()
def cached_model(tiny_model: Path, tmp_path: Path) -> Path:
    """A copy of the tiny model whose weights.onnx and sidecar were written by a first ONNX run."""
    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    assert main(["predict", str(PNG), "--model", str(folder), "--out", str(tmp_path / "first"), "--runtime", "onnx",
                 *RUN]) == 0
    assert (folder / "weights.onnx").is_file() and (folder / "weights.onnx.json").is_file()
    return folder


def test_a_fifo_weights_onnx_is_rebuilt_not_read(cached_model: Path, tmp_path: Path) -> None:
    good = (cached_model / "weights.onnx").read_bytes()
    _fifo(cached_model / "weights.onnx")  # the sidecar still vouches for the old file
    result = run_cli(["predict", PNG, "--model", cached_model, "--out", tmp_path / "out", "--runtime", "onnx", *RUN],
                     timeout=180)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    onnx = cached_model / "weights.onnx"
    assert onnx.is_file() and onnx.read_bytes() == good  # exported again, identical
    first, again = ((tmp_path / run / "summary.csv").read_text().splitlines()[1] for run in ("first", "out"))
    assert first.split(",")[2] == again.split(",")[2]  # the same p_malignant from the rebuilt file


def test_a_fifo_sidecar_is_rebuilt_not_read(cached_model: Path, tmp_path: Path) -> None:
    _fifo(cached_model / "weights.onnx.json")
    result = run_cli(["predict", PNG, "--model", cached_model, "--out", tmp_path / "out", "--runtime", "onnx", *RUN],
                     timeout=180)
    assert result.returncode == 0, result.stderr
    assert json.loads((cached_model / "weights.onnx.json").read_text())["format"] == "bcviewer-onnx/1"


def test_a_garbage_weights_onnx_vouched_for_by_its_sidecar_is_exported_again(
        cached_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The sidecar's sha256 vouches for the garbage, but the file carries no graph key (the key lives
    inside a real export, bcviewer.nets.onnx_key), so it is a stale cache: rebuilt before ONNX
    Runtime ever reads it, with no INVALID_PROTOBUF and no traceback."""
    onnx, sidecar = cached_model / "weights.onnx", cached_model / "weights.onnx.json"
    good = onnx.read_bytes()
    garbage = b"this is not a protobuf " * 40
    onnx.write_bytes(garbage)
    meta = json.loads(sidecar.read_text())
    meta.update(onnx_sha256=hashlib.sha256(garbage).hexdigest(), bytes=len(garbage))  # the sidecar vouches for it
    sidecar.write_text(json.dumps(meta))
    capsys.readouterr()
    assert main(["predict", str(PNG), "--model", str(cached_model), "--out", str(tmp_path / "out"),
                 "--runtime", "onnx", *RUN]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "INVALID_PROTOBUF" not in err
    assert onnx.read_bytes() == good
    assert json.loads(sidecar.read_text())["onnx_sha256"] == hashlib.sha256(good).hexdigest()


# ---- other files the app reads -------------------------------------------------------------------
def test_a_fifo_region_file_or_pixel_size_table_is_refused_in_one_line(tiny_model: Path, tmp_path: Path) -> None:
    roi = _fifo(tmp_path / "roi.geojson")
    table = _fifo(tmp_path / "mpp.csv")
    for option, fifo in (("--roi", roi), ("--mpp-table", table)):
        result = run_cli(["predict", SVS, "--model", tiny_model, "--out", tmp_path / "out", option, fifo,
                          "--device", "cpu", "--quiet"], timeout=120)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1, result.stderr
        assert f"{fifo} is not a regular file (it is a named pipe)" in lines[0]


def test_a_fifo_model_card_is_not_read(tiny_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    _fifo(folder / "card.json")
    result = run_cli(["predict", PNG, "--model", folder, "--out", tmp_path / "out", *RUN], timeout=120)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "card.json" in lines[0] and "Traceback" not in result.stderr


def test_a_fifo_labels_csv_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = _fifo(tmp_path / "labels.csv")
    fails_with_one_line(["labels", "import", tmp_path / "p.bcv", fifo], capsys, str(fifo), "not a regular file")


# ---- tile budgets ---------------------------------------------------------------------------------
def test_tiles_of_one_pixel_are_refused_before_any_tile_is_made(capsys: pytest.CaptureFixture[str]) -> None:
    line = fails_with_one_line(["tiles", SVS, "--tile-px", "1"], capsys, "tiles of 1 px are below the minimum of 16 px",
                               "2220x2967", "6,586,740")
    assert line.endswith("give a larger --tile-px or --tile-um")


def test_predict_with_one_pixel_tiles_is_refused(tiny_model: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    fails_with_one_line(["predict", SVS, "--model", tiny_model, "--tile-px", "1", "--out", out, "--device", "cpu",
                         "--quiet"], capsys, "tiles of 1 px are below the minimum of 16 px", "6,586,740")
    assert not out.exists()


def test_a_grid_over_the_tile_budget_gives_the_count_and_the_budget(capsys: pytest.CaptureFixture[str]) -> None:
    # 16 px tiles overlapping by 90%: a 1.6 px stride, 1855 x 1388 tiles on the 2220x2967 slide.
    fails_with_one_line(["tiles", SVS, "--tile-px", "16", "--overlap", "0.9"], capsys,
                        "the grid would hold 2,574,740 tiles (1,855 x 1,388, about 1.1 GB)",
                        f"over the budget of {MAX_TILES:,} tiles (0.9 GB)")


def test_the_viewer_grid_obeys_the_same_budget() -> None:
    with open_slide(SVS) as slide:
        with pytest.raises(GridBudgetError, match="tiles of 1 px are below the minimum of 16 px"):
            analysis_grid(slide, SLIDE_SPEC, tile_px=1)
        with pytest.raises(GridBudgetError, match="tiles of 8 px"):
            physical_grid(slide, tile_px=8)
        grid = physical_grid(slide, tile_px=16)  # the minimum itself is allowed
        assert (grid.rows, grid.cols, grid.out_size) == (186, 139, (16, 16))


# ---- messages that name what to fix -------------------------------------------------------------
@pytest.mark.parametrize("value", ["1e-300", "1e6"])
def test_an_absurd_mpp_is_a_short_line_naming_mpp(value: str, tiny_model: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["predict", SVS, "--model", tiny_model, "--out", tmp_path / "out"], ["tiles", SVS, "--tile-um", "200"]):
        with pytest.raises(SystemExit) as stop:  # argparse's usage error, before the command starts
            main([str(a) for a in [*command, "--mpp", value]])
        assert stop.value.code == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and "argument --mpp" in lines[0], lines
        assert "µm/px is not a microscope pixel size; give one from 0.01 to 1000 µm/px" in lines[0]
        assert len(lines[0]) < 200 and "0000" not in lines[0], lines[0]
    assert not (tmp_path / "out").exists()


def test_a_symlink_loop_is_called_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loop = tmp_path / "loop.svs"
    loop.symlink_to(loop.name)
    for command in (["info", loop], ["tiles", loop, "--tile-px", "256"],
                    ["predict", loop, "--out", tmp_path / "out", "--device", "cpu"]):
        line = fails_with_one_line(command, capsys, f"{loop} is a symlink loop")
        assert "does not exist" not in line


def _readers(tmp_path: Path) -> dict[str, Callable[[Path], object]]:
    from bcviewer.batch.manifest import read_manifest
    from bcviewer.batch.pixel_sizes import read_mpp_table
    from bcviewer.export.geojson import read_geojson
    from bcviewer.labels.sources import collect_sources
    from bcviewer.nets.cards import read_card
    from bcviewer.nets.onnx_export import read_verified
    from bcviewer.regions import read_region_file

    return {
        "manifest.json": lambda f: read_manifest(f.parent),
        "weights.onnx": lambda f: read_verified(f, "0" * 64),
        "card.json": lambda f: read_card(f.parent),
        "roi.geojson": read_region_file,
        "mpp.csv": read_mpp_table,
        "tiles.geojson": read_geojson,
        "labels.csv": lambda f: collect_sources([f]),
        "images.txt": lambda f: collect_sources([f]),
    }


@pytest.mark.parametrize("name", ["manifest.json", "weights.onnx", "card.json", "roi.geojson", "mpp.csv",
                                  "tiles.geojson", "labels.csv", "images.txt"])
def test_every_reader_returns_at_once_on_a_fifo(name: str, tmp_path: Path) -> None:
    fifo = _fifo(tmp_path / name)
    if name == "weights.onnx":  # a valid sidecar, so the ONNX file itself is what gets read
        (tmp_path / "weights.onnx.json").write_text(json.dumps({"format": "bcviewer-onnx/1", "opset": 17,
                                                                "weights_sha256": "0" * 64}))
    outcome: list[str] = []

    def read() -> None:
        try:
            outcome.append(f"returned {_readers(tmp_path)[name](fifo)!r}")
        except BcviewerError as exc:
            outcome.append(str(exc))

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(20)
    assert len(outcome) == 1, f"reading a FIFO named {name} did not return"
    # Own caches and manifests: treated as absent (rebuilt); user files: refused naming the FIFO.
    assert outcome[0] == "returned None" or f"{fifo} is not a regular file (it is a named pipe)" in outcome[0], outcome


@pytest.mark.parametrize(("slide_mpp", "needle"), [
    (1e-300, ("a tile of 2e+302 level-0 pixels is far larger than the 700x460 image at the pixel size given with "
              "--mpp (1e-300 µm/px); check --mpp")),
    (1e6, "the stride is below one level-0 pixel (0.0002) at the pixel size given with --mpp (1e+06 µm/px)"),
    (100.0, ("tiles of 2 px are below the minimum of 16 px (at the level they are read); a 700x460 image would need "
             "80,500 of them: check the pixel size given for the slide (100 µm/px, --mpp)")),
])
def test_the_tiler_names_the_users_pixel_size(slide_mpp: float, needle: str) -> None:
    # The viewer's own --mpp and pixel-size box reach the tiler without the CLI's range check.
    with open_slide(PNG) as image, pytest.raises(BcviewerError) as refused:  # the PNG records no pixel size
        physical_grid(image, tile_um=200, mpp=4.0, slide_mpp=slide_mpp)
    assert needle in str(refused.value) and len(str(refused.value)) < 250
