"""The wheel and the sdist carry models/ and resources/, and an installed wheel runs from any folder.

The wheel is built from this checkout (no build isolation: no download), installed non-editable
into a fresh venv that borrows the dependencies this interpreter imports (a .pth file naming its
site-packages folders, whether the tests run in a venv or not; the wheel itself is a real
install), and run from a temporary folder outside the source tree.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DATA_DIRS = ("models", "resources")


RUNTIME_CACHE = {"weights.onnx", "weights.onnx.json"}  # setup.py's IGNORE leaves the ONNX cache out


def shipped_files() -> dict[str, int]:
    """Relative path -> size of every file setup.py copies into bcviewer/_data."""
    return {f.relative_to(ROOT).as_posix(): f.stat().st_size for d in DATA_DIRS for f in sorted((ROOT / d).rglob("*"))
            if f.is_file() and "__pycache__" not in f.parts and not f.name.startswith(".")
            and f.name not in RUNTIME_CACHE}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True, text=True)
    (found,) = out.glob("bcviewer-*.whl")
    return found


def dependency_dirs() -> list[str]:
    """The site-packages folders this interpreter imports from, in order: a venv's own when the
    tests run in one, then any it borrows. ``venv --system-site-packages`` would borrow the base
    interpreter's instead, which lack what was installed into the tests' venv."""
    return [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages") and Path(p).is_dir()]


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A fresh venv holding the wheel; its bin folder and an environment without model overrides."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(wheel)],
                   check=True, capture_output=True, text=True)
    # Only now borrow the dependencies, so pip never sees (or touches) the checkout's own install.
    site_dir = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              check=True, capture_output=True, text=True).stdout.strip()
    (Path(site_dir) / "borrowed-dependencies.pth").write_text("".join(f"{d}\n" for d in dependency_dirs()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BCVIEWER_") and k != "PYTHONPATH"}
    env.update(XDG_DATA_HOME=str(venv / "user-data"), XDG_CACHE_HOME=str(venv / "user-cache"), QT_QPA_PLATFORM="offscreen")
    return venv / "bin", env


def test_wheel_holds_every_model_and_resource(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        inside = {i.filename: i.file_size for i in zf.infolist()}
    expected = {f"bcviewer/_data/{name}": size for name, size in shipped_files().items()}
    assert {"bcviewer/_data/models/breakhis-100x/weights.safetensors", "bcviewer/_data/models/idc-wsi/card.json",
            "bcviewer/_data/models/breakhis-100x/trunk.onnx",  # the torch-free self-learning trunk
            "bcviewer/_data/resources/sample/SOB_M_MC-14-13413-100-003.png",
            "bcviewer/_data/resources/icons/bcviewer.svg",
            "bcviewer/_data/models/genes/er-status/ensemble/model.onnx"} <= set(expected)
    assert {k: inside.get(k) for k in expected} == expected
    assert "bcviewer/paths.py" in inside and "bcviewer/py.typed" in inside
    assert "bcviewer/nets/stain_reference.json" in inside  # the shipped stain references (package data)


def test_sdist_holds_models_and_resources(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", f"from setuptools import build_meta; print(build_meta.build_sdist({str(tmp_path)!r}))"],
                          cwd=ROOT, check=True, capture_output=True, text=True)
    sdist = tmp_path / done.stdout.strip().splitlines()[-1]
    with tarfile.open(sdist) as tf:
        inside = {m.name.split("/", 1)[1]: m.size for m in tf.getmembers() if m.isfile()}
    assert {k: inside.get(k) for k in shipped_files()} == shipped_files()
    assert "setup.py" in inside and "MANIFEST.in" in inside


def _tile_probabilities(out: Path) -> list[str]:
    (tiles,) = out.glob("*/tiles.csv")
    with tiles.open() as fh:
        return [row["p_malignant"] for row in csv.DictReader(fh)]


def test_installed_wheel_runs_from_another_folder(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    bin_dir, env = installed

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(bin_dir / "bcviewer"), *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600, check=False)

    doctor = run("doctor", "--no-qt", "--json")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    report = json.loads(doctor.stdout)
    assert report["bcviewer"]["install"] == "wheel"
    assert report["bcviewer"]["data"].startswith(str(bin_dir.parent))
    assert {m["name"] for m in report["models"]["models"] if m["status"] == "ok"} >= {"breakhis-100x", "idc-wsi",
                                                                                         "er-status/gexpnet"}
    sample = Path(report["bcviewer"]["sample"])
    assert sample.is_file() and not sample.is_relative_to(ROOT)

    done = run("predict", str(sample), "--out", "wheel-out", "--quiet", "--report")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "wheel-out" / sample.stem / "report.pdf").read_bytes().startswith(b"%PDF-")
    source = subprocess.run([sys.executable, "-m", "bcviewer", "predict", str(ROOT / "resources" / "sample" / sample.name),
                             "--out", str(tmp_path / "source-out"), "--quiet"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600, check=False)
    assert source.returncode == 0, source.stderr
    assert len(_tile_probabilities(tmp_path / "wheel-out")) == 9
    assert _tile_probabilities(tmp_path / "wheel-out") == _tile_probabilities(tmp_path / "source-out")

    code = "from bcviewer.nets.stain import default_reference as d; print(d('macenko').source)"
    stain = subprocess.run([str(bin_dir / "python"), "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=120, check=False)
    assert stain.returncode == 0 and "14-12465" in stain.stdout, stain.stderr

    genes = run("genes", "models")
    assert genes.returncode == 0 and "er-status/gexpnet" in genes.stdout

    # a fast self-learning round: the Lite trunk comes from the installed breakhis-100x, features to the user cache
    assert run("labels", "import", "p.bcv", str(ROOT / "tests" / "data" / "breakhis")).returncode == 0
    rounds = run("selflearn", "p.bcv", "--rounds", "1", "--quiet", "--json", "rounds.json")
    assert rounds.returncode == 0, rounds.stderr
    stats = json.loads((tmp_path / "rounds.json").read_text())
    assert [(r["round"], r["tau"]) for r in stats["rounds"]] == [(1, 0.1)] and stats["rounds"][0]["heldout"]["images"] == 2

    shot = run("open", "--run", "--screenshot", "shot.png")  # default size 1400x860
    assert shot.returncode == 0, shot.stderr
    pixels = np.asarray(Image.open(tmp_path / "shot.png").convert("RGB"))
    assert pixels.shape == (860, 1400, 3) and pixels.std() > 20  # a real window, not a blank frame


def test_every_dependency_has_a_floor_the_minimum_job_can_pin() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    done = subprocess.run([sys.executable, str(ROOT / ".ci" / "floors.py"), "test"], capture_output=True, text=True,
                          check=True)
    pins = dict(line.split("==") for line in done.stdout.split())
    names = {re.match(r"[A-Za-z0-9_.\-]+", r).group(0) for r in project["dependencies"]}
    assert names <= set(pins) and {"pytest", "pytest-qt"} <= set(pins)
    assert pins["scikit-image"] == "0.26.0" and pins["scipy"] and pins["albumentations"] == "2.0.4"
    pyside = next(r for r in project["dependencies"] if r.startswith("PySide6-Essentials"))
    assert "!=6.12.0" in pyside  # every Signal.emit() drops a reference to True in 6.12.0


def test_installed_wheel_runs_without_torch(wheel: Path, tmp_path_factory: pytest.TempPathFactory,
                                            tmp_path: Path) -> None:
    """The wheel pip-installed into an environment holding every dependency but PyTorch."""
    from torchless import check_torch_absent, run_torchless, torchless_venv

    python = torchless_venv(tmp_path_factory.mktemp("torchless-wheel") / "venv", wheel)
    check_torch_absent(python)
    env = {"XDG_DATA_HOME": str(tmp_path / "user-data"), "XDG_CACHE_HOME": str(tmp_path / "user-cache")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_torchless(python, ["-m", "bcviewer", *args], cwd=tmp_path, env=env)

    doctor = run("doctor", "--no-qt", "--json")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    report = json.loads(doctor.stdout)
    assert report["bcviewer"]["install"] == "wheel" and report["device"]["torch"] is None
    assert {m["name"] for m in report["models"]["models"] if m["status"] == "ok"} >= {"breakhis-100x", "idc-wsi"}
    sample = Path(report["bcviewer"]["sample"])
    assert not sample.is_relative_to(ROOT)
    done = run("predict", str(sample), "--out", "wheel-out", "--quiet", "--report")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "wheel-out" / sample.stem / "report.pdf").read_bytes().startswith(b"%PDF-")
    source = subprocess.run([sys.executable, "-m", "bcviewer", "predict", str(ROOT / "resources" / "sample" / sample.name),
                             "--runtime", "onnx", "--out", str(tmp_path / "source-out"), "--quiet"], cwd=ROOT,
                            capture_output=True, text=True, timeout=600, check=False)
    assert source.returncode == 0, source.stderr
    assert len(_tile_probabilities(tmp_path / "wheel-out")) == 9
    assert _tile_probabilities(tmp_path / "wheel-out") == _tile_probabilities(tmp_path / "source-out")
    assert run("labels", "import", "p.bcv", str(ROOT / "tests" / "data" / "breakhis")).returncode == 0
    # the default (probe) trainer on the installed trunk.onnx, features in the user cache
    rounds = run("selflearn", "p.bcv", "--rounds", "1", "--quiet", "--json", "rounds.json")
    assert rounds.returncode == 0, rounds.stderr
    stats = json.loads((tmp_path / "rounds.json").read_text())
    assert [(r["round"], r["tau"]) for r in stats["rounds"]] == [(1, 0.1)] and stats["rounds"][0]["heldout"]["images"] == 2
