"""Reproduce the shipped ``breakhis-100x`` model from ../shared/data, on CPU (issue 20).

    python3 scripts/breakhis_all_patients_cv.py       # first: the patient CV that chose the recipe
    python3 scripts/train_breakhis_model.py           # then: the model, its card, trust and int8

Data: every BreakHis image we have (``breakhis/`` 100X, ``breakhis_multimag/`` 40X-400X,
``breakhis_200x/``; 1,034 images of 54 patients in 49 specimen groups), cut as ``predict`` cuts
them (tiles with the field of a 100X 3x3 sub-image: 8x8 at 40X, 3x3 at 100X, 2x2 at 200X, one at
400X). Split 60/20/20 by specimen group (seed 0, stratified by the group's majority label):
training groups fit the head, validation groups the temperature and the conformal calibration,
test groups are scored once, after saving, through the saved weights.

Recipe: the one the patient CV chose (``--recipe``, default ``linear-probe``: frozen ImageNet
EfficientNet-Lite0 cut after stage 4, channel means and standard deviations of its map,
standardised, one class-balanced logistic regression). ``--recipe hybrid`` trains the CNN + LSTM +
attention head instead (3 members), for comparison.

Afterwards: ``scripts/calibrate_trust.py`` recalibrates the prediction sets through predict's own
path and measures trust on the test groups; ``bcviewer quantize`` makes and checks the int8 file.
About 10 minutes on 2 cores (trunk features are shared with the CV script's cache).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bcviewer.nets import HybridNet, update_card  # noqa: E402
from bcviewer.nets.store import read_card  # noqa: E402
from bcviewer.training.cards import card_fields_for, spec_extras_for  # noqa: E402
from bcviewer.training.features import cached_trunk_features, jsonable, trunk_key  # noqa: E402
from bcviewer.training.lite_pipeline import LITE_LINEAR_PROBE, LitePlan, lite_input_spec, train_lite_ensemble  # noqa: E402
from bcviewer.training.pipeline import patient_group  # noqa: E402
from bcviewer.training.tiles import breakhis_collection  # noqa: E402

FOLDERS = ("breakhis", "breakhis_multimag", "breakhis_200x")
RECIPES = {"linear-probe": LitePlan(config=LITE_LINEAR_PROBE, members=1, stain=False),
           "hybrid": LitePlan(stain=False)}
DESCRIPTIONS = {
    "linear-probe": "Benign vs malignant BreakHis microscopy images at 40X-400X: frozen ImageNet EfficientNet-Lite0 "
                    "trunk (cut after stage 4), channel means and standard deviations of its map, standardised, "
                    "and one logistic regression (the CNN branch alone: in patient CV the LSTM and the attention "
                    "fusion added nothing)",
    "hybrid": "Benign vs malignant BreakHis microscopy images at 40X-400X: ImageNet EfficientNet-Lite0 trunk + "
              "bidirectional LSTM over feature-map positions + attention fusion, 3 members"}
# Measurements of earlier models kept for the record (they describe the 100X-only recipes of issue 9).
HISTORY = ("cross_validation", "stain_ablation", "trunk_depth_probe", "recipe_search_issue9",
           "unseen_patients_other_magnifications")
LIMITATIONS = [
    "Trained on 54 BreakHis patients (49 specimen groups; about 29 groups for training): held-out numbers move by "
    "several points with each patient; read the confidence intervals.",
    "The name keeps '100x' for the tile scale: every magnification is cut into tiles with the field of a 100X 3x3 "
    "sub-image (8x8 at 40X, 2x2 at 200X, one tile at 400X).",
    "The 200X images (39 patients) are copies squashed to 224x224 by their source: they carry the field of view "
    "of an original but less detail, so 200X figures describe that copy, not BreakHis's own 200X images.",
    "The ImageNet trunk is frozen (fine-tuning was not run on CPU); only the logistic regression learnt from BreakHis.",
    "BreakHis has no lobular carcinoma or phyllodes tumour at 200X in this collection, and some subtypes have "
    "one or two patients: their rows in the per-subtype tables rest on those patients.",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--recipe", choices=tuple(RECIPES), default="linear-probe")
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "breakhis-100x")
    parser.add_argument("--run", type=Path, default=ROOT / "runs" / "breakhis-all")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    plan = RECIPES[args.recipe]
    spec = lite_input_spec(plan, spec_extras_for("breakhis", {100}))
    base = HybridNet(plan.config, pretrained="imagenet")
    tiles = breakhis_collection([args.data / name for name in FOLDERS], plan.input_size)
    # same cache as the CV script: same images, tiles, spec (up to its extras) and trunk
    features = cached_trunk_features(args.run, "all-as-predict", tiles, lite_input_spec(plan), base.cnn,
                                     trunk_key(plan.config.to_dict()))
    old = read_card(args.out) if (args.out / "card.json").is_file() else {}
    fields = card_fields_for("breakhis", "breakhis-100x", args.data / FOLDERS[0], DESCRIPTIONS[args.recipe])
    fields["data"]["folders"] = list(FOLDERS)
    fields["limitations"] = fields["limitations"][:1] + LIMITATIONS
    fields["trained_on"].update({
        "magnification": "100X",
        "magnifications_trained": "40X, 100X, 200X, 400X",
        "scale": "tiles with the field of a 100X 3x3 sub-image (about 233 x 153 px of a 700 x 460 field at 100X)",
        "other_magnifications": "scale-matched tiles: round(300 / magnification) a side (8x8 at 40X, 2x2 at 200X, "
                                "1x1 at 400X), trained on as well"})
    trained = train_lite_ensemble(tiles, plan, args.out, fields, spec_extras_for("breakhis", {100}),
                                  features=features)
    card = trained.card
    split = card["training"]["patients"]
    people = {part: len({patient_group(p) for p in patients}) for part, patients in split.items()}
    extra = {"history_100x_only": {k: old[k] for k in HISTORY if k in old},
             "split_people": people}
    cv = {name: json.loads((args.run / f"cv-{name}.json").read_text())
          for name in ("probe", "hybrid", "stain", "magnification") if (args.run / f"cv-{name}.json").is_file()}
    if cv:
        extra["cross_validation"] = jsonable({"folds": 5, "grouping": "specimen number", "data": list(FOLDERS),
                                              "script": "scripts/breakhis_all_patients_cv.py", "recipes": cv})
    update_card(args.out, extra)
    print(f"people per part: {people}")
    print(f"test image accuracy {card['metrics']['test']['image']['accuracy']:.3f}, "
          f"AUC {card['metrics']['test']['image']['roc_auc']:.3f}")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "calibrate_trust.py"), "--model", str(args.out),
                    "--data", str(args.data)], check=True)
    subprocess.run([sys.executable, "-m", "bcviewer", "quantize", str(args.out), str(args.data), "--quiet"],
                   check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
