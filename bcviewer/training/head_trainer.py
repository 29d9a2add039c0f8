"""Stage 1 on cached features: train a HybridNet's LSTM, fusion and head above a frozen trunk.

The trunk is not run at all: the head reads :class:`FeatureSet` maps. Augmentation happens on the
maps (random horizontal/vertical flips of the feature grid, which mirror the image flips up to the
trunk's small asymmetries, and light Gaussian noise). Early stopping keeps the epoch with the
lowest class-weighted validation loss; the temperature is then fitted on the validation maps.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bcviewer.nets.ensemble import Ensemble, EnsemblePrediction
from bcviewer.nets.hybrid import HybridNet
from bcviewer.training.features import FeatureSet
from bcviewer.training.trainer import MemberResult, class_weights


@dataclass(frozen=True)
class HeadSchedule:
    """Epochs and regularisation of head training on cached features."""

    epochs: int = 25
    lr: float = 2e-3
    weight_decay: float = 1e-2
    batch_size: int = 128
    patience: int = 6
    label_smoothing: float = 0.05
    flip_augment: bool = True
    noise: float = 0.05
    probe_c: float = 0.1  # linear heads: inverse L2 strength of the logistic regression (C=0.1 won the layer probe)


class Cancelled(Exception):
    """Raised inside training when the caller's cancel check returns true."""


def _augment(maps: torch.Tensor, schedule: HeadSchedule, generator: torch.Generator) -> torch.Tensor:
    if schedule.flip_augment:
        flips = torch.rand(2, generator=generator)
        if flips[0] < 0.5:
            maps = maps.flip(3)
        if flips[1] < 0.5:
            maps = maps.flip(2)
    if schedule.noise > 0:
        maps = maps + schedule.noise * maps.std() * torch.randn(maps.shape, generator=generator)
    return maps


def head_logits(net: HybridNet, features: FeatureSet, batch_size: int = 256,
                device: torch.device | str = "cpu") -> torch.Tensor:
    """Logits of every tile from its cached map, in eval mode."""
    was_training = net.training
    net.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(features), batch_size):
            fmap = features.maps[start:start + batch_size].to(device, torch.float32)
            out.append(cast(torch.Tensor, net.from_features(fmap)).cpu())  # logits only, no attention
    net.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, net.config.num_classes)


def pooled_vectors(net: HybridNet, features: FeatureSet, batch_size: int = 512) -> np.ndarray:
    """The CNN branch's pooled vector of every tile (what a linear head reads), as float64."""
    out = []
    with torch.no_grad():
        for start in range(0, len(features), batch_size):
            out.append(net._pooled(features.maps[start:start + batch_size].float()).double().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))


