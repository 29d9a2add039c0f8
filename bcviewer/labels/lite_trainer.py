"""The lite self-learning trainer (PyTorch): the Lite hybrid's LSTM, fusion and head on cached trunk features.

Not the default any more: :mod:`bcviewer.labels.probe_trainer` (no PyTorch) fits a logistic
regression on the same trunk's pooled features in a fraction of the time with held-out accuracy as
good (see :mod:`bcviewer.labels.trainers`). This one stays for ``--trainer lite``.

The trunk is the frozen ImageNet EfficientNet-Lite0 (cut after stage 4) that the shipped
``breakhis-100x`` model carries (whatever head that model has), so this works from an installed
wheel with no training extra and no download. Each round trains a fresh head (same seed every
round, so rounds differ only in their labels) on the current labels of the training patients'
sub-images; the trunk is never run again for a sub-image it has seen. The ImageNet weights never saw a BreakHis patient, so no held-out
patient leaks in through the trunk; the shipped model's own heads are not used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from bcviewer.labels.errors import SelfLearningError
from bcviewer.labels.feature_cache import (
    FeatureProgress,
    SubImageFeatureCache,
    default_cache_folder,
)
from bcviewer.labels.hybrid_trainer import labelled_images
from bcviewer.labels.queries import SubImageRef
from bcviewer.labels.selflearn import SelfLearningCancelled
from bcviewer.nets.hybrid import HybridConfig, HybridNet
from bcviewer.training.features import FeatureSet, trunk_key
from bcviewer.training.head_trainer import (
    Cancelled,
    HeadSchedule,
    head_logits,
    train_head,
)

TRUNK_MODEL = "breakhis-100x"
# Fixed epochs: the loop has no validation patients to stop on (held-out ones must stay unseen).
# 12 is near the epochs early stopping chose for the shipped members on validation patients (3, 9, 9 of 25).
ROUND_SCHEDULE = HeadSchedule(epochs=12, patience=12)


@dataclass
class TorchTrunk:
    """A frozen torch trunk as the feature cache's trunk runner (``threads``: torch threads while it
    runs; None: torch's own)."""

    module: nn.Module
    threads: int | None = None

    def __post_init__(self) -> None:
        self.module.eval()

    @torch.no_grad()
    def __call__(self, x: np.ndarray) -> np.ndarray:
        previous = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            return np.asarray(self.module(torch.from_numpy(x)).numpy())
        finally:
            torch.set_num_threads(previous)


def feature_set(refs: Sequence[SubImageRef], maps: np.ndarray) -> FeatureSet:
    """A :class:`FeatureSet` of ``refs`` labelled with their *current* sub-image labels."""
    labels, index, sources = labelled_images(refs)
    return FeatureSet(torch.from_numpy(maps), labels, index, sources, "breakhis")


@dataclass
class LiteScorer:
    """A trained head that scores sub-images from their cached maps (the Scorer protocol)."""

    net: HybridNet
    cache: SubImageFeatureCache
    should_stop: Callable[[], bool] | None = None
    progress: FeatureProgress | None = None

    def score(self, items: Sequence[SubImageRef]) -> np.ndarray:
        if not items:
            return np.zeros(0)
        maps = self.cache.round_maps(items, self.should_stop, self.progress)
        logits = head_logits(self.net, feature_set(items, maps))
        return torch.softmax(logits, dim=1)[:, 1].double().numpy()


@dataclass
class LiteHeadTrainer:
    """Trains the Lite hybrid's head on cached features each round (the Trainer protocol).

    ``should_stop`` is set by the engine and polled between images (features) and batches
    (training); ``feature_progress`` hears how many sub-images have a feature map.
    """

    cache: SubImageFeatureCache
    config: HybridConfig
    schedule: HeadSchedule = ROUND_SCHEDULE
    seed: int = 0
    threads: int = 1
    trunk_source: str = TRUNK_MODEL
    should_stop: Callable[[], bool] | None = None
    feature_progress: FeatureProgress | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        """What the project records about this trainer with every round."""
        return {"trainer": "lite", "trunk": f"frozen ImageNet EfficientNet-Lite0 from {self.trunk_source}",
                "trunk_id": self.cache.trunk_id, "input": list(self.cache.spec.size), "seed": self.seed,
                "head_schedule": asdict(self.schedule), "config": self.config.to_dict()}

    def fit(self, examples: Sequence[SubImageRef], round_number: int) -> LiteScorer:
        if not examples:
            raise SelfLearningError("there are no training sub-images to learn from")
        maps = self.cache.round_maps(examples, self.should_stop, self.feature_progress)
        train = feature_set(examples, maps)
        if len(set(train.labels.tolist())) < 2:
            raise SelfLearningError("the training sub-images are all one label, so no model can be trained; "
                                    "import benign and malignant images")
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            torch.manual_seed(self.seed)
            net = HybridNet(self.config)  # its own trunk stays unused: the head reads cached maps
            result = train_head(net, train, train, self.schedule, seed=self.seed, cancelled=self.should_stop)
        except Cancelled as exc:
            raise SelfLearningCancelled() from exc
        finally:
            torch.set_num_threads(previous)
        self.history.append({"round": round_number, "subimages": len(train), "seconds": round(result.seconds, 2),
                             "epochs": len(result.history)})
        return LiteScorer(net.eval(), self.cache, self.should_stop, self.feature_progress)


def lite_trainer(*, cache_folder: Path | None = None, model: str = TRUNK_MODEL, seed: int = 0,
                 threads: int = 1, feature_threads: int | None = None,
                 schedule: HeadSchedule = ROUND_SCHEDULE) -> LiteHeadTrainer:
    """The default self-learning trainer, on the frozen trunk of the shipped ``model``.

    ``cache_folder``: where feature maps persist (default: the user's cache); ``feature_threads``:
    torch threads while computing maps (default: torch's own), ``threads``: while training a head.
    """
    from bcviewer.nets.store import load_model
    from bcviewer.training.lite_pipeline import LITE_HYBRID

    loaded = load_model(model)
    member = cast(HybridNet, loaded.ensemble.members[0])  # an Ensemble's members are HybridNets
    # The rounds train the Lite hybrid's head whatever head the shipped model has; they share its trunk.
    config = LITE_HYBRID
    if trunk_key(member.config.to_dict()) != trunk_key(config.to_dict()) or loaded.spec.stain is not None:
        raise SelfLearningError(f"the model {model} has no plain Lite0 trunk to reuse for fast rounds")
    trunk_id = f"{loaded.card['weights']['sha256'][:16]}-{loaded.spec.width}x{loaded.spec.height}"
    cache = SubImageFeatureCache(TorchTrunk(member.cnn, feature_threads), loaded.spec, trunk_id,
                                 cache_folder if cache_folder is not None else default_cache_folder())
    return LiteHeadTrainer(cache, config, schedule, seed=seed, threads=threads, trunk_source=model)
