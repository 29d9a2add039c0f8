"""The pieces of a slide report that are read from files and pixels: the scanner, the card's hash
and stain normalisation, the most suspicious tiles with their pictures, the heatmap thumbnail with
those tiles marked, and a labeling project's edits of the slide (see :mod:`bcviewer.export.report`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from bcviewer.checksums import sha256_of
from bcviewer.errors import BcviewerError
from bcviewer.export.heatmap import overlay_rgb
from bcviewer.inference import TileScores
from bcviewer.inference.ranking import rank_scores
from bcviewer.slides import SlideReader
from bcviewer.tiling import TissueMask

TOP_TILES = 6
PICTURE_SIDE = 160  # longest side of a tile's picture, in pixels
MAX_EDITS = 40  # label edits listed; the rest are counted
MAX_HASHED_BYTES = 256 * 2**20  # a file not found by path is looked up by content only up to this size
MARK = (255, 0, 255)  # magenta: no colormap of the heatmap uses it

# Slide properties that name the scanner's model, by vendor (OpenSlide's property names).
_MODEL_KEYS = ("aperio.ScanScope ID", "hamamatsu.Product", "leica.device-model", "philips.DICOM_MANUFACTURERS_MODEL_NAME",
               "ventana.ScannerModel", "mirax.GENERAL.SCANNER_TYPE", "dicom.ManufacturerModelName")


@dataclass(frozen=True)
class TopTile:
    """One of the most suspicious tiles: its rank (1 = highest p), grid index, level-0 rectangle,
    grid position, p and uncertainty, and a small RGB picture of it."""

    rank: int
    index: int
    rect: tuple[int, int, int, int]
    row: int
    col: int
    p: float
    uncertainty: float
    picture: np.ndarray


@dataclass(frozen=True)
class LabelEdit:
    """One row of a project's audit trail for a sub-image of the slide."""

    time: str
    row: int
    col: int
    action: str
    old_label: str
    new_label: str
    source: str
    reason: str


@dataclass(frozen=True)
class LabelEdits:
    """A labeling project's edits of one slide, newest first (at most :data:`MAX_EDITS`); ``note``
    says when the slide is not in the project or the project cannot be read."""

    project: str
    edits: tuple[LabelEdit, ...] = ()
    more: int = 0
    note: str = ""


def scanner_text(slide: SlideReader) -> str:
    """'aperio, model CPAPERIOCS, 20x objective', or 'unknown' when the file names no scanner."""
    props = slide.properties
    if not slide.vendor or slide.vendor in ("generic-tiff", "generic-tiled-tiff"):
        return "unknown (the file names no scanner)"
    parts = [slide.vendor]
    model = next((props[k].strip() for k in _MODEL_KEYS if props.get(k, "").strip()), None)
    if model:
        parts.append(f"model {model}")
    if slide.objective_power:
        parts.append(f"{slide.objective_power:g}x objective")
    return ", ".join(parts)


def card_sha256(model_dir: Path) -> str:
    """sha256 of the model folder's card.json ('unknown' when it cannot be read)."""
    try:
        return sha256_of(model_dir / "card.json")
    except OSError:
        return "unknown"


def stain_text(card: dict[str, Any]) -> str:
    """The model-input stain normalisation the card prescribes, as every other output records it
    (:func:`bcviewer.nets.stain.stain_provenance`): 'none', or method, reference and sha256."""
    from bcviewer.nets.stain import stain_provenance

    facts = stain_provenance((card.get("input") or {}).get("stain"))
    if facts["method"] == "none":
        return "none"
    return f"{facts['method']}; reference: {facts['reference']}; sha256 {facts['sha256']}"


