"""``bcviewer evaluate MODEL DATA``: tile- and image-level metrics of a model on a data folder,
scored exactly as ``predict`` scores each image (:mod:`bcviewer.batch.evaluation`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bcviewer.errors import BcviewerError
from bcviewer.output_kinds import FORCE_HELP, check_output_file, write_text_output

IDC_PATCH_PX = 50
"""IDC patches are 50x50 px crops of 40x slides; each is scored as one tile, as in training."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("evaluate", help="measure a model on BreakHis images or IDC patches")
    p.add_argument("model", help="model folder or shipped model name (e.g. breakhis-100x)")
    p.add_argument("data", type=Path, help="folder of BreakHis images or IDC patches")
    p.add_argument("--patients", choices=("all", "train", "val", "test"), default="all",
                   help="score only the patients of this part of the model's training split")
    p.add_argument("--magnification", type=int, action="append", help="BreakHis magnification(s) to score")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the full report as JSON")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.add_argument("--runtime", default="auto", help="auto (default), onnx, int8 or torch, as for predict")
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


def _trust_lines(trust: dict[str, Any]) -> list[str]:
    at70 = next((r for r in trust["risk_coverage"] if abs(r["coverage"] - 0.7) < 0.05), None)
    lines = [f"most certain 70% of images (by {trust['ranking']}): accuracy {at70['accuracy']:.3f}"] if at70 else []
    if "set_coverage" in trust:
        lines.append(f"prediction sets: cover the truth on {trust['set_coverage']:.1%} of images, 'review' on "
                     f"{trust['review_share']:.1%}")
    if "outside_training_share" in trust:
        lines.append(f"outside the training data: {trust['outside_training_share']:.1%} of images")
    return lines


def run(args: argparse.Namespace) -> int:
    from bcviewer.batch.evaluation import evaluate_inputs, labelled_inputs
    from bcviewer.batch.work import PredictOptions
    from bcviewer.inference import Predictor
    from bcviewer.nets import open_model

    check_output_file(args.json, "json", "--json", force=args.force)  # before minutes of scoring
    model = open_model(args.model)
    kind = model.card.get("data", {}).get("kind", "auto")
    wanted = _split_patients(model.card, args.patients)
    kind, inputs = labelled_inputs(args.data, kind, args.magnification, wanted)
    seen = set()
    for part in ("train", "val"):
        seen |= set(model.card.get("training", {}).get("patients", {}).get(part, []))
    overlap = sorted(seen & {i.patient for i in inputs})
    if overlap:
        print(f"warning: {len(overlap)} of these patients were used to train or select the model "
              f"({', '.join(overlap[:5])}{' ...' if len(overlap) > 5 else ''}); the numbers are optimistic",
              file=sys.stderr)
    # IDC patches are each one tile at the scale the model was trained on; the other kinds are
    # tiled exactly as predict tiles them.
    options = PredictOptions(formats=(), tile_px=IDC_PATCH_PX if kind == "idc" else None,
                             mpp=None, runtime=args.runtime)
    predictor = Predictor(model, runtime=args.runtime)
    progress = None if args.quiet else _progress()
    report = evaluate_inputs(predictor, inputs, options, on_tiles_done=None if progress is None else progress.update)
    if progress is not None:
        progress.close()
    report.update({"model": model.name, "data": str(args.data), "patients_part": args.patients, "kind": kind,
                   "runtime": predictor.runtime})
    print(f"model {model.name} on {args.data} ({len(report['patients'])} patients, {args.patients}; "
          f"scored as predict scores them, runtime {predictor.runtime})")
    print(f"image level: {report['image_aggregation']}")
    print(_line("image", report["image"]))
    print(_line("tile", report["tile"]))
    for mag, metrics in report.get("per_magnification", {}).items():
        print(_line(f"{mag}", metrics))
    for line in _trust_lines(report["trust"]):
        print(line)
    for subtype, row in report["per_subtype"].items():
        print(f"  {subtype:<22} images {row['n_images']:<4} accuracy {row['accuracy']:.3f}  "
              f"mean p {row['mean_p_malignant']:.3f}")
    for failure in report["failed"]:
        print(f"not scored: {failure['path']}: {failure['error']}", file=sys.stderr)
    if args.json:
        write_text_output(args.json, json.dumps(report, indent=2) + "\n")
    return 0


def _progress() -> Any:
    from bcviewer.cli.progress import progress_bar

    return progress_bar(desc="scoring", unit="tile")
