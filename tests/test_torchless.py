"""An install without PyTorch (the CPU bundle, ``pip install bcviewer``): the sample predicted, the
viewer's analysis, a Dask batch and doctor, in an environment where torch is not installed
(tests/torchless.py), with the numbers the full install's ONNX runtime gives."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from torchless import check_torch_absent, run_torchless, torchless_venv

from bcviewer.cli.main import main
from conftest import ROOT

SAMPLE = ROOT / "resources" / "sample" / "SOB_M_MC-14-13413-100-003.png"
TORCH_LINE = "needs PyTorch, which this install does not have"


@pytest.fixture(scope="module")
def python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = torchless_venv(tmp_path_factory.mktemp("torchless") / "venv")
    check_torch_absent(env)
    return env


def _tiles(folder: Path) -> dict[tuple[str, str], float]:
    """p_malignant per tile (x, y) of the one input predicted into ``folder``."""
    (tiles,) = list(folder.glob("*/tiles.csv"))
    with tiles.open(newline="") as fh:
        return {(row["x"], row["y"]): float(row["p_malignant"]) for row in csv.DictReader(fh)}


def _summary(folder: Path) -> dict[str, str]:
    with (folder / "summary.csv").open(newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    return row


def test_the_sample_predicted_without_torch_matches_the_full_install(python: Path, tmp_path: Path) -> None:
    done = run_torchless(python, ["-m", "bcviewer", "predict", str(SAMPLE), "--out", str(tmp_path / "cpu")])
    assert done.returncode == 0, done.stderr
    assert "malignant" in done.stdout and "9 tiles" in done.stdout
    assert main(["predict", str(SAMPLE), "--out", str(tmp_path / "full"), "--runtime", "onnx", "--quiet"]) == 0
    assert main(["predict", str(SAMPLE), "--out", str(tmp_path / "torch"), "--runtime", "torch", "--device", "cpu",
                 "--quiet"]) == 0
    cpu, full, by_torch = (_tiles(tmp_path / name) for name in ("cpu", "full", "torch"))
    assert len(cpu) == 9 and cpu.keys() == full.keys() == by_torch.keys()
    keys = sorted(cpu)
    np.testing.assert_allclose([cpu[k] for k in keys], [full[k] for k in keys], rtol=0, atol=1e-5)
    np.testing.assert_allclose([cpu[k] for k in keys], [by_torch[k] for k in keys], rtol=0, atol=1e-4)
    assert abs(float(_summary(tmp_path / "cpu")["p_malignant"]) - float(_summary(tmp_path / "full")["p_malignant"])) \
        <= 1e-5
    assert _summary(tmp_path / "cpu")["verdict"] == "malignant"


def test_what_needs_torch_says_so_in_one_line(python: Path, tmp_path: Path) -> None:
    for extra in (["--runtime", "torch"], ["--device", "cuda"]):
        done = run_torchless(python, ["-m", "bcviewer", "predict", str(SAMPLE), "--out", str(tmp_path / "x"), *extra])
        assert done.returncode == 2 and TORCH_LINE in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
        assert not (tmp_path / "x").exists()
    done = run_torchless(python, ["-m", "bcviewer", "export-onnx", "breakhis-100x"])
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "bcviewer export-onnx: bcviewer export-onnx " + TORCH_LINE
        + " (a CPU-only install); install the full bundle, or 'pip install \"bcviewer[torch]\"'"]


def test_doctor_lists_what_this_install_cannot_do(python: Path) -> None:
    done = run_torchless(python, ["-m", "bcviewer", "doctor", "--no-qt"])
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    assert "device: cpu (PyTorch not installed; " in done.stdout
    assert any(line.startswith("runtime (auto): ONNX Runtime, because PyTorch is not installed") for line in lines)
    assert "  NO   training, the Lite self-learning trainer, exporting models to ONNX (needs PyTorch (full install))" \
        in lines
    assert "  yes  analysis on the CPU (ONNX Runtime: onnx, int8)" in lines
    assert any(" breakhis-100x " in line and "sha256 ok" in line for line in lines)


def test_a_changed_shipped_onnx_file_is_refused_without_torch(python: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(ROOT / "models" / "breakhis-100x", tmp_path / "m",
                             ignore=shutil.ignore_patterns("weights.onnx", "weights.onnx.json"))
    data = bytearray((folder / "weights.fp32.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / "weights.fp32.onnx").write_bytes(bytes(data))
    done = run_torchless(python, ["-m", "bcviewer", "predict", str(SAMPLE), "--model", str(folder),
                                  "--out", str(tmp_path / "out")])
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "does not match the model card of breakhis-100x (sha256)" in done.stderr
    assert "no PyTorch to export one from the weights; run 'bcviewer export-onnx breakhis-100x' on a full install" \
        in done.stderr


def test_the_viewer_analyses_the_sample_without_torch(python: Path, tmp_path: Path) -> None:
    shot = tmp_path / "window.png"
    done = run_torchless(python, ["-m", "bcviewer", "open", str(SAMPLE), "--run", "--screenshot", str(shot),
                                  "--timeout", "240"])
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.stat().st_size > 10_000


@pytest.mark.slow
def test_a_dask_batch_runs_without_torch(python: Path, tmp_path: Path, test_data: Path) -> None:
    pytest.importorskip("distributed", reason="the cluster extra (Dask) is not installed")
    done = run_torchless(python, ["-m", "bcviewer", "predict", str(test_data / "breakhis"), "--workers", "2",
                                  "--out", str(tmp_path / "out"), "--quiet", "--report"])
    assert done.returncode == 0, done.stderr[-2000:]
    with (tmp_path / "out" / "summary.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(list((test_data / "breakhis").glob("*.png"))) and {r["status"] for r in rows} == {"ok"}
    reports = sorted((tmp_path / "out").glob("*/report.pdf"))  # reportlab renders without torch, on the workers
    assert len(reports) == len(rows) and all(r.read_bytes().startswith(b"%PDF-") for r in reports)


def test_the_window_offers_no_pytorch_runtime_and_forgets_a_remembered_one(python: Path, tmp_path: Path) -> None:
    code = f"""
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
from bcviewer.gui.main_window import MainWindow
from bcviewer.gui.settings import ViewerSettings
app = QApplication([])
store = QSettings({str(tmp_path / 'settings.ini')!r}, QSettings.Format.IniFormat)
settings = ViewerSettings(store)
settings.set_runtime("torch")  # remembered from a full install
win = MainWindow(settings)
(torch,) = [a for a in win.action_set.runtime_group.actions() if a.data() == "torch"]
checked = [a.data() for a in win.action_set.runtime_group.actions() if a.isChecked()]
print(torch.isEnabled(), torch.text(), checked, settings.runtime(), sep="|")
print(torch.statusTip())
print(win.statusBar().currentMessage())
"""
    done = run_torchless(python, ["-c", code])
    assert done.returncode == 0, done.stderr[-2000:]
    state, tip, message = done.stdout.splitlines()[-3:]
    assert state == "False|PyTorch (not installed)|['auto']|auto"
    assert tip.startswith("The PyTorch runtime " + TORCH_LINE)
    assert message.startswith("The PyTorch runtime " + TORCH_LINE) and message.endswith("; using Automatic")


def test_explain_runs_occlusion_without_torch(python: Path, tmp_path: Path) -> None:
    out = tmp_path / "explain.png"
    done = run_torchless(python, ["-m", "bcviewer", "explain", str(SAMPLE), "--tile", "350,230", "--out", str(out)])
    assert done.returncode == 0, done.stderr
    assert "p_malignant 0.7957" in done.stdout and "method: occlusion, 18x18 px window" in done.stdout
    assert out.stat().st_size > 10_000
    done = run_torchless(python, ["-m", "bcviewer", "explain", str(SAMPLE), "--tile", "350,230", "--runtime", "torch",
                                  "--out", str(tmp_path / "torch.png")])
    assert done.returncode == 2 and TORCH_LINE in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "torch.png").exists()
