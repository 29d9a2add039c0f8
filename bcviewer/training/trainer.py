"""Two-stage training of one HybridNet with class-weighted loss and early stopping.

Stage 1 trains the LSTM branch, fusion and head with the CNN frozen when the CNN is pre-trained
(ImageNet); when it is trained from scratch a frozen random CNN would teach nothing, so stage 1
trains everything at ``stage1_lr`` with a cosine schedule. Stage 2 fine-tunes everything with
Adam at ``stage2_lr`` (1e-4). Both stages stop early when the validation loss has not improved
for ``patience`` epochs; the checkpoint with the lowest validation loss is kept.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from bcviewer.nets.hybrid import HybridConfig, HybridNet
from bcviewer.nets.preprocess import InputSpec, preprocess
from bcviewer.training.augment import train_augmentation
from bcviewer.training.tiles import TileSet


@dataclass(frozen=True)
class StageSchedule:
    """Epochs, learning rates and regularisation of the two training stages."""

    stage1_epochs: int = 20
    stage1_lr: float = 1e-3
    stage2_epochs: int = 10
    stage2_lr: float = 1e-4
    weight_decay: float = 1e-4
    batch_size: int = 32
    patience: int = 6
    label_smoothing: float = 0.05
    augment: bool = True


@dataclass
class MemberResult:
    """A trained network with its per-epoch history and best validation loss."""

    net: HybridNet
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = math.inf
    seconds: float = 0.0


class _AugmentedTiles(Dataset[tuple[np.ndarray, int]]):
    def __init__(self, tileset: TileSet, transform: Any | None) -> None:
        self.tileset, self.transform = tileset, transform

    def __len__(self) -> int:
        return len(self.tileset)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        tile = self.tileset.tiles[i]
        if self.transform is not None:
            tile = self.transform(image=tile)["image"]
        return tile, int(self.tileset.labels[i])


def class_weights(labels: np.ndarray, classes: int = 2) -> torch.Tensor:
    """Inverse-frequency class weights, normalised so a balanced set gets weight 1 per class."""
    counts = np.bincount(labels, minlength=classes).astype(np.float64)
    counts[counts == 0] = 1.0
    return torch.tensor(labels.size / (classes * counts), dtype=torch.float32)


def _device_of(net: torch.nn.Module) -> torch.device:
    return next(net.parameters()).device


def tile_logits(net: torch.nn.Module, tileset: TileSet, spec: InputSpec, batch_size: int = 128) -> torch.Tensor:
    """Logits of every tile (on the CPU), in eval mode and without augmentation; the batches run on
    the device the network is on."""
    was_training = net.training
    net.eval()
    device = _device_of(net)
    out = []
    with torch.no_grad():
        for start in range(0, len(tileset), batch_size):
            out.append(net(preprocess(tileset.tiles[start:start + batch_size], spec).to(device)).cpu())
    net.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, 2)


def _validate(net: HybridNet, val: TileSet, spec: InputSpec, weights: torch.Tensor) -> dict[str, float]:
    logits = tile_logits(net, val, spec)
    labels = torch.from_numpy(val.labels)
    loss = float(F.cross_entropy(logits, labels, weight=weights.cpu()))
    accuracy = float((logits.argmax(1) == labels).float().mean())
    return {"val_loss": loss, "val_tile_accuracy": accuracy}


def _epoch(net: HybridNet, loader: DataLoader[tuple[np.ndarray, int]], spec: InputSpec,
           optimiser: torch.optim.Optimizer, scheduler: Any | None, weights: torch.Tensor, smoothing: float,
           bar: tqdm) -> float:
    net.train()
    device = _device_of(net)
    total, count = 0.0, 0
    for tiles, labels in loader:
        x = preprocess(tiles.numpy(), spec).to(device, non_blocking=True)
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(net(x), labels.to(device), weight=weights, label_smoothing=smoothing)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        optimiser.step()
        if scheduler is not None:
            scheduler.step()
        total += loss.item() * len(labels)
        count += len(labels)
        bar.update(len(labels))
        bar.set_postfix(loss=f"{total / count:.3f}")
    return total / max(count, 1)


def train_member(config: HybridConfig, train: TileSet, val: TileSet, spec: InputSpec,
                 schedule: StageSchedule = StageSchedule(), *, pretrained: str | None = None,
                 seed: int = 0, progress: bool = True, log_epochs: bool | None = None,
                 device: torch.device | str = "cpu", init: HybridNet | None = None) -> MemberResult:
    """Train one HybridNet in two stages; returns the best checkpoint (on the CPU) by validation loss.

    ``device`` is where the network and every batch live (``"cuda"`` on a GPU machine).
    ``init`` starts from a trained network (e.g. a head trained on cached features) instead of a
    fresh one. ``progress`` shows a bar per epoch; ``log_epochs`` (default: same as ``progress``)
    prints one summary line per epoch.
    """
    log_epochs = progress if log_epochs is None else log_epochs
    started = time.monotonic()
    torch.manual_seed(seed)
    net = copy.deepcopy(init) if init is not None else HybridNet(config, pretrained=pretrained)
    net.to(device)
    weights = class_weights(train.labels).to(device)
    transform = train_augmentation(spec.size, seed) if schedule.augment else None
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(_AugmentedTiles(train, transform), batch_size=schedule.batch_size, shuffle=True,
                        drop_last=len(train) > schedule.batch_size, generator=generator, num_workers=0)
    result = MemberResult(net)
    best_state = copy.deepcopy(net.state_dict())
    epoch = 0
    for stage, epochs, lr in ((1, schedule.stage1_epochs, schedule.stage1_lr),
                              (2, schedule.stage2_epochs, schedule.stage2_lr)):
        if epochs <= 0:
            continue
        net.set_cnn_trainable(not (stage == 1 and pretrained is not None))
        params = [p for p in net.parameters() if p.requires_grad]
        if stage == 1:
            optimiser: torch.optim.Optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=schedule.weight_decay)
            scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=epochs * len(loader),
                                                            pct_start=0.15)
        else:
            net.load_state_dict(best_state)
            optimiser = torch.optim.Adam(params, lr=lr, weight_decay=schedule.weight_decay)
            scheduler = None
        stale = 0
        for _ in range(epochs):
            epoch += 1
            with tqdm(total=len(train), desc=f"{config.backbone} stage {stage} epoch {epoch}",
                      disable=not progress, unit="tile", leave=False) as bar:
                train_loss = _epoch(net, loader, spec, optimiser, scheduler, weights, schedule.label_smoothing, bar)
            row = {"epoch": epoch, "stage": stage, "train_loss": train_loss, **_validate(net, val, spec, weights)}
            result.history.append(row)
            if log_epochs:
                tqdm.write(f"{config.backbone} epoch {epoch} (stage {stage}): train loss {train_loss:.4f}, "
                           f"val loss {row['val_loss']:.4f}, val tile accuracy {row['val_tile_accuracy']:.3f}")
            if row["val_loss"] < result.best_val_loss - 1e-4:
                result.best_val_loss, result.best_epoch, stale = row["val_loss"], epoch, 0
                best_state = copy.deepcopy(net.state_dict())
            else:
                stale += 1
                if stale >= schedule.patience:
                    break
    net.set_cnn_trainable(True)
    net.load_state_dict(best_state)
    net.to("cpu").eval()
    result.seconds = time.monotonic() - started
    return result


def fit_temperature(net: HybridNet, val: TileSet, spec: InputSpec) -> float:
    """The logit temperature (0.25..4, log grid) minimising validation NLL, for calibration."""
    logits = tile_logits(net, val, spec)
    labels = torch.from_numpy(val.labels)
    grid = np.exp(np.linspace(math.log(0.25), math.log(4.0), 49))
    losses = [float(F.cross_entropy(logits / t, labels)) for t in grid]
    return float(grid[int(np.argmin(losses))])
