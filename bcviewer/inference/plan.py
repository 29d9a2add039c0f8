"""The one decision about an input, made once and used by the viewer, ``predict``, its Dask workers
and ``evaluate``: what the input is, at which pixel size it is read and where that came from,
which model reads it and why, which tiles it is cut into (the grid carries its tissue mask), the
regions it is analysed inside, which tiles quality control leaves out, and what the user must be
told about it.

Nothing here loads weights or imports torch: a plan needs only the slide and the model's card
(quality control reads each tile once, at a low resolution; see :mod:`bcviewer.qc`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bcviewer.errors import BcviewerError
from bcviewer.inference.grids import (
    DEFAULT_IMAGE_MODEL,
    DEFAULT_SLIDE_MODEL,
    analysis_grid,
    magnification_note,
)
from bcviewer.inference.scale import describe_model, scale_warnings
from bcviewer.nets import InputSpec, read_card, resolve_model_dir
from bcviewer.qc import GridQc, TileQc, qc_grid
from bcviewer.qupath import slide_bounds
from bcviewer.regions import Region, RegionFrame, in_slide, tiles_inside, union_of
from bcviewer.slides import SlideReader
from bcviewer.tiling import TileGrid
from bcviewer.tiling.kind import InputKind, input_kind, kind_reason

AUTOMATIC_MODEL = ""
"""The model option that lets :func:`choose_model` pick by the kind of input."""

AUTOMATIC_CHOICES = (DEFAULT_IMAGE_MODEL, DEFAULT_SLIDE_MODEL)
"""Every model :func:`choose_model` may pick when none is requested."""

ScaleSource = Literal["file", "user", "unknown"]


class NoTilesError(BcviewerError):
    """The grid for this input has no tile with enough tissue to score."""


@dataclass(frozen=True)
class ModelChoice:
    """The model that reads an input, and why: ``source`` is what :func:`bcviewer.nets.load_model`
    is given (a shipped name or a folder), ``name`` the card's own name."""

    source: str
    name: str
    reason: str
    card: dict[str, Any] = field(compare=False, repr=False)
    spec: InputSpec = field(compare=False)

    @classmethod
    def of_card(cls, source: str, card: dict[str, Any], reason: str) -> ModelChoice:
        return cls(source, str(card.get("name", Path(source).name)), reason, card, InputSpec.from_dict(card["input"]))

    def describe(self) -> str:
        """What the model reads, e.g. "idc-wsi: whole slide, 200 µm tiles at 4 µm/px"."""
        return describe_model(self.name, self.card, self.spec)


def choose_model(slide: SlideReader | None, requested: str = AUTOMATIC_MODEL) -> ModelChoice:
    """The model for ``slide``: ``requested`` (a name or folder) when given, else the shipped model
    for this kind of input (BreakHis for microscopy images, IDC for whole slides).

    This is the only place that choice is made. Reads the card (raises the store's error when the
    model is missing or its card is unreadable); loads no weights.
    """
    if requested:
        source, reason = requested, "chosen by the user"
    elif slide is None:
        source, reason = DEFAULT_IMAGE_MODEL, "the default model"
    elif input_kind(slide) == "whole-slide":
        source, reason = DEFAULT_SLIDE_MODEL, f"the default for whole slides ({kind_reason(slide)})"
    else:
        source, reason = DEFAULT_IMAGE_MODEL, "the default for microscopy images"
    return ModelChoice.of_card(source, read_card(resolve_model_dir(source)), reason)


@dataclass(frozen=True)
class PlanOptions:
    """What the user asked for; every field None means the default for the input and model."""

    model: str = AUTOMATIC_MODEL
    subimages: tuple[int, int] | None = None
    tile_um: float | None = None
    tile_px: int | None = None
    mpp: float | None = None  # the user's µm per level-0 pixel, used only when the file records none
    magnification: int | None = None  # the user's magnification of a microscopy image
    min_tissue: float | None = None
    mpp_origin: str = "from --mpp"  # how a note names where the user's pixel size came from
    # Analyse inside these regions only; () = everywhere. Their frame: QuPath's (relative to the
    # slide's bounds: GeoJSON) or the slide's full level-0 frame (ASAP XML).
    regions: tuple[Region, ...] = ()
    regions_frame: RegionFrame = "qupath"
    # Quality control before scoring (bcviewer.qc): None = on for whole slides, off for images.
    qc: bool | None = None


