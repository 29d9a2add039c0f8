"""A gene network classifier without PyTorch: its preprocessing, its networks' outputs and the
numpy that turns them into probabilities and attributions.

``GeneNetClassifier`` holds one architecture's preprocessing chain and a runner for its trained
networks (:class:`NetRunner`): the torch networks themselves (:class:`bcviewer.genes.fitting.TorchNets`,
imported only when used) or the model's ONNX file in ONNX Runtime
(:class:`bcviewer.genes.onnx_runtime.OnnxNets`). Either runner returns the same two arrays, each
network's logits and their gradients with respect to the network input; everything after that
(sigmoid or softmax, the mean over networks, input x gradient) is the numpy below, the same for
both. Training lives in :mod:`bcviewer.genes.fitting` (torch).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from bcviewer.genes.errors import GeneDataError
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


class NetRunner(Protocol):
    """A classifier's trained networks, in whichever runtime runs them. ``inputs`` is the float32
    network input ``(B, n_inputs)``."""

    def logits(self, inputs: np.ndarray) -> np.ndarray:
        """Each network's logits, ``(B, nets, outputs)`` float32."""

    def gradients(self, inputs: np.ndarray) -> np.ndarray:
        """d logit / d input of each network and output, ``(B, nets, outputs, n_inputs)`` float32."""


def probabilities_from_logits(logits: np.ndarray) -> np.ndarray:
    """Class probabilities ``(B, classes)`` from ``(B, nets, outputs)`` logits: sigmoid of the one
    positive-class logit (binary) or softmax, then the mean over networks; float32 arithmetic like
    the torch networks, returned as float64."""
    z = np.asarray(logits, dtype=np.float32)
    if z.shape[2] == 1:
        p = (np.float32(1.0) / (np.float32(1.0) + np.exp(-z[:, :, 0]))).astype(np.float32)
        per_net = np.stack([np.float32(1.0) - p, p], axis=2)
    else:
        shifted = np.exp(z - z.max(axis=2, keepdims=True))
        per_net = shifted / shifted.sum(axis=2, keepdims=True)
    return np.asarray(per_net.mean(axis=1, dtype=np.float32), dtype=np.float64)


def input_x_gradient(inputs: np.ndarray, gradients: np.ndarray, target_class: np.ndarray) -> np.ndarray:
    """Mean over networks of input x gradient of the target logit: the positive-class logit (one
    output) or the logit of ``target_class`` per sample. ``(B, n_inputs)`` float64."""
    grads = np.asarray(gradients, dtype=np.float32)
    if grads.shape[2] == 1:
        chosen = grads[:, :, 0, :]
    else:
        chosen = np.take_along_axis(grads, np.asarray(target_class)[:, None, None, None], axis=2)[:, :, 0, :]
    per_net = (chosen * np.asarray(inputs, dtype=np.float32)[:, None, :]).astype(np.float64)
    return np.asarray(per_net.sum(axis=1) / max(1, grads.shape[1]), dtype=np.float64)


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


def run_steps(steps: list[SavedTransformer], X: np.ndarray, standardise: str = "model",
              upto: type | None = None) -> np.ndarray:
    """Apply fitted preprocessing ``steps`` to raw expression, the z-score taking its scale from
    ``standardise`` (see :data:`STANDARDISE`); stop after the first step of type ``upto``."""
    out = np.asarray(X, dtype=np.float64)
    for step in steps:
        if isinstance(step, GeneStandardiser):
            step = copy.copy(step).set_params(source=standardise_source(standardise))
        out = step.transform(out)
        if upto is not None and isinstance(step, upto):
            break
    return out


