"""Train, save and evaluate an ImageNet-initialised Lite0 hybrid ensemble (the recipe of the shipped
BreakHis models).

Stage 1 freezes the ImageNet trunk (EfficientNet-Lite0 cut after stage 4) and trains each member's
LSTM, attention fusion and head on cached trunk features. Stage 2 (``finetune_epochs`` > 0)
fine-tunes every layer at a low learning rate on the tiles themselves; it is slow on a CPU and
off by default there. Temperatures and the conformal calibration come from validation patients;
test patients are scored once, through the saved model's full forward pass.
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from bcviewer.datasets import PatientSplit
from bcviewer.nets.ensemble import Ensemble
from bcviewer.nets.hybrid import HybridConfig, HybridNet
from bcviewer.nets.lite import IMAGENET_MEAN, IMAGENET_STD
from bcviewer.nets.preprocess import InputSpec
from bcviewer.nets.stain import StainNormaliser
from bcviewer.nets.store import load_model, save_model, update_card
from bcviewer.training.cards import held_out_summary
from bcviewer.training.evaluation import IMAGE_AGGREGATION, evaluation_report, predict_tileset
from bcviewer.training.features import FeatureSet, trunk_features
from bcviewer.training.head_crossval import fit_head_ensemble
from bcviewer.training.head_trainer import HeadSchedule, predict_features
from bcviewer.training.pipeline import TrainedEnsemble, grouped_patient_split, patient_group
from bcviewer.training.reliability import image_outputs, patient_bootstrap
from bcviewer.training.tiles import TileSet
from bcviewer.training.trainer import StageSchedule, fit_temperature, train_member
from bcviewer.training.trust_fit import held_out_trust, trust_fields

LITE_HYBRID = HybridConfig(backbone="efficientnet_lite0", trunk_stages=4, rnn_mode="feature_map", rnn_hidden=64,
                           fusion_width=64, cnn_pool="mean_std", rnn_bidirectional=True, dropout_cnn=0.3,
                           rnn_grid=(3, 4))
# The layer probe as a model: the same frozen trunk, channel means and standard deviations of its
# map, standardised, and one logistic regression (fitted in closed form, see ``fit_linear_head``).
LITE_LINEAR_PROBE = replace(LITE_HYBRID, use_lstm=False, head="linear", dropout_cnn=0.0)


@dataclass(frozen=True)
class LitePlan:
    """Everything that decides how a Lite0 hybrid ensemble is trained."""

    config: HybridConfig = LITE_HYBRID
    input_size: tuple[int, int] = (224, 144)
    members: int = 3
    head: HeadSchedule = field(default_factory=HeadSchedule)
    finetune_epochs: int = 0
    finetune_lr: float = 1e-5
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    split_seed: int = 0
    seed: int = 0
    target_accuracy: float = 0.95
    stain: bool = True  # Macenko-normalise every tile to the published reference

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for the model card."""
        return asdict(self)


def lite_input_spec(plan: LitePlan, extras: dict[str, Any] | None = None) -> InputSpec:
    """The input spec of a Lite0 model: ImageNet normalisation (the trunk's own), the plan's size and,
    when the plan asks for it, Macenko stain normalisation to the published reference."""
    stain = StainNormaliser.default().to_dict() if plan.stain else None
    return InputSpec(plan.input_size[0], plan.input_size[1], IMAGENET_MEAN, IMAGENET_STD, stain=stain,
                     **(extras or {}))


def image_reliability(features_or_tiles: FeatureSet | TileSet, prediction: Any, conformal_image: dict[str, Any],
                      seed: int = 0) -> dict[str, Any]:
    """The risk-coverage curve by the app's ranking, the prediction sets' coverage and review share,
    and patient-bootstrap CIs of the image-level metrics."""
    part = features_or_tiles
    p, _, kept = image_outputs(part.image_index, len(part.images), prediction)
    y = np.array([part.images[k].label for k in kept])
    groups = np.array([patient_group(part.images[k].patient) for k in kept])
    return {**held_out_trust(y, p, conformal_image), "bootstrap_95ci": patient_bootstrap(y, p, groups, seed=seed)}


def _finetune(ensemble: Ensemble, train: TileSet, val: TileSet, spec: InputSpec, plan: LitePlan,
              device: str) -> Ensemble:
    schedule = StageSchedule(stage1_epochs=0, stage2_epochs=plan.finetune_epochs, stage2_lr=plan.finetune_lr,
                             batch_size=plan.head.batch_size, patience=3)
    members, temperatures = [], []
    for i, module in enumerate(ensemble.members):
        member = cast(HybridNet, module)  # an Ensemble's members are HybridNets
        result = train_member(member.config, train, val, spec, schedule, seed=plan.seed + i,
                              progress=False, log_epochs=True, device=device, init=member)
        members.append(result.net)
        temperatures.append(fit_temperature(result.net, val, spec))
    return Ensemble(members, temperatures=temperatures).eval()