@dataclass(frozen=True)
class InputPlan:
    """How one input is analysed (see the module docstring)."""

    path: Path
    kind: InputKind
    kind_reason: str
    mpp: float | None  # µm per level-0 pixel in use
    mpp_source: ScaleSource
    model: ModelChoice
    grid: TileGrid
    magnification_note: str | None = None
    warnings: tuple[str, ...] = ()  # this input is far from what the model was trained on
    mpp_origin: str = "from --mpp"
    regions: tuple[Region, ...] = ()  # the regions analysed, in the slide's level-0 frame
    region_note: str | None = None
    qc: tuple[TileQc, ...] | None = None  # per tile of the grid; None: quality control did not run
    qc_given: bool = False  # the flags came from quality control run before the plan (not run again)

    @property
    def qc_flags(self) -> tuple[str, ...] | None:
        """Each tile's QC flag ("ok" is scored), or None when QC did not run."""
        return None if self.qc is None else tuple(r.flag for r in self.qc)

    @property
    def description(self) -> str:
        return self.model.describe()

    def notes(self) -> tuple[str, ...]:
        """What ``predict`` prints on stderr and keeps in tiles.geojson: where a pixel size the
        file does not record came from, the magnification when it needs saying, the regions, the
        tiles quality control left out, and warnings."""
        notes = []
        if self.mpp_source == "user" and self.grid.kind == "physical":
            notes.append(f"pixel size {self.mpp:g} µm/px {self.mpp_origin} (the file records none)")
        if self.magnification_note is not None:
            notes.append(self.magnification_note)
        if self.region_note is not None:
            notes.append(self.region_note)
            if self.mpp is None:
                notes.append("the regions' areas in mm² are left out: the pixel size of this input is unknown")
        flagged = [r.flag for r in self.qc or () if not r.ok]
        if flagged:
            counts = ", ".join(f"{flagged.count(f)} {f}" for f in dict.fromkeys(flagged))
            notes.append(f"quality control left out {len(flagged)} of {len(self.grid)} tiles ({counts})")
        notes.extend(f"warning: {w}" for w in self.warnings)
        return tuple(notes)

    def panel_warnings(self) -> list[str]:
        """What the viewer's analysis panel lists under the model's description."""
        return ([self.magnification_note] if self.magnification_note else []) + list(self.warnings)


def plan_grid(slide: SlideReader, spec: InputSpec | None, options: PlanOptions) -> TileGrid:
    """The grid the options ask for, else the default for this input and model (``spec`` None: no
    model is installed; microscopy images still get their sub-image grid)."""
    return analysis_grid(slide, spec, subimages=options.subimages, tile_um=options.tile_um,
                         tile_px=options.tile_px, mpp=options.mpp, min_tissue=options.min_tissue,
                         magnification=options.magnification)


def plan_input(slide: SlideReader, options: PlanOptions = PlanOptions(), model: ModelChoice | None = None,
               qc: GridQc | None = None) -> InputPlan:
    """Decide how ``slide`` is analysed. ``model`` skips :func:`choose_model` (already chosen);
    ``qc``: quality control already run, used instead of running it again when it covers every
    tile of the grid the options give before regions are applied (else QC runs here).

    Raises :class:`~bcviewer.inference.scale.ScaleUnknownError` for a whole slide with no pixel
    size, :class:`~bcviewer.tiling.TilingError` for a grid that cannot be cut, and
    :class:`NoTilesError` when no tile has enough tissue or none lies inside the regions. Quality
    control (``options.qc``; by default for whole slides only) flags tiles without removing them:
    the flags travel with the plan, and flagged tiles are never scored.
    """
    chosen = model if model is not None else choose_model(slide, options.model)
    grid = plan_grid(slide, chosen.spec, options)
    if len(grid) == 0:
        raise NoTilesError(f"{slide.path.name}: no tile has enough tissue to score "
                           "(lower the minimum tissue fraction or check the slide)")
    regions: tuple[Region, ...] = ()
    region_note: str | None = None
    given = qc.results if qc is not None and qc.fits(grid) else None
    if options.regions:
        bx, by, _, _ = slide_bounds(slide.properties, slide.dimensions)
        regions = tuple(in_slide(options.regions, (bx, by))) if options.regions_frame == "qupath" else options.regions
        inside = tiles_inside(grid, union_of(regions))
        if not inside.any():
            raise NoTilesError(f"{slide.path.name}: no tile's centre lies inside the {len(regions)} region(s)")
        region_note = f"analysed inside {len(regions)} region(s): {int(inside.sum())} of {len(grid)} tiles"
        grid = grid.subset(inside)
        given = tuple(r for r, k in zip(given, inside) if k) if given is not None else None
    kind = input_kind(slide)
    checked: tuple[TileQc, ...] | None = None
    if options.qc if options.qc is not None else kind == "whole-slide":
        checked = given if given is not None else tuple(qc_grid(slide, grid))
    # The user's pixel size applies only where the file records none and the grid is cut in µm: a
    # microscopy image cut into sub-images needs none, and must not get a scale bar from a slide's.
    mpp = slide.mpp if slide.mpp is not None else (options.mpp if grid.kind == "physical" else None)
    source: ScaleSource = "file" if slide.mpp is not None else ("user" if mpp is not None else "unknown")
    side0 = float(grid[0].w) if grid.kind == "physical" else None
    return InputPlan(
        path=slide.path, kind=kind, kind_reason=kind_reason(slide), mpp=mpp, mpp_source=source,
        model=chosen, grid=grid, magnification_note=magnification_note(slide, chosen.spec, grid,
                                                                        options.magnification),
        warnings=tuple(scale_warnings(slide, chosen.spec, chosen.card, chosen.name, side0, mpp)),
        mpp_origin=options.mpp_origin, regions=regions, region_note=region_note,
        qc=checked, qc_given=checked is not None and given is not None)
