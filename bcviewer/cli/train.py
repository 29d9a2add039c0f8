"""``bcviewer train DATA --out DIR``: train a hybrid CNN+LSTM ensemble on BreakHis or IDC data."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from bcviewer.cli.checks import positive_float
from bcviewer.errors import BcviewerError
from bcviewer.output_kinds import check_output_folder


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("train", help="train a CNN+LSTM ensemble on a BreakHis or IDC folder")
    p.add_argument("data", type=Path, help="folder of BreakHis images or IDC patches (any layout)")
    p.add_argument("--out", type=Path, required=True, help="model folder to write (weights + card.json)")
    p.add_argument("--name", help="model name in the card (default: the --out folder name)")
    p.add_argument("--kind", choices=("auto", "breakhis", "idc"), default="auto",
                   help="data set kind (default: auto, detected from the folder)")
    p.add_argument("--config", choices=("cpu", "gpu"), default="cpu",
                   help="cpu: small networks from scratch at a small input; gpu: paper-sized networks")
    p.add_argument("--members", metavar="LIST",
                   help="comma list of backbone[:width[:rows|feature_map]], e.g. resnet18:0.5:rows,resnet34:0.5")
    p.add_argument("--input-size", metavar="WxH", help="network input size, e.g. 128x84")
    p.add_argument("--magnification", type=int, action="append", help="BreakHis magnification(s) to use")
    p.add_argument("--epochs", type=int, help="stage-1 epochs")
    p.add_argument("--finetune-epochs", type=int, help="stage-2 epochs (everything trained, Adam 1e-4)")
    p.add_argument("--batch-size", type=int, help="tiles per training step (default: the config's)")
    p.add_argument("--patience", type=int, help="early-stopping patience in epochs")
    p.add_argument("--pretrained", choices=("none", "imagenet"), default="none",
                   help="imagenet: start from torchvision's ImageNet weights (downloads once)")
    p.add_argument("--seed", type=int, help="training seed")
    p.add_argument("--split-seed", type=int, help="seed of the patient split")
    p.add_argument("--fractions", metavar="TR,VA,TE", help="patient fractions for train, val, test (default 0.6,0.2,0.2)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--tile-um", type=positive_float, help="IDC: physical tile side recorded in the card (default 200)")
    p.add_argument("--mpp", type=positive_float, help="IDC: µm per pixel tiles are read at (default 4.0)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m or min(int(m.group(1)), int(m.group(2))) < 16:
        raise BcviewerError(f"--input-size must look like 128x84 (width x height, at least 16), got {text!r}")
    return int(m.group(1)), int(m.group(2))


def _fractions(text: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(v) for v in text.split(","))
    except ValueError as exc:
        raise BcviewerError(f"--fractions must be three numbers like 0.6,0.2,0.2, got {text!r}") from exc
    if len(parts) != 3:
        raise BcviewerError(f"--fractions must be three numbers like 0.6,0.2,0.2, got {text!r}")
    return parts


def run(args: argparse.Namespace) -> int:
    check_output_folder(args.out, "--out")  # before minutes of loading and training
    from bcviewer.training import PLANS, MemberPlan, detect_kind, load_tileset, train_ensemble
    from bcviewer.training.cards import card_fields_for, spec_extras_for

    kind = detect_kind(args.data) if args.kind == "auto" else args.kind
    members = tuple(MemberPlan.parse(m) for m in args.members.split(",")) if args.members else None
    plan = PLANS[args.config].with_overrides(
        members=members, input_size=_size(args.input_size) if args.input_size else None,
        stage1_epochs=args.epochs, stage2_epochs=args.finetune_epochs, batch_size=args.batch_size,
        patience=args.patience, seed=args.seed, split_seed=args.split_seed, threads=args.threads,
        fractions=_fractions(args.fractions) if args.fractions else None,
        pretrained=None if args.pretrained == "none" else args.pretrained)
    mags = set(args.magnification) if args.magnification else None
    tileset = load_tileset(args.data, plan.input_size, kind, magnifications=mags, progress=not args.quiet)
    if mags is None and kind == "breakhis":
        mags = {im.magnification for im in tileset.images if im.magnification is not None}
    name = args.name or args.out.name
    result = train_ensemble(tileset, plan, args.out, card_fields_for(kind, name, args.data),
                            spec_extras_for(kind, mags, args.tile_um, args.mpp), progress=not args.quiet)
    metrics = result.card["metrics"]
    summary = {part: {level: {k: metrics[part][level][k] for k in ("accuracy", "roc_auc", "n")}
                      for level in ("image", "tile")} for part in ("validation", "test") if part in metrics}
    print(f"saved {result.directory}")
    print(json.dumps(summary, indent=2))
    return 0
