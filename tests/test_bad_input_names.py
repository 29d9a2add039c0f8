"""File names that are not valid UTF-8 (issue 23): a valid PNG named ``b"bad_\\xff\\xfe_name.png"``.

Before the fix ``predict`` failed it with "UnicodeEncodeError: ... surrogates not allowed" (the
GeoJSON tile ids hash the name as UTF-8), and the viewer showed its "did not expect" dialog (the
pixel-size setting hashed the path as UTF-8). Now the outputs get a safe folder name (``%FF``),
the original name goes into summary.csv and the GeoJSON escaped (``\\xff``), and no console line,
dialog or exit prints a traceback.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import uuid
from pathlib import Path

import pytest
from bad_input_helpers import PNG, ROOT, run_cli
from gui_helpers import dialogs, open_and_wait, settings, window  # noqa: F401 - fixtures
from inference_helpers import save_tiny_model

from bcviewer.filenames import escaped_text, is_escaped, safe_folder_name

pytestmark = pytest.mark.usefixtures("one_torch_thread")
RAW_NAME = b"bad_\xff\xfe_name.png"
SHOWN = "bad_\\xff\\xfe_name.png"  # how summary.csv, the GeoJSON and the console write it
FOLDER = "bad_%FF%FE_name"  # the output folder's name
ENV = {"PYTHONIOENCODING": "utf-8", "OMP_NUM_THREADS": "1"}  # strict UTF-8 console, as in a terminal


@pytest.fixture()
def bad_name(tmp_path: Path) -> Path:
    """A copy of a BreakHis PNG in its own folder, named with bytes that are not UTF-8."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    raw = os.path.join(os.fsencode(folder), RAW_NAME)
    shutil.copyfile(PNG, raw)
    path = Path(os.fsdecode(raw))
    assert path.is_file() and path.name == "bad_\udcff\udcfe_name.png"
    return path


def test_names_are_escaped_for_text_and_made_safe_for_folders() -> None:
    name = os.fsdecode(RAW_NAME)
    assert escaped_text(name) == SHOWN and safe_folder_name(Path(name).stem) == FOLDER
    assert is_escaped(name) and not is_escaped("naïve Ø.png")
    for ok in ("naïve Ø.png", "SOB_B_A-14-22549AB-100-001.png", "a\\xff.png"):  # UTF-8 names stay as they are
        assert escaped_text(ok) == ok and safe_folder_name(ok) == ok
    assert escaped_text("lone \ud800") == "lone \\ud800"  # a surrogate no file name decodes to


def test_predict_scores_a_non_utf8_name_with_a_safe_folder_and_an_escaped_csv(bad_name: Path, tmp_path: Path) -> None:
    model = save_tiny_model(tmp_path / "tiny", seed=3)
    out = tmp_path / "out"
    args = ["predict", bad_name.parent, "--model", model, "--out", out, "--device", "cpu", "--grid", "3x3"]
    done = run_cli(args, timeout=300, env=ENV)
    assert done.returncode == 0, done.stderr
    assert "UnicodeEncodeError" not in done.stderr + done.stdout and "Traceback" not in done.stderr
    assert done.stdout.startswith(f"{SHOWN}: ") and " · 9 tiles · model tiny-3" in done.stdout
    assert sorted(p.name for p in out.iterdir()) == [FOLDER, "summary.csv"]
    assert sorted(p.name for p in (out / FOLDER).iterdir()) == ["heatmap.png", "manifest.json", "overlay.png",
                                                               "tiles.csv", "tiles.geojson"]
    rows = list(csv.DictReader((out / "summary.csv").read_text(encoding="utf-8").splitlines()))  # strict UTF-8
    assert len(rows) == 1 and rows[0]["status"] == "ok" and rows[0]["n_tiles"] == "9"
    assert rows[0]["path"] == escaped_text(str(bad_name)) and rows[0]["path"].endswith("/" + SHOWN)
    geojson = json.loads((out / FOLDER / "tiles.geojson").read_text(encoding="utf-8"))
    assert geojson["bcviewer"]["slide"] == SHOWN
    ids = [f["id"] for f in geojson["features"]]
    assert len(ids) == 9 and ids[0] == str(uuid.uuid5(uuid.UUID("6b1c3a52-8f0e-4c7e-a1d2-bc7e0e5e1a11"),
                                                         f"{SHOWN}/0/0"))
    again = run_cli([*args, "--resume", "--quiet"], timeout=300, env=ENV)  # the manifest finds the same file
    assert again.returncode == 0 and "(1 already complete, skipped)" in again.stderr, again.stderr


