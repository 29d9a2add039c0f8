"""Bad expression tables, bad arguments and damaged gene models: one line and exit 2 (or a warning),
never a traceback, a hang, a probability from non-finite input, or a replaced input file."""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bad_input_helpers import digest, fails_with_one_line
from safetensors.numpy import load_file, save_file

from bcviewer.checksums import sha256_of
from bcviewer.cli.main import main
from bcviewer.genes import GeneModelError
from conftest import ROOT

MODEL = ROOT / "models" / "genes" / "er-status" / "deepcme"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture()
def profile(test_data: Path, tmp_path: Path) -> Path:
    path = tmp_path / "profile.csv"
    shutil.copy(test_data / "genes" / "tcga_er_pam50_160.csv", path)
    return path


def test_predict_out_onto_its_input_is_refused(profile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = digest(profile)
    fails_with_one_line(["genes", "predict", profile, "--out", profile], capsys, "--out", "would overwrite")
    assert digest(profile) == before


def test_a_gzip_bomb_is_refused_without_reading_it_all(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bomb = tmp_path / "bomb.csv.gz"
    line = b"0," * (1 << 20)
    with gzip.open(bomb, "wb", compresslevel=9) as fh:  # one line of 80 MB that compresses ~1000x
        for _ in range(40):
            fh.write(line)
    assert bomb.stat().st_size < 1_000_000
    fails_with_one_line(["genes", "predict", bomb], capsys, "bomb.csv.gz inflates to more than 64 MB",
                        "decompression bomb")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "flipped"])