def fit_linear_head(net: HybridNet, train: FeatureSet, val: FeatureSet, schedule: HeadSchedule) -> MemberResult:
    """A ``head="linear"`` net's head as the layer probe itself: a class-balanced L2 logistic
    regression on the standardised pooled vectors, copied into the batch norm and linear layer.

    Closed-form-like fitting is deterministic and needs no early stopping; trained by SGD instead,
    the same head scored 59% in patient CV against the probe's 80% (recipe search in the card).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    started = time.monotonic()
    x = pooled_vectors(net, train)
    scaler = StandardScaler().fit(x)
    probe = LogisticRegression(C=schedule.probe_c, max_iter=5000, class_weight="balanced")
    probe.fit(scaler.transform(x), train.labels)
    norm, linear = cast(nn.BatchNorm1d, net.head[0]), cast(nn.Linear, net.head[1])  # a linear head's layers
    assert norm.running_mean is not None and norm.running_var is not None  # tracked by a linear head's norm
    with torch.no_grad():
        norm.running_mean.copy_(torch.from_numpy(scaler.mean_))
        # batch norm divides by sqrt(var + eps), the scaler by its scale; a channel with a spread under
        # sqrt(eps) is divided by about sqrt(eps) instead (its variance must stay positive)
        norm.running_var.copy_(torch.from_numpy(np.maximum(scaler.scale_ ** 2 - norm.eps, 1e-12)))
        coef = torch.from_numpy(probe.coef_[0])
        linear.weight.copy_(torch.stack([torch.zeros_like(coef), coef]))
        linear.bias.copy_(torch.tensor([0.0, float(probe.intercept_[0])]))
    net.eval()
    result = MemberResult(net)
    result.best_epoch = 1
    if len(val):
        weights = class_weights(train.labels)
        result.best_val_loss = float(F.cross_entropy(head_logits(net, val), torch.from_numpy(val.labels), weight=weights))
    result.history.append({"epoch": 1, "stage": 1, "fit": "logistic regression", "C": schedule.probe_c,
                           "val_loss": result.best_val_loss})
    result.seconds = time.monotonic() - started
    return result


def train_head(net: HybridNet, train: FeatureSet, val: FeatureSet, schedule: HeadSchedule = HeadSchedule(),
               *, seed: int = 0, device: torch.device | str = "cpu",
               cancelled: Callable[[], bool] | None = None) -> MemberResult:
    """Train everything above ``net.cnn`` on cached maps; returns the best epoch's weights.

    ``cancelled`` is polled after every batch; when it returns true, :class:`Cancelled` is raised
    and ``net`` is left as it was before training. A ``head="linear"`` net is fitted by
    :func:`fit_linear_head` instead.
    """
    if net.config.head == "linear":
        return fit_linear_head(net, train, val, schedule)
    started = time.monotonic()
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    net.set_cnn_trainable(False)
    net.to(device)
    weights = class_weights(train.labels).to(device)
    params = [p for p in net.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=schedule.lr, weight_decay=schedule.weight_decay)
    steps = max(1, math.ceil(len(train) / schedule.batch_size))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=schedule.lr,
                                                    total_steps=schedule.epochs * steps, pct_start=0.15)
    labels = torch.from_numpy(train.labels)
    val_labels = torch.from_numpy(val.labels)
    initial = copy.deepcopy(net.state_dict())
    best_state = copy.deepcopy(initial)
    result = MemberResult(net)
    stale = 0
    for epoch in range(1, schedule.epochs + 1):
        net.train()
        order = torch.randperm(len(train), generator=generator)
        total = 0.0
        for start in range(0, len(train), schedule.batch_size):
            if cancelled is not None and cancelled():
                net.load_state_dict(initial)
                raise Cancelled("training was cancelled")
            idx = order[start:start + schedule.batch_size]
            fmap = _augment(train.maps[idx].float(), schedule, generator).to(device)
            loss = F.cross_entropy(cast(torch.Tensor, net.from_features(fmap)), labels[idx].to(device), weight=weights,
                                   label_smoothing=schedule.label_smoothing)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            optimiser.step()
            scheduler.step()
            total += loss.item() * len(idx)
        logits = head_logits(net, val, device=device)
        val_loss = float(F.cross_entropy(logits, val_labels, weight=weights.cpu())) if len(val) else total
        accuracy = float((logits.argmax(1) == val_labels).float().mean()) if len(val) else float("nan")
        result.history.append({"epoch": epoch, "stage": 1, "train_loss": total / max(len(train), 1),
                               "val_loss": val_loss, "val_tile_accuracy": accuracy})
        if val_loss < result.best_val_loss - 1e-4:
            result.best_val_loss, result.best_epoch, stale = val_loss, epoch, 0
            best_state = copy.deepcopy(net.state_dict())
        else:
            stale += 1
            if stale >= schedule.patience:
                break
    net.load_state_dict(best_state)
    net.set_cnn_trainable(True)
    net.eval()
    result.seconds = time.monotonic() - started
    return result


def fit_head_temperature(net: HybridNet, val: FeatureSet, device: torch.device | str = "cpu") -> float:
    """The logit temperature (0.25..4, log grid) minimising validation NLL."""
    logits = head_logits(net, val, device=device)
    labels = torch.from_numpy(val.labels)
    grid = np.exp(np.linspace(math.log(0.25), math.log(4.0), 49))
    losses = [float(F.cross_entropy(logits / t, labels)) for t in grid]
    return float(grid[int(np.argmin(losses))])


def predict_features(ensemble: Ensemble, features: FeatureSet, batch_size: int = 256) -> EnsemblePrediction:
    """Ensemble outputs for every cached map (members must share the frozen trunk)."""
    parts = [ensemble.predict_proba_from_features(features.maps[s:s + batch_size].float())
             for s in range(0, len(features), batch_size)]
    return EnsemblePrediction(*(np.concatenate([getattr(p, f) for p in parts])
                                for f in EnsemblePrediction.__dataclass_fields__))
