"""Stain normalisation: references and their hashes, the viewer's one-mapping-per-slide, model cards
that prescribe Macenko or Reinhard, and the provenance every output carries."""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from inference_helpers import IMAGE_SPEC, save_tiny_model
from PIL import Image

from bcviewer.cli.main import main
from bcviewer.errors import BcviewerError
from bcviewer.nets.cards import InputSpec, read_card, resolve_model_dir
from bcviewer.nets.errors import ModelCardError
from bcviewer.nets.preprocess import preprocess_numpy, resize_tiles
from bcviewer.nets.stain import (
    StainNormaliser,
    StainReference,
    StainReferenceError,
    default_reference,
    default_reference_source,
    fit_reference,
    stain_provenance,
)
from bcviewer.nets.stain_mapping import references_from_file, slide_mapping
from bcviewer.slides import open_slide

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_IMAGE = ROOT / "tests" / "data" / "breakhis" / "SOB_M_PC-14-12465-100-001.png"
SAMPLE_PNG = ROOT / "resources" / "sample" / "SOB_M_MC-14-13413-100-003.png"
SVS = ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs"
METHODS = ("macenko", "reinhard")


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


# ---- references ----------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_shipped_reference_is_the_fit_of_a_training_patient_image(method: str) -> None:
    source = default_reference_source()
    card = read_card(resolve_model_dir(source["model"]))
    assert source["patient"] in card["training"]["patients"]["train"]  # a training-fold patient
    assert source["image"] == REFERENCE_IMAGE.name and f"-{source['patient']}-" in REFERENCE_IMAGE.name
    refit, shipped = fit_reference(method, _rgb(REFERENCE_IMAGE), "refit"), default_reference(method)
    # Within 1e-5: at the dependency floors (older numpy/OpenCV colour conversion) Reinhard's LAB
    # means differ from the shipped ones in the sixth decimal.
    assert refit.canonical().keys() == shipped.canonical().keys()
    for name in shipped.values:
        np.testing.assert_allclose(refit.array(name), shipped.array(name), rtol=0, atol=1e-5)
    renamed = StainReference.create(method, {k: shipped.array(k) for k in shipped.values}, "another name")
    assert renamed.sha256 == shipped.sha256  # the hash ignores the source's name


