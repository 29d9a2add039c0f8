"""`bcviewer predict` and histology models with bad input: damaged weights and cards, absurd
arguments, outputs that would replace inputs, file names that are not UTF-8; plus the files it
writes (umask, summary.csv appended then replaced atomically, card.json written atomically)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from bad_input_helpers import PNG, digest, fails_with_one_line
from inference_helpers import save_tiny_model
from safetensors.torch import load_file, save_file

from bcviewer.checksums import sha256_of
from bcviewer.cli.main import main
from bcviewer.cli.outputs import SummaryFile
from bcviewer.nets import load_model
from bcviewer.nets.errors import ModelCardError
from bcviewer.nets.store import read_card, update_card

pytestmark = pytest.mark.usefixtures("one_torch_thread")
RUN = ["--device", "cpu", "--quiet", "--grid", "3x3"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("models") / "tiny", seed=3)


def _copy(model: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(model, folder)
    return folder


def _weights(folder: Path, change: Callable[[dict[str, torch.Tensor]], None]) -> Path:
    path = folder / "weights.safetensors"
    state = load_file(str(path))
    change(state)
    save_file(state, str(path))
    card = json.loads((folder / "card.json").read_text())
    card["weights"]["sha256"] = sha256_of(path)  # resealed, as a careless conversion tool would
    (folder / "card.json").write_text(json.dumps(card))
    return folder


def _card(folder: Path, change: Callable[[dict], None]) -> Path:
    card = json.loads((folder / "card.json").read_text())
    change(card)
    (folder / "card.json").write_text(json.dumps(card))
    return folder


def _first_float(state: dict[str, torch.Tensor]) -> str:
    return next(k for k in sorted(state) if state[k].is_floating_point() and state[k].numel() > 1)


DAMAGE: dict[str, tuple[Callable[[Path], Path], str]] = {
    "nan": (lambda f: _weights(f, lambda s: s[_first_float(s)].view(-1).__setitem__(0, float("nan"))),
            "contains NaN or infinite values"),
    "inf": (lambda f: _weights(f, lambda s: s[_first_float(s)].view(-1).__setitem__(0, float("inf"))),
            "contains NaN or infinite values"),
    "int8": (lambda f: _weights(f, lambda s: s.update({_first_float(s): s[_first_float(s)].to(torch.int8)})),
             "is stored as int8, not as floating-point weights"),
    "bool": (lambda f: _weights(f, lambda s: s.update({_first_float(s): s[_first_float(s)].to(torch.bool)})),
             "is stored as bool"),
    "input is a string": (lambda f: _card(f, lambda c: c.update(input="64x48")),
                          "its 'input' section must be a JSON object, not str"),
    "empty classes": (lambda f: _card(f, lambda c: c.update(classes=[])), "'classes' must name at least 2"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_models_are_refused_at_load(case: str, tiny_model: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    damage, needle = DAMAGE[case]
    folder = damage(_copy(tiny_model, tmp_path))
    with pytest.raises(ModelCardError, match=needle.split(",")[0][:20]):
        load_model(folder)
    out = tmp_path / "out"
    fails_with_one_line(["predict", PNG, "--model", folder, "--out", out, *RUN], capsys, needle)
    assert not out.exists()


@pytest.mark.parametrize(("option", "value"), [("--tile-um", "inf"), ("--tile-um", "nan"), ("--tile-um", "0")])
def test_non_finite_tile_sizes_are_usage_errors(option: str, value: str, tiny_model: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    args = ["predict", str(PNG), "--model", str(tiny_model), "--out", str(tmp_path / "o"), option, value]
    with pytest.raises(SystemExit) as stop:  # before the fix: OverflowError (inf) or a raw message (nan)
        main(args)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"argument {option}" in err[0], err


@pytest.mark.parametrize(("option", "value"), [("--min-tissue", "nan"), ("--threshold", "nan"), ("--opacity", "inf")])
def test_non_finite_fractions_are_refused(option: str, value: str, tiny_model: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    fails_with_one_line(["predict", PNG, "--model", tiny_model, "--out", tmp_path / "o", option, value], capsys,
                        f"{option} must be between 0 and 1, got {value}")
    assert not (tmp_path / "o").exists()


def test_outputs_that_would_replace_an_input_are_refused(tiny_model: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    (folder / "x").mkdir(parents=True)
    shutil.copy(PNG, folder / "x.png")
    shutil.copy(PNG, folder / "x" / "heatmap.png")  # where the run would write x.png's heatmap
    before = digest(folder / "x" / "heatmap.png")
    fails_with_one_line(["predict", folder / "x.png", folder / "x" / "heatmap.png", "--model", tiny_model,
                         "--out", folder, *RUN], capsys, "--out", "would overwrite", "heatmap.png")
    assert digest(folder / "x" / "heatmap.png") == before
    assert not (folder / "summary.csv").exists()


def test_each_failed_input_gets_one_stderr_line(tiny_model: Path, tmp_path: Path, test_data: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(PNG.read_bytes()[:3000])
    missing = tmp_path / "missing.png"
    out = tmp_path / "out"
    assert main(["predict", str(bad), str(PNG), str(missing), "--model", str(tiny_model), "--out", str(out),
                 "--formats", "csv", *RUN]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3, lines
    assert lines[0].startswith(f"bcviewer predict: {bad}: ") and "damaged or truncated" in lines[0]
    assert lines[1] == f"bcviewer predict: {missing}: {missing} does not exist"
    assert lines[2].startswith("1 of 3 inputs scored: 1 ") and lines[2].endswith(f"; summary in {out / 'summary.csv'}")


@pytest.mark.skipif(sys.platform != "linux", reason="file names as raw bytes are a Linux matter")
def test_a_file_name_that_is_not_utf8_still_gets_its_summary_row(tiny_model: Path, tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/caf\xe9.png"  # Latin-1 e-acute: not UTF-8
    shutil.copy(PNG, raw)
    out = tmp_path / "out"
    assert main(["predict", os.fsdecode(raw), "--model", str(tiny_model), "--out", str(out), "--formats", "csv",
                 *RUN]) == 0
    data = (out / "summary.csv").read_bytes()
    # Issue 23: the name escaped (summary.csv stays valid UTF-8), the outputs in a %-escaped folder;
    # tests/test_bad_input_names.py covers the rest.
    assert b"caf\\xe9.png,ok," in data and data.decode("utf-8")
    assert (out / "caf%E9" / "tiles.csv").is_file()


def test_outputs_respect_the_umask(tiny_model: Path, tmp_path: Path, test_data: Path) -> None:
    previous = os.umask(0o022)
    try:
        out = tmp_path / "out"
        assert main(["predict", str(PNG), "--model", str(tiny_model), "--out", str(out), *RUN]) == 0
        stem = PNG.stem
        for path in [out / "summary.csv", *(out / stem / n for n in ("tiles.csv", "tiles.geojson", "heatmap.png"))]:
            assert path.stat().st_mode & 0o777 == 0o644, path
        project = tmp_path / "p.bcv"
        assert main(["labels", "import", str(project), str(test_data / "breakhis")]) == 0
        assert main(["labels", "export", str(project), "--csv", str(tmp_path / "labels.csv")]) == 0
        assert (tmp_path / "labels.csv").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(previous)


def test_summary_rows_are_appended_then_replaced_in_input_order(tmp_path: Path) -> None:
    class Row:
        def __init__(self, path: str, status: str = "ok", error: str = "") -> None:
            self.path, self.status, self.error = path, status, error

        def cells(self) -> list[str]:
            return [self.path, self.status, self.error]

    path = tmp_path / "summary.csv"
    summary = SummaryFile.start(path, ("path", "status", "error"))
    rows: list[Row | None] = [None, None, None]
    assert path.read_text() == "path,status,error\n"
    rows[2] = Row("c.png")
    summary.sync(rows)
    inode = path.stat().st_ino
    rows[0] = Row("a.png", "error", "damaged")
    summary.sync(rows)
    assert path.read_text() == "path,status,error\nc.png,ok,\na.png,error,damaged\n"
    assert path.stat().st_ino == inode  # appended in place, not rewritten
    rows[1] = Row("b.png")
    summary.finish(rows)
    assert list(csv.reader(path.open())) == [["path", "status", "error"], ["a.png", "error", "damaged"],
                                             ["b.png", "ok", ""], ["c.png", "ok", ""]]


def test_a_crash_while_updating_the_card_leaves_the_old_card(tiny_model: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _copy(tiny_model, tmp_path)
    before = (folder / "card.json").read_bytes()

    def crash(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(ModelCardError, match="No space left on device"):
        update_card(folder, {"metrics": {"accuracy": 0.9}})
    monkeypatch.undo()
    assert (folder / "card.json").read_bytes() == before
    assert read_card(folder)["name"] == "tiny-3"
    cache = {"weights.onnx", "weights.onnx.json"}  # the ONNX Runtime cache written when the model is used
    assert sorted(p.name for p in folder.iterdir() if p.name not in cache) == ["card.json", "weights.safetensors"]
    load_model(folder)


def test_a_refused_input_is_one_line_and_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["predict", "nosuch.png"]) == 2
    assert capsys.readouterr().err.splitlines() == ["bcviewer predict: nosuch.png does not exist"]
    assert main(["predict", "nosuch.png", "typo.svs"]) == 2
    assert capsys.readouterr().err.splitlines() == ["bcviewer predict: nosuch.png does not exist (nor do 1 more)"]
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    assert main(["predict", str(empty)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"bcviewer predict: {empty}: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.png"]  # no bcviewer-predictions folder
    kept = tmp_path / "kept"
    kept.mkdir()
    assert main(["predict", str(empty), "nosuch.png"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == "none of the 2 inputs could be scored; nothing was written"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.png", "kept"]
    assert main(["predict", str(empty), "nosuch.png", "--out", str(kept)]) == 2  # an --out that existed: the table
    assert capsys.readouterr().err.splitlines()[-1] == f"0 of 2 inputs scored; summary in {kept / 'summary.csv'}"
    assert [p.name for p in kept.iterdir()] == ["summary.csv"]
