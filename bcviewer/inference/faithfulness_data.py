"""Real malignant tiles of patients a model never trained on, for the deletion check.

Patients come from the model card's split (``training.patients``): ``test`` by default. A BreakHis
image is cut into the same tiles the analysis scores (:func:`~bcviewer.inference.grids.analysis_grid`,
3x3 at 100X); an IDC patch (50x50 px cut at about 4 µm/px, the tile ``idc-wsi`` reads) is one tile.
Used by ``tests/test_explain.py`` and by the figures in ``docs/explanations.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bcviewer.datasets import index_breakhis, index_idc
from bcviewer.inference.grids import analysis_grid
from bcviewer.nets.stored import StoredModel
from bcviewer.slides import open_slide


@dataclass(frozen=True)
class HeldOutTile:
    patient: str
    source: str  # file name, and the tile's row and column for a BreakHis image
    rgb: np.ndarray


def held_out_patients(model: StoredModel, folds: Iterable[str] = ("test",)) -> set[str]:
    """The patients of the card's ``folds`` (e.g. "test", "val")."""
    split = model.card.get("training", {}).get("patients", {})
    return {str(p) for fold in folds for p in split.get(fold, [])}


def malignant_tiles(model: StoredModel, data_root: Path, folds: Iterable[str] = ("test",),
                    per_patient: int = 10) -> list[HeldOutTile]:
    """Up to ``per_patient`` tiles from malignant inputs of each held-out patient, in file order
    (BreakHis 100X images under ``data_root/breakhis``, or IDC class-1 patches under ``data_root/idc``,
    by the card's ``data.kind``)."""
    patients = held_out_patients(model, folds)
    kind = str(model.card.get("data", {}).get("kind", ""))
    counts: dict[str, int] = {}
    tiles: list[HeldOutTile] = []
    if kind == "breakhis":
        for image in index_breakhis(data_root / "breakhis", {100}):
            if image.label != "malignant" or image.patient not in patients:
                continue
            with open_slide(image.path) as slide:
                grid = analysis_grid(slide, model.spec)
                for tile in grid:
                    if counts.get(image.patient, 0) < per_patient:
                        counts[image.patient] = counts.get(image.patient, 0) + 1
                        tiles.append(HeldOutTile(image.patient, f"{image.path.name} r{tile.row} c{tile.col}",
                                                 grid.read_tile(slide, tile)))
        return tiles
    for patch in index_idc(data_root / "idc"):
        if patch.label != 1 or patch.patient not in patients or counts.get(patch.patient, 0) >= per_patient:
            continue
        counts[patch.patient] = counts.get(patch.patient, 0) + 1
        with open_slide(patch.path) as slide:
            tiles.append(HeldOutTile(patch.patient, patch.path.name,
                                     slide.read_region(0, 0, 0, *slide.dimensions)))
    return tiles