def test_reference_hash_is_sha256_of_its_canonical_json() -> None:
    ref = default_reference("reinhard")
    expected = hashlib.sha256(json.dumps({"method": "reinhard", "means": list(ref.values["means"]),
                                          "stds": list(ref.values["stds"])},
                                         sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert ref.sha256 == expected
    again = StainReference.from_dict(json.loads(json.dumps(ref.to_dict())))
    assert again == ref and again.sha256 == ref.sha256 and again.source == ref.source
    assert default_reference("macenko").sha256 != ref.sha256


def test_cards_with_the_old_macenko_section_and_with_reinhard_load() -> None:
    old = StainNormaliser.default().to_dict()  # what lite-pipeline cards hold: method macenko, he, max_c
    assert set(old) == {"method", "he", "max_c"}
    assert InputSpec.from_dict({**IMAGE_SPEC.to_dict(), "stain": old}).stain == old
    without_method = {k: v for k, v in old.items() if k != "method"}
    assert StainNormaliser.from_dict(without_method).reference.method == "macenko"
    reinhard = default_reference("reinhard").to_dict()
    assert StainNormaliser.from_dict(reinhard).reference == default_reference("reinhard")
    with pytest.raises(ModelCardError, match="unknown stain normalisation 'vahadane'"):
        InputSpec.from_dict({**IMAGE_SPEC.to_dict(), "stain": {"method": "vahadane"}})
    with pytest.raises(ModelCardError, match="positive"):
        StainNormaliser.from_dict({**reinhard, "stds": [1.0, 0.0, 2.0]})


def test_blank_glass_and_non_images_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    glass = np.full((300, 400, 3), 243, np.uint8)
    glass[..., 2] = 247
    with pytest.raises(StainReferenceError, match="almost no stained tissue"):
        fit_reference("macenko", glass, "glass.png")
    Image.fromarray(glass).save(tmp_path / "glass.png")
    with pytest.raises(StainReferenceError, match="glass.png has almost no stained tissue"):
        references_from_file(str(tmp_path / "glass.png"))
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(BcviewerError) as info:
        references_from_file(str(tmp_path / "notes.png"))
    assert "notes.png" in str(info.value) and "\n" not in str(info.value)


# ---- the viewer's mapping ------------------------------------------------------------------------
# Recorded from cmu_small_region.svs (level 0, 256x256 tile at (1024, 1024)) mapped to the shipped
# references when this test was written: the slide's own stain estimate, the mean colour of the
# mapped tile and two of its pixels (tissue). A change of reference, sample or formula moves them.
RECORDED = {
    "macenko": {"slide": {"he": [[0.7603, 0.1547], [0.5555, 0.8602], [0.3367, 0.4859]], "max_c": [2.4911, 2.014]},
                "mean": [183.666, 133.091, 186.691], "pixels": [[77, 19, 85], [172, 106, 177]]},
    "reinhard": {"slide": {"means": [44.1043, 28.9157, -13.4755], "stds": [15.6112, 10.566, 6.7179]},
                 "mean": [175.364, 113.487, 173.048], "pixels": [[99, 57, 107], [163, 91, 153]]},
}


@pytest.mark.parametrize("method", METHODS)
def test_fixed_reference_gives_fixed_pixels(method: str) -> None:
    with open_slide(SVS) as slide:
        tile = slide.read_region(0, 1024, 1024, 256, 256)
        mapping = slide_mapping(slide, default_reference(method))
        again = slide_mapping(slide, default_reference(method))
    out = mapping(tile)
    assert np.array_equal(out, again(tile)) and mapping.identity == again.identity
    for name, value in RECORDED[method]["slide"].items():
        np.testing.assert_allclose(mapping.slide.values[name], value, atol=2e-4)
    np.testing.assert_allclose(out.reshape(-1, 3).mean(axis=0), RECORDED[method]["mean"], atol=0.05)
    got = [out[100, 100].tolist(), out[200, 50].tolist()]
    np.testing.assert_allclose(got, RECORDED[method]["pixels"], atol=1)
    assert tile[100, 100].tolist() == [19, 3, 31]  # the original is far from what is shown


@pytest.mark.parametrize("method", METHODS)
def test_adjacent_view_tiles_agree_on_their_shared_edge(method: str) -> None:
    with open_slide(SVS) as slide:
        mapping = slide_mapping(slide, default_reference(method))
        left = mapping(slide.read_region(0, 768, 1280, 256, 256))
        right = mapping(slide.read_region(0, 1024, 1280, 256, 256))
        both = mapping(slide.read_region(0, 768, 1280, 512, 256))
    assert np.array_equal(np.concatenate([left, right], axis=1), both)
    # The edge columns differ as little as the original's do (no step in colour at the seam).
    step = np.abs(left[:, -1].astype(int) - right[:, 0].astype(int)).mean()
    inside = np.abs(left[:, -2].astype(int) - left[:, -1].astype(int)).mean()
    assert step < 3 * inside + 5


def test_glass_keeps_its_colour() -> None:
    with open_slide(SVS) as slide:
        for method in METHODS:
            mapping = slide_mapping(slide, default_reference(method))
            glass = np.array([[[255, 255, 255], [244, 243, 247], [241, 239, 242]]], np.uint8)
            assert np.array_equal(mapping(glass), glass)  # brighter than Macenko's 240: untouched
            pale = np.array([[[236, 236, 236]]], np.uint8)  # OD 0.013 of 0.15: 8% of the mapping
            assert np.abs(mapping(pale).astype(int) - 236).max() <= 5


# ---- models whose card prescribes a normaliser ----------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_card_normaliser_is_applied_before_the_network(method: str) -> None:
    reference = default_reference(method)
    spec = replace(IMAGE_SPEC, stain=reference.to_dict())
    tiles = resize_tiles(_rgb(SAMPLE_PNG)[None, :153, :233], spec.size)
    expected = preprocess_numpy(StainNormaliser(reference)(tiles[0]), IMAGE_SPEC)
    got = preprocess_numpy(tiles, spec)
    assert np.array_equal(got, expected) and not np.array_equal(got, preprocess_numpy(tiles, IMAGE_SPEC))


def test_provenance_of_the_shipped_models_is_none() -> None:
    for model in ("breakhis-100x", "idc-wsi"):
        spec = InputSpec.from_dict(read_card(resolve_model_dir(model))["input"])
        assert stain_provenance(spec) == {"method": "none", "reference": "none", "sha256": "none"}


def test_a_reinhard_card_drives_predict_and_every_output_says_so(tmp_path: Path) -> None:
    reference = default_reference("reinhard")
    stained = save_tiny_model(tmp_path / "stained", replace(IMAGE_SPEC, stain=reference.to_dict()), seed=3)
    plain = save_tiny_model(tmp_path / "plain", IMAGE_SPEC, seed=3)  # the same weights, no normaliser
    results = {}
    for name, model in (("stained", stained), ("plain", plain)):
        out = tmp_path / f"out-{name}"
        assert main(["predict", str(SAMPLE_PNG), "--model", str(model), "--out", str(out), "--device", "cpu",
                     "--quiet"]) == 0
        results[name] = out / SAMPLE_PNG.stem
    with open(results["stained"] / "tiles.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open(results["plain"] / "tiles.csv", newline="") as fh:
        plain_rows = list(csv.DictReader(fh))
    expected = {"method": "reinhard", "reference": reference.source, "sha256": reference.sha256}
    assert len(rows) == 9 and all({k: r[f"stain_{k}"] for k in expected} == expected for r in rows)
    assert all(r["stain_method"] == r["stain_sha256"] == "none" for r in plain_rows)
    assert [r["p_malignant"] for r in rows] != [r["p_malignant"] for r in plain_rows]  # the input did change
    geojson = json.loads((results["stained"] / "tiles.geojson").read_text())
    assert geojson["bcviewer"]["stain"] == expected
    manifest = json.loads((results["stained"] / "manifest.json").read_text())
    assert manifest["stain"] == expected
    assert json.loads((results["plain"] / "manifest.json").read_text())["stain"]["method"] == "none"


def test_a_copy_of_the_shipped_card_with_a_reinhard_reference_normalises_its_input(tmp_path: Path) -> None:
    import shutil

    model = tmp_path / "breakhis-100x-reinhard"
    shutil.copytree(resolve_model_dir("breakhis-100x"), model)
    card = json.loads((model / "card.json").read_text())
    reference = default_reference("reinhard")
    card["input"]["stain"] = reference.to_dict()
    (model / "card.json").write_text(json.dumps(card))
    p = {}
    for name, source in (("shipped", "breakhis-100x"), ("reinhard", str(model))):
        out = tmp_path / name
        assert main(["predict", str(SAMPLE_PNG), "--model", source, "--out", str(out), "--runtime", "torch",
                     "--device", "cpu", "--quiet"]) == 0
        with open(out / SAMPLE_PNG.stem / "tiles.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        p[name] = [float(r["p_malignant"]) for r in rows]
        assert {r["stain_method"] for r in rows} == {"none" if name == "shipped" else "reinhard"}
    assert {r["stain_sha256"] for r in rows} == {reference.sha256}
    assert max(abs(a - b) for a, b in zip(p["shipped"], p["reinhard"])) > 1e-3  # the network saw other pixels
