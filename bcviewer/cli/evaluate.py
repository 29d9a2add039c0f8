"""``bcviewer evaluate MODEL DATA``: tile- and image-level metrics of a model on a data folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bcviewer.errors import BcviewerError
from bcviewer.safety import atomic_write_text


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="measure a model on BreakHis images or IDC patches")
    p.add_argument("model", help="model folder or shipped model name (e.g. breakhis-100x)")
    p.add_argument("data", type=Path, help="folder of BreakHis images or IDC patches")
    p.add_argument("--patients", choices=("all", "train", "val", "test"), default="all",
                   help="score only the patients of this part of the model's training split")
    p.add_argument("--magnification", type=int, action="append", help="BreakHis magnification(s) to score")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the full report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _split_patients(card: dict[str, Any], part: str) -> set[str] | None:
    if part == "all":
        return None
    parts = card.get("training", {}).get("patients", {})
    if part not in parts:
        raise BcviewerError(f"the model card records no '{part}' patients, so --patients {part} cannot be used")
    return set(parts[part])


def _line(label: str, m: dict[str, Any]) -> str:
    auc = "n/a" if m["roc_auc"] is None else f"{m['roc_auc']:.3f}"
    return (f"{label:<8} n={m['n']:<5} accuracy {m['accuracy']:.3f}  sensitivity {m['sensitivity']:.3f}  "
            f"specificity {m['specificity']:.3f}  precision {m['precision']:.3f}  F1 {m['f1']:.3f}  "
            f"AUC {auc}  ECE {m['ece']:.3f}  confusion [[TN,FP],[FN,TP]]={m['confusion_matrix']}")


def run(args: argparse.Namespace) -> int:
    from bcviewer.nets import load_model
    from bcviewer.training import evaluation_report, load_tileset, predict_tileset

    model = load_model(args.model)
    kind = model.card.get("data", {}).get("kind", "auto")
    wanted = _split_patients(model.card, args.patients)
    mags = set(args.magnification) if args.magnification else None
    tileset = load_tileset(args.data, model.spec.size, kind, magnifications=mags, patients=wanted,
                           progress=not args.quiet)
    seen = set()
    for part in ("train", "val"):
        seen |= set(model.card.get("training", {}).get("patients", {}).get(part, []))
    overlap = sorted(seen & set(tileset.patient_ids()))
    if overlap:
        print(f"warning: {len(overlap)} of these patients were used to train or select the model "
              f"({', '.join(overlap[:5])}{' ...' if len(overlap) > 5 else ''}); the numbers are optimistic",
              file=sys.stderr)
    report = evaluation_report(tileset, predict_tileset(model.ensemble, tileset, model.spec, progress=not args.quiet))
    report["model"] = model.name
    report["data"] = str(args.data)
    report["patients_part"] = args.patients
    print(f"model {model.name} on {args.data} ({len(tileset.patient_ids())} patients, {args.patients})")
    print(f"image level: {report['image_aggregation']}")
    print(_line("image", report["image"]))
    print(_line("tile", report["tile"]))
    for mag, rows in report.get("per_magnification", {}).items():
        print(_line(f"{mag}", rows["image"]))
    for subtype, row in report["per_subtype"].items():
        print(f"  {subtype:<22} images {row['n_images']:<4} accuracy {row['accuracy']:.3f}  "
              f"mean p {row['mean_p_malignant']:.3f}")
    if args.json:
        atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")
    return 0
