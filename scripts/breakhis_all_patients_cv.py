"""Issue 20: patient cross-validation of BreakHis recipes on every patient we have, all magnifications.

    python3 scripts/breakhis_all_patients_cv.py [--data ../shared/data] [--only probe|hybrid|stain]

Data (tiles exactly as ``predict`` cuts them: 3x3 at 100X, scale-matched at other magnifications):
* ``breakhis/``: 307 images at 100X, 20 patients;
* ``breakhis_multimag/``: 46 images at 40X-400X (one is a copy of a ``breakhis/`` image: counted once);
* ``breakhis_200x/``: 682 images at 200X of 39 patients (14 new). The source squashed each 700x460
  image to 224x224 (its field of view is the original's, its detail coarser); each is cut 2x2 as
  predict cuts a 200X image, so ``evaluate`` and ``predict`` see these images exactly as here.
Patients are grouped by specimen number (14-22549AB/CD/G are one group) and folds are stratified by
the group's majority label; the inner validation split (25% of the development groups) sets the
temperature (and early stopping for trained heads). Every image is scored by the fold model that
never saw its patient group. Cached under ``runs/breakhis-all/``.

Recipes (frozen ImageNet EfficientNet-Lite0 trunk cut after stage 4, its maps cached):
* ``probe``: standardised channel means and standard deviations, one logistic regression (CNN only);
* ``hybrid``: the shipped head (CNN branch + bidirectional LSTM over the 3x4 map positions +
  attention fusion), 1 member a fold; its branches tested as information: each branch's vectors
  replaced by their training mean, and shuffled across the held-out tiles;
* ``stain``: the probe on tiles of images Macenko-normalised per image (torchstain, NumPy backend).
* ``magnification``: the probe trained on every magnification, on 100X only, and per magnification.
The script prints and writes ``runs/breakhis-all/cv-<recipe>.json``: pooled image accuracy, AUC,
sensitivity and per-magnification rows with patient-bootstrap 95% CIs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bcviewer.datasets.splits import patient_kfold  # noqa: E402
from bcviewer.nets import HybridNet  # noqa: E402
from bcviewer.nets.ensemble import EnsemblePrediction  # noqa: E402
from bcviewer.training.features import FeatureSet, cached_trunk_features, jsonable, trunk_key  # noqa: E402
from bcviewer.training.head_crossval import fit_head_ensemble, group_labels  # noqa: E402
from bcviewer.training.head_trainer import HeadSchedule, predict_features  # noqa: E402
from bcviewer.training.lite_pipeline import LITE_HYBRID, LITE_LINEAR_PROBE, LitePlan, lite_input_spec  # noqa: E402
from bcviewer.training.metrics import binary_metrics  # noqa: E402
from bcviewer.training.pipeline import grouped_patient_split, patient_group  # noqa: E402
from bcviewer.training.reliability import image_outputs, patient_bootstrap, risk_coverage  # noqa: E402
from bcviewer.training.tiles import TileSet, breakhis_collection  # noqa: E402



FOLDERS = ("breakhis", "breakhis_multimag", "breakhis_200x")


def macenko_per_image(tileset: TileSet) -> TileSet:
    """Each image's tiles normalised with that image's own Macenko stain estimate (torchstain, NumPy)."""
    import torchstain

    reference = tileset.tiles[0]
    normaliser = torchstain.normalizers.MacenkoNormalizer(backend="numpy")
    normaliser.fit(reference)
    out = tileset.tiles.copy()
    for i in range(len(tileset.images)):
        rows = np.flatnonzero(tileset.image_index == i)
        mosaic = np.concatenate(list(tileset.tiles[rows]), axis=0)  # the image's tiles stacked: one estimate
        try:
            normed, _, _ = normaliser.normalize(I=mosaic, stains=False)
        except Exception:  # noqa: BLE001 - too little stain to estimate: keep the image as it is
            continue
        out[rows] = np.asarray(normed, dtype=np.uint8).reshape(tileset.tiles[rows].shape)
    return replace(tileset, tiles=out)


def crossval(features: FeatureSet, configs: list[Any], schedule: HeadSchedule, k: int = 5, seed: int = 0,
             ablate: bool = False) -> dict[str, Any]:
    """Pooled out-of-fold predictions of the recipe (and branch ablations of a hybrid)."""
    n = len(features)
    pooled: dict[str, np.ndarray] = {}
    folds, folds_attention = [], []
    for fold, (_, test_groups) in enumerate(patient_kfold(group_labels(features), k, seed)):
        started = time.monotonic()
        test = [p for p in features.patient_ids() if patient_group(p) in test_groups]
        dev = features.select_patients(set(features.patient_ids()) - set(test))
        inner = grouped_patient_split(dev, (0.75, 0.25, 0.0), seed + fold)
        train, val, held = dev.select_patients(inner.train), dev.select_patients(inner.val), features.select_patients(test)
        ensemble, _ = fit_head_ensemble(configs, train, val, schedule, seed=seed + 100 * fold)
        mask = np.isin(features.patients, test)
        variants = {"model": lambda: predict_features(ensemble, held)}
        if ablate:
            variants.update(branch_ablations(ensemble, train, held))
            attention = variants.pop("attention")
            folds_attention.append(attention.mean(0).tolist())
        for name, run in variants.items():
            pred = run()
            if name not in pooled:
                pooled[name] = np.full(n, np.nan)
            pooled[name][mask] = pred.p_malignant
        folds.append({"fold": fold, "test_patients": sorted(test), "seconds": round(time.monotonic() - started, 1)})
        print(f"fold {fold}: {len(test)} patients, {mask.sum()} tiles, {time.monotonic() - started:.0f} s", flush=True)
    result = {"folds": folds, "variants": {name: report(features, p) for name, p in pooled.items()}}
    if folds_attention:
        result["attention_cnn_lstm_by_fold"] = folds_attention
    return result


def of_magnification(features: FeatureSet, magnifications: set[int]) -> FeatureSet:
    return features.select_images(i for i, im in enumerate(features.images) if im.magnification in magnifications)


def crossval_by_magnification(features: FeatureSet, config: Any, schedule: HeadSchedule, k: int = 5,
                              seed: int = 0) -> dict[str, Any]:
    """One model for every magnification, against a model trained on 100X only (today's) and one
    model per magnification, on the same folds: each held-out image is scored by each."""
    n = len(features)
    pooled = {name: np.full(n, np.nan) for name in ("all_magnifications", "trained_on_100x", "per_magnification")}
    mags = sorted({im.magnification for im in features.images})
    for fold, (_, test_groups) in enumerate(patient_kfold(group_labels(features), k, seed)):
        test = [p for p in features.patient_ids() if patient_group(p) in test_groups]
        dev = features.select_patients(set(features.patient_ids()) - set(test))
        inner = grouped_patient_split(dev, (0.75, 0.25, 0.0), seed + fold)
        train, val = dev.select_patients(inner.train), dev.select_patients(inner.val)
        held = features.select_patients(test)
        mask = np.flatnonzero(np.isin(features.patients, test))
        held_mags = np.array([held.images[i].magnification for i in held.image_index])
        for name, subsets in (("all_magnifications", {m: set(mags) for m in mags}),
                              ("trained_on_100x", {m: {100} for m in mags}),
                              ("per_magnification", {m: {m} for m in mags})):
            for mag, trained in subsets.items():
                tr, va = of_magnification(train, trained), of_magnification(val, trained)
                rows = held_mags == mag
                if not rows.any():
                    continue
                if len(set(tr.labels.tolist())) < 2 or len(va) == 0:  # too few images at this magnification
                    continue
                ensemble, _ = fit_head_ensemble([config], tr, va, schedule, seed=seed + 100 * fold)
                pooled[name][mask[rows]] = predict_features(ensemble, of_magnification(held, {mag})).p_malignant
        print(f"fold {fold} done", flush=True)
    out = {}
    for name, p in pooled.items():
        scored = ~np.isnan(p)
        images = sorted(set(features.image_index[scored].tolist()))
        sub = features.select_images(images)
        out[name] = report(sub, p[np.isin(features.image_index, images)])
        out[name]["images_not_scored"] = len(features.images) - len(images)
    return {"variants": out}


def branch_ablations(ensemble: Any, train: FeatureSet, held: FeatureSet) -> dict[str, Any]:
    """Each branch's vector replaced by its training mean, or shuffled across all held-out tiles
    (information tests: zeroing would feed the head an input it never saw)."""
    member, temperature = ensemble.members[0], float(ensemble.temperatures[0])
    train_cnn, train_lstm = vectors(member, train)
    held_cnn, held_lstm = vectors(member, held)
    rng = torch.Generator().manual_seed(0)
    order = torch.randperm(len(held_cnn), generator=rng)
    replaced = {"cnn_mean": (train_cnn.mean(0).expand_as(held_cnn), held_lstm),
                "lstm_mean": (held_cnn, train_lstm.mean(0).expand_as(held_lstm)),
                "cnn_shuffle": (held_cnn[order], held_lstm), "lstm_shuffle": (held_cnn, held_lstm[order])}
    out: dict[str, Any] = {}
    for name, (cnn_vec, lstm_vec) in replaced.items():
        def run(cnn_vec: torch.Tensor = cnn_vec, lstm_vec: torch.Tensor = lstm_vec) -> EnsemblePrediction:
            with torch.no_grad():
                logits, attention = member.fuse(cnn_vec, lstm_vec)
            p = torch.softmax(logits / temperature, dim=1)[:, 1].double().numpy()
            return EnsemblePrediction(p, p[:, None], np.zeros_like(p), np.zeros_like(p), np.zeros_like(p),
                                      attention.double().numpy()[:, None, :])
        out[name] = run
    with torch.no_grad():
        _, attention = member.fuse(held_cnn, held_lstm)
    out["attention"] = attention  # (tiles, 2): the fold model's own weights on cnn, lstm
    return out


def vectors(member: Any, features: FeatureSet, batch: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Both branch vectors of every tile, in eval mode."""
    member.eval()
    cnn, lstm = [], []
    with torch.no_grad():
        for start in range(0, len(features), batch):
            c, l_ = member.branch_vectors(features.maps[start:start + batch].float())
            cnn.append(c)
            lstm.append(l_)
    return torch.cat(cnn), torch.cat(lstm)


def report(features: FeatureSet, p_tile: np.ndarray) -> dict[str, Any]:
    """Image metrics, CIs over patient groups, per magnification, risk-coverage by the margin."""
    pred = EnsemblePrediction(p_tile, p_tile[:, None], np.zeros_like(p_tile), np.zeros_like(p_tile),
                              np.zeros_like(p_tile), np.zeros((len(p_tile), 1, 2)))
    p, u, kept = image_outputs(features.image_index, len(features.images), pred)
    images = [features.images[k] for k in kept]
    y = np.array([im.label for im in images])
    groups = np.array([patient_group(im.patient) for im in images])
    mags = np.array([im.magnification for im in images])
    out = {"image": binary_metrics(y, p), "bootstrap_95ci": patient_bootstrap(y, p, groups, rounds=1000),
           "n_images": len(images), "n_patient_groups": len(set(groups)),
           "risk_coverage": risk_coverage(y, p, u), "per_magnification": {}}
    for mag in sorted(set(mags.tolist())):
        sel = mags == mag
        out["per_magnification"][f"{mag}X"] = {"n": int(sel.sum()), "accuracy": float(((p[sel] >= 0.5) == y[sel]).mean()),
                                               "groups": len(set(groups[sel]))}
    return out


def line(name: str, r: dict[str, Any]) -> str:
    ci = r["bootstrap_95ci"]["accuracy"]
    mags = ", ".join(f"{m} {v['accuracy']:.3f} (n={v['n']})" for m, v in r["per_magnification"].items())
    at70 = next(x for x in r["risk_coverage"] if x["coverage"] >= 0.69)
    return (f"{name:<14} acc {r['image']['accuracy']:.3f} ({ci['ci_low']:.3f}-{ci['ci_high']:.3f})  "
            f"AUC {r['image']['roc_auc']:.3f}  sens {r['image']['sensitivity']:.3f}  "
            f"spec {r['image']['specificity']:.3f}  ECE {r['image']['ece']:.3f}  top70% {at70['accuracy']:.3f} | {mags}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--run", type=Path, default=ROOT / "runs" / "breakhis-all")
    parser.add_argument("--only", choices=("probe", "hybrid", "stain", "magnification"), action="append")
    args = parser.parse_args()
    torch.set_num_threads(2)
    plan = LitePlan(stain=False)
    spec = lite_input_spec(plan)
    base = HybridNet(plan.config, pretrained="imagenet")
    tiles = breakhis_collection([args.data / name for name in FOLDERS], plan.input_size)
    print(f"{len(tiles.images)} images, {len(tiles)} tiles, {len(tiles.patient_ids())} patients, "
          f"{len({patient_group(p) for p in tiles.patient_ids()})} patient groups", flush=True)
    key = trunk_key(plan.config.to_dict())
    features = cached_trunk_features(args.run, "all-as-predict", tiles, spec, base.cnn, key)
    results = {}
    todo = args.only or ["probe", "hybrid", "stain"]
    if "probe" in todo:
        results["probe"] = crossval(features, [LITE_LINEAR_PROBE], plan.head)
    if "hybrid" in todo:
        results["hybrid"] = crossval(features, [LITE_HYBRID], plan.head, ablate=True)
    if "magnification" in todo:
        results["magnification"] = crossval_by_magnification(features, LITE_LINEAR_PROBE, plan.head)
    if "stain" in todo:
        stained = cached_trunk_features(args.run, "all-as-predict-macenko", macenko_per_image(tiles), spec,
                                        base.cnn, key)
        results["stain"] = crossval(stained, [LITE_LINEAR_PROBE], plan.head)
    for recipe, result in results.items():
        (args.run / f"cv-{recipe}.json").write_text(json.dumps(jsonable(result), indent=1))
        for name, r in result["variants"].items():
            print(line(f"{recipe}:{name}", r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
