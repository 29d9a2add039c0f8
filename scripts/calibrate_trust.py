"""Give a shipped model its trust fields and measure them on patients it never saw.

``python3 scripts/calibrate_trust.py [--model breakhis-100x|idc-wsi] [--data ../shared/data]``

Steps, all through the scoring path of ``bcviewer predict`` (:func:`bcviewer.batch.work.scored_inputs`):

1. the card's validation patients (never trained on; they chose early stopping and temperatures)
   are scored; their image and tile p calibrate the conformal prediction sets (90%);
2. the tiles of the training patients, as the model sees them, fit the outside-training density;
   its threshold is the 99th percentile of the validation patients' tiles;
3. both are written to the card (``conformal``, ``outside_training``; the old member-disagreement
   "uncertain" threshold is replaced by the margin rule), then the card's test patients and the
   multi-magnification images of patients outside every split are scored through the updated
   model with ``evaluate``'s core, and their risk-coverage, set coverage, review share and
   outside-training share are written to ``metrics.trust``;
4. the outside-training flag is tried on inputs unlike training: kidney tissue, glass, a blurred
   test image, images of the other data set (IDC patches for the BreakHis model, BreakHis images
   for the IDC model) and natural photos (scikit-image's bundled images), and on test tissue.

Nothing is downloaded; nothing here reads a test patient before step 3.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bcviewer.batch.evaluation import LabelledInput, evaluate_inputs, labelled_inputs  # noqa: E402
from bcviewer.batch.work import PredictOptions, scored_inputs  # noqa: E402
from bcviewer.inference.plan import plan_grid  # noqa: E402
from bcviewer.inference import Predictor  # noqa: E402
from bcviewer.nets import load_model, resize_tiles, resolve_model_dir  # noqa: E402
from bcviewer.nets.store import update_card  # noqa: E402
from bcviewer.slides import open_slide  # noqa: E402
from bcviewer.training.trust_fit import trust_fields  # noqa: E402

OPTIONS = PredictOptions(formats=())
IDC_OPTIONS = PredictOptions(formats=(), tile_px=50)  # each 50 px patch one tile, as evaluate scores them
SUPERSEDED = "uncertainty, risk-coverage and the review flag: see metrics.trust (calibrated-margin rule, conformal sets)"


def model_tiles(paths: list[Path], spec: object, options: PredictOptions) -> np.ndarray:
    """RGB tiles of ``paths`` exactly as the predictor's feeder hands them to the model."""
    tiles = []
    for path in paths:
        with open_slide(path) as slide:
            grid = plan_grid(slide, spec, options.plan_options())  # type: ignore[arg-type]
            tiles += [resize_tiles(grid.read_tile(slide, t)[None], spec.size)[0] for t in grid.tiles]  # type: ignore[attr-defined]
    return np.stack(tiles)


