"""Training one gene network with its preprocessing: ``GeneNetClassifier``.

``fit`` fits every preprocessing step on the samples it is given (a training fold), holds out
an inner, stratified validation split of those samples for early stopping, and never sees any
other sample. The recipes below fix, per architecture, the preprocessing chain, the network
size and the optimiser settings, chosen before looking at any result.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch import nn

from bcviewer.genes.nets import DeepCME, build_net
from bcviewer.genes.preprocessing import (
    GeneSelector,
    GeneStandardiser,
    Log2IfCounts,
    LogisticSelector,
    MedianImputer,
    PearsonTopK,
    QuantileNormaliser,
    SavedTransformer,
)


@dataclass(frozen=True)
class TrainSettings:
    """Optimiser and early-stopping settings. ``l1`` is DeepCME's first-layer penalty λ."""

    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 32
    max_epochs: int = 150
    patience: int = 15
    val_fraction: float = 0.2
    l1: float = 0.0
    seed: int = 0


def recipe_steps(architecture: str, log2: str = "auto") -> list[SavedTransformer]:
    """Fresh, unfitted preprocessing steps of an architecture (the papers' chains)."""
    common: list[SavedTransformer] = [Log2IfCounts(log2), GeneStandardiser(), MedianImputer()]
    if architecture == "cnn-bilstm":
        return common + [PearsonTopK(236)]
    if architecture == "deepcme":
        return common  # genes are selected by the L1 penalty inside the network
    if architecture == "gexpnet":
        return common + [QuantileNormaliser(), LogisticSelector(keep_fraction=0.5)]
    raise ValueError(f"unknown architecture {architecture!r}")


RECIPE_SETTINGS: dict[str, TrainSettings] = {
    "cnn-bilstm": TrainSettings(lr=1e-3, max_epochs=150, patience=15),
    # DeepCME: Adam 1e-4 as in the paper, so more epochs; λ keeps the weakest genes at exactly zero.
    "deepcme": TrainSettings(lr=1e-4, weight_decay=0.0, max_epochs=600, patience=60, l1=0.5),
    "gexpnet": TrainSettings(lr=1e-3, max_epochs=150, patience=15),
}

ProgressCallback = Callable[[int, int], None]


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


def _proximal_l1(layer: nn.Linear, threshold: float) -> None:
    """Soft-thresholding after each step: the L1 penalty that sets weights exactly to zero."""
    with torch.no_grad():
        w = layer.weight
        w.copy_(torch.sign(w) * torch.clamp(w.abs() - threshold, min=0.0))


