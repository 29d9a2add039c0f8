"""In-memory tile sets: every sub-image (BreakHis) or patch (IDC) decoded once, resized, labelled.

A BreakHis image becomes ``rows x cols`` sub-images (the 3x3 scheme), each inheriting its image's
label; an IDC patch is one tile of its own. Tiles keep the id of their source image so that
image-level results can be aggregated from sub-image probabilities.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bcviewer.datasets import BreakHisImage, IDCPatch, index_breakhis, index_idc
from bcviewer.datasets.errors import DatasetError
from bcviewer.nets.preprocess import resize_tiles
from bcviewer.slides import open_slide
from bcviewer.tiling import subimage_grid
from bcviewer.tiling.magnification import tiles_per_side

BREAKHIS_CLASSES = ("benign", "malignant")


@dataclass(frozen=True)
class SourceImage:
    """One source image (a BreakHis image or an IDC patch) and its labels."""

    path: Path
    label: int  # 1 = malignant / IDC
    patient: str
    magnification: int | None
    subtype: str


@dataclass(frozen=True)
class TileSet:
    """Tiles ``(N, H, W, 3)`` uint8 with their labels and the index of their source image."""

    tiles: np.ndarray
    labels: np.ndarray
    image_index: np.ndarray
    images: tuple[SourceImage, ...]
    kind: str  # "breakhis" or "idc"

    def __len__(self) -> int:
        return int(self.tiles.shape[0])

    @property
    def patients(self) -> np.ndarray:
        """Patient id of every tile."""
        return np.array([self.images[i].patient for i in self.image_index], dtype=object)

    def patient_ids(self) -> list[str]:
        """Sorted distinct patients."""
        return sorted({im.patient for im in self.images})

    def select_patients(self, patients: Iterable[str]) -> TileSet:
        """The tiles of the given patients only (images re-indexed)."""
        wanted = set(patients)
        keep_images = [i for i, im in enumerate(self.images) if im.patient in wanted]
        remap = np.full(len(self.images), -1, dtype=np.int64)
        remap[keep_images] = np.arange(len(keep_images))
        mask = remap[self.image_index] >= 0
        return TileSet(self.tiles[mask], self.labels[mask], remap[self.image_index[mask]],
                       tuple(self.images[i] for i in keep_images), self.kind)


def _breakhis_source(image: BreakHisImage) -> SourceImage:
    return SourceImage(image.path, int(image.label == "malignant"), image.patient, image.magnification,
                       image.subtype)


def _idc_source(patch: IDCPatch) -> SourceImage:
    return SourceImage(patch.path, int(patch.label), patch.patient, None, "IDC" if patch.label else "non-IDC")


def breakhis_tiles(images: Sequence[BreakHisImage], size: tuple[int, int], rows: int = 3, cols: int = 3,
                   progress: bool = False, matched_to: int | None = None) -> TileSet:
    """Cut each image into ``rows x cols`` sub-images resized to ``size`` = (width, height).

    ``matched_to`` (a magnification, e.g. 100) instead cuts each image into as many tiles a side as
    give every tile the field of a ``rows``-a-side sub-image at that magnification
    (:func:`bcviewer.tiling.magnification.tiles_per_side`).
    """
    tiles, index = [], []
    for i, image in enumerate(tqdm(images, desc="reading images", disable=not progress, unit="image")):
        with open_slide(image.path) as reader:
            if matched_to is not None:
                rows = cols = tiles_per_side(image.magnification, matched_to, 3)
            grid = subimage_grid(reader, rows=rows, cols=cols)
            for tile in grid:
                tiles.append(resize_tiles(grid.read_tile(reader, tile)[None], size)[0])
                index.append(i)
    sources = tuple(_breakhis_source(im) for im in images)
    image_index = np.array(index, dtype=np.int64)
    labels = np.array([sources[i].label for i in index], dtype=np.int64)
    return TileSet(np.stack(tiles), labels, image_index, sources, "breakhis")


def breakhis_collection(folders: Sequence[Path], size: tuple[int, int], reference: int = 100,
                        progress: bool = False) -> TileSet:
    """Every BreakHis image below ``folders`` (any magnification; a file name seen in an earlier
    folder is skipped, so a copy is never counted twice), cut as ``predict`` cuts it: tiles with the
    field of a 3x3 sub-image at the ``reference`` magnification."""
    seen: set[str] = set()
    images = []
    for folder in folders:
        for image in index_breakhis(folder):
            if image.path.name.lower() not in seen:
                seen.add(image.path.name.lower())
                images.append(image)
    return breakhis_tiles(images, size, progress=progress, matched_to=reference)


def idc_tiles(patches: Sequence[IDCPatch], size: tuple[int, int], progress: bool = False) -> TileSet:
    """Each IDC patch as one tile resized to ``size``."""
    tiles = []
    for patch in tqdm(patches, desc="reading patches", disable=not progress, unit="patch"):
        with open_slide(patch.path) as reader:
            width, height = reader.dimensions
            tiles.append(resize_tiles(reader.read_region(0, 0, 0, width, height)[None], size)[0])
    sources = tuple(_idc_source(p) for p in patches)
    labels = np.array([s.label for s in sources], dtype=np.int64)
    return TileSet(np.stack(tiles), labels, np.arange(len(sources), dtype=np.int64), sources, "idc")


def detect_kind(folder: Path) -> str:
    """"breakhis" or "idc", from the file names found below ``folder``."""
    for kind, index in (("breakhis", index_breakhis), ("idc", index_idc)):
        try:
            index(folder)
            return kind
        except DatasetError:
            continue
    raise DatasetError(f"{folder} holds neither BreakHis images nor IDC patches "
                       "(names like SOB_B_A-14-22549AB-100-001.png or 10253_idx5_x1451_y1001_class0.png)")


def load_tileset(folder: Path, size: tuple[int, int], kind: str = "auto", magnifications: set[int] | None = None,
                 patients: Iterable[str] | None = None, progress: bool = False) -> TileSet:
    """Index a BreakHis or IDC folder and decode its tiles (optionally only some patients)."""
    kind = detect_kind(folder) if kind == "auto" else kind
    wanted = None if patients is None else set(patients)
    if kind == "breakhis":
        images = [im for im in index_breakhis(folder, magnifications) if wanted is None or im.patient in wanted]
        if not images:
            raise DatasetError(f"none of the requested patients has BreakHis images in {folder}")
        # scale-matched, as predict cuts them (3x3 at 100X, 2x2 at 200X, ...)
        return breakhis_tiles(images, size, progress=progress, matched_to=100)
    if kind == "idc":
        patches = [p for p in index_idc(folder) if wanted is None or p.patient in wanted]
        if not patches:
            raise DatasetError(f"none of the requested patients has IDC patches in {folder}")
        return idc_tiles(patches, size, progress=progress)
    raise DatasetError(f"unknown data kind '{kind}'; use breakhis, idc or auto")


def channel_stats(tileset: TileSet) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Per-channel RGB mean and std on the 0..1 scale (fit these on the training fold only)."""
    pixels = tileset.tiles.reshape(-1, 3).astype(np.float64) / 255.0
    mean, std = pixels.mean(axis=0), pixels.std(axis=0)
    return (tuple(float(v) for v in mean), tuple(float(max(v, 1e-3)) for v in std))  # type: ignore[return-value]