def score(predictor: Predictor, inputs: list[LabelledInput], options: PredictOptions
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Image labels and p, tile labels and p, through predict's path."""
    p_img, y_img, p_tile, y_tile = [], [], [], []
    for result in scored_inputs(predictor, [(i, x.path) for i, x in enumerate(inputs)], options):
        assert result.scores is not None, result.error
        label = inputs[result.key.index].label
        p_img.append(result.scores.image_p_malignant)
        y_img.append(label)
        p_tile += result.scores.p_malignant.tolist()
        y_tile += [label] * len(result.scores)
    return np.array(y_img), np.array(p_img), np.array(y_tile), np.array(p_tile)


def trials(predictor: Predictor, data: Path, test: list[LabelledInput], folder: Path, kind: str
           ) -> dict[str, dict[str, float]]:
    """Share of tiles outside the training data, and the image verdicts, on inputs unlike training."""
    from skimage import data as photos

    folder.mkdir(parents=True, exist_ok=True)
    made: dict[str, list[Path]] = {"test tissue (unseen patients)": [x.path for x in test]}
    options = IDC_OPTIONS if kind == "idc" else OPTIONS
    made["kidney tissue (H&E TIFF)"] = [data / "slides" / "kidney-48-5.tif"]
    with open_slide(data / "slides" / "cmu_small_region.svs") as slide:
        glass = slide.read_region(0, 0, 0, 700, 460)  # the slide's top-left corner is bare glass
    Image.fromarray(glass).save(folder / "glass.png")
    made["glass (slide background)"] = [folder / "glass.png"]
    blurred = []
    for k, item in enumerate(test[:10]):
        out = folder / f"blurred-{k}.png"
        Image.open(item.path).convert("RGB").filter(ImageFilter.GaussianBlur(8)).save(out)
        blurred.append(out)
    made["blurred test images (Gaussian, 8 px)"] = blurred
    if kind == "idc":
        made["BreakHis images (100X microscopy)"] = sorted((data / "breakhis").rglob("*.png"))[::30]
    else:
        made["IDC patches (50 px, 40x slides)"] = sorted((data / "idc").rglob("*.png"))[:20]
    natural = []
    for name in ("astronaut", "coffee", "chelsea"):
        out = folder / f"{name}.png"
        Image.fromarray(getattr(photos, name)()).save(out)
        natural.append(out)
    made["natural photos (scikit-image)"] = natural
    rows = {}
    for what, paths in made.items():
        tiles, flagged, images = 0, 0, 0
        for result in scored_inputs(predictor, list(enumerate(paths)),
                                    options if "tissue" in what or "IDC" in what else OPTIONS):
            assert result.scores is not None, result.error
            tiles += result.scores.n_done
            flagged += int(result.scores.tile_outside().sum())
            images += int(bool(result.scores.image_outside))
        rows[what] = {"images": len(paths), "tile_share_outside": round(flagged / tiles, 4),
                      "images_flagged": images}
        print(f"  {what}: {flagged}/{tiles} tiles outside, {images}/{len(paths)} images flagged")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="breakhis-100x")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    directory = resolve_model_dir(args.model)
    model = load_model(directory)
    kind = model.card["data"]["kind"]
    # a model trained on several folders names them all; the data root then holds every one
    folder = args.data if model.card["data"].get("folders") else args.data / model.card["data"]["folder"]
    options = IDC_OPTIONS if kind == "idc" else OPTIONS
    patients = model.card["training"]["patients"]
    _, val = labelled_inputs(folder, kind, patients=patients["val"])
    _, train = labelled_inputs(folder, kind, patients=patients["train"])
    predictor = Predictor(model)
    y_img, p_img, y_tile, p_tile = score(predictor, val, options)
    print(f"calibration: {len(val)} validation images of {len(patients['val'])} patients")
    names = ", ".join(patients["val"]) if len(patients["val"]) <= 10 else "listed in training.patients.val"
    fields = trust_fields(y_img, p_img, y_tile, p_tile, model_tiles([x.path for x in train], model.spec, options),
                          model_tiles([x.path for x in val], model.spec, options),
                          calibration=f"validation patients ({len(patients['val'])}: {names}), {len(val)} images, "
                                      "scored as predict scores them")
    fields["uncertainty"] = {"level": "image", "rule": "calibrated margin 1 - |2p - 1| of the image's mean p; "
                                                       "'review' when the conformal prediction set is not one label"}
    update_card(directory, fields)

    model = load_model(directory)
    predictor = Predictor(model)
    _, test = labelled_inputs(folder, kind, patients=patients["test"])
    parts = [("test", test)]
    if kind == "breakhis" and not model.card["data"].get("folders"):
        seen = {p for part in patients.values() for p in part}
        groups = {p.rstrip("ABCDEFGH") for p in seen}
        _, multimag = labelled_inputs(args.data / "breakhis_multimag", "breakhis")
        parts.append(("unseen_other_magnifications",
                      [x for x in multimag if x.patient not in seen and x.patient.rstrip("ABCDEFGH") not in groups]))
    measured = {}
    for name, inputs in parts:
        report = evaluate_inputs(predictor, inputs, options)
        measured[name] = {"n_images": report["n_images"], "n_patients": len(report["patients"]),
                          "n_people": len({p.rstrip("ABCDEFGH") for p in report["patients"]}),
                          "image": {k: report["image"][k] for k in ("accuracy", "balanced_accuracy", "roc_auc",
                                                                    "sensitivity", "specificity", "ece")
                                    if k in report["image"]},
                          **report["trust"]}
        image = measured[name]["image"]
        image["balanced_accuracy"] = (image["sensitivity"] + image["specificity"]) / 2
        print(name, json.dumps({k: v for k, v in measured[name].items() if k != "risk_coverage"}))
        print("  risk-coverage:", [(r["coverage"], round(r["accuracy"], 3)) for r in measured[name]["risk_coverage"]])
    with tempfile.TemporaryDirectory() as tmp:
        tried = trials(predictor, args.data, test, Path(tmp), kind)
    card = json.loads((directory / "card.json").read_text())
    card["outside_training"]["trials"] = tried
    metrics = card.get("metrics", {})
    for part in ("validation", "test"):  # the old rule's numbers no longer describe what the app shows
        reliability = metrics.get(part, {}).get("reliability")
        if reliability:
            metrics[part]["reliability"] = {"bootstrap_95ci": reliability["bootstrap_95ci"], "superseded": SUPERSEDED}
    metrics["trust"] = measured
    fields = {"outside_training": card["outside_training"], "metrics": metrics}
    unseen = card.get("unseen_patients_other_magnifications")
    if unseen and "reliability" in unseen:
        unseen["reliability"] = {"bootstrap_95ci": unseen["reliability"].get("bootstrap_95ci"), "superseded": SUPERSEDED}
        fields["unseen_patients_other_magnifications"] = unseen
    update_card(directory, fields)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
