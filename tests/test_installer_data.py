"""The bundles' data files (installer/common.py): models and resources as the wheel has them, never
the ONNX caches the runtime writes next to the weights, byte code or hidden files."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "installer"))
import common  # noqa: E402


def test_bundle_data_leaves_out_runtime_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tmp_path / "models" / "breakhis-100x"
    for name in ("card.json", "weights.safetensors", "weights.onnx", "weights.onnx.json", ".DS_Store"):
        (model / name).parent.mkdir(parents=True, exist_ok=True)
        (model / name).write_text("x")
    (tmp_path / "models" / "__pycache__").mkdir()
    (tmp_path / "models" / "__pycache__" / "a.cpython-311.pyc").write_text("x")
    (tmp_path / "resources" / "sample").mkdir(parents=True)
    (tmp_path / "resources" / "sample" / "a.png").write_text("x")
    monkeypatch.setattr(common, "ROOT", tmp_path)
    assert common.data_files() == [
        (str(model / "card.json"), "bcviewer/_data/models/breakhis-100x"),
        (str(model / "weights.safetensors"), "bcviewer/_data/models/breakhis-100x"),
        (str(tmp_path / "resources" / "sample" / "a.png"), "bcviewer/_data/resources/sample"),
    ]


def test_the_bundles_carry_the_package_data_the_wheel_declares() -> None:
    # The shipped stain reference was once in the wheel but not in the bundles (`open --stain` failed).
    assert (str(ROOT / "bcviewer" / "nets" / "stain_reference.json"), "bcviewer/nets") in common.package_data_files()
    assert (str(ROOT / "bcviewer" / "py.typed"), "bcviewer") in common.package_data_files()


def test_the_wheel_and_the_bundles_leave_out_the_same_caches() -> None:
    ignored = re.search(r"IGNORE = shutil\.ignore_patterns\(([^)]*)\)", (ROOT / "setup.py").read_text())
    assert ignored is not None
    names = set(re.findall(r'"([^"]+)"', ignored.group(1)))
    assert common.RUNTIME_CACHES <= names


def test_the_cpu_bundle_leaves_out_pytorch_and_its_metadata() -> None:
    assert {"torch", "torchvision", "triton", "nvidia", "efficientnet_lite_pytorch", "cuda"} <= set(common.excludes("cpu"))
    assert not {"torch", "torchvision", "nvidia", "cuda"} & set(common.excludes("full"))
    assert set(common.EXCLUDES) <= set(common.excludes("cpu"))
    assert (common.bundle_name("full"), common.bundle_name("cpu")) == ("bcviewer", "bcviewer-cpu")
    with pytest.raises(ValueError, match="unknown bundle flavour"):
        common.excludes("gpu")
    pytest.importorskip("PyInstaller")
    # dist-info (a wheel install) or egg-info (an editable install made by an older route, as in
    # CI's venv): the distribution's name is what precedes "-<version>" or ".egg-info".
    names = {Path(target).name.split("-")[0].lower().removesuffix(".egg") for _, target in common.metadata_datas("cpu")}
    assert "torch" not in names and "torchvision" not in names and "bcviewer" in names


def test_bundles_leave_out_qt_translations_only() -> None:
    datas = [("PySide6/Qt/translations/qtbase_de.qm", "/x/qtbase_de.qm", "DATA"),
             ("PySide6/Qt/plugins/platforms/libqxcb.so", "/x/libqxcb.so", "BINARY"),
             ("bcviewer/_data/models/idc-wsi/card.json", "/x/card.json", "DATA")]
    assert common.shipped_datas(datas) == datas[1:]