def test_damaged_gzip_tables_are_one_line(damage: str, test_data: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    data = (test_data / "genes" / "gse1992_pam50_40.csv.gz").read_bytes()
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = bytes((i * 131) % 256 for i in range(4000))
    else:
        data = data[:200] + bytes(b ^ 0xFF for b in data[200:300]) + data[300:]
    bad = tmp_path / "profile.csv.gz"
    bad.write_bytes(data)
    needle = "not gzip-compressed" if damage == "garbage" else "is damaged: its gzip compression cannot be read"
    fails_with_one_line(["genes", "predict", bad], capsys, needle)


@pytest.mark.parametrize("sep", ["xyz", "\\x", "a", ""])
def test_unusable_separators_are_one_line(sep: str, profile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fails_with_one_line(["genes", "predict", profile, "--sep", sep], capsys, "--sep takes comma, tab, semicolon")


@pytest.mark.parametrize("value", ["nan", "inf", "-0.5", "2"])
def test_min_coverage_must_be_a_fraction(value: str, profile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["genes", "predict", str(profile), "--min-coverage", value])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "argument --min-coverage" in err[0], err


def _edit_table(profile: Path, edit: Callable[[pd.DataFrame], None]) -> Path:
    frame = pd.read_csv(profile)
    edit(frame)
    frame.to_csv(profile, index=False)
    return profile


def test_infinite_expression_values_are_refused(profile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit_table(profile, lambda f: f.__setitem__("ESR1", f["ESR1"].where(f.index != 2, np.inf)))
    out = profile.with_name("p.csv")
    fails_with_one_line(["genes", "predict", profile, "--out", out], capsys, "1 expression values are infinite",
                        "gene ESR1")
    assert not out.exists()


def test_values_beyond_any_scale_are_refused(profile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit_table(profile, lambda f: f.__setitem__("ESR1", f["ESR1"].where(f.index != 0, 1e308)))
    out = profile.with_name("p.csv")
    fails_with_one_line(["genes", "predict", profile, "--out", out], capsys, "1 expression values are more than",
                        "gene ESR1: 1e+308")
    assert not out.exists()


def test_extreme_values_warn_and_still_give_finite_probabilities(profile: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    _edit_table(profile, lambda f: f.__setitem__("ESR1", f["ESR1"].where(f.index != 0, 1000.0)))
    out = tmp_path / "p.csv"
    assert main(["genes", "predict", str(profile), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning: 1 samples hold values more than 20 training sd from the training cohort" in err
    assert np.isfinite(pd.read_csv(out)["p"]).all()


def test_a_constant_cohort_is_refused_for_cohort_standardisation_and_warned_otherwise(
        profile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def constant(frame: pd.DataFrame) -> None:
        for column in frame.columns[2:]:
            frame[column] = 7.0

    _edit_table(profile, constant)
    fails_with_one_line(["genes", "predict", profile, "--standardise", "cohort"], capsys,
                        "every measured gene has the same value in every sample")
    # auto sees no spread at all, so not the training platform, and would scale by the cohort: refused too
    fails_with_one_line(["genes", "predict", profile], capsys, "every measured gene has the same value in every sample")
    assert main(["genes", "predict", str(profile), "--standardise", "model", "--out", str(tmp_path / "p.csv")]) == 0
    assert "warning: all 160 samples have identical expression values" in capsys.readouterr().err


# ---- damaged gene models ---------------------------------------------------------------------
def _model_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(MODEL, folder)
    return folder


def _rewrite_weights(folder: Path, change: Callable[[dict[str, np.ndarray]], None]) -> Path:
    weights = folder / "model.safetensors"
    tensors = load_file(str(weights))
    change(tensors)
    save_file(tensors, str(weights))
    return _reseal(folder)


def _reseal(folder: Path) -> Path:
    """Point the card's sha256 at the changed weights, as a careless tool would."""
    card = json.loads((folder / "card.json").read_text())
    card["weights_sha256"] = sha256_of(folder / "model.safetensors")
    (folder / "card.json").write_text(json.dumps(card))
    return folder


def _edit_card(folder: Path, change: Callable[[dict], object]) -> Path:
    card = json.loads((folder / "card.json").read_text())
    result = change(card)
    (folder / "card.json").write_text(json.dumps(card if result is None else result))
    return folder


def _first_net_weight(tensors: dict[str, np.ndarray]) -> str:
    return next(k for k in sorted(tensors) if k.startswith("net.0.") and k.endswith("weight"))


MODEL_DAMAGE: dict[str, tuple[Callable[[Path], Path], str]] = {
    "card is an array": (lambda f: _edit_card(f, lambda c: [c]), "is not a gene model card (it holds a JSON list"),
    "no classifier": (lambda f: _edit_card(f, lambda c: c.pop("classifier") and None), "lacks 'classifier'"),
    "unknown step": (lambda f: _edit_card(f, lambda c: c["preprocessing"][0].update(type="Magic")),
                     "unknown preprocessing step 'Magic'"),
    "empty classes": (lambda f: _edit_card(f, lambda c: c["classifier"].update(classes=[])), "needs at least 2"),
    "no reference.mean": (lambda f: _rewrite_weights(f, lambda t: t.pop("reference.mean")), "lacks 'reference.mean'"),
    "truncated weights": (lambda f: (f / "model.safetensors").write_bytes((f / "model.safetensors").read_bytes()[:5000])
                          and _reseal(f), "is not a valid safetensors file"),
    "oversized header": (lambda f: (f / "model.safetensors").write_bytes((2**40).to_bytes(8, "little") + b"{}")
                         and _reseal(f), "is not a valid safetensors file"),
    "nan weights": (lambda f: _rewrite_weights(f, lambda t: t[_first_net_weight(t)].__setitem__((0,), np.nan)),
                    "contains NaN or infinite values"),
    "int8 weights": (lambda f: _rewrite_weights(f, lambda t: t.update({_first_net_weight(t): t[_first_net_weight(t)]
                                                                         .astype(np.int8)})),
                     "holds int8 values, not floating-point weights"),
    "bool weights": (lambda f: _rewrite_weights(f, lambda t: t.update({_first_net_weight(t): t[_first_net_weight(t)]
                                                                         .astype(bool)})),
                     "holds bool values"),
}


@pytest.mark.parametrize("case", sorted(MODEL_DAMAGE))
def test_damaged_gene_models_are_one_line(case: str, profile: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    damage, needle = MODEL_DAMAGE[case]
    folder = damage(_model_copy(tmp_path))
    out = tmp_path / "p.csv"
    fails_with_one_line(["genes", "predict", profile, "--model", folder, "--out", out], capsys, needle)
    assert not out.exists()


@pytest.mark.parametrize("index_text", ["[\"cnn_bilstm\"]", "\"cnn_bilstm\"", "{\"default\": "])
def test_a_task_index_that_is_not_a_json_object_is_one_clear_error(index_text: str, tmp_path: Path) -> None:
    from bcviewer.genes.catalog import INDEX_NAME, list_tasks

    task = tmp_path / "models" / "er_status"
    shutil.copytree(MODEL, task / "cnn_bilstm")
    (task / INDEX_NAME).write_text(index_text)
    with pytest.raises(GeneModelError, match=r"index.json: unreadable task index \("):
        list_tasks(tmp_path / "models")
