"""Cached trunk features: run a frozen CNN trunk once over a tile set, then train heads on the maps.

With an ImageNet trunk frozen (stage 1 of the two-stage recipe) the trunk's output for a tile never
changes, so it is computed once and every head, fold, ablation and self-learning round reuses it.
This is what makes patient-level cross-validation and fast rounds affordable on a CPU.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from bcviewer.nets.preprocess import InputSpec, preprocess
from bcviewer.training.tiles import SourceImage, TileSet


@dataclass(frozen=True)
class FeatureSet:
    """Trunk feature maps ``(N, C, h, w)`` (float16 to halve memory) aligned with a tile set."""

    maps: torch.Tensor
    labels: np.ndarray
    image_index: np.ndarray
    images: tuple[SourceImage, ...]
    kind: str

    def __len__(self) -> int:
        return int(self.maps.shape[0])

    @property
    def patients(self) -> np.ndarray:
        """Patient id of every tile."""
        return np.array([self.images[i].patient for i in self.image_index], dtype=object)

    def patient_ids(self) -> list[str]:
        """Sorted distinct patients."""
        return sorted({im.patient for im in self.images})

    def select_patients(self, patients: Iterable[str]) -> FeatureSet:
        """The tiles of the given patients only (images re-indexed)."""
        wanted = set(patients)
        keep_images = [i for i, im in enumerate(self.images) if im.patient in wanted]
        return self.select_images(keep_images)

    def select_images(self, image_ids: Iterable[int]) -> FeatureSet:
        """The tiles of the given source images (by index into ``images``), re-indexed."""
        keep = sorted(set(int(i) for i in image_ids))
        remap = np.full(len(self.images), -1, dtype=np.int64)
        remap[keep] = np.arange(len(keep))
        mask = remap[self.image_index] >= 0
        index = torch.from_numpy(np.flatnonzero(mask))
        return FeatureSet(self.maps[index], self.labels[mask], remap[self.image_index[mask]],
                          tuple(self.images[i] for i in keep), self.kind)

    def with_labels(self, labels: np.ndarray) -> FeatureSet:
        """The same maps with other tile labels (self-learning relabels sub-images)."""
        return FeatureSet(self.maps, np.asarray(labels, dtype=np.int64), self.image_index, self.images, self.kind)

    def as_tileset_view(self) -> TileSet:
        """A pixel-less :class:`TileSet` with the same labels and images, for the evaluation helpers."""
        return TileSet(np.zeros((len(self), 1, 1, 3), np.uint8), self.labels, self.image_index, self.images, self.kind)


@torch.no_grad()
def trunk_features(trunk: nn.Module, tileset: TileSet, spec: InputSpec, batch_size: int = 64,
                   device: torch.device | str = "cpu", progress: bool = False) -> FeatureSet:
    """Feature maps of every tile of ``tileset`` through ``trunk`` in eval mode."""
    trunk = trunk.eval().to(device)
    maps = []
    for start in tqdm(range(0, len(tileset), batch_size), desc="trunk features", disable=not progress,
                      unit="batch"):
        x = preprocess(tileset.tiles[start:start + batch_size], spec).to(device)
        maps.append(trunk(x).to("cpu", torch.float16))
    stacked = torch.cat(maps) if maps else torch.zeros(0)
    return FeatureSet(stacked, tileset.labels.copy(), tileset.image_index.copy(), tileset.images, tileset.kind)


def trunk_key(config: dict[str, Any]) -> dict[str, Any]:
    """The entries of a network ``config`` that change the trunk's maps: the key under which
    :func:`cached_trunk_features` shares one cache between heads that differ above the trunk."""
    return {k: config.get(k) for k in ("backbone", "width", "trunk_stages")}


def cached_trunk_features(run: Path, name: str, tileset: TileSet, spec: InputSpec, trunk: nn.Module,
                          config: dict[str, Any], log: Any = print) -> FeatureSet:
    """:func:`trunk_features` of ``tileset``, read from ``run`` when an earlier run computed them for the
    same images, tile count, input spec and network ``config`` (anything else recomputes them)."""
    path, key_path = run / f"features-{name}.safetensors", run / f"features-{name}.json"
    key = json.loads(json.dumps({"images": [str(im.path) for im in tileset.images], "tiles": len(tileset),
                                 "spec": spec.to_dict(), "config": config}))
    if path.is_file() and key_path.is_file() and json.loads(key_path.read_text()) == key:
        maps = load_file(str(path))["maps"]
        return FeatureSet(maps, tileset.labels.copy(), tileset.image_index.copy(), tileset.images, tileset.kind)
    started = time.monotonic()
    features = trunk_features(trunk, tileset, spec, progress=True)
    run.mkdir(parents=True, exist_ok=True)
    save_file({"maps": features.maps.contiguous()}, str(path))
    key_path.write_text(json.dumps(key))
    log(f"{name}: {len(tileset)} tiles through the trunk in {time.monotonic() - started:.0f} s")
    return features


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars and arrays turned into plain Python, for JSON files and cards."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
