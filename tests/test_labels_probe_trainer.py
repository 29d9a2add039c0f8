"""The torch-free default self-learning trainer: the shipped ONNX trunk against the torch trunk, the
card's sha256 check of ``trunk.onnx``, a deterministic round on the four BreakHis fixtures, imports
without PyTorch, and one ``bcviewer selflearn`` round in an environment that has no PyTorch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from labels_helpers import fixture_project
from torchless import check_torch_absent, run_torchless, torchless_venv

from bcviewer.labels import (
    LabelStore,
    SelfLearningCancelled,
    SelfLearningEngine,
    SubImageRef,
    TauSchedule,
)
from bcviewer.labels.probe_trainer import pooled_features, probe_trainer
from bcviewer.nets.errors import ModelCardError
from bcviewer.nets.onnx_files import OnnxFileMissingError
from bcviewer.nets.preprocess import InputSpec, preprocess_numpy, resize_tiles
from bcviewer.nets.trunk_runtime import shipped_onnx_trunk
from bcviewer.slides import open_slide

MODEL = ROOT / "models" / "breakhis-100x"
HELDOUT = frozenset({"14-12465", "14-14134E"})  # PC (malignant) and BF (benign); BA and DC train
# Measured: largest |ONNX Runtime - torch| over the 36 fixture sub-images' 80x9x14 maps is 1.2e-4
# (values up to 38, so about 3e-6 of their range); the bound leaves room for other CPUs' kernels.
PARITY_ATOL = 5e-4


@pytest.fixture()
def store(tmp_path: Path, test_data: Path) -> Iterator[LabelStore]:
    s = fixture_project(tmp_path / "project.bcv", test_data / "breakhis")
    yield s
    s.close()


def _tiles(refs: list[SubImageRef], spec: InputSpec) -> np.ndarray:
    tiles = []
    for ref in refs:
        with open_slide(ref.path) as slide:
            tiles.append(resize_tiles(slide.read_region(0, ref.x, ref.y, ref.w, ref.h)[None], spec.size)[0])
    return np.stack(tiles)


def _parity(refs: list[SubImageRef]) -> float:
    torch = pytest.importorskip("torch")
    from bcviewer.nets.trunk_export import shipped_trunk

    trunk, loaded = shipped_trunk(MODEL)
    shipped = shipped_onnx_trunk(MODEL, threads=1)
    assert shipped.spec == loaded.spec
    x = preprocess_numpy(_tiles(refs, shipped.spec), shipped.spec)
    with torch.no_grad():
        expected = trunk(torch.from_numpy(x)).numpy()
    got = shipped.run(x)
    assert got.shape == expected.shape == (len(refs), 80, 9, 14)
    # the batch axis is dynamic: one sub-image alone and five together give the same maps
    assert np.allclose(shipped.run(x[:1]), got[:1], atol=1e-5) and np.allclose(shipped.run(x[3:8]), got[3:8], atol=1e-5)
    return float(np.abs(got - expected).max())


def test_onnx_trunk_matches_the_torch_trunk_on_the_fixtures(store: LabelStore) -> None:
    assert _parity(store.subimage_refs()) <= PARITY_ATOL


@pytest.mark.shared
def test_onnx_trunk_matches_the_torch_trunk_on_real_images(tmp_path: Path, shared_data: Path) -> None:
    from bcviewer.labels.importer import import_images

    folder = tmp_path / "images"
    folder.mkdir()
    for src in sorted((shared_data / "breakhis").rglob("*.png"))[::40]:  # 8 images across the subtypes
        shutil.copy(src, folder / src.name)
    with LabelStore.create(tmp_path / "real.bcv") as real:
        import_images(real, [folder])
        refs = real.subimage_refs()
    assert len(refs) >= 60
    assert _parity(refs) <= PARITY_ATOL


def test_the_card_refuses_a_changed_trunk_file(tmp_path: Path) -> None:
    model = tmp_path / "breakhis-100x"
    shutil.copytree(MODEL, model, ignore=shutil.ignore_patterns("weights.onnx*"))
    assert shipped_onnx_trunk(model).trunk_id.startswith("onnx-")
    data = bytearray((model / "trunk.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01
    (model / "trunk.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelCardError, match="does not match the model card of breakhis-100x"):
        shipped_onnx_trunk(model)
    card = json.loads((model / "card.json").read_text())
    del card["onnx"]["trunk"]
    (model / "card.json").write_text(json.dumps(card))
    with pytest.raises(OnnxFileMissingError, match="ships no trunk ONNX file"):
        shipped_onnx_trunk(model)


def test_pooled_features_are_channel_means_and_sample_stds() -> None:
    maps = np.arange(2 * 3 * 2 * 2, dtype=np.float16).reshape(2, 3, 2, 2)
    x = pooled_features(maps)
    assert x.shape == (2, 6) and x.dtype == np.float64
    assert x[0, 0] == 1.5 and x[0, 3] == pytest.approx(np.std([0, 1, 2, 3], ddof=1))


def test_a_probe_round_gives_known_deterministic_results(store: LabelStore, tmp_path: Path) -> None:
    trainer = probe_trainer(cache_folder=tmp_path / "cache")
    engine = SelfLearningEngine(store, trainer=trainer, schedule=TauSchedule((0.4,)), heldout_patients=HELDOUT,
                                params=trainer.describe())
    report = engine.run(1)[0]
    # DC (training) fits its malignant label (all p > 0.85); of held-out PC only one sub-image (p 0.34) is below 0.4
    assert report.stats["relabelled"] == 1 and report.counts["100"] == {"benign": 19, "malignant": 17}
    assert report.stats["train"] == {"images": 2, "subimages": 18, "benign": 9, "malignant": 9}
    held = report.heldout
    assert held is not None and held["image_accuracy"] == 1.0 and held["subimage_accuracy"] == pytest.approx(13 / 18)
    round_params = store.rounds()[0].params
    assert round_params["trainer"] == "probe" and round_params["trunk_id"] == trainer.cache.trunk_id
    assert round_params["head"]["C"] == 0.1 and round_params["input"] == [224, 144]
    refs = store.subimage_refs()
    p = store.predictions(store.rounds()[0].id)
    scores = np.array([p[r.subimage_id] for r in refs])
    assert scores[[1, 16, 18, 32]] == pytest.approx([0.079545, 0.530608, 0.951261, 0.338958], abs=1e-4)
    # a fresh trainer (features from the disk cache) fitting the same labels gives the same model, bit for bit
    again = probe_trainer(cache_folder=tmp_path / "cache")
    train = [r for r in refs if r.patient not in HELDOUT]
    first = trainer.fit(train, 2).score(refs)
    assert np.array_equal(first, again.fit(train, 2).score(refs)) and again.cache.computed == 0
    assert trainer.cache.computed == 36 and len(list((tmp_path / "cache").rglob("*.safetensors"))) == 4


def test_cancel_during_features_interrupts_the_round(store: LabelStore, tmp_path: Path) -> None:
    trainer = probe_trainer(cache_folder=None)
    polls: list[int] = []

    def stop() -> bool:
        polls.append(1)
        return len(polls) > 3  # the engine's own checks, then the cache's check between images

    engine = SelfLearningEngine(store, trainer=trainer, should_stop=stop, heldout_patients=HELDOUT)
    assert trainer.should_stop is stop
    with pytest.raises(SelfLearningCancelled):
        engine.run_round()
    assert trainer.history == [] and [(r.number, r.status) for r in store.rounds()] == [(1, "interrupted")]


def test_the_torch_free_path_imports_no_torch() -> None:
    code = ("import sys\n"
            "import bcviewer.labels.probe_trainer, bcviewer.labels.feature_cache, bcviewer.labels.trainers\n"
            "import bcviewer.nets.trunk_runtime, bcviewer.cli.selflearn, bcviewer.labels.selflearn\n"
            "import bcviewer.gui.labeling.selflearn_worker, bcviewer.gui.labeling.selflearn_box\n"
            "from bcviewer.labels.trainers import trainer_for\n"
            "trainer_for('probe')\n"
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))\n")
    result = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True,
                            timeout=300,
                            env={**_env(), "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stderr


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.mark.slow
def test_a_round_runs_in_an_environment_without_torch(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path,
                                                      test_data: Path) -> None:
    python = torchless_venv(tmp_path_factory.mktemp("torchless"))
    check_torch_absent(python)
    project, stats = tmp_path / "p.bcv", tmp_path / "stats.json"
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    imported = run_torchless(python, ["-m", "bcviewer", "labels", "import", str(project), str(test_data / "breakhis")],
                             env=env)
    assert imported.returncode == 0, imported.stderr
    result = run_torchless(python, ["-m", "bcviewer", "selflearn", str(project), "--rounds", "1", "--tau", "0.4",
                                    "--holdout", "0.5", "--quiet", "--json", str(stats)], env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(stats.read_text())
    assert [(r["round"], r["tau"]) for r in data["rounds"]] == [(1, 0.4)]
    assert data["training"][0]["subimages"] > 0 and data["rounds"][0]["heldout"]["images"] == 2
    with LabelStore.open(project) as s:
        assert s.rounds()[0].params["trainer"] == "probe"
    assert any((tmp_path / "xdg").rglob("*.safetensors"))
    refused = run_torchless(python, ["-m", "bcviewer", "selflearn", str(project), "--trainer", "lite", "--quiet"],
                            env=env)
    assert refused.returncode == 2
    assert refused.stderr.strip() == ("bcviewer selflearn: the lite trainer needs PyTorch, which this install does "
                                      "not have (a CPU-only install); install the full bundle, or 'pip install "
                                      "\"bcviewer[torch]\"'; or use the probe trainer (the default)")
    # the labeling panel offers the PyTorch trainers greyed out and starts on the probe
    panel = ("from PySide6.QtWidgets import QApplication\n"
             "app = QApplication([])\n"
             "from bcviewer.gui.labeling.selflearn_box import SelfLearnBox\n"
             "box = SelfLearnBox()\n"
             "model = box.trainer.model()\n"
             "print(box.trainer.currentData(), [(box.trainer.itemData(i), model.item(i).isEnabled())\n"
             "                                  for i in range(box.trainer.count())])\n")
    shown = run_torchless(python, ["-c", panel], env=env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "probe [('probe', True), ('lite', False), ('hybrid', False)]"
