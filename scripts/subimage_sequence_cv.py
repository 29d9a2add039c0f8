"""Issue 9 lead: an LSTM over the 9 sub-images of a BreakHis image, in raster order.

    python3 scripts/subimage_sequence_cv.py          # after scripts/search_breakhis_recipe.py made the maps

The issue asks to give the LSTM a real sequence. Each of the 307 BreakHis 100X images is cut into
3x3 sub-images; each sub-image is one vector (channel means and standard deviations of the frozen
ImageNet Lite0 stage-4 map, the cached maps of the recipe search), and the 9 vectors of an image
are read row by row by a bidirectional LSTM that gives one image-level call. Same 5 patient folds
(seed 0) and inner validation splits as ``crossval_heads``; standardisation is fitted on each
fold's training patients only. The controls separate the sequence from the image-level training:

- ``probe, tile level``: the shipped search's s4-linear-ms (logistic regression per sub-image,
  image = mean of the 9 p), refitted here on the same folds;
- ``probe, image level``: one logistic regression on the mean of the 9 standardised vectors;
- ``LSTM over the 9``: 3 seeds averaged, early stopping on the inner validation patients.

Pooled over the held-out folds, with patient-bootstrap 95% CIs; nothing here scores a test
patient of the shipped split any differently from the rest (every patient is held out once).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bcviewer.datasets import patient_kfold  # noqa: E402
from bcviewer.nets import HybridNet  # noqa: E402
from bcviewer.training import load_tileset  # noqa: E402
from bcviewer.training.cards import spec_extras_for  # noqa: E402
from bcviewer.training.features import FeatureSet, cached_trunk_features, jsonable, trunk_key  # noqa: E402
from bcviewer.training.head_crossval import group_labels  # noqa: E402
from bcviewer.training.head_trainer import pooled_vectors  # noqa: E402
from bcviewer.training.lite_pipeline import LITE_LINEAR_PROBE, LitePlan, lite_input_spec  # noqa: E402
from bcviewer.training.metrics import binary_metrics  # noqa: E402
from bcviewer.training.pipeline import grouped_patient_split, patient_group  # noqa: E402
from bcviewer.training.reliability import patient_bootstrap  # noqa: E402
from bcviewer.training.trainer import class_weights  # noqa: E402

TILES_PER_IMAGE = 9


class SubImageLSTM(nn.Module):
    """A bidirectional LSTM over the 9 sub-image vectors (raster order), one linear read-out."""

    def __init__(self, width: int, hidden: int = 32) -> None:
        super().__init__()
        self.lstm = nn.LSTM(width, hidden, batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(0.3)
        self.out = nn.Linear(2 * hidden, 2)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(seq)
        return self.out(self.drop(torch.cat([h[-2], h[-1]], dim=1)))


def sub_image_vectors(net: HybridNet, features: FeatureSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images, 9, 2C) vectors in raster order (``net``'s pooled CNN vector: channel means and
    standard deviations), image labels, and each image's patient group."""
    vectors = pooled_vectors(net, features)
    counts = np.bincount(features.image_index)
    assert (counts == TILES_PER_IMAGE).all() and (np.diff(features.image_index) >= 0).all(), "9 tiles an image, in order"
    seq = vectors.reshape(len(counts), TILES_PER_IMAGE, -1)
    labels = np.array([im.label for im in features.images])
    groups = np.array([patient_group(im.patient) for im in features.images])
    return seq, labels, groups


def fit_lstm(x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray, seed: int, epochs: int = 150,
             patience: int = 20) -> SubImageLSTM:
    """Full-batch AdamW, class-weighted loss; the epoch with the lowest validation loss is kept."""
    torch.manual_seed(seed)
    net = SubImageLSTM(x.shape[2])
    weights = class_weights(y)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=0.05)
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    xvt, yvt = torch.tensor(xv, dtype=torch.float32), torch.tensor(yv)
    best, best_state, stale = float("inf"), None, 0
    for _ in range(epochs):
        net.train()
        flip = torch.rand(()) < 0.5  # the sequence read backwards is the same image
        loss = F.cross_entropy(net(xt.flip(1) if flip else xt), yt, weight=weights)
        opt.zero_grad()
        loss.backward()
        opt.step()
        net.eval()
        with torch.no_grad():
            val = float(F.cross_entropy(net(xvt), yvt, weight=weights))
        if val < best - 1e-4:
            best, best_state, stale = val, {k: v.clone() for k, v in net.state_dict().items()}, 0
        else:
            stale += 1
            if stale >= patience:
                break
    net.load_state_dict(best_state)  # type: ignore[arg-type]
    return net.eval()


