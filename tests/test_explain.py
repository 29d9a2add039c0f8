"""Explaining a tile: the map, p per member, attention, the deletion check and ``bcviewer explain``.

The ONNX occlusion map is checked against captum's ``Occlusion`` run on the same forward function
(an independent implementation); the explained p against the p the analysis gives the same tile.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bcviewer.cli.main import main
from bcviewer.inference import Predictor
from bcviewer.inference.explain import (
    NO_ATTENTION,
    OcclusionExplainer,
    explain_tile,
    model_input,
    tile_at,
)
from bcviewer.inference.faithfulness import (
    deleted,
    deletion_check,
    deletion_result,
    top_mask,
)
from bcviewer.inference.occlusion import (
    ExplanationCancelled,
    OcclusionSettings,
    occlusion_map,
    window_starts,
)
from bcviewer.inference.plan import PlanOptions, plan_input
from bcviewer.nets.stored import open_model
from bcviewer.slides import open_slide

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "resources" / "sample" / "SOB_M_MC-14-13413-100-003.png"
CMU = ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs"
IDC_CLASS1 = sorted((ROOT / "tests" / "data" / "idc" / "class1").glob("*.png"))
HAS_CAPTUM = importlib.util.find_spec("torch") is not None and importlib.util.find_spec("captum") is not None
needs_captum = pytest.mark.skipif(not HAS_CAPTUM, reason="needs PyTorch and captum (the torch extra)")


@pytest.fixture(scope="module")
def idc_explainer() -> OcclusionExplainer:
    return OcclusionExplainer(open_model("idc-wsi"), threads=1)


@pytest.fixture(scope="module")
def breakhis_explainer() -> OcclusionExplainer:
    return OcclusionExplainer(open_model("breakhis-100x"), threads=1)


def _patch(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_window_starts_follow_captum_rule() -> None:
    assert window_starts(64, 8, 4) == list(range(0, 57, 4))
    assert window_starts(64, 12, 8) == [0, 8, 16, 24, 32, 40, 48, 56]  # ceil(52 / 8) + 1; the last is clipped
    with pytest.raises(ValueError):
        window_starts(10, 12, 4)


@needs_captum
@pytest.mark.parametrize("window, stride", [(8, 4), (12, 8)])
def test_numpy_occlusion_equals_captum_occlusion(idc_explainer: OcclusionExplainer, window: int, stride: int) -> None:
    import torch
    from captum.attr import Occlusion

    x = model_input(_patch(IDC_CLASS1[0]), idc_explainer.spec)
    baseline = x[0].reshape(3, -1).mean(axis=1).reshape(3, 1, 1).astype(np.float32)
    ours = occlusion_map(x[0], idc_explainer.p_of, OcclusionSettings(window, stride), baseline, batch_size=16)

    def forward(t: torch.Tensor) -> torch.Tensor:  # the same ONNX forward, seen by captum as a function
        return torch.from_numpy(idc_explainer.p_of(t.detach().numpy().astype(np.float32)))

    oracle = Occlusion(forward).attribute(
        torch.from_numpy(x), sliding_window_shapes=(3, window, window), strides=(3, stride, stride),
        baselines=torch.from_numpy(np.broadcast_to(baseline, x.shape[1:]).copy())[None], perturbations_per_eval=16)
    expected = oracle[0].double().numpy()
    assert np.allclose(expected[0], expected[1]) and np.allclose(expected[0], expected[2])
    assert np.abs(ours).max() > 1e-3  # the map is not flat: the comparison means something
    np.testing.assert_allclose(ours, expected[0], atol=2e-6)


def test_explained_p_is_the_heatmap_p_breakhis(breakhis_explainer: OcclusionExplainer) -> None:
    with open_slide(SAMPLE) as slide:
        plan = plan_input(slide, PlanOptions())
        scores = Predictor(open_model("breakhis-100x"), threads=1).run(slide, plan.grid)
        index = tile_at(plan.grid, 350, 230)
        assert index == 4  # the centre tile of the 3x3 grid: x 233-466, y 153-306
        explanation = explain_tile(slide, plan.grid, index, breakhis_explainer)
    assert explanation.p_malignant == pytest.approx(float(scores.p_malignant[4]), abs=1e-6)
    assert explanation.member_p[0] == pytest.approx(explanation.p_malignant, abs=1e-12)  # one member, weight 1
    assert explanation.tile_rgb.shape == (153, 233, 3) and explanation.attribution.shape == (153, 233)
    assert explanation.input_attribution.shape == (144, 224)
    assert explanation.attention is None and explanation.attention_note == NO_ATTENTION
    assert explanation.method_detail.startswith("occlusion, 18x18 px window, stride 9 px")
    assert explanation.stain == scores.stain == {"method": "none", "reference": "none", "sha256": "none"}
    assert "stain normalisation of the model input: none" in explanation.lines()
    assert (explanation.tile.row, explanation.tile.col) == (1, 1)


def test_explained_p_and_attention_on_a_whole_slide(idc_explainer: OcclusionExplainer) -> None:
    with open_slide(CMU) as slide:
        plan = plan_input(slide, PlanOptions(model="idc-wsi"))
        scores = Predictor(open_model("idc-wsi"), threads=1).run(slide, plan.grid)
        index = int(np.nanargmax(scores.p_malignant))
        tile = plan.grid[index]
        assert tile_at(plan.grid, tile.x + tile.w - 1, tile.y) == index
        explanation = explain_tile(slide, plan.grid, index, idc_explainer)
    assert explanation.p_malignant == pytest.approx(float(scores.p_malignant[index]), abs=1e-6)
    weights = np.array(explanation.member_weights)
    assert float(np.dot(weights, explanation.member_p)) == pytest.approx(explanation.p_malignant, abs=1e-9)
    assert explanation.attention is not None and explanation.attention.shape == (2, 2)
    np.testing.assert_allclose(explanation.attention.sum(axis=1), 1.0, atol=1e-5)
    direct = idc_explainer.session.outputs(model_input(explanation.tile_rgb, idc_explainer.spec))[1][0]
    np.testing.assert_allclose(explanation.attention, direct, atol=1e-6)
    # the tile as the grid hands it to the model: read at its level, then brought to 50 px at 4 µm/px
    assert plan.grid.out_size == (50, 50)
    assert explanation.tile_rgb.shape[:2] == explanation.attribution.shape == (50, 50)


def test_tile_at_is_none_off_the_grid() -> None:
    with open_slide(SAMPLE) as slide:
        grid = plan_input(slide, PlanOptions()).grid
    assert tile_at(grid, -1, 5) is None and tile_at(grid, 700, 5) is None and tile_at(grid, 0, 0) == 0


def test_occlusion_can_be_cancelled(idc_explainer: OcclusionExplainer) -> None:
    stop = threading.Event()
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        stop.set()

    with pytest.raises(ExplanationCancelled):
        idc_explainer.explain(_patch(IDC_CLASS1[0]), cancel=stop, progress=progress)
    assert seen == [(32, 225)]  # one batch of the 15 x 15 windows, then it stopped


def test_deletion_mechanics_on_a_fixture(idc_explainer: OcclusionExplainer) -> None:
    rgb = _patch(IDC_CLASS1[1])
    x = model_input(rgb, idc_explainer.spec)
    ramp = np.arange(64 * 64, dtype=np.float64).reshape(64, 64)  # top 10% = the last 410 pixels, rows 57.6..63
    mask = top_mask(ramp, 0.10)
    assert mask.sum() == 410 and mask[63].all() and not mask[:57].any()
    baseline = x[0].reshape(3, -1).mean(axis=1).astype(np.float32)
    removed = deleted(x, mask, baseline)
    assert np.array_equal(removed[0][:, ~mask], x[0][:, ~mask])
    assert np.array_equal(removed[0][:, mask], np.repeat(baseline[:, None], 410, axis=1))
    result = deletion_result(idc_explainer, rgb, ramp, np.random.default_rng(0))
    p = idc_explainer.p_of(np.concatenate([x, removed]))
    assert result.p == pytest.approx(float(p[0])) and result.drop_top == pytest.approx(float(p[0] - p[1]))


def test_deletion_check_on_shipped_malignant_patches(idc_explainer: OcclusionExplainer) -> None:
    summary, results = deletion_check(idc_explainer, [_patch(p) for p in IDC_CLASS1])
    assert summary.n == len(IDC_CLASS1) == 11
    assert summary.mean_drop_top > summary.mean_drop_random
    assert summary.mean_gain == pytest.approx(np.mean([r.gain for r in results]))


@pytest.mark.shared
@pytest.mark.parametrize("model, runtime", [
    ("idc-wsi", "onnx"), ("breakhis-100x", "onnx"),
    pytest.param("idc-wsi", "torch", marks=needs_captum),
])
def test_deletion_check_passes_on_held_out_malignant_tiles(shared_data: Path, model: str, runtime: str) -> None:
    from bcviewer.inference.explain import make_explainer
    from bcviewer.inference.faithfulness_data import malignant_tiles

    stored = open_model(model)
    tiles = malignant_tiles(stored, shared_data, ("test",), per_patient=2 if model == "idc-wsi" else 20)
    assert len(tiles) >= 40 and len({t.patient for t in tiles}) >= 2
    summary, _ = deletion_check(make_explainer(stored, runtime, threads=1), [t.rgb for t in tiles])
    assert summary.passed, summary.line()
    assert summary.mean_drop_top > 0.02, summary.line()  # the top pixels matter in themselves, not only vs random


@needs_captum
def test_grad_cam_on_the_torch_runtime_explains_the_torch_p() -> None:
    from bcviewer.inference.explain import make_explainer

    model = open_model("idc-wsi")
    explainer = make_explainer(model, "torch")
    with open_slide(CMU) as slide:
        plan = plan_input(slide, PlanOptions(model="idc-wsi"))
        scores = Predictor(model, runtime="torch", device="cpu").run(slide, plan.grid)
        explanation = explain_tile(slide, plan.grid, 3, explainer)
    assert explanation.method == "grad-cam" and "captum LayerGradCam" in explanation.method_detail
    assert explanation.p_malignant == pytest.approx(float(scores.p_malignant[3]), abs=1e-6)
    assert explanation.attention is not None and explanation.attention.shape == (2, 2)
    assert explanation.input_attribution.shape == (64, 64) and np.abs(explanation.attribution).max() > 0


def test_cli_explain_writes_the_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "explain.png"
    assert main(["explain", str(SAMPLE), "--tile", "350,230", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "tile 4 (row 2, column 2); level-0 x 233-466, y 153-306" in text
    assert "p_malignant 0.7957" in text and NO_ATTENTION in text and "method: occlusion" in text
    with Image.open(out) as image:
        assert image.width >= 640 and image.height > 320


@pytest.mark.parametrize("args, message", [
    (["--tile", "800,10"], "lies outside"),
    (["--tile", "10,10", "--model", "no-such-model"], "no model 'no-such-model'"),
    (["--tile", "ten,10"], "expected X,Y"),
    (["--tile", "10,10", "--out", "-"], "not written to standard output"),
])
def test_cli_explain_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                       message: str) -> None:
    with pytest.raises(SystemExit) if args[1] == "ten,10" else _no_exit() as caught:
        code = main(["explain", str(SAMPLE), "--out", str(tmp_path / "e.png"), *args])
    err = capsys.readouterr().err
    assert (caught.value.code if caught else code) == 2
    assert message in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "e.png").exists()


def test_cli_explain_refuses_glass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # cmu_small_region.svs: the top-left corner is glass, outside every tile with tissue.
    assert main(["explain", str(CMU), "--tile", "5,5", "--out", str(tmp_path / "e.png")]) == 2
    err = capsys.readouterr().err
    assert "glass or too little tissue" in err or "quality control" in err


class _no_exit:
    """A context manager standing in for ``pytest.raises`` where no exit is expected."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False