def _picture(slide: SlideReader, rect: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = rect
    down = max(w, h) / PICTURE_SIDE
    level = slide.best_level_for_downsample(max(down, 1.0))
    d = slide.level_downsamples[level]
    region = slide.read_region(level, x, y, max(1, round(w / d)), max(1, round(h / d)))
    image = Image.fromarray(region)
    image.thumbnail((PICTURE_SIDE, PICTURE_SIDE), Image.Resampling.LANCZOS)
    return np.asarray(image.convert("RGB"))


def top_tiles(slide: SlideReader, scores: TileScores, count: int = TOP_TILES,
              progress: Callable[[str], object] | None = None) -> list[TopTile]:
    """The ``count`` scored tiles of highest p (:func:`~bcviewer.inference.ranking.rank_scores`),
    each with its picture read from the slide."""
    if progress is not None:
        progress("reading the most suspicious tiles")
    found = []
    for rank, index in enumerate(rank_scores(scores, "p")[:count], start=1):
        tile = scores.grid.tiles[int(index)]
        found.append(TopTile(rank, int(index), tile.rect, tile.row, tile.col, float(scores.p_malignant[index]),
                             float(scores.uncertainty[index]), _picture(slide, tile.rect)))
    return found


def marked_overlay(slide: SlideReader, scores: TileScores, top: list[TopTile], max_side: int, *,
                   cmap: str, opacity: float, threshold: float, smooth: bool, tissue: TissueMask | None) -> np.ndarray:
    """The heatmap on a thumbnail (:func:`~bcviewer.export.heatmap.overlay_rgb`, as the overlay
    export) with the top tiles outlined and numbered by rank; the PDF adds the legend band below."""
    image = overlay_rgb(slide, scores, max_side, cmap=cmap, opacity=opacity, threshold=threshold, smooth=smooth,
                        tissue=tissue)
    width, height = slide.dimensions
    sx, sy = image.shape[1] / width, image.shape[0] / height
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    # Sized for the page: the PDF shows the thumbnail at most 178 x 100 mm, and the numbers are ~4 mm tall.
    px_per_mm = max(image.shape[1] / 178, image.shape[0] / 100)
    font = ImageFont.load_default(size=max(14, round(4 * px_per_mm)))
    line = max(2, round(0.45 * px_per_mm))
    for t in top:
        x, y, w, h = t.rect
        box = (x * sx, y * sy, (x + w) * sx - 1, (y + h) * sy - 1)
        draw.rectangle(box, outline=MARK, width=line)
        draw.text((box[0] + line + 3, box[1] + line + 1), str(t.rank), fill=MARK, font=font, stroke_width=3,
                  stroke_fill=(255, 255, 255))
    return np.asarray(canvas)


def label_edits(project: str | os.PathLike[str], slide_path: Path) -> LabelEdits:
    """The edits of ``slide_path``'s sub-images in the project's audit trail (labels, locks,
    relabelling rounds, undos; not the import), read through a read-only connection."""
    from bcviewer.labels import LabelStore

    name = Path(project).name
    try:
        with LabelStore.open(Path(project), readonly=True) as store:
            image_id = store.image_id_for(path=str(slide_path))
            if image_id is None:
                image_id = store.image_id_for(path=str(slide_path.resolve()))
            if image_id is None and slide_path.stat().st_size <= MAX_HASHED_BYTES:  # projects hold images, not slides
                image_id = store.image_id_for(sha256=sha256_of(slide_path))
            if image_id is None:
                return LabelEdits(name, note=f"this slide is not in the labeling project {name}")
            where = {s.id: (s.row, s.col) for s in store.subimages(image_id)}
            rows = sorted((h for sub in where for h in store.history(sub) if h.action != "import"),
                          key=lambda h: h.id, reverse=True)
    except (BcviewerError, OSError) as exc:
        return LabelEdits(name, note=f"the labeling project {name} cannot be read: {exc}")
    edits = tuple(LabelEdit(h.time[:19].replace("T", " "), *where[h.subimage_id], h.action, h.old_label or "",
                            h.new_label, h.new_source, h.reason) for h in rows[:MAX_EDITS])
    return LabelEdits(name, edits, max(0, len(rows) - MAX_EDITS),
                      "" if rows else f"no edits of this slide in the labeling project {name}")
