"""Model cards that would make a model score silently wrong (issue 23, "silently wrong"): a card
edit the ONNX cache ignored, a sidecar vouching for a graph of another card, and cards whose
classes, positive class or input size disagree with the network."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from bad_input_helpers import PNG, fails_with_one_line
from inference_helpers import save_tiny_model

from bcviewer.inference import Predictor, analysis_grid
from bcviewer.nets import load_model
from bcviewer.nets.errors import ModelCardError
from bcviewer.nets.onnx_export import ONNX_NAME, SIDECAR_SUFFIX, cached_onnx, export_key
from bcviewer.nets.onnx_key import key_of
from bcviewer.slides import open_slide

pytestmark = pytest.mark.usefixtures("one_torch_thread")
RUN = ["--device", "cpu", "--quiet", "--grid", "3x3"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("models") / "tiny", seed=3)


def _copy(model: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(model, tmp_path / "model"))


def _edit(folder: Path, change: Callable[[dict], None]) -> Path:
    card = json.loads((folder / "card.json").read_text())
    change(card)
    (folder / "card.json").write_text(json.dumps(card))
    return folder


def _p(folder: Path, runtime: str) -> np.ndarray:
    model = load_model(folder)
    with open_slide(PNG) as slide:
        grid = analysis_grid(slide, model.spec)
        return Predictor(model, device="cpu", runtime=runtime, threads=1).run(slide, grid, batch_size=9).p_malignant


# ---- the ONNX cache key ----------------------------------------------------------------------
def test_card_edit_of_test_time_flips_re_exports_so_runtimes_agree(tiny_model: Path, tmp_path: Path) -> None:
    folder = _copy(tiny_model, tmp_path)
    before = _p(folder, "onnx")  # caches weights.onnx, traced without flips
    old_key = key_of((folder / ONNX_NAME).read_bytes())
    _edit(folder, lambda card: card["architecture"].update(test_time_flips=True))
    by_onnx, by_torch = _p(folder, "onnx"), _p(folder, "torch")
    np.testing.assert_allclose(by_onnx, by_torch, rtol=0, atol=1e-4)
    assert np.abs(by_onnx - before).max() > 1e-3  # the flips change p: the old cached graph would be wrong
    new_key = key_of((folder / ONNX_NAME).read_bytes())
    assert old_key is not None and new_key is not None and new_key != old_key
    assert json.loads((folder / (ONNX_NAME + SIDECAR_SUFFIX)).read_text())["graph_key"] == new_key


def test_sidecar_rewritten_to_vouch_for_a_stale_graph_is_not_trusted(tiny_model: Path, tmp_path: Path) -> None:
    folder = _copy(tiny_model, tmp_path)
    model = load_model(folder)
    sha = model.card["weights"]["sha256"]
    stale, _ = cached_onnx(model.ensemble, 48, 64, folder, sha, model.card)  # traced without flips
    _edit(folder, lambda card: card["architecture"].update(test_time_flips=True))
    model = load_model(folder)
    key = export_key(model.ensemble, 48, 64, sha, model.card)
    # Someone puts the old file back and rewrites the sidecar's hashes and key to vouch for it.
    (folder / ONNX_NAME).write_bytes(stale)
    sidecar = folder / (ONNX_NAME + SIDECAR_SUFFIX)
    meta = json.loads(sidecar.read_text())
    meta.update(onnx_sha256=hashlib.sha256(stale).hexdigest(), bytes=len(stale), graph_key=key)
    sidecar.write_text(json.dumps(meta))
    data, path = cached_onnx(model.ensemble, 48, 64, folder, sha, model.card)
    assert path == folder / ONNX_NAME and key_of(data) == key and key_of(stale) != key
    assert data != stale and (folder / ONNX_NAME).read_bytes() == data  # re-exported and re-cached


@pytest.mark.parametrize("change", [
    lambda card: card["architecture"].update(test_time_flips=True),
    lambda card: card["architecture"].update(temperatures=[2.0, 2.0]),
    lambda card: card["input"].update(width=32, height=32),
    lambda card: card["input"].update(mean=[0.5, 0.5, 0.5]),
    lambda card: card.update(classes=["normal", "tumour"]),
], ids=["test_time_flips", "temperatures", "input_size", "mean", "classes"])
def test_graph_key_covers_every_card_field_that_defines_the_graph(tiny_model: Path, tmp_path: Path,
                                                                  change: Callable[[dict], None]) -> None:
    model = load_model(tiny_model)
    sha = model.card["weights"]["sha256"]
    card = json.loads(json.dumps(model.card))
    change(card)
    assert export_key(model.ensemble, 48, 64, sha, card) != export_key(model.ensemble, 48, 64, sha, model.card)
    assert export_key(model.ensemble, 48, 64, sha, model.card) == export_key(model.ensemble, 48, 64, sha,
                                                                             json.loads(json.dumps(model.card)))


# ---- cards checked against the network -------------------------------------------------------
def test_card_listing_three_classes_for_a_two_output_network_is_refused(tiny_model: Path, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    folder = _edit(_copy(tiny_model, tmp_path), lambda card: card.update(classes=["benign", "malignant", "normal"]))
    line = fails_with_one_line(["predict", PNG, "--model", folder, "--out", tmp_path / "out", *RUN], capsys,
                               str(folder / "card.json"), "3 classes (benign, malignant, normal)", "2 outputs")
    assert line.startswith("bcviewer predict: ")
    assert not (tmp_path / "out" / "summary.csv").exists() or "benign" not in (tmp_path / "out" / "summary.csv").read_text()


@pytest.mark.parametrize("change, needles", [
    (lambda card: card.update(classes=["a", "b", "c", "d"]), ("4 classes (a, b, c, d)", "2 outputs")),
    (lambda card: card.update(positive_class="tumour"), ("positive_class 'tumour' is not one of the classes",)),
    (lambda card: card.update(positive_class="benign"), ("positive_class 'benign' is output 0", "'malignant'")),
    (lambda card: card["input"].update(width=4), ("input width 4",)),
    (lambda card: card["input"].update(height=64.5), ("input height 64.5",)),
    (lambda card: card["input"].update(tile_um=200.0, mpp=4.0, tile_px=80), ("tile_um 200.0 at mpp 4.0 is 50 px",
                                                                              "tile_px says 80")),
], ids=["four_classes", "positive_unknown", "positive_first", "width_4", "height_fraction",
        "tile_px_contradicts"])
def test_cards_that_disagree_with_the_network_are_refused_at_load(tiny_model: Path, tmp_path: Path,
                                                                  change: Callable[[dict], None],
                                                                  needles: tuple[str, ...]) -> None:
    folder = _edit(_copy(tiny_model, tmp_path), change)
    with pytest.raises(ModelCardError) as info:
        load_model(folder)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(folder / "card.json") + ": ")
    for needle in needles:
        assert needle in message, message


def test_consistent_cards_still_load(tiny_model: Path, tmp_path: Path) -> None:
    folder = _edit(_copy(tiny_model, tmp_path), lambda card: card.update(positive_class="malignant"))
    assert load_model(folder).classes == ["benign", "malignant"]
    for name in ("breakhis-100x", "idc-wsi"):  # the shipped cards pass their own checks
        shipped = Path(__file__).resolve().parent.parent / "models" / name
        if (shipped / "card.json").is_file():
            model = load_model(shipped)
            assert model.card["positive_class"] == model.classes[1]


def test_predict_runtimes_agree_after_the_card_edit(tiny_model: Path, tmp_path: Path) -> None:
    """The issue's command line: after ``test_time_flips: true``, ``--runtime onnx`` (the CPU default)
    used to print the old cached graph's p while ``--runtime torch`` applied the flips."""
    from bcviewer.cli.main import main

    folder = _copy(tiny_model, tmp_path)

    def p(runtime: str, out: str) -> str:
        assert main(["predict", str(PNG), "--model", str(folder), "--out", str(tmp_path / out), "--runtime", runtime,
                     *RUN]) == 0
        rows = (tmp_path / out / "summary.csv").read_text().splitlines()
        return rows[1].split(",")[2]  # p_malignant, as summary.csv writes it (6 decimals)

    before = p("onnx", "before")
    _edit(folder, lambda card: card["architecture"].update(test_time_flips=True))
    after_onnx, after_torch = p("onnx", "onnx"), p("torch", "torch")
    assert abs(float(after_onnx) - float(after_torch)) <= 1e-4 and after_onnx != before
