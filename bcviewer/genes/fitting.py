"""Training one gene-network ensemble with its preprocessing (torch).

:func:`fit_classifier` (what ``GeneNetClassifier.fit`` runs) fits every preprocessing step on the
samples it is given (a training fold), then trains ``members`` networks, each early-stopped on a
different inner stratified fold of those samples, and never sees any other sample. The recipes
(:mod:`bcviewer.genes.classifier`, re-exported here) fix, per architecture, the preprocessing
chain, the network size and the optimiser settings (how they were settled: docs/genes.md).
:class:`TorchNets` runs trained networks for the classifier's shared numpy post-processing.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold, train_test_split
from torch import nn

from bcviewer.genes.classifier import (
    RECIPE_SETTINGS,
    STANDARDISE,
    GeneNetClassifier,
    ProgressCallback,
    TrainSettings,
    recipe_steps,
    standardise_source,
)
from bcviewer.genes.nets import DeepCME

__all__ = ["RECIPE_SETTINGS", "STANDARDISE", "GeneNetClassifier", "ProgressCallback", "TorchNets", "TrainSettings",
           "fit_classifier", "inner_splits", "recipe_steps", "standardise_source", "train_net"]


def _batches(n: int, size: int, generator: torch.Generator) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator)
    batches = list(order.split(size))
    if len(batches) > 1 and len(batches[-1]) == 1:  # BatchNorm cannot train on one sample
        batches[-2] = torch.cat([batches[-2], batches.pop()])
    return batches


def _class_weights(y: np.ndarray, n_classes: int) -> torch.Tensor:
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    weights = counts.sum() / (n_classes * np.maximum(counts, 1.0))
    return torch.tensor(weights, dtype=torch.float32)


def _proximal_l1(layer: nn.Linear, optimiser: torch.optim.Adam, lam: float) -> None:
    """Soft-threshold the layer's weights after an Adam step: the proximal step of λ·sum|W| in
    Adam's own per-weight metric, so a weight is exactly zero unless |dLoss/dw| outgrows λ."""
    state = optimiser.state.get(layer.weight)
    if not state:
        return
    group = optimiser.param_groups[0]
    beta2, eps, lr = group["betas"][1], group["eps"], group["lr"]
    corrected = state["exp_avg_sq"] / (1.0 - beta2 ** float(state["step"]))
    threshold = lr * lam / (corrected.sqrt() + eps)
    with torch.no_grad():
        w = layer.weight
        w.copy_(torch.sign(w) * torch.clamp(w.abs() - threshold, min=0.0))


def _loss(logits: torch.Tensor, y: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Class-weighted cross-entropy; one output column means a binary task (positive-class logit)."""
    if logits.shape[1] == 1:
        sample_w = weights[y]
        per = nn.functional.binary_cross_entropy_with_logits(logits[:, 0], y.float(), reduction="none")
        return (per * sample_w).sum() / sample_w.sum()
    return nn.functional.cross_entropy(logits, y, weight=weights)


def train_net(net: nn.Module, data: tuple[torch.Tensor, torch.Tensor], validation: tuple[torch.Tensor, torch.Tensor],
              settings: TrainSettings, n_classes: int, seed: int,
              progress: ProgressCallback | None = None) -> dict[str, Any]:
    """Adam with early stopping on the validation loss; the best epoch's weights are kept."""
    x, y = data
    x_val, y_val = validation
    weights = _class_weights(y.numpy(), n_classes)
    optimiser = torch.optim.Adam(net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    best_loss, best_state, best_epoch, epoch = float("inf"), None, 0, 0
    for epoch in range(1, settings.max_epochs + 1):
        net.train()
        for batch in _batches(len(y), settings.batch_size, generator):
            optimiser.zero_grad()
            _loss(net(x[batch]), y[batch], weights).backward()
            optimiser.step()
            if settings.l1 > 0 and isinstance(net, DeepCME):
                _proximal_l1(net.first, optimiser, settings.l1)
        net.eval()
        with torch.no_grad():
            val_loss = float(_loss(net(x_val), y_val, weights))
            if settings.l1 > 0 and isinstance(net, DeepCME):  # stop on the objective being minimised
                val_loss += settings.l1 * float(net.first.weight.abs().sum())
        if val_loss < best_loss - 1e-6:
            best_loss, best_epoch = val_loss, epoch
            best_state = copy.deepcopy(net.state_dict())
        if progress is not None:
            progress(epoch, settings.max_epochs)
        if epoch - best_epoch >= settings.patience:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return {"epochs_run": epoch, "best_epoch": best_epoch, "best_val_loss": round(best_loss, 5),
            "fit_samples": int(len(y)), "val_samples": int(len(y_val))}


def inner_splits(y: np.ndarray, settings: TrainSettings) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit, validation) index pairs inside the training samples, one per ensemble member."""
    counts = np.bincount(y)
    smallest = counts[counts > 0].min()
    index = np.arange(len(y))
    if settings.members > 1 and smallest >= settings.members:
        folds = StratifiedKFold(settings.members, shuffle=True, random_state=settings.seed)
        return list(folds.split(index, y))
    stratify = y if smallest >= 2 else None
    splits = []
    for member in range(max(1, settings.members)):
        fit, val = train_test_split(index, test_size=settings.val_fraction, random_state=settings.seed + member,
                                    stratify=stratify)
        splits.append((fit, val))
    return splits


def fit_classifier(classifier: GeneNetClassifier, X: np.ndarray, y: np.ndarray,
                   progress: ProgressCallback | None = None) -> GeneNetClassifier:
    """Fit ``classifier``'s preprocessing on these samples, then each member net with early stopping
    on its inner fold (what :meth:`GeneNetClassifier.fit` runs)."""
    s = classifier.settings
    assert s is not None and classifier.steps is not None  # filled in by __post_init__
    torch.manual_seed(s.seed)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    features = X
    for step in classifier.steps:
        features = step.fit(features, y).transform(features)
    inputs = torch.tensor(features, dtype=torch.float32)
    labels = torch.tensor(y)
    classifier.nets, classifier.runner, classifier.net_count, members = [], None, None, []
    for member, (fit, val) in enumerate(inner_splits(y, s)):
        net = classifier.new_net()
        members.append(train_net(net, (inputs[fit], labels[fit]), (inputs[val], labels[val]), s,
                                 len(classifier.classes), s.seed + member, progress))
        classifier.nets.append(net)
    classifier.history = {"members": members, "best_epochs": [m["best_epoch"] for m in members]}
    classifier.train_gene_scores = np.abs(classifier.attributions(X)).mean(axis=0)
    return classifier


class TorchNets:
    """The torch runner of a classifier's networks (:class:`bcviewer.genes.classifier.NetRunner`)."""

    def __init__(self, nets: list[nn.Module]) -> None:
        self.nets = nets

    def logits(self, inputs: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
        with torch.no_grad():
            outputs = []
            for net in self.nets:
                net.eval()
                outputs.append(net(x))
        return torch.stack(outputs, dim=1).numpy()

    def gradients(self, inputs: np.ndarray) -> np.ndarray:
        base = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
        per_net = []
        for net in self.nets:
            net.eval()
            x = base.clone().requires_grad_(True)
            logits = net(x)
            per_output = [torch.autograd.grad(logits[:, k].sum(), x, retain_graph=k + 1 < logits.shape[1])[0]
                          for k in range(logits.shape[1])]
            per_net.append(torch.stack(per_output, dim=1))
        return torch.stack(per_net, dim=1).detach().numpy()
