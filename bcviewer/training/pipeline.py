"""From a data folder to a saved, evaluated ensemble: split, train members, weight, save, evaluate.

Patients are split train/val/test before anything is fitted. Normalisation statistics come from
the training patients, early stopping, temperatures and member weights from the validation
patients; the test patients are only scored once, after the model is saved.
"""

from __future__ import annotations

import platform
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from bcviewer.datasets import PatientSplit, patient_split
from bcviewer.nets.ensemble import Ensemble
from bcviewer.nets.preprocess import InputSpec
from bcviewer.nets.store import load_model, save_model, update_card
from bcviewer.training.cards import held_out_summary
from bcviewer.training.evaluation import IMAGE_AGGREGATION, evaluation_report, predict_tileset
from bcviewer.training.plans import TrainPlan
from bcviewer.training.tiles import SourceImage, TileSet, channel_stats
from bcviewer.training.trainer import MemberResult, fit_temperature, train_member


def patient_group(patient: str) -> str:
    """The conservative patient key: BreakHis ids differing only in trailing slide letters
    (14-22549AB / 14-22549CD) may be one person, so they are kept on the same side of a split."""
    return re.sub(r"[A-Za-z]+$", "", patient)


class PatientImages(Protocol):
    """What a patient split reads: a TileSet or a FeatureSet (source images and their patients)."""

    @property
    def images(self) -> tuple[SourceImage, ...]: ...

    def patient_ids(self) -> list[str]: ...


def grouped_patient_split(tileset: PatientImages, fractions: tuple[float, float, float], seed: int) -> PatientSplit:
    """A label-stratified patient split in which patient groups never straddle parts."""
    group_votes: dict[str, list[int]] = {}
    for image in tileset.images:
        group_votes.setdefault(patient_group(image.patient), []).append(image.label)
    group_labels = {g: str(int(np.mean(v) >= 0.5)) for g, v in group_votes.items()}
    groups = patient_split(group_labels, fractions, seed)
    parts = {name: frozenset(p for p in tileset.patient_ids() if patient_group(p) in getattr(groups, name))
             for name in ("train", "val", "test")}
    return PatientSplit(parts["train"], parts["val"], parts["test"])


@dataclass
class TrainedEnsemble:
    """The saved model folder, its card and the per-member training results."""

    directory: Path
    card: dict[str, Any]
    members: list[MemberResult]


def _member_weight(val_report: dict[str, Any]) -> float:
    """Validation image-level AUC above chance (floored), so a useless member barely counts."""
    auc = val_report["image"]["roc_auc"]
    return max((auc if auc is not None else 0.5) - 0.5, 0.05)


def choose_test_time_flips(ensemble: Ensemble, val: TileSet, spec: InputSpec) -> dict[str, Any]:
    """Turn flip averaging on when it lowers the validation tile log loss (validation only)."""
    losses = {}
    for flips in (False, True):
        ensemble.test_time_flips = flips
        p = np.clip(predict_tileset(ensemble, val, spec).p_malignant, 1e-7, 1 - 1e-7)
        losses[flips] = float(-np.mean(val.labels * np.log(p) + (1 - val.labels) * np.log(1 - p)))
    ensemble.test_time_flips = losses[True] < losses[False]
    return {"test_time_flips": ensemble.test_time_flips, "val_log_loss_without": round(losses[False], 5),
            "val_log_loss_with_flips": round(losses[True], 5)}


def training_device() -> str:
    """Where training runs: the first CUDA GPU when there is one, else the CPU."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def _hardware(plan: TrainPlan) -> str:
    device = "CPU" if training_device() == "cpu" else f"GPU {torch.cuda.get_device_name(0)}"
    return f"{platform.processor() or platform.machine()}, {plan.threads} torch threads, {device}"


@dataclass
class FittedEnsemble:
    """An in-memory ensemble with its members' training results and card summaries."""

    ensemble: Ensemble
    results: list[MemberResult]
    summaries: list[dict[str, Any]]
    flips: dict[str, Any]


