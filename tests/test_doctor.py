"""``bcviewer doctor`` and the model/resource lookup of bcviewer.paths, on the shipped files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bcviewer import paths
from bcviewer.cli.doctor import collect
from bcviewer.cli.main import main
from bcviewer.genes.catalog import list_tasks
from bcviewer.genes.store import list_models, resolve_model_dir
from bcviewer.nets.store import resolve_model_dir as resolve_histology

ROOT = Path(__file__).resolve().parent.parent
HISTOLOGY_BUDGET_BYTES = 60 * 1024 * 1024  # all shipped histology models together (issue 12)


@pytest.fixture()
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No model overrides, and a user data folder under tmp_path."""
    monkeypatch.delenv(paths.MODELS_ENV, raising=False)
    monkeypatch.delenv(paths.GENE_MODELS_ENV, raising=False)
    monkeypatch.setattr(paths.platformdirs, "user_data_dir", lambda *a, **k: str(tmp_path / "user"))
    return tmp_path / "user"


def test_source_checkout_reads_the_top_level_folders(clean_env: Path) -> None:
    assert paths.data_root() == ROOT
    assert paths.sample_image() == ROOT / "resources" / "sample" / "SOB_M_MC-14-13413-100-003.png"
    assert paths.sample_image().is_file() and (paths.icons_dir() / "bcviewer.svg").is_file()
    assert paths.model_search_dirs() == [ROOT / "models", clean_env / "models"]
    assert paths.gene_model_dirs() == [ROOT / "models" / "genes", clean_env / "models" / "genes"]


def test_every_folder_under_models_is_found_and_histology_fits_the_budget(clean_env: Path) -> None:
    shipped = sorted(p.name for p in (ROOT / "models").iterdir() if (p / "card.json").is_file())
    assert {"breakhis-100x", "idc-wsi"} <= set(shipped)
    for name in shipped:
        assert resolve_histology(name) == ROOT / "models" / name
    # the ONNX Runtime cache a checkout writes next to the weights is not shipped (setup.py leaves it out)
    caches = {"weights.onnx", "weights.onnx.json"}
    size = sum(f.stat().st_size for name in shipped for f in (ROOT / "models" / name).rglob("*")
               if f.is_file() and f.name not in caches)
    assert size <= HISTOLOGY_BUDGET_BYTES, f"shipped histology models take {size / 2**20:.1f} MB > 60 MB"


def test_user_gene_models_are_found_after_the_shipped_ones(clean_env: Path) -> None:
    shipped = ROOT / "models" / "genes" / "er-status"
    user_task = clean_env / "models" / "genes" / "er-status-copy"
    shutil.copytree(shipped, user_task)
    assert "er-status-copy" in [t.name for t in list_tasks()]
    assert "er-status-copy/gexpnet" in list_models()
    assert resolve_model_dir("er-status-copy/gexpnet") == user_task / "gexpnet"
    assert resolve_model_dir("er-status/gexpnet") == shipped / "gexpnet"  # shipped folder first


def test_doctor_lists_shipped_models_with_good_checksums(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--no-qt", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["bcviewer"]["install"] == "source"
    assert report["bcviewer"]["sample"] == str(paths.sample_image())
    models = {(m["kind"], m["name"]): m["status"] for m in report["models"]["models"]}
    assert models[("histology", "breakhis-100x")] == "ok" and models[("histology", "idc-wsi")] == "ok"
    assert models[("genes", "er-status/gexpnet")] == "ok"
    assert [f["path"] for f in report["models"]["folders"]][:2] == [str(ROOT / "models"), str(clean_env / "models")]
    assert report["versions"]["torch"] and report["versions"]["PySide6-Essentials"]
    assert report["device"]["chosen"] in ("cpu", "cuda", "mps") and report["problems"] == []


def test_doctor_flags_weights_that_do_not_match_their_card(clean_env: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    shutil.copytree(ROOT / "models" / "genes" / "er-status" / "gexpnet", store / "tampered")
    card = json.loads((store / "tampered" / "card.json").read_text())
    card = {"weights": {"file": card["weights"], "sha256": card["weights_sha256"]}}
    (store / "tampered" / "card.json").write_text(json.dumps(card))
    weights = store / "tampered" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    monkeypatch.setenv(paths.MODELS_ENV, str(store))
    assert main(["doctor", "--no-qt"]) == 1
    out = capsys.readouterr().out
    assert f"model tampered ({store / 'tampered'}): sha256 MISMATCH in model.safetensors" in out
    assert "breakhis-100x                sha256 ok" in out


def test_doctor_probes_qt_in_a_child_process() -> None:
    report = collect(probe_qt=True)
    assert report["qt"]["ok"] and report["qt"]["platform"] == "offscreen"  # conftest sets offscreen


def test_a_qt_that_cannot_start_is_reported_not_crashed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_QPA_PLATFORM", "no-such-platform")
    report = collect(probe_qt=True)
    assert not report["qt"]["ok"]
    assert "no-such-platform" in report["qt"]["error"]
    assert any(p.startswith("Qt: Qt failed to start") for p in report["problems"])


def test_doctor_says_which_runtime_auto_uses_and_why(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from bcviewer.cli.doctor import auto_runtime

    assert main(["doctor", "--no-qt"]) == 0
    line = next(t for t in capsys.readouterr().out.splitlines() if t.startswith("runtime"))
    if not torch.cuda.is_available():  # CI and this project's machines: CPU only
        assert line.startswith("runtime (auto): ONNX Runtime, because the device is the CPU (no CUDA or MPS device), "
                               "where auto uses ONNX Runtime's CPU provider; ONNX Runtime providers: ")
        assert "CPUExecutionProvider" in line
    assert auto_runtime(torch.device("cuda", 0), True) == {
        "auto": "torch", "engine": "PyTorch", "why": "the device is CUDA (cuda:0), where auto uses PyTorch"}
    assert auto_runtime(torch.device("cpu"), False)["why"].endswith(
        "; ONNX Runtime is NOT installed, so predict and the viewer cannot run (pip install onnxruntime)")