def summary(y: np.ndarray, p: np.ndarray, groups: np.ndarray) -> dict:
    """Pooled image metrics (accuracy, AUC, sensitivity, ECE, ...) with patient-bootstrap CIs."""
    return {**binary_metrics(y, p), "bootstrap_95ci": patient_bootstrap(y, p, groups, seed=0)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "breakhis-lite")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "breakhis-search" / "subimage-sequence.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    plan = LitePlan(config=LITE_LINEAR_PROBE, stain=False)
    spec = lite_input_spec(plan, spec_extras_for("breakhis", {100}))
    tiles = load_tileset(args.data / "breakhis", plan.input_size, "breakhis", magnifications={100})
    base = HybridNet(plan.config, pretrained="imagenet")
    features = cached_trunk_features(args.cache, "breakhis-100x", tiles, spec, base.cnn,
                                     trunk_key(plan.config.to_dict()))
    seq, labels, groups = sub_image_vectors(base, features)
    patients = np.array([im.patient for im in features.images])
    p = {name: np.zeros(len(labels)) for name in ("probe, tile level", "probe, image level", "LSTM over the 9")}
    for fold, (_, test_groups) in enumerate(patient_kfold(group_labels(features), 5, 0)):
        held = np.isin(groups, list(test_groups))
        dev = features.select_patients(set(patients[~held]))
        inner = grouped_patient_split(dev, (0.75, 0.25, 0.0), fold)
        train, val = np.isin(patients, list(inner.train)), np.isin(patients, list(inner.val))
        flat = seq[train].reshape(-1, seq.shape[2])
        scaler = StandardScaler().fit(flat)  # training patients' sub-images only

        def scaled(mask: np.ndarray) -> np.ndarray:
            return scaler.transform(seq[mask].reshape(-1, seq.shape[2])).reshape(int(mask.sum()), TILES_PER_IMAGE, -1)

        tile_probe = LogisticRegression(C=0.1, max_iter=5000, class_weight="balanced")
        tile_probe.fit(scaled(train).reshape(-1, seq.shape[2]), np.repeat(labels[train], TILES_PER_IMAGE))
        p["probe, tile level"][held] = tile_probe.predict_proba(
            scaled(held).reshape(-1, seq.shape[2]))[:, 1].reshape(-1, TILES_PER_IMAGE).mean(axis=1)
        image_probe = LogisticRegression(C=0.1, max_iter=5000, class_weight="balanced")
        image_probe.fit(scaled(train).mean(axis=1), labels[train])
        p["probe, image level"][held] = image_probe.predict_proba(scaled(held).mean(axis=1))[:, 1]
        runs = []
        for seed in range(3):
            net = fit_lstm(scaled(train), labels[train], scaled(val), labels[val], seed=100 * fold + seed)
            with torch.no_grad():
                runs.append(torch.softmax(net(torch.tensor(scaled(held), dtype=torch.float32)), 1)[:, 1].numpy())
        p["LSTM over the 9"][held] = np.mean(runs, axis=0)
        print(f"fold {fold}: " + ", ".join(f"{k} {((v[held] >= 0.5) == labels[held]).mean():.3f}" for k, v in p.items()))
    result = {name: summary(labels, values, groups) for name, values in p.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(jsonable(result), indent=1))
    for name, r in result.items():
        ci = r["bootstrap_95ci"]
        print(f"| {name} | {r['accuracy']:.1%} ({ci['accuracy']['ci_low']:.1%}-{ci['accuracy']['ci_high']:.1%}) | "
              f"{r['roc_auc']:.3f} ({ci['roc_auc']['ci_low']:.3f}-{ci['roc_auc']['ci_high']:.3f}) | "
              f"{r['sensitivity']:.1%} | {r['specificity']:.1%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
