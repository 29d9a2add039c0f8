"""Training one gene-network ensemble with its preprocessing: ``GeneNetClassifier``.

``fit`` fits every preprocessing step on the samples it is given (a training fold), then trains
``members`` networks, each early-stopped on a different inner stratified fold of those samples,
and never sees any other sample. The recipes below fix, per architecture, the preprocessing
chain, the network size and the optimiser settings (how they were settled: docs/genes.md).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, cast

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold, train_test_split
from torch import nn

from bcviewer.genes.errors import GeneDataError
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
    """Optimiser and early-stopping settings. ``l1`` is DeepCME's first-layer penalty λ.

    ``members`` networks are trained, each early-stopped on a different inner fold of the training
    samples (``members`` = 1: one net, ``val_fraction`` held out); their probabilities are averaged.
    With a few hundred samples one early-stopped net varies a lot with its validation split.
    """

    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 32
    max_epochs: int = 150
    patience: int = 15
    val_fraction: float = 0.2
    l1: float = 0.0
    members: int = 5
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
    "deepcme": TrainSettings(lr=1e-4, weight_decay=0.0, max_epochs=600, patience=60, l1=0.03),
    "gexpnet": TrainSettings(lr=1e-3, max_epochs=150, patience=15),
}

ProgressCallback = Callable[[int, int], None]

STANDARDISE = {"model": "fitted", "cohort": "cohort", "quantile": "quantile", "rank": "rank"}
"""User-facing scaling names (CLI ``--standardise``, the expression tab) and the
:class:`GeneStandardiser` source each one selects."""


def standardise_source(standardise: str) -> str:
    """The :class:`GeneStandardiser` source of a ``standardise`` name; an unknown name is a data error."""
    try:
        return STANDARDISE[standardise]
    except KeyError:
        raise GeneDataError(f"standardise must be one of {', '.join(STANDARDISE)}, not {standardise!r}") from None


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
    nets: list[nn.Module] = field(default_factory=list)
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
    def preprocess(self, X: np.ndarray, standardise: str = "model", upto: type | None = None) -> np.ndarray:
        """Raw expression (NaN allowed) to network input (or to the output of the first ``upto`` step).

        ``standardise`` names where the scale comes from (see :data:`STANDARDISE`): the training
        cohort (``model``) or the batch itself (``cohort``, ``quantile``, ``rank``; 10+ samples).
        """
        out = np.asarray(X, dtype=np.float64)
        assert self.steps is not None  # filled in by __post_init__
        for step in self.steps:
            if isinstance(step, GeneStandardiser):
                step = copy.copy(step).set_params(source=standardise_source(standardise))
            out = step.transform(out)
            if upto is not None and isinstance(step, upto):
                break
        return out

    def selected_genes(self) -> np.ndarray:
        """Index into ``genes`` of each network input, in input order."""
        index = np.arange(len(self.genes))
        assert self.steps is not None  # filled in by __post_init__
        for step in self.steps:
            if isinstance(step, GeneSelector):
                index = index[step.selected_]
        return index

    def new_net(self) -> nn.Module:
        """An untrained network sized for this classifier's (fitted) inputs."""
        return build_net(self.architecture, len(self.selected_genes()), self.n_outputs, **self.net_options)

    # -- training ------------------------------------------------------------------------------
    def fit(self, X: np.ndarray, y: np.ndarray, progress: ProgressCallback | None = None) -> "GeneNetClassifier":
        """Fit preprocessing on these samples, then each member net with early stopping on its inner fold."""
        s = self.settings
        assert s is not None and self.steps is not None  # filled in by __post_init__
        torch.manual_seed(s.seed)
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        features = X
        for step in self.steps:
            features = step.fit(features, y).transform(features)
        inputs = torch.tensor(features, dtype=torch.float32)
        labels = torch.tensor(y)
        self.nets, members = [], []
        for member, (fit, val) in enumerate(inner_splits(y, s)):
            net = self.new_net()
            members.append(train_net(net, (inputs[fit], labels[fit]), (inputs[val], labels[val]), s,
                                     len(self.classes), s.seed + member, progress))
            self.nets.append(net)
        self.history = {"members": members, "best_epochs": [m["best_epoch"] for m in members]}
        self.train_gene_scores = np.abs(self.attributions(X)).mean(axis=0)
        return self

    # -- inference -----------------------------------------------------------------------------
    def predict_proba(self, X: np.ndarray, standardise: str = "model") -> np.ndarray:
        """Class probabilities (mean over members), one row per sample, columns in ``classes`` order."""
        inputs = torch.tensor(self.preprocess(X, standardise), dtype=torch.float32)
        probabilities = []
        with torch.no_grad():
            for net in self.nets:
                net.eval()
                logits = net(inputs)
                if self.n_outputs == 1:
                    p = torch.sigmoid(logits[:, 0])
                    probabilities.append(torch.stack([1.0 - p, p], dim=1))
                else:
                    probabilities.append(torch.softmax(logits, dim=1))
        return torch.stack(probabilities).mean(dim=0).numpy().astype(np.float64)

    def attributions(self, X: np.ndarray, standardise: str = "model") -> np.ndarray:
        """Input x gradient of the positive (binary) or predicted class logit, mean over members.

        One row per sample, one column per gene; genes the networks do not read get 0.
        """
        base = torch.tensor(self.preprocess(X, standardise), dtype=torch.float32)
        target_class = self.predict_proba(X, standardise).argmax(axis=1)
        total = np.zeros(tuple(base.shape))
        for net in self.nets:
            net.eval()
            inputs = base.clone().requires_grad_(True)
            logits = net(inputs)
            if self.n_outputs == 1:
                target = logits[:, 0]
            else:
                target = logits.gather(1, torch.as_tensor(target_class)[:, None])[:, 0]
            (grad,) = torch.autograd.grad(target.sum(), inputs)
            total += (grad * inputs).detach().numpy()
        out = np.zeros((base.shape[0], len(self.genes)))
        out[:, self.selected_genes()] = total / max(1, len(self.nets))
        return out

    def gene_scores(self) -> np.ndarray:
        """One score per gene: DeepCME's S_j (mean over members); otherwise mean |input x gradient|
        over the training samples."""
        if self.architecture == "deepcme":
            out = np.zeros(len(self.genes))
            out[self.selected_genes()] = np.mean([cast(DeepCME, net).gene_scores().numpy() for net in self.nets],
                                                 axis=0)
            return out
        return np.asarray(self.train_gene_scores, dtype=np.float64)

    def describe(self) -> dict[str, Any]:
        """JSON-able settings that rebuild this classifier (weights and fitted arrays apart)."""
        assert self.settings is not None  # filled in by __post_init__
        return {"architecture": self.architecture, "genes": list(self.genes), "classes": list(self.classes),
                "settings": asdict(self.settings), "net_options": dict(self.net_options), "log2": self.log2,
                "members": len(self.nets), "history": dict(self.history)}