def test_a_damaged_file_with_a_non_utf8_name_is_one_escaped_line(tmp_path: Path) -> None:
    raw = os.path.join(os.fsencode(tmp_path), b"dmg_\xff.png")
    with open(raw, "wb") as fh:
        fh.write(PNG.read_bytes()[:3000])
    model = save_tiny_model(tmp_path / "tiny", seed=3)
    done = run_cli(["predict", os.fsdecode(raw), "--model", model, "--out", tmp_path / "out", "--device", "cpu",
                    "--quiet", "--grid", "3x3"], timeout=300, env=ENV)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith(f"bcviewer predict: {tmp_path}/dmg_\\xff.png: ") and "\\udc" not in lines[0]


def test_viewer_opens_a_non_utf8_name_without_a_dialog(qtbot, window, dialogs, bad_name: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    open_and_wait(qtbot, window, str(bad_name))
    assert dialogs == []  # before the fix: "Something went wrong that bcviewer did not expect"
    assert window.windowTitle() == f"{SHOWN} – bcviewer"
    assert window.slide.session.reader is not None and window.slide.session.reader.dimensions == (700, 460)
    assert window.settings.recent_files() == []  # QSettings would keep "bad__name.png", naming no file
    assert window.statusBar().currentMessage() == (f"{escaped_text(str(bad_name))}: its name is not UTF-8, so it is "
                                                    "not added to the recent files")


def test_viewer_scores_a_non_utf8_name_and_exits_cleanly(bad_name: Path, tmp_path: Path) -> None:
    if not (ROOT / "models" / "breakhis-100x" / "card.json").is_file():
        pytest.skip("the shipped breakhis-100x model is not in this checkout")
    env = {**ENV, "QT_QPA_PLATFORM": "offscreen", "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    shot = tmp_path / "shot.png"
    done = run_cli(["open", bad_name, "--run", "--screenshot", shot], timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert shot.is_file() and shot.stat().st_size > 10_000
    for bad in ("Traceback", "did not expect", "Signal source has been deleted", "UnicodeEncodeError"):
        assert bad not in done.stderr, done.stderr


def test_a_name_qt_decoded_with_replacement_characters_finds_its_file(qtbot, window, dialogs,  # type: ignore[no-untyped-def]  # noqa: F811
                                                                       bad_name: Path) -> None:
    from bcviewer.filenames import recovered_path

    as_qt_gives_it = str(bad_name.parent / RAW_NAME.decode("utf-8", "replace"))  # a file dialog or a drop
    assert not Path(as_qt_gives_it).exists()
    assert recovered_path(as_qt_gives_it) == str(bad_name)
    assert recovered_path(str(bad_name.parent / "other.png")) == str(bad_name.parent / "other.png")
    open_and_wait(qtbot, window, as_qt_gives_it)
    assert dialogs == [] and window.slide.session.path == bad_name
    twin = os.path.join(os.fsencode(bad_name.parent), b"bad_\xfe\xff_name.png")  # decodes to the same text
    shutil.copyfile(PNG, twin)
    assert recovered_path(as_qt_gives_it) == as_qt_gives_it  # two candidates: never guess


def test_info_prints_a_non_utf8_name_escaped(bad_name: Path) -> None:
    done = run_cli(["info", bad_name], env=ENV)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"file:        {escaped_text(str(bad_name))}"
    assert "\\xff\\xfe" in done.stdout.splitlines()[0]
