"""`predict --resume` with damaged manifests (issue 23): every manifest that is not of the schema,
or not a regular file, means "redo this input"; never a traceback, and summary.csv keeps its rows.

One real run of the tiny model on a BreakHis image gives the outputs; each case copies them,
damages OUT/<name>/manifest.json in one way, and resumes.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from bad_input_helpers import PNG, run_cli
from inference_helpers import save_tiny_model

from bcviewer.batch.manifest import MANIFEST_FORMAT, read_manifest
from bcviewer.batch.manifest_schema import manifest_problem
from bcviewer.cli.main import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")
RUN = ["--device", "cpu", "--quiet", "--grid", "3x3", "--formats", "csv"]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(model folder, output folder of one complete run on PNG)."""
    base = tmp_path_factory.mktemp("resume")
    model = save_tiny_model(base / "tiny", seed=5)
    out = base / "out"
    assert main(["predict", str(PNG), "--model", str(model), "--out", str(out), *RUN]) == 0
    return model, out


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "summary.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _edit(change: Callable[[dict[str, Any]], Any]) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        data = json.loads(path.read_text())
        replaced = change(data)
        path.write_text(json.dumps(data if replaced is None else replaced))
    return apply


def _set(section: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d[section].__setitem__(key, value)


DAMAGES: dict[str, Callable[[Path], None]] = {
    "outputs is a list": _edit(lambda d: d.__setitem__("outputs", list(d["outputs"]))),
    "p_malignant is a string": _edit(_set("summary", "p_malignant", "0.42")),
    "n_tiles is true": _edit(_set("summary", "n_tiles", True)),
    "summary has an unknown field": _edit(_set("summary", "colour", "red")),
    "summary is a list": _edit(lambda d: d.__setitem__("summary", [1, 2])),
    "input path is a number": _edit(_set("input", "path", 7)),
    "model is null": _edit(lambda d: d.__setitem__("model", None)),
    "options is a string": _edit(lambda d: d.__setitem__("options", "all")),
    "an output named ../x": _edit(lambda d: d["outputs"].__setitem__("../x", "0" * 64)),
    "the manifest is a JSON list": _edit(lambda d: [d]),
    "cut in half": lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
    "not UTF-8": lambda p: p.write_bytes(b"\xff\xfe" + p.read_bytes()),
    "nested 100000 deep": lambda p: p.write_text("[" * 100_000 + "]" * 100_000),
}


@pytest.mark.parametrize("case", list(DAMAGES))
def test_an_invalid_manifest_means_redo_the_input(case: str, first_run: tuple[Path, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    model, done = first_run
    out = tmp_path / "out"
    shutil.copytree(done, out)
    expected = _rows(done)
    manifest = out / PNG.stem / "manifest.json"
    DAMAGES[case](manifest)
    assert read_manifest(manifest.parent) is None
    capsys.readouterr()
    assert main(["predict", str(PNG), "--model", str(model), "--out", str(out), "--resume", *RUN]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "(0 already complete, skipped)" in err, err
    # Scored again, with the same numbers, and summary.csv holds its row (never cut back to its header).
    assert _rows(out) == expected
    original = json.loads((done / PNG.stem / "manifest.json").read_text())
    assert json.loads(manifest.read_text())["summary"] == original["summary"]


def test_a_valid_manifest_is_still_trusted(first_run: tuple[Path, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    model, done = first_run
    out = tmp_path / "out"
    shutil.copytree(done, out)
    capsys.readouterr()
    assert main(["predict", str(PNG), "--model", str(model), "--out", str(out), "--resume", *RUN]) == 0
    assert "(1 already complete, skipped)" in capsys.readouterr().err
    assert _rows(out) == _rows(done)


def test_manifest_problems_name_the_field(first_run: tuple[Path, Path]) -> None:
    good = json.loads((first_run[1] / PNG.stem / "manifest.json").read_text())
    assert manifest_problem(good, MANIFEST_FORMAT) is None
    bad = json.loads(json.dumps(good))
    bad["summary"]["p_malignant"] = "0.42"
    assert manifest_problem(bad, MANIFEST_FORMAT) == "summary.p_malignant is str '0.42'"
    bad = json.loads(json.dumps(good))
    bad["outputs"] = ["tiles.csv"]
    assert manifest_problem(bad, MANIFEST_FORMAT) == "outputs is not an object of file name -> sha256"
    nan = json.loads(json.dumps(good))
    nan["summary"]["p_malignant"] = float("nan")  # no tile scored: a valid row
    assert manifest_problem(nan, MANIFEST_FORMAT) is None


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are a POSIX matter")
def test_a_fifo_manifest_does_not_hang_resume(first_run: tuple[Path, Path], tmp_path: Path) -> None:
    model, done = first_run
    out = tmp_path / "out"
    shutil.copytree(done, out)
    manifest = out / PNG.stem / "manifest.json"
    manifest.unlink()
    os.mkfifo(manifest)
    assert read_manifest(manifest.parent) is None  # returns at once: the FIFO is never opened blocking
    # A child process, so that a regression fails by timeout instead of hanging the suite.
    result = run_cli(["predict", PNG, "--model", model, "--out", out, "--resume", *RUN], timeout=120)
    assert result.returncode == 0, result.stderr
    assert "(0 already complete, skipped)" in result.stderr and "Traceback" not in result.stderr
    assert manifest.is_file() and not manifest.is_fifo()  # redone: a regular manifest replaced the FIFO
    assert _rows(out) == _rows(done)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are a POSIX matter")
def test_an_output_that_is_a_fifo_is_refused_not_hashed(first_run: tuple[Path, Path], tmp_path: Path) -> None:
    model, done = first_run
    out = tmp_path / "out"
    shutil.copytree(done, out)
    tiles = out / PNG.stem / "tiles.csv"
    tiles.unlink()
    os.mkfifo(tiles)  # the manifest is valid; hashing this output would block forever
    result = run_cli(["predict", PNG, "--model", model, "--out", out, "--resume", *RUN], timeout=120)
    # Outputs are regular files only (docs/bad-input.md): the pipe is neither read nor replaced.
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0] == (f"bcviewer predict: --out {tiles} is a named pipe, not a regular file; bcviewer writes "
                        "outputs only to regular files (give - for standard output). Nothing was written")
    assert stat.S_ISFIFO(os.stat(tiles).st_mode)
