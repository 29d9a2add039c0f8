"""``bcviewer quantize MODEL DATA``: make a model's int8 ONNX file and keep it only if it holds up.

Activation ranges are calibrated on tiles of the card's **training** patients only; the float32
and int8 versions are then scored on the card's **test** patients (held-out), and the change in
accuracy and AUC (image and tile level) is written to the card's ``int8`` section. The int8 file
(``weights.int8.onnx``) is kept, and ``--runtime int8`` allowed, only when neither image- nor
tile-level accuracy drops by more than 0.5 percentage points; otherwise the card records why not.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bcviewer.errors import BcviewerError

if TYPE_CHECKING:
    import numpy as np


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("quantize", help="make a model's int8 version; keep it only if held-out accuracy holds")
    p.add_argument("model", help="model folder (its card lists the train and test patients)")
    p.add_argument("data", type=Path, help="the BreakHis or IDC folder the model was trained on")
    p.add_argument("--calibration-tiles", type=int, default=512, metavar="N",
                   help="training tiles used to calibrate activation ranges (seeded sample)")
    p.add_argument("--dry-run", action="store_true", help="measure and print, but change nothing in the model folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _patients(card: dict[str, Any], part: str) -> list[str]:
    found = card.get("training", {}).get("patients", {}).get(part)
    if not found:
        raise BcviewerError(f"the model card lists no '{part}' patients, so int8 cannot be calibrated and checked "
                            "on separate patients")
    return list(found)


def _batches(tiles: np.ndarray, spec: Any, size: int = 64) -> list[np.ndarray]:
    from bcviewer.nets import preprocess

    return [preprocess(tiles[i:i + size], spec).numpy() for i in range(0, len(tiles), size)]


def _scores(runner: Any, batches: list[np.ndarray]) -> Any:
    import numpy as np

    from bcviewer.nets import EnsemblePrediction

    parts = [runner.predict(x) for x in batches]
    return EnsemblePrediction(*(np.concatenate([getattr(p, f) for p in parts])
                                for f in EnsemblePrediction.__dataclass_fields__))


def _metrics(report: dict[str, Any]) -> dict[str, Any]:
    return {level: {"n": report[level]["n"], "accuracy": round(report[level]["accuracy"], 5),
                    "auc": None if report[level]["roc_auc"] is None else round(report[level]["roc_auc"], 5)}
            for level in ("image", "tile")}


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from bcviewer.inference import OnnxEnsemble, thread_plan
    from bcviewer.nets import load_model, update_card
    from bcviewer.nets.onnx_export import cached_onnx
    from bcviewer.nets.quantize import INT8_NAME, MAX_ACCURACY_DROP_PP, quantize_int8
    from bcviewer.training import evaluation_report, load_tileset

    if args.calibration_tiles < 1:
        raise BcviewerError(f"--calibration-tiles must be at least 1, got {args.calibration_tiles}")
    model = load_model(args.model)
    card, spec, threads = model.card, model.spec, thread_plan().intra_op
    kind = card.get("data", {}).get("kind", "auto")
    train, test = _patients(card, "train"), _patients(card, "test")
    calibration = load_tileset(args.data, spec.size, kind, patients=train, progress=not args.quiet)
    pick = np.random.default_rng(0).permutation(len(calibration))[:args.calibration_tiles]
    fp32_bytes, _ = cached_onnx(model.ensemble, spec.height, spec.width, model.directory,
                                str(card["weights"]["sha256"]), card)
    int8_bytes = quantize_int8(fp32_bytes, _batches(calibration.tiles[np.sort(pick)], spec))
    weights = model.ensemble.member_weights.double().numpy()
    held_out = load_tileset(args.data, spec.size, kind, patients=test, progress=not args.quiet)
    batches = _batches(held_out.tiles, spec)
    fp32 = _metrics(evaluation_report(held_out, _scores(OnnxEnsemble(fp32_bytes, weights, threads), batches)))
    int8 = _metrics(evaluation_report(held_out, _scores(OnnxEnsemble(int8_bytes, weights, threads), batches)))
    change = {level: {"accuracy_pp": round(100 * (int8[level]["accuracy"] - fp32[level]["accuracy"]), 3),
                      "auc": None if fp32[level]["auc"] is None or int8[level]["auc"] is None
                      else round(int8[level]["auc"] - fp32[level]["auc"], 5)} for level in ("image", "tile")}
    worst = min(change["image"]["accuracy_pp"], change["tile"]["accuracy_pp"])
    shipped = worst >= -MAX_ACCURACY_DROP_PP
    section: dict[str, Any] = {
        "shipped": shipped, "file": INT8_NAME if shipped else None,
        "sha256": hashlib.sha256(int8_bytes).hexdigest() if shipped else None,
        "weights_sha256": card["weights"]["sha256"], "bytes": len(int8_bytes),
        "method": "onnxruntime static quantisation, QDQ, per-channel int8 weights, uint8 activations (MinMax)",
        "calibration": {"patients": "train", "tiles": int(len(pick)), "seed": 0},
        "held_out": {"patients": test, "fp32": fp32, "int8": int8, "change": change},
        "rule": f"kept only if image and tile accuracy drop by <= {MAX_ACCURACY_DROP_PP} percentage points",
    }
    if not shipped:
        section["reason"] = f"held-out accuracy dropped by {-worst:.2f} percentage points"
    for level in ("image", "tile"):
        print(f"{level:<5} accuracy fp32 {fp32[level]['accuracy']:.4f} int8 {int8[level]['accuracy']:.4f} "
              f"({change[level]['accuracy_pp']:+.2f} pp); AUC fp32 {fp32[level]['auc']} int8 {int8[level]['auc']}")
    print(f"int8 {'kept' if shipped else 'NOT kept'} ({section['rule']})", file=sys.stderr)
    if args.dry_run:
        return 0
    target = model.directory / INT8_NAME
    if shipped:
        target.write_bytes(int8_bytes)
    else:
        target.unlink(missing_ok=True)
    update_card(model.directory, {"int8": section})
    return 0