def fit_ensemble(train: TileSet, val: TileSet, plan: TrainPlan, spec: InputSpec, progress: bool = True,
                 log_epochs: bool | None = None) -> FittedEnsemble:
    """Train every member of ``plan``, then fit temperatures, member weights and the flip choice on
    ``val`` (never on test patients)."""
    results, temperatures, weights, member_val = [], [], [], []
    for i, member in enumerate(plan.members):
        result = train_member(plan.hybrid_config(member), train, val, spec, plan.schedule,
                              pretrained=plan.pretrained, seed=plan.seed + i, progress=progress,
                              log_epochs=log_epochs, device=training_device())
        temperature = fit_temperature(result.net, val, spec)
        single = Ensemble([result.net], temperatures=[temperature])
        report = evaluation_report(val, predict_tileset(single, val, spec))
        results.append(result)
        temperatures.append(temperature)
        weights.append(_member_weight(report))
        member_val.append({"backbone": member.backbone, "width": member.width, "rnn_mode": member.rnn_mode,
                           "best_epoch": result.best_epoch, "epochs_run": len(result.history),
                           "best_val_loss": round(result.best_val_loss, 5), "temperature": round(temperature, 4),
                           "val_image_accuracy": report["image"]["accuracy"],
                           "val_image_auc": report["image"]["roc_auc"], "train_seconds": round(result.seconds, 1),
                           "history": [{k: round(v, 5) if isinstance(v, float) else v for k, v in row.items()}
                                       for row in result.history]})
    ensemble = Ensemble([r.net for r in results], weights, temperatures).eval()
    flips = choose_test_time_flips(ensemble, val, spec)
    return FittedEnsemble(ensemble, results, member_val, flips)


def train_ensemble(tileset: TileSet, plan: TrainPlan, out_dir: Path, card_fields: dict[str, Any],
                   spec_extras: dict[str, Any] | None = None, split: PatientSplit | None = None,
                   progress: bool = True, score_test: bool = True,
                   log_epochs: bool | None = None) -> TrainedEnsemble:
    """Train ``plan`` on ``tileset``, save to ``out_dir`` and record held-out metrics in the card.

    ``score_test=False`` leaves the test patients unscored (for choosing settings on validation).
    """
    started = time.monotonic()
    torch.set_num_threads(plan.threads)
    split = split or grouped_patient_split(tileset, plan.fractions, plan.split_seed)
    train, val, test = (tileset.select_patients(getattr(split, n)) for n in ("train", "val", "test"))
    mean, std = channel_stats(train)
    spec = InputSpec(width=plan.input_size[0], height=plan.input_size[1], mean=mean, std=std, **(spec_extras or {}))
    fitted = fit_ensemble(train, val, plan, spec, progress, log_epochs)
    training = {"patients": split.to_dict(), "n_images": {n: len(s.images) for n, s in
                                                          (("train", train), ("val", val), ("test", test))},
                "n_tiles": {"train": len(train), "val": len(val), "test": len(test)},
                "split": {"fractions": list(plan.fractions), "seed": plan.split_seed,
                          "rule": "stratified by patient label; ids differing only in trailing letters grouped"},
                "seed": plan.seed, "plan": plan.to_dict(), "hardware": _hardware(plan),
                "selection": "early stopping, temperature and member weights on validation patients only",
                "member_weights_rule": "validation image AUC - 0.5, floored at 0.05, normalised",
                "test_time_flips_choice": fitted.flips,
                "members": fitted.summaries}
    save_model(fitted.ensemble, spec, out_dir, {**card_fields, "training": training})
    loaded = load_model(out_dir)  # score what was saved (float16 weights), not the in-memory copy
    metrics: dict[str, Any] = {"image_aggregation": IMAGE_AGGREGATION}
    for name, part in (("validation", val), ("test", test)):
        if len(part) and (score_test or name != "test"):
            metrics[name] = evaluation_report(part, predict_tileset(loaded.ensemble, part, loaded.spec))
    training["total_seconds"] = round(time.monotonic() - started, 1)
    card = update_card(out_dir, {"training": training, "metrics": metrics, "summary": held_out_summary(metrics)})
    return TrainedEnsemble(out_dir, card, fitted.results)
