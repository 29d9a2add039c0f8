"""The default trainer of self-learning rounds: the hybrid CNN+LSTM of :mod:`bcviewer.training`.

Every round trains the plan's members from scratch, with the same seeds, on the *current*
labels of the training patients, so the rounds differ only in their labels. The training
patients are split once more (by patient group, fixed across rounds) into a fitting part and
a validation part for early stopping and temperature scaling; the normalisation statistics
come from the fitting part. Held-out patients are never seen here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from bcviewer.datasets import patient_split
from bcviewer.labels.queries import SubImageRef
from bcviewer.labels.split import patient_group
from bcviewer.nets.ensemble import Ensemble
from bcviewer.nets.preprocess import InputSpec, resize_tiles
from bcviewer.slides import open_slide
from bcviewer.training import PLANS, MemberPlan, SourceImage, TileSet, TrainPlan, channel_stats, predict_tileset
from bcviewer.training.trainer import fit_temperature, train_member


class SubImagePixels:
    """Sub-image pixels resized to the network input, decoded once per image and kept in memory."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size
        self._tiles: dict[int, np.ndarray] = {}

    def tiles(self, refs: Sequence[SubImageRef]) -> np.ndarray:
        """``(N, H, W, 3)`` uint8 tiles of ``refs``, in order."""
        missing: dict[str, list[SubImageRef]] = {}
        for ref in refs:
            if ref.subimage_id not in self._tiles:
                missing.setdefault(str(ref.path), []).append(ref)
        for path, group in missing.items():
            with open_slide(path) as slide:
                for ref in group:
                    rgb = slide.read_region(0, ref.x, ref.y, ref.w, ref.h)
                    self._tiles[ref.subimage_id] = resize_tiles(rgb[None], self.size)[0]
        if not refs:
            return np.zeros((0, self.size[1], self.size[0], 3), np.uint8)
        return np.stack([self._tiles[r.subimage_id] for r in refs])


def labelled_images(refs: Sequence[SubImageRef]) -> tuple[np.ndarray, np.ndarray, tuple[SourceImage, ...]]:
    """``(labels, image index, images)`` of ``refs`` as the training code takes them: each sub-image's
    *current* label (1 = malignant), the index of its image, and the images in first-seen order."""
    images: dict[int, int] = {}
    sources: list[SourceImage] = []
    for ref in refs:
        if ref.image_id not in images:
            images[ref.image_id] = len(sources)
            sources.append(SourceImage(ref.path, int(ref.image_label == "malignant"), ref.patient,
                                       ref.magnification, ""))
    labels = np.array([int(r.label == "malignant") for r in refs], dtype=np.int64)
    index = np.array([images[r.image_id] for r in refs], dtype=np.int64)
    return labels, index, tuple(sources)


def tileset_of(refs: Sequence[SubImageRef], pixels: SubImagePixels) -> TileSet:
    """A training TileSet whose tile labels are the sub-images' *current* labels."""
    labels, index, sources = labelled_images(refs)
    return TileSet(pixels.tiles(refs), labels, index, sources, "breakhis")


@dataclass
class HybridScorer:
    """A trained ensemble that scores sub-images (implements the Scorer protocol)."""

    ensemble: Ensemble
    spec: InputSpec
    pixels: SubImagePixels
    batch_size: int = 128

    def score(self, items: Sequence[SubImageRef]) -> np.ndarray:
        if not items:
            return np.zeros(0)
        with torch.no_grad():
            return predict_tileset(self.ensemble, tileset_of(items, self.pixels), self.spec,
                                   self.batch_size).p_malignant


@dataclass
class HybridTrainer:
    """Trains the plan's hybrid ensemble on current labels (implements the Trainer protocol)."""

    plan: TrainPlan
    val_fraction: float = 0.0  # 0: no validation part (train on every training patient, fixed epochs)
    progress: bool = False
    pixels: SubImagePixels = field(init=False)
    history: list[dict[str, object]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pixels = SubImagePixels(self.plan.input_size)

    def _split(self, examples: Sequence[SubImageRef]) -> tuple[list[SubImageRef], list[SubImageRef]]:
        """(fitting, validation) sub-images, split by patient group with the plan's split seed.

        With too few training patients for a validation part, early stopping and temperature
        scaling see the training patients themselves (recorded in ``history``).
        """
        votes: dict[str, list[bool]] = {}
        for ref in examples:
            votes.setdefault(patient_group(ref.patient), []).append(ref.image_label == "malignant")
        labels = {g: str(sum(v) * 2 >= len(v)) for g, v in votes.items()}
        if len(labels) < 2 or self.val_fraction <= 0.0:
            return list(examples), list(examples)
        val_groups = patient_split(labels, (1.0 - self.val_fraction, 0.0, self.val_fraction), self.plan.split_seed).test
        fit = [r for r in examples if patient_group(r.patient) not in val_groups]
        val = [r for r in examples if patient_group(r.patient) in val_groups]
        return (fit, val) if fit and val else (list(examples), list(examples))

    def fit(self, examples: Sequence[SubImageRef], round_number: int) -> HybridScorer:
        torch.set_num_threads(self.plan.threads)
        fit_refs, val_refs = self._split(examples)
        fit_set, val_set = tileset_of(fit_refs, self.pixels), tileset_of(val_refs, self.pixels)
        mean, std = channel_stats(fit_set)
        spec = InputSpec(width=self.plan.input_size[0], height=self.plan.input_size[1], mean=mean, std=std,
                         tile_scheme="breakhis-3x3")
        nets, temperatures, record = [], [], []
        for i, member in enumerate(self.plan.members):
            result = train_member(self.plan.hybrid_config(member), fit_set, val_set, spec, self.plan.schedule,
                                  pretrained=self.plan.pretrained, seed=self.plan.seed + i, progress=self.progress)
            nets.append(result.net)
            # A temperature fitted on the sub-images the net was trained on would only measure
            # how well it memorised them; without a validation part, probabilities stay as trained.
            temperatures.append(1.0 if fit_refs == val_refs else fit_temperature(result.net, val_set, spec))
            record.append({"backbone": member.backbone, "best_epoch": result.best_epoch,
                           "best_val_loss": round(result.best_val_loss, 5), "seconds": round(result.seconds, 1)})
        self.history.append({"round": round_number, "fit_subimages": len(fit_set), "val_subimages": len(val_set),
                             "validation_on_training_patients": fit_refs == val_refs,
                             "members": record})
        return HybridScorer(Ensemble(nets, temperatures=temperatures).eval(), spec, self.pixels)


def default_trainer(*, epochs: int = 8, finetune_epochs: int = 2, seed: int = 0, threads: int = 1) -> HybridTrainer:
    """The small CPU trainer ``bcviewer selflearn`` uses without training options.

    One resnet18 (width 0.25, LSTM over rows) on 64x42 inputs, fixed epochs, no validation part.
    """
    plan = PLANS["cpu"].with_overrides(
        members=(MemberPlan("resnet18", 0.25, "rows"),), input_size=(64, 42), stage1_epochs=epochs,
        stage2_epochs=finetune_epochs, seed=seed, threads=threads, patience=max(epochs, 1))
    return HybridTrainer(plan, val_fraction=0.0)
