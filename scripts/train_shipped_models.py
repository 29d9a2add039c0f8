"""Reproduce the shipped ``idc-wsi`` model in models/ from ../shared/data (CPU, from scratch).

    python3 scripts/train_shipped_models.py --only idc-wsi

``breakhis-100x`` is made by ``scripts/train_breakhis_model.py`` (ImageNet Lite0 hybrid). The
``breakhis-100x-scratch`` and ``crossval`` steps here reproduce the earlier from-scratch BreakHis
recipe, kept as the baseline the card compares against.

Patients are split train/val/test (60/20/20, stratified by label, seed 0, BreakHis ids that
differ only in trailing slide letters kept together). Selection (early stopping, temperatures,
member weights) uses the validation patients only; the test patients are scored once, after
saving, and their metrics are written into each model card.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bcviewer.training import PLANS, MemberPlan, StageSchedule, load_tileset, train_ensemble  # noqa: E402
from bcviewer.nets import update_card  # noqa: E402
from bcviewer.training.cards import card_fields_for, crossval_summary, spec_extras_for  # noqa: E402
from bcviewer.training.crossval import cross_validate  # noqa: E402

BREAKHIS_PLAN = PLANS["cpu"].with_overrides(
    members=(MemberPlan("resnet18", 0.5, "rows"), MemberPlan("resnet34", 0.5, "feature_map")),
    input_size=(96, 64), threads=1,
    schedule=StageSchedule(stage1_epochs=20, stage1_lr=2e-3, stage2_epochs=6, stage2_lr=1e-4, patience=6,
                           batch_size=32))
IDC_PLAN = PLANS["cpu"].with_overrides(
    members=(MemberPlan("resnet18", 0.5, "rows"), MemberPlan("resnet34", 0.5, "feature_map")),
    input_size=(64, 64), threads=1,
    schedule=StageSchedule(stage1_epochs=20, stage1_lr=2e-3, stage2_epochs=6, stage2_lr=1e-4, patience=6,
                           batch_size=64))

# Cross-validation estimates the recipe with every patient held out once; one member keeps it to
# about half an hour on 2 shared CPU cores.
CROSSVAL_PLAN = BREAKHIS_PLAN.with_overrides(members=(MemberPlan("resnet18", 0.5, "rows"),))

BREAKHIS_LIMITATIONS = [
    "Trained on 100X BreakHis images only; other magnifications are out of distribution (per-magnification "
    "numbers in 'bcviewer evaluate' show how much worse).",
    "Only 20 BreakHis patients were available (about 12 for training); the test set holds few patients, so "
    "the held-out numbers are uncertain by many percentage points.",
    "Images are 3x3 sub-images resized to the network input; fine nuclear detail is partly lost.",
]
IDC_LIMITATIONS = [
    "Trained on a 1,688-patch subset of the Kaggle IDC patches (196 patients); IDC patches are 50 px at about "
    "2.5x (about 4 µm/px), so slides must be read at that scale (tile 200 µm, mpp 4.0) as the card states.",
    "Patch labels come from coarse region annotations; a patch labelled IDC may hold little tumour.",
    "Whole slides from other scanners and stains than the IDC cohort are out of distribution.",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "models")
    parser.add_argument("--only", choices=("breakhis-100x-scratch", "idc-wsi", "crossval"), default="idc-wsi",
                        help="one step; crossval adds a K-fold patient cross-validation of the BreakHis recipe to "
                             "the breakhis-100x card")
    parser.add_argument("--folds", type=int, default=5, metavar="K", help="cross-validation folds (default 5)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.only == "breakhis-100x-scratch":
        tiles = load_tileset(args.data / "breakhis", BREAKHIS_PLAN.input_size, "breakhis", magnifications={100})
        fields = card_fields_for("breakhis", "breakhis-100x", args.data / "breakhis",
                                 "Benign vs malignant, BreakHis 100X microscopy images (3x3 sub-images)")
        fields["limitations"] += BREAKHIS_LIMITATIONS
        train_ensemble(tiles, BREAKHIS_PLAN, args.out / "breakhis-100x-scratch", fields, spec_extras_for("breakhis", {100}),
                       progress=False, log_epochs=not args.quiet)
    if args.only == "crossval":
        tiles = load_tileset(args.data / "breakhis", CROSSVAL_PLAN.input_size, "breakhis", magnifications={100})
        result = cross_validate(tiles, CROSSVAL_PLAN, k=args.folds, seed=0, log_epochs=not args.quiet)
        result["note"] = ("estimate of the training recipe with one resnet18-rows member, every patient held out "
                          "once; the shipped ensemble's own held-out numbers are under 'metrics'")
        update_card(args.out / "breakhis-100x-scratch", {"cross_validation": result,
                                                 "cross_validation_summary": crossval_summary(result)})
    if args.only == "idc-wsi":
        tiles = load_tileset(args.data / "idc", IDC_PLAN.input_size, "idc")
        fields = card_fields_for("idc", "idc-wsi", args.data / "idc",
                                 "Invasive ductal carcinoma vs non-IDC per 200 µm whole-slide tile")
        fields["limitations"] += IDC_LIMITATIONS
        train_ensemble(tiles, IDC_PLAN, args.out / "idc-wsi", fields,
                       spec_extras_for("idc", tile_um=200.0, mpp=4.0, tile_px=50), progress=False,
                       log_epochs=not args.quiet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