def _hardware(device: str) -> str:
    where = torch.cuda.get_device_name(0) if device.startswith("cuda") else "CPU"
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, {where}"


def _stage1(plan: LitePlan) -> str:
    if plan.config.head == "linear":
        return (f"linear head fitted as a class-balanced logistic regression (C={plan.head.probe_c}) on the "
                "standardised pooled vectors of the training patients")
    return "LSTM + fusion + head trained" if plan.config.use_lstm else "CNN head trained"


def train_lite_ensemble(tileset: TileSet, plan: LitePlan, out_dir: Path, card_fields: dict[str, Any],
                        spec_extras: dict[str, Any] | None = None, split: PatientSplit | None = None,
                        features: FeatureSet | None = None, device: str = "cpu", log: Any = print
                        ) -> TrainedEnsemble:
    """Train ``plan`` on ``tileset`` (``features``: its cached trunk maps, computed when None), save
    to ``out_dir`` and write held-out metrics, reliability and the conformal calibration to the card."""
    started = time.monotonic()
    split = split or grouped_patient_split(tileset, plan.fractions, plan.split_seed)
    spec = lite_input_spec(plan, spec_extras)
    base = HybridNet(plan.config, pretrained="imagenet")
    if features is None:
        features = trunk_features(base.cnn, tileset, spec, device=device)
    parts = {n: tileset.select_patients(getattr(split, n)) for n in ("train", "val", "test")}
    fparts = {n: features.select_patients(getattr(split, n)) for n in ("train", "val")}
    ensemble, summaries = fit_head_ensemble([plan.config] * plan.members, fparts["train"], fparts["val"],
                                            plan.head, seed=plan.seed, base=base)
    log(f"heads trained ({time.monotonic() - started:.0f} s)")
    if plan.finetune_epochs > 0:
        ensemble = _finetune(ensemble, parts["train"], parts["val"], spec, plan, device)
        val_prediction = predict_tileset(ensemble, parts["val"], spec)
    else:
        val_prediction = predict_features(ensemble, fparts["val"])
    p_val, _, kept = image_outputs(fparts["val"].image_index, len(fparts["val"].images), val_prediction)
    y_val = np.array([fparts["val"].images[k].label for k in kept])
    trust = trust_fields(y_val, p_val, fparts["val"].labels, val_prediction.p_malignant, parts["train"].tiles,
                         parts["val"].tiles, calibration=f"validation patients ({len(split.val)}), {len(y_val)} images")
    training = {"patients": split.to_dict(),
                "n_images": {n: len(parts[n].images) for n in parts}, "n_tiles": {n: len(parts[n]) for n in parts},
                "split": {"fractions": list(plan.fractions), "seed": plan.split_seed,
                          "rule": "stratified by patient label; ids differing only in trailing letters grouped"},
                "seed": plan.seed, "plan": plan.to_dict(), "hardware": _hardware(device), "device": device,
                "recipe": "stage 1: ImageNet Lite0 trunk frozen, " + _stage1(plan) + " on cached trunk features; "
                          "stage 2: " + (f"{plan.finetune_epochs} epochs of full fine-tuning"
                                         if plan.finetune_epochs else "not run"),
                "selection": ("temperature" if plan.config.head == "linear" else "early stopping, temperatures")
                             + " and the conformal calibration on validation patients only",
                "members": summaries}
    uncertainty = {"level": "image", "rule": "calibrated margin 1 - |2p - 1| of the image's mean p; 'review' when "
                                             "the conformal prediction set holds both labels"}
    save_model(ensemble, spec, out_dir, {**card_fields, "training": training, "uncertainty": uncertainty, **trust})
    loaded = load_model(out_dir)  # score what was saved (float16 weights), through the full network
    metrics: dict[str, Any] = {"image_aggregation": IMAGE_AGGREGATION}
    for name in ("validation", "test"):
        part = parts["val" if name == "validation" else "test"]
        if len(part):
            prediction = predict_tileset(loaded.ensemble, part, loaded.spec)
            metrics[name] = evaluation_report(part, prediction)
            metrics[name]["reliability"] = image_reliability(part, prediction, trust["conformal"]["image"], plan.seed)
    training["total_seconds"] = round(time.monotonic() - started, 1)
    card = update_card(out_dir, {"training": training, "metrics": metrics, "summary": held_out_summary(metrics)})
    return TrainedEnsemble(out_dir, card, [])