@dataclass
class GeneNetClassifier:
    """One architecture plus its preprocessing, trained on raw expression (samples x ``genes``)."""

    architecture: str
    genes: list[str]
    classes: list[str]
    settings: TrainSettings | None = None
    net_options: dict[str, Any] = field(default_factory=dict)
    steps: list[SavedTransformer] | None = None
    log2: str = "auto"
    net: nn.Module | None = None
    history: dict[str, Any] = field(default_factory=dict)
    train_gene_scores: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.settings is None:
            self.settings = RECIPE_SETTINGS[self.architecture]
        if self.steps is None:
            self.steps = recipe_steps(self.architecture, self.log2)

    @property
    def n_outputs(self) -> int:
        return 1 if len(self.classes) == 2 else len(self.classes)

    # -- preprocessing -------------------------------------------------------------------------
    def preprocess(self, X: np.ndarray, standardise: str = "model") -> np.ndarray:
        """Raw expression (NaN allowed) to network input; ``standardise='cohort'`` z-scores by the batch."""
        out = np.asarray(X, dtype=np.float64)
        for step in self.steps:
            if isinstance(step, GeneStandardiser) and standardise == "cohort":
                step = copy.copy(step).set_params(source="cohort")
            out = step.transform(out)
        return out

    def selected_genes(self) -> np.ndarray:
        """Index into ``genes`` of each network input, in input order."""
        index = np.arange(len(self.genes))
        for step in self.steps:
            if isinstance(step, GeneSelector):
                index = index[step.selected_]
        return index

    # -- training ------------------------------------------------------------------------------
    def fit(self, X: np.ndarray, y: np.ndarray, progress: ProgressCallback | None = None) -> "GeneNetClassifier":
        """Fit preprocessing and network on these samples only (inner split for early stopping)."""
        s = self.settings
        torch.manual_seed(s.seed)
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        counts = np.bincount(y)
        stratify = y if counts[counts > 0].min() >= 2 else None
        fit_idx, val_idx = train_test_split(np.arange(len(y)), test_size=s.val_fraction, random_state=s.seed,
                                            stratify=stratify)
        features = X[fit_idx]
        for step in self.steps:
            features = step.fit(features, y[fit_idx]).transform(features)
        self.net = build_net(self.architecture, features.shape[1], self.n_outputs, **self.net_options)
        self._train(torch.tensor(features, dtype=torch.float32), torch.tensor(y[fit_idx]),
                    torch.tensor(self.preprocess(X[val_idx]), dtype=torch.float32), torch.tensor(y[val_idx]), progress)
        self.train_gene_scores = np.abs(self.attributions(X)).mean(axis=0)
        return self

    def _loss(self, logits: torch.Tensor, y: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        if self.n_outputs == 1:
            sample_w = weights[y]
            per = nn.functional.binary_cross_entropy_with_logits(logits[:, 0], y.float(), reduction="none")
            return (per * sample_w).sum() / sample_w.sum()
        return nn.functional.cross_entropy(logits, y, weight=weights)

    def _train(self, x: torch.Tensor, y: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor,
               progress: ProgressCallback | None) -> None:
        s = self.settings
        net = self.net
        weights = _class_weights(y.numpy(), len(self.classes))
        optimiser = torch.optim.Adam(net.parameters(), lr=s.lr, weight_decay=s.weight_decay)
        generator = torch.Generator().manual_seed(s.seed)
        best_loss, best_state, best_epoch, epoch = float("inf"), None, 0, 0
        for epoch in range(1, s.max_epochs + 1):
            net.train()
            for batch in _batches(len(y), s.batch_size, generator):
                optimiser.zero_grad()
                self._loss(net(x[batch]), y[batch], weights).backward()
                optimiser.step()
                if s.l1 > 0 and isinstance(net, DeepCME):
                    _proximal_l1(net.first, s.lr * s.l1)
            net.eval()
            with torch.no_grad():
                val_loss = float(self._loss(net(x_val), y_val, weights))
            if val_loss < best_loss - 1e-6:
                best_loss, best_epoch = val_loss, epoch
                best_state = copy.deepcopy(net.state_dict())
            if progress is not None:
                progress(epoch, s.max_epochs)
            if epoch - best_epoch >= s.patience:
                break
        if best_state is not None:
            net.load_state_dict(best_state)
        net.eval()
        self.history = {"epochs_run": epoch, "best_epoch": best_epoch, "best_val_loss": round(best_loss, 5),
                        "fit_samples": int(len(y)), "val_samples": int(len(y_val))}

    # -- inference -----------------------------------------------------------------------------
    def _logits(self, X: np.ndarray, standardise: str) -> torch.Tensor:
        self.net.eval()
        with torch.no_grad():
            return self.net(torch.tensor(self.preprocess(X, standardise), dtype=torch.float32))

    def predict_proba(self, X: np.ndarray, standardise: str = "model") -> np.ndarray:
        """Class probabilities, one row per sample, columns in ``classes`` order."""
        logits = self._logits(X, standardise)
        if self.n_outputs == 1:
            p = torch.sigmoid(logits[:, 0]).numpy().astype(np.float64)
            return np.column_stack([1.0 - p, p])
        return torch.softmax(logits, dim=1).numpy().astype(np.float64)

    def attributions(self, X: np.ndarray, standardise: str = "model") -> np.ndarray:
        """Input x gradient of the positive (binary) or predicted class logit, per sample and gene.

        Genes the network does not read (not selected) get 0.
        """
        self.net.eval()
        inputs = torch.tensor(self.preprocess(X, standardise), dtype=torch.float32, requires_grad=True)
        logits = self.net(inputs)
        target = logits[:, 0] if self.n_outputs == 1 else logits.gather(1, logits.argmax(1, keepdim=True))[:, 0]
        (grad,) = torch.autograd.grad(target.sum(), inputs)
        per_input = (grad * inputs).detach().numpy().astype(np.float64)
        out = np.zeros((per_input.shape[0], len(self.genes)))
        out[:, self.selected_genes()] = per_input
        return out

    def gene_scores(self) -> np.ndarray:
        """One score per gene: DeepCME's S_j; otherwise mean |input x gradient| over the training samples."""
        if isinstance(self.net, DeepCME):
            out = np.zeros(len(self.genes))
            out[self.selected_genes()] = self.net.gene_scores().numpy()
            return out
        return np.asarray(self.train_gene_scores, dtype=np.float64)

    def describe(self) -> dict[str, Any]:
        """JSON-able settings that rebuild this classifier (weights and fitted arrays apart)."""
        return {"architecture": self.architecture, "genes": list(self.genes), "classes": list(self.classes),
                "settings": asdict(self.settings), "net_options": dict(self.net_options), "log2": self.log2,
                "history": dict(self.history)}


def with_settings(classifier: GeneNetClassifier, **changes: Any) -> GeneNetClassifier:
    """A fresh, unfitted copy with some training settings changed (e.g. ``l1``, ``seed``)."""
    return GeneNetClassifier(classifier.architecture, list(classifier.genes), list(classifier.classes),
                             replace(classifier.settings, **changes), dict(classifier.net_options),
                             log2=classifier.log2)