def test_overlay_colours_follow_the_map(breakhis_explainer: OcclusionExplainer) -> None:
    from bcviewer.export.colormaps import colormap_lut
    from bcviewer.export.explanation import (
        MAP_COLORMAP,
        explanation_figure,
        explanation_overlay,
    )

    with open_slide(SAMPLE) as slide:
        grid = plan_input(slide, PlanOptions()).grid
        explanation = explain_tile(slide, grid, 4, breakhis_explainer)
    assert np.array_equal(explanation_overlay(explanation, 0.0), explanation.tile_rgb)
    full = explanation_overlay(explanation, 1.0)
    peak = np.unravel_index(np.argmax(np.abs(explanation.attribution)), explanation.attribution.shape)
    end = colormap_lut(MAP_COLORMAP)[255 if explanation.attribution[peak] > 0 else 0]
    assert np.array_equal(full[peak], end)  # the strongest pixel is the colour bar's end, fully opaque
    figure = explanation_figure(explanation)
    assert figure.shape[1] >= 2 * 233 * 2 and figure.dtype == np.uint8  # tile and overlay, each enlarged x2


@needs_captum
def test_a_stain_normalised_model_explains_its_own_p_and_names_the_normaliser(tmp_path: Path) -> None:
    import json
    import shutil

    from bcviewer.inference.explain import make_explainer
    from bcviewer.nets.cards import resolve_model_dir
    from bcviewer.nets.stain import default_reference

    folder = tmp_path / "breakhis-100x-reinhard"
    shutil.copytree(resolve_model_dir("breakhis-100x"), folder)
    card = json.loads((folder / "card.json").read_text())
    reference = default_reference("reinhard")
    card["input"]["stain"] = reference.to_dict()
    (folder / "card.json").write_text(json.dumps(card))
    model = open_model(folder)  # its ONNX file is stale now: the torch runtime runs it
    with open_slide(SAMPLE) as slide:
        grid = plan_input(slide, PlanOptions()).grid
        scores = Predictor(model, runtime="torch", device="cpu").run(slide, grid)
        explanation = explain_tile(slide, grid, 4, make_explainer(model, "torch"))
    assert explanation.p_malignant == pytest.approx(float(scores.p_malignant[4]), abs=1e-6)
    assert explanation.stain == scores.stain and explanation.stain["method"] == "reinhard"
    assert explanation.stain["sha256"] == reference.sha256
    assert any(line.startswith("stain normalisation of the model input: reinhard") for line in explanation.lines())
