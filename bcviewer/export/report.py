"""A per-slide report a pathologist can file: one PDF with the slide, the model, the verdict, the
heatmap, the tiles to look at, quality control, regions and label edits.

:func:`slide_report` gathers a :class:`SlideReport` from the core's objects (the slide, its scores,
the input plan, regions, a label project); :func:`render_report` lays it out as PDF bytes
(:mod:`bcviewer.export.report_pdf`, reportlab) and :func:`write_report` writes them atomically.
``bcviewer predict --report`` renders on the worker and writes on the client, like its other files;
the viewer's "Export report…" writes from a background job.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bcviewer import __version__
from bcviewer.export.colormaps import DEFAULT_COLORMAP, DEFAULT_OPACITY
from bcviewer.export.files import atomic_write_bytes
from bcviewer.export.report_parts import (
    LabelEdits,
    TopTile,
    card_sha256,
    label_edits,
    marked_overlay,
    scanner_text,
    stain_text,
    top_tiles,
)
from bcviewer.filenames import escaped_text
from bcviewer.inference import TileScores
from bcviewer.inference.verdict import Verdict
from bcviewer.output_kinds import check_output_file
from bcviewer.qc import QcSummary
from bcviewer.regions import Region, RegionStats, region_stats
from bcviewer.slides import SlideReader

if TYPE_CHECKING:
    from bcviewer.inference.plan import InputPlan

NOTICE = "For research use only; not a diagnosis."
REPORT_FILE = "report.pdf"
OVERLAY_SIDE = 1400  # longest side of the report's heatmap thumbnail, in pixels
Progress = Callable[[str], object]


@dataclass(frozen=True)
class SlideReport:
    """What one report says (see the module doc); every field is plain data, safe to pickle."""

    slide_name: str
    size_px: tuple[int, int]
    mpp: float | None
    mpp_source: str  # "recorded in the file", "given by the user (...)", or "" when unknown
    scanner: str
    created: str  # UTC, ISO 8601 to the second
    version: str
    model_name: str
    model_reason: str
    card_sha256: str
    weights_sha256: str
    onnx_sha256: str
    stain: str
    verdict: Verdict
    threshold: float
    tiles_total: int
    tiles_scored: int
    overlay: np.ndarray  # RGB: thumbnail with the heatmap and the top tiles marked (the PDF adds the legend)
    cmap: str
    opacity: float
    threshold_shown: float  # the overlay hides tiles below this p (0: none)
    smooth: bool
    top: tuple[TopTile, ...]
    qc: QcSummary | None
    regions: tuple[RegionStats, ...]
    edits: LabelEdits | None  # None: no labeling project was open
    notes: tuple[str, ...]

    @property
    def size_text(self) -> str:
        """'2220 x 2967 px (1.11 x 1.48 mm)'; the millimetres only with a pixel size."""
        w, h = self.size_px
        text = f"{w} x {h} px"
        if self.mpp:
            text += f" ({w * self.mpp / 1000:.2f} x {h * self.mpp / 1000:.2f} mm)"
        return text

    @property
    def look(self) -> str:
        """How the heatmap is drawn: 'viridis colours, opacity 0.5'."""
        return (f"{self.cmap} colours, opacity {self.opacity:g}" + (", smoothed" if self.smooth else "")
                + (f", tiles below p {self.threshold_shown:g} hidden" if self.threshold_shown > 0 else ""))

    @property
    def overlay_um_width(self) -> float | None:
        """The width the heatmap thumbnail spans on the slide, in µm (None without a pixel size)."""
        return self.size_px[0] * self.mpp if self.mpp else None

    @property
    def mpp_text(self) -> str:
        """'0.499 µm/px (recorded in the file)', or 'pixel size unknown'."""
        if not self.mpp:
            return "pixel size unknown"
        return f"{self.mpp:.4g} µm/px ({self.mpp_source})"


def _mpp_and_source(slide: SlideReader, plan: InputPlan | None, mpp: float | None) -> tuple[float | None, str]:
    if slide.mpp:
        return slide.mpp, "recorded in the file"
    if plan is not None and plan.mpp is not None:
        return plan.mpp, f"given by the user, {plan.mpp_origin}"
    if mpp:
        return mpp, "given by the user"
    return None, ""


def slide_report(slide: SlideReader, scores: TileScores, plan: InputPlan | None = None, *,
                 mpp: float | None = None, regions: Sequence[Region] = (),
                 region_measures: Sequence[RegionStats] | None = None,
                 project: str | os.PathLike[str] | None = None, card: dict[str, Any] | None = None,
                 model_dir: Path | None = None, cmap: str = DEFAULT_COLORMAP, opacity: float = DEFAULT_OPACITY,
                 threshold: float = 0.0, smooth: bool = False, now: datetime | None = None,
                 progress: Progress | None = None) -> SlideReport:
    """Gather the report of ``slide`` from its ``scores`` and the ``plan`` that made them.

    ``mpp``: the level-0 pixel size in use when there is no plan (the viewer's); ``regions`` are
    measured here unless ``region_measures`` are given; ``project``: the open labeling project,
    whose edits of this slide are listed. ``card``/``model_dir`` default to the plan's model.
    ``cmap``..``smooth``: the heatmap's look (the viewer's, or ``predict``'s options).
    """
    say = progress or (lambda _step: None)
    pixel, source = _mpp_and_source(slide, plan, mpp)
    if card is None and plan is not None:
        card = plan.model.card
    card = card or {}
    if model_dir is None and plan is not None:
        model_dir = _model_dir(plan.model.source)
    weights = card.get("weights") or {}
    onnx = ((card.get("onnx") or {}).get("fp32") or {})
    tissue = scores.grid.tissue if scores.grid.kind == "physical" else None
    top = top_tiles(slide, scores, progress=say)
    say("drawing the heatmap thumbnail")
    overlay = marked_overlay(slide, scores, top, OVERLAY_SIDE, cmap=cmap, opacity=opacity, threshold=threshold,
                             smooth=smooth, tissue=tissue)
    qc = None
    if scores.qc_flags is not None:
        from bcviewer.qc import summarise
        from bcviewer.qc.tiles import TileQc

        nan = math.nan
        qc = summarise(scores.grid, [TileQc(f, nan, nan, nan, nan, nan) for f in scores.qc_flags])  # type: ignore[arg-type]
    if region_measures is None:
        say("measuring the regions")
        region_measures = [region_stats(r, scores, pixel, tissue) for r in regions]
    edits = None
    if project is not None:
        say("reading the label edits")
        edits = label_edits(project, slide.path)
    when = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return SlideReport(
        slide_name=escaped_text(slide.path.name), size_px=slide.dimensions, mpp=pixel, mpp_source=source,
        scanner=scanner_text(slide), created=when.strftime("%Y-%m-%d %H:%M:%S UTC"), version=__version__,
        model_name=str(card.get("name", scores.model_name or "unknown")),
        model_reason=plan.model.reason if plan is not None else "",
        card_sha256=card_sha256(model_dir) if model_dir is not None else "unknown",
        weights_sha256=str(weights.get("sha256") or "unknown"), onnx_sha256=str(onnx.get("sha256") or ""),
        stain=stain_text(card), verdict=scores.slide_verdict, threshold=scores.threshold,
        tiles_total=len(scores), tiles_scored=scores.n_done, overlay=overlay, top=tuple(top), qc=qc,
        regions=tuple(region_measures), edits=edits, notes=plan.notes() if plan is not None else (),
        cmap=cmap, opacity=opacity, threshold_shown=threshold, smooth=smooth)


def _model_dir(source: str) -> Path | None:
    from bcviewer.nets import resolve_model_dir
    from bcviewer.nets.errors import ModelCardError, ModelNotFoundError

    try:
        return resolve_model_dir(source)
    except (ModelCardError, ModelNotFoundError, OSError):
        return None


def render_report(report: SlideReport) -> bytes:
    """The report as PDF bytes; the same report always gives the same bytes."""
    from bcviewer.export.report_pdf import report_pdf

    return report_pdf(report)


def write_report(path: str | os.PathLike[str], report: SlideReport, *, force: bool = True) -> Path:
    """Write the report to ``path`` atomically. A project (any SQLite file), a device, pipe or
    folder is never replaced; another kind of file only with ``force`` (the viewer's save dialog
    has asked)."""
    check_output_file(path, "pdf", "the report", force=force)
    data = render_report(report)
    return atomic_write_bytes(path, data)