@dataclass
class GeneNetClassifier:
    """One architecture plus its preprocessing, trained on raw expression (samples x ``genes``).

    ``nets`` holds the torch networks of a trained or torch-loaded classifier; ``runner``, when
    set, runs the networks instead (an ONNX file), and ``nets`` may then be empty.
    """

    architecture: str
    genes: list[str]
    classes: list[str]
    settings: TrainSettings | None = None
    net_options: dict[str, Any] = field(default_factory=dict)
    steps: list[SavedTransformer] | None = None
    log2: str = "auto"
    nets: list[Any] = field(default_factory=list)  # torch.nn.Module each
    history: dict[str, Any] = field(default_factory=dict)
    train_gene_scores: np.ndarray | None = None
    runner: NetRunner | None = None
    net_count: int | None = None  # how many networks, when ``nets`` is not loaded

    def __post_init__(self) -> None:
        if self.settings is None:
            self.settings = RECIPE_SETTINGS[self.architecture]
        if self.steps is None:
            self.steps = recipe_steps(self.architecture, self.log2)

    @property
    def n_outputs(self) -> int:
        return 1 if len(self.classes) == 2 else len(self.classes)

    @property
    def n_nets(self) -> int:
        return len(self.nets) if self.nets or self.net_count is None else self.net_count

    def net_runner(self) -> NetRunner:
        """What runs the networks: ``runner`` when set, else the torch networks (imports torch)."""
        if self.runner is not None:
            return self.runner
        from bcviewer.genes.fitting import TorchNets

        return TorchNets(self.nets)

    # -- preprocessing -------------------------------------------------------------------------
    def preprocess(self, X: np.ndarray, standardise: str = "model", upto: type | None = None) -> np.ndarray:
        """Raw expression (NaN allowed) to network input (or to the output of the first ``upto`` step).

        ``standardise`` names where the scale comes from (see :data:`STANDARDISE`): the training
        cohort (``model``) or the batch itself (``cohort``, ``quantile``, ``rank``; 10+ samples).
        """
        assert self.steps is not None  # filled in by __post_init__
        return run_steps(self.steps, X, standardise, upto)

    def network_input(self, X: np.ndarray, standardise: str = "model") -> np.ndarray:
        """The float32 batch the networks read: :meth:`preprocess` in float32."""
        return np.ascontiguousarray(self.preprocess(X, standardise), dtype=np.float32)

    def selected_genes(self) -> np.ndarray:
        """Index into ``genes`` of each network input, in input order."""
        index = np.arange(len(self.genes))
        assert self.steps is not None  # filled in by __post_init__
        for step in self.steps:
            if isinstance(step, GeneSelector):
                index = index[step.selected_]
        return index

    def new_net(self) -> Any:
        """An untrained torch network sized for this classifier's (fitted) inputs."""
        from bcviewer.genes.nets import build_net

        return build_net(self.architecture, len(self.selected_genes()), self.n_outputs, **self.net_options)

    # -- training ------------------------------------------------------------------------------
    def fit(self, X: np.ndarray, y: np.ndarray, progress: ProgressCallback | None = None) -> GeneNetClassifier:
        """Fit preprocessing on these samples, then each member net with early stopping on its inner
        fold (:func:`bcviewer.genes.fitting.fit_classifier`, torch)."""
        from bcviewer.genes.fitting import fit_classifier

        return fit_classifier(self, X, y, progress)

    # -- inference -----------------------------------------------------------------------------
    def predict_proba(self, X: np.ndarray, standardise: str = "model") -> np.ndarray:
        """Class probabilities (mean over members), one row per sample, columns in ``classes`` order."""
        return probabilities_from_logits(self.net_runner().logits(self.network_input(X, standardise)))

    def attributions(self, X: np.ndarray, standardise: str = "model") -> np.ndarray:
        """Input x gradient of the positive (binary) or predicted class logit, mean over members.

        One row per sample, one column per gene; genes the networks do not read get 0.
        """
        inputs = self.network_input(X, standardise)
        runner = self.net_runner()
        target_class = probabilities_from_logits(runner.logits(inputs)).argmax(axis=1)
        out = np.zeros((inputs.shape[0], len(self.genes)))
        out[:, self.selected_genes()] = input_x_gradient(inputs, runner.gradients(inputs), target_class)
        return out

    def gene_scores(self) -> np.ndarray:
        """One score per gene: DeepCME's S_j (mean over members); otherwise mean |input x gradient|
        over the training samples."""
        if self.architecture == "deepcme":
            out = np.zeros(len(self.genes))
            out[self.selected_genes()] = np.mean([net.gene_scores().numpy() for net in self.nets], axis=0)
            return out
        return np.asarray(self.train_gene_scores, dtype=np.float64)

    def describe(self) -> dict[str, Any]:
        """JSON-able settings that rebuild this classifier (weights and fitted arrays apart)."""
        assert self.settings is not None  # filled in by __post_init__
        return {"architecture": self.architecture, "genes": list(self.genes), "classes": list(self.classes),
                "settings": asdict(self.settings), "net_options": dict(self.net_options), "log2": self.log2,
                "members": self.n_nets, "history": dict(self.history)}
