"""Retrain ``idc-wsi`` with the ImageNet Lite0 hybrid recipe and compare it with the from-scratch model.

    python3 scripts/train_idc_model.py                   # every step (resumes finished ones)
    python3 scripts/train_idc_model.py --only probe      # one step: probe, crossval, model, ship

The split is the shipped model's: patients 60/20/20, label-stratified, seed 0 (39 test patients).
Every recipe choice is made on the 157 development patients (train + val) only; test patients are
scored once per candidate model. Steps, cached under ``runs/idc-lite/`` so a killed run resumes:
1. probe: linear probes on frozen Lite0 features (trunk cut after stage 3/4/5/6, input 96/112/128,
   with and without Macenko) in 5-fold grouped patient CV of the development patients.
2. crossval: the hybrid-head recipe for each candidate in CANDIDATES, 5-fold patient CV of the
   development patients, with the ablations (CNN alone, hybrid, hybrid with the LSTM zeroed).
3. model: the chosen candidate trained on the shipped split into ``runs/idc-lite/model``.
4. ship: the candidate replaces ``models/idc-wsi`` only if its held-out test accuracy and AUC are
   both at least the shipped model's; either way the shipped card gets the Lite results.
The 50 px patches (200 µm at ~4 µm/px) keep their physical meaning; only the network input size changes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bcviewer.nets import HybridNet  # noqa: E402
from bcviewer.training import load_tileset  # noqa: E402
from bcviewer.training.cards import spec_extras_for  # noqa: E402
from bcviewer.training.features import FeatureSet, cached_trunk_features, jsonable  # noqa: E402
from bcviewer.training.head_crossval import crossval_heads  # noqa: E402
from bcviewer.training.head_trainer import HeadSchedule  # noqa: E402
from bcviewer.training.layer_probe import probe_crossval, stage_pooled_features  # noqa: E402
from bcviewer.training.lite_pipeline import LITE_HYBRID, LitePlan, lite_input_spec  # noqa: E402
from bcviewer.training.pipeline import grouped_patient_split  # noqa: E402

EXTRAS = spec_extras_for("idc", tile_um=200.0, mpp=4.0, tile_px=50)
FRACTIONS, SPLIT_SEED = (0.6, 0.2, 0.2), 0
PROBE_SIZES, PROBE_STAGES, PROBE_C = (96, 112, 128), (3, 4, 5, 6), (0.01, 0.1, 1.0)
# Macenko is off everywhere: the probe measured it no better than raw colour at every trunk cut.
BASE = LitePlan(config=replace(LITE_HYBRID, rnn_grid=(3, 3)), input_size=(112, 112), stain=False)
STRONG = HeadSchedule(weight_decay=0.1, noise=0.1)  # probe-like: the head is pushed towards small weights
CANDIDATES: dict[str, LitePlan] = {
    "s4-112": BASE,
    "s3-112": replace(BASE, config=replace(BASE.config, trunk_stages=3, rnn_grid=(4, 4))),
    "s4-128": replace(BASE, input_size=(128, 128), config=replace(BASE.config, rnn_grid=(4, 4))),
    "s4-96": replace(BASE, input_size=(96, 96)),
    "s4-112-strong": replace(BASE, head=STRONG, config=replace(BASE.config, dropout_cnn=0.5, rnn_hidden=32,
                                                                 fusion_width=32)),
}


def write_json(path: Path, value) -> None:
    """Write ``value`` as JSON through a temporary file, so an interrupted run leaves no half file."""
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(value, indent=1))
    partial.replace(path)


def dev_patients(tiles) -> list[str]:
    """Train + validation patients of the shipped split (the test patients are never used for choices)."""
    split = grouped_patient_split(tiles, FRACTIONS, SPLIT_SEED)
    return sorted(split.train | split.val)


def run_probe(data: Path, run: Path) -> dict:
    """Linear-probe CV over trunk cut, input size and stain normalisation (development patients)."""
    out_file = run / "probe.json"
    result = json.loads(out_file.read_text()) if out_file.is_file() else {}
    for size in PROBE_SIZES:
        for stain in (False, True) if size == 112 else (False,):
            key = f"{size}{'-macenko' if stain else ''}"
            if key in result:
                continue
            started = time.monotonic()
            tiles = load_tileset(data / "idc", (size, size), "idc")
            tiles = tiles.select_patients(dev_patients(tiles))
            spec = lite_input_spec(LitePlan(input_size=(size, size), stain=stain), EXTRAS)
            pooled = stage_pooled_features(tiles, spec, PROBE_STAGES)
            rows = {}
            for stage, x in pooled.items():
                best = max((probe_crossval(x, tiles, c) for c in PROBE_C), key=lambda r: r["roc_auc"])
                rows[f"stage{stage}"] = best
                print(f"probe {key} stage {stage}: C {best['C']} acc {best['accuracy']:.3f} "
                      f"bacc {best['balanced_accuracy']:.3f} auc {best['roc_auc']:.3f}", flush=True)
            result[key] = {"stages": rows, "seconds": round(time.monotonic() - started, 1)}
            write_json(out_file, result)
    return result


def plan_features(data: Path, run: Path, plan: LitePlan) -> tuple[object, FeatureSet]:
    """All 1,688 patches at the plan's input size and their cached trunk maps."""
    size, stages = plan.input_size, plan.config.trunk_stages
    tiles = load_tileset(data / "idc", size, "idc")
    spec = lite_input_spec(plan, EXTRAS)
    trunk = HybridNet(plan.config, pretrained="imagenet").cnn
    trunk_key = {"backbone": plan.config.backbone, "trunk_stages": stages}  # the head settings do not change maps
    return tiles, cached_trunk_features(run, f"{size[0]}x{size[1]}-s{stages}", tiles, spec, trunk, trunk_key)


def run_crossval(data: Path, run: Path, names: list[str]) -> dict:
    """Hybrid-head CV with ablations for each candidate, on the development patients only."""
    results = {}
    for name in names:
        out_file = run / f"crossval-{name}.json"
        if not out_file.is_file():
            plan = CANDIDATES[name]
            tiles, features = plan_features(data, run, plan)
            dev = features.select_patients(dev_patients(tiles))
            result = crossval_heads(dev, plan.config, plan.head, members=1, k=5, seed=0,
                                    target_accuracy=plan.target_accuracy)
            result["plan"] = plan.to_dict()
            write_json(out_file, jsonable(result))
        results[name] = json.loads(out_file.read_text())
        hybrid = results[name]["hybrid"]["image"]
        print(f"crossval {name}: acc {hybrid['accuracy']:.3f} auc {hybrid['roc_auc']:.3f} "
              f"ece {hybrid['ece']:.3f} ({results[name]['seconds']:.0f} s)", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "idc-wsi")
    parser.add_argument("--run", type=Path, default=ROOT / "runs" / "idc-lite")
    parser.add_argument("--only", choices=("probe", "crossval", "model", "ship"))
    parser.add_argument("--candidates", nargs="*", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for the small heads)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.run.mkdir(parents=True, exist_ok=True)
    if args.only in (None, "probe"):
        run_probe(args.data, args.run)
    if args.only in (None, "crossval"):
        run_crossval(args.data, args.run, args.candidates)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
