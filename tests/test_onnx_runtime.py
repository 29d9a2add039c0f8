"""ONNX export and runtime: parity with torch on the fixtures, the verified cache, runtime choice, int8."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from inference_helpers import IMAGE_SPEC, save_tiny_model, tiny_ensemble

from bcviewer.inference import Predictor, RuntimeUnavailableError, choose_runtime, analysis_grid, thread_plan
from bcviewer.nets import Ensemble, ModelCardError, ModelError, load_model, preprocess, update_card
from bcviewer.nets import onnx_export
from bcviewer.nets.onnx_export import ONNX_NAME, SIDECAR_SUFFIX, export_bytes
from bcviewer.nets.quantize import INT8_NAME, quantize_int8
from bcviewer.slides import open_slide

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FIELDS = ("p_malignant", "member_probs", "member_std", "entropy", "uncertainty", "attention")
SHIPPED = Path(__file__).resolve().parent.parent / "models"


def _fixture_tiles(test_data: Path) -> list[np.ndarray]:
    tiles = []
    for png in sorted((test_data / "breakhis").glob("*.png")):
        with open_slide(png) as slide:
            grid = analysis_grid(slide, IMAGE_SPEC)
            tiles += [grid.read_tile(slide, t) for t in grid]
    return tiles  # 4 images x 9 sub-images


def _assert_same(a, b, atol: float = 1e-4) -> None:  # type: ignore[no-untyped-def]
    for name in FIELDS:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=0, atol=atol, err_msg=name)


def test_onnx_matches_torch_with_flips_weights_and_temperatures(test_data: Path) -> None:
    tiny = tiny_ensemble(seed=3)
    ensemble = Ensemble(list(tiny.members), weights=[0.7, 0.3], temperatures=[0.8, 1.6], test_time_flips=True).eval()
    torch_p = Predictor(ensemble, IMAGE_SPEC, device="cpu", runtime="torch")
    onnx_p = Predictor(ensemble, IMAGE_SPEC, device="cpu", runtime="onnx", threads=1)
    assert torch_p.onnx is None and onnx_p.onnx is not None
    x = preprocess(_fixture_tiles(test_data), IMAGE_SPEC)
    for rows in (slice(0, 1), slice(0, 5), slice(0, 36)):  # the batch axis is dynamic
        expected, got = torch_p.score_tensor(x[rows]), onnx_p.score_tensor(x[rows])
        assert got.member_probs.shape == (len(x[rows]), 2) and got.attention.shape == (len(x[rows]), 2, 2)
        _assert_same(expected, got)
    spread = expected.p_malignant.max() - expected.p_malignant.min()
    assert spread > 0.05  # the comparison covers varied outputs, not one constant


@pytest.mark.parametrize("name", ["breakhis-100x", "idc-wsi"])
def test_shipped_models_agree_across_runtimes_on_the_fixtures(name: str, test_data: Path, tmp_path: Path) -> None:
    if not (SHIPPED / name / "card.json").is_file():
        pytest.skip(f"shipped model {name} is not in this checkout")
    folder = shutil.copytree(SHIPPED / name, tmp_path / name, ignore=shutil.ignore_patterns("weights.onnx*"))
    model = load_model(folder)
    source = "breakhis/SOB_M_DC-14-13412-100-001.png" if name == "breakhis-100x" else "slides/cmu_small_region.svs"
    with open_slide(test_data / source) as slide:
        grid = analysis_grid(slide, model.spec, min_tissue=0.0)
        by_torch = Predictor(model, device="cpu", runtime="torch").run(slide, grid, batch_size=16)
        by_onnx = Predictor(model, device="cpu", runtime="auto").run(slide, grid, batch_size=16)
    assert len(grid) >= 9 and by_onnx.complete
    for field in ("p_malignant", "uncertainty", "member_probs", "attention"):
        np.testing.assert_allclose(getattr(by_onnx, field), getattr(by_torch, field), rtol=0, atol=1e-4)
    # The ONNX runtime ran the file the card ships (nothing exported, nothing cached), and that file
    # is what exporting the weights gives today.
    assert not (folder / ONNX_NAME).exists()
    fresh = Predictor(load_model(folder), device="cpu", runtime="onnx")
    assert fresh.onnx is not None and not fresh.runtime_note
    shipped = fresh.onnx.session.run(None, {"x": np.zeros((1, 3, model.spec.height, model.spec.width), np.float32)})
    import onnxruntime as ort

    exported = ort.InferenceSession(export_bytes(model.ensemble, model.spec.height, model.spec.width),
                                    providers=["CPUExecutionProvider"])
    for got, want in zip(shipped, exported.run(None, {"x": np.zeros((1, 3, model.spec.height, model.spec.width),
                                                                    np.float32)})):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)  # batch norms fused by ORT vs by the exporter


def test_onnx_path_preprocesses_in_numpy_bit_identically(test_data: Path) -> None:
    """With ONNX Runtime the feeder normalises tiles in numpy, never via torch: same float32 bits."""
    from bcviewer.inference import SlideJob, TileFeeder
    from bcviewer.inference.feeder import TileBatch

    png = test_data / "breakhis" / "SOB_M_DC-14-13412-100-001.png"

    def batches(as_numpy: bool) -> list:  # type: ignore[type-arg]
        with open_slide(png) as slide:
            grid = analysis_grid(slide, IMAGE_SPEC)
            with TileFeeder([SlideJob(png, slide, grid)], IMAGE_SPEC, 4, workers=1, as_numpy=as_numpy) as feeder:
                return [m.x for m in feeder.messages() if isinstance(m, TileBatch)]

    tensors, arrays = batches(False), batches(True)
    assert len(arrays) == len(tensors) == 3 and all(isinstance(a, np.ndarray) for a in arrays)
    onnx_p = Predictor(tiny_ensemble(seed=3), IMAGE_SPEC, device="cpu", runtime="onnx", threads=1)
    for tensor, array in zip(tensors, arrays):
        assert isinstance(tensor, torch.Tensor) and array.dtype == np.float32 and array.flags.c_contiguous
        assert np.array_equal(tensor.numpy(), array)
        by_tensor, by_array = onnx_p.score_tensor(tensor), onnx_p.score_tensor(array)
        assert all(np.array_equal(getattr(by_tensor, f), getattr(by_array, f)) for f in FIELDS)
    assert onnx_p.onnx is not None
    seen: list[type] = []
    forward = onnx_p.onnx.predict
    onnx_p.onnx.predict = lambda x: (seen.append(type(x)), forward(x))[1]  # type: ignore[method-assign]
    with open_slide(png) as slide:
        onnx_p.run(slide, analysis_grid(slide, IMAGE_SPEC), batch_size=4)
    assert seen == [np.ndarray] * 3


def _sidecar(folder: Path) -> dict:
    return json.loads((folder / (ONNX_NAME + SIDECAR_SUFFIX)).read_text())


def test_cache_is_keyed_by_weights_and_altered_files_are_rebuilt(tmp_path: Path, monkeypatch) -> None:
    folder = save_tiny_model(tmp_path / "m")
    model = load_model(folder)
    Predictor(model, device="cpu")
    onnx_file = folder / ONNX_NAME
    meta = _sidecar(folder)
    assert meta["weights_sha256"] == model.card["weights"]["sha256"] and meta["opset"] >= 17
    assert meta["onnx_sha256"] == hashlib.sha256(onnx_file.read_bytes()).hexdigest()

    exports: list[int] = []
    real_export = onnx_export.export_bytes
    monkeypatch.setattr(onnx_export, "export_bytes", lambda *a: exports.append(1) or real_export(*a))
    Predictor(model, device="cpu")
    assert exports == []  # a verified cache is reused

    data = bytearray(onnx_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx_file.write_bytes(bytes(data))  # damaged or swapped: its hash no longer matches the sidecar
    Predictor(model, device="cpu")
    assert exports == [1]
    assert hashlib.sha256(onnx_file.read_bytes()).hexdigest() == _sidecar(folder)["onnx_sha256"]

    meta = _sidecar(folder)
    meta["weights_sha256"] = "0" * 64  # made from other weights: stale
    (folder / (ONNX_NAME + SIDECAR_SUFFIX)).write_text(json.dumps(meta))
    Predictor(model, device="cpu")
    assert exports == [1, 1] and _sidecar(folder)["weights_sha256"] == model.card["weights"]["sha256"]


def test_read_only_model_folder_caches_in_the_user_cache(tmp_path: Path, monkeypatch) -> None:
    folder = save_tiny_model(tmp_path / "installed")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    if os.geteuid() == 0:  # root writes anywhere; treat the folder as read-only as a user would see it
        monkeypatch.setattr(onnx_export, "_writable", lambda path: Path(path) != folder)
    folder.chmod(0o555)
    try:
        model = load_model(folder)
        Predictor(model, device="cpu")
    finally:
        folder.chmod(0o755)
    cached = tmp_path / "cache" / "bcviewer" / "onnx" / model.card["weights"]["sha256"] / ONNX_NAME
    assert cached.is_file() and not (folder / ONNX_NAME).exists()


def test_runtime_choice() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert choose_runtime("auto", cpu) == "onnx" and choose_runtime(None, cpu) == "onnx"
    assert choose_runtime("auto", cuda) == "torch" and choose_runtime("torch", cpu) == "torch"
    with pytest.raises(RuntimeUnavailableError, match="CPU only"):
        choose_runtime("onnx", cuda)
    with pytest.raises(RuntimeUnavailableError, match="unknown runtime"):
        choose_runtime("tensorrt", cpu)
    assert Predictor(tiny_ensemble(), IMAGE_SPEC, device="cpu").runtime == "onnx"
    assert thread_plan(1).intra_op == 1 and thread_plan(1).readers == 1
    assert thread_plan(2).intra_op + thread_plan(2).readers >= 2


def test_int8_file_is_used_only_as_the_card_vouches(test_data: Path, tmp_path: Path) -> None:
    folder = save_tiny_model(tmp_path / "m")
    model = load_model(folder)
    with pytest.raises(ModelError, match="ships no int8"):
        Predictor(model, device="cpu", runtime="int8")
    x = preprocess(_fixture_tiles(test_data), IMAGE_SPEC)
    data = quantize_int8(export_bytes(model.ensemble, IMAGE_SPEC.height, IMAGE_SPEC.width), [x[:18].numpy()])
    (folder / INT8_NAME).write_bytes(data)
    update_card(folder, {"int8": {"file": INT8_NAME, "sha256": hashlib.sha256(data).hexdigest(), "shipped": True,
                                  "weights_sha256": model.card["weights"]["sha256"]}})
    model = load_model(folder)
    int8 = Predictor(model, device="cpu", runtime="int8").score_tensor(x)
    fp32 = Predictor(model, device="cpu", runtime="onnx").score_tensor(x)
    assert int8.p_malignant.shape == (36,) and np.isfinite(int8.p_malignant).all()
    assert np.abs(int8.p_malignant - fp32.p_malignant).mean() < 0.1  # quantised, not another model
    (folder / INT8_NAME).write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(ModelCardError, match="does not match"):
        Predictor(load_model(folder), device="cpu", runtime="int8")


def test_quantize_command_measures_held_out_patients_and_records_it(test_data: Path, tmp_path: Path) -> None:
    from bcviewer.cli.main import main
    from bcviewer.training import evaluation_report, load_tileset, predict_tileset

    folder = save_tiny_model(tmp_path / "m")
    split = {"train": ["14-22549AB", "14-13412"], "test": ["14-14134E", "14-12465"]}
    update_card(folder, {"data": {"kind": "breakhis"}, "training": {"patients": split}})
    assert main(["quantize", str(folder), str(test_data / "breakhis"), "--calibration-tiles", "9", "--quiet"]) == 0
    model = load_model(folder)
    section = model.card["int8"]
    assert section["calibration"] == {"patients": "train", "tiles": 9, "seed": 0}
    assert section["held_out"]["patients"] == split["test"]
    held_out = load_tileset(test_data / "breakhis", IMAGE_SPEC.size, "breakhis", patients=split["test"])
    by_torch = evaluation_report(held_out, predict_tileset(model.ensemble, held_out, IMAGE_SPEC))
    fp32 = section["held_out"]["fp32"]
    assert fp32["image"]["n"] == 2 and fp32["tile"]["n"] == 18  # two test images, 3x3 sub-images each
    assert fp32["tile"]["accuracy"] == pytest.approx(by_torch["tile"]["accuracy"], abs=1e-5)
    change = section["held_out"]["change"]
    assert change["tile"]["accuracy_pp"] == pytest.approx(
        100 * (section["held_out"]["int8"]["tile"]["accuracy"] - fp32["tile"]["accuracy"]), abs=1e-3)
    kept = min(change["image"]["accuracy_pp"], change["tile"]["accuracy_pp"]) >= -0.5
    assert section["shipped"] is kept and (folder / INT8_NAME).is_file() is kept
    if kept:
        assert Predictor(model, device="cpu", runtime="int8").score_tensor(
            preprocess(_fixture_tiles(test_data)[:4], IMAGE_SPEC)).p_malignant.shape == (4,)
    else:
        with pytest.raises(ModelError, match="ships no int8"):
            Predictor(model, device="cpu", runtime="int8")


def test_predict_runtime_option(test_data: Path, tmp_path: Path, capsys) -> None:
    import csv

    from bcviewer.cli.main import main

    folder = save_tiny_model(tmp_path / "m")
    png = str(test_data / "breakhis" / "SOB_B_A-14-22549AB-100-001.png")
    p = {}
    for runtime in ("auto", "torch"):
        out = tmp_path / runtime
        assert main(["predict", png, "--model", str(folder), "--runtime", runtime, "--formats", "csv",
                     "--out", str(out), "--quiet"]) == 0
        with open(out / "summary.csv", newline="") as fh:
            p[runtime] = float(next(csv.DictReader(fh))["p_malignant"])
    assert p["auto"] == pytest.approx(p["torch"], abs=1e-4)
    capsys.readouterr()
    assert main(["predict", png, "--model", str(folder), "--runtime", "int8", "--out", str(tmp_path / "i"),
                 "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ships no int8 version" in err[0] and "Traceback" not in err[0]


@pytest.mark.parametrize(("size", "grid"), [((9, 14), (3, 4)), ((7, 5), (3, 2)), ((8, 12), (4, 3)), ((6, 6), 1)])
def test_traced_adaptive_pooling_uses_torchs_windows(size: tuple[int, int], grid) -> None:  # type: ignore[no-untyped-def]
    x = torch.randn(2, 5, *size)
    np.testing.assert_allclose(onnx_export._window_pool(x, grid).numpy(),
                               torch.nn.functional.adaptive_avg_pool2d(x, grid).numpy(), rtol=0, atol=1e-6)
