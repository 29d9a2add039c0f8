"""What an input is (whole slide or microscopy image) and at what scale a model reads it.

Two separate questions, both answered from the input itself and never guessed:

* **kind** (:func:`bcviewer.tiling.kind.input_kind`): a whole slide has a pyramid (more than one
  level), comes in a scanner vendor's format (Aperio, Hamamatsu, MIRAX ...), or is too large for
  one microscope field. Everything else, e.g. a 700 x 460 BreakHis PNG, is a microscopy image. A
  slide that records no pixel size is still a whole slide.
* **scale** (:func:`level0_mpp`): the µm per level-0 pixel the file records, else the one the user
  gave (``--mpp`` or the viewer's pixel-size dialog), else unknown.

:func:`describe_model` and :func:`scale_warnings` turn a model card and an input into the sentences
the CLI and the viewer show, so model choice explains itself and a scale mismatch is said aloud.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bcviewer.errors import BcviewerError
from bcviewer.nets import InputSpec
from bcviewer.slides import SlideReader
from bcviewer.tiling.errors import TilingError
from bcviewer.tiling.kind import InputKind, unknown_scale_message
from bcviewer.tiling.kind import input_kind as input_kind, kind_reason as kind_reason  # re-exported

# Usual µm per pixel of scanners at each objective power (20x ~ 0.5 µm/px, 40x ~ 0.25 µm/px).
OBJECTIVE_MPP: dict[float, float] = {2.5: 4.0, 5.0: 2.0, 10.0: 1.0, 20.0: 0.5, 40.0: 0.25, 60.0: 0.17, 80.0: 0.125}
# A run whose µm per model input pixel differs from training by more than this factor is warned of.
SCALE_TOLERANCE = 1.5


class ScaleUnknownError(BcviewerError):
    """A whole slide without a recorded pixel size, and none was given."""


def level0_mpp(slide: SlideReader, given: float | None = None) -> float | None:
    """µm per level-0 pixel: the file's own value first, else ``given`` (the user's), else None."""
    if slide.mpp is not None:
        return slide.mpp
    if given is not None and given <= 0:
        raise BcviewerError(f"the pixel size must be positive, got {given} µm/px")
    return given


def mpp_for_objective(power: float) -> float:
    """The usual µm/px of a scanner at this objective power (nearest listed power)."""
    nearest = min(OBJECTIVE_MPP, key=lambda p: abs(p - power))
    return OBJECTIVE_MPP[nearest]


def require_scale(slide: SlideReader, given_mpp: float | None, tile_px: int | None) -> float | None:
    """The level-0 mpp a whole slide is tiled with; raises :class:`ScaleUnknownError` when the file
    records none and neither a pixel size nor a tile size in pixels was given."""
    mpp = level0_mpp(slide, given_mpp)
    problem = getattr(slide, "scale_problem", None)
    if problem and slide.mpp is None and given_mpp is None and tile_px is None:
        # The file names a pixel size that cannot be read: it is damaged, not silent, so say that
        # rather than asking the user as if nothing were recorded.
        raise TilingError(problem)
    if mpp is None and tile_px is None:
        raise ScaleUnknownError(unknown_scale_message(slide))
    return mpp


@dataclass(frozen=True)
class TrainedOn:
    """What a model was trained on, from the card's ``trained_on`` section (or its input spec)."""

    kind: InputKind
    tissue: str
    magnification: str | None
    mpp: float | None  # µm per pixel the tiles were read at (whole-slide models)
    tile_um: float | None
    tile_scheme: str | None


def trained_on(card: dict[str, Any] | None, spec: InputSpec | None) -> TrainedOn:
    """The card's ``trained_on`` section, falling back to what its ``input`` section implies."""
    section = dict((card or {}).get("trained_on") or {})
    physical = spec is not None and (spec.tile_um is not None or spec.mpp is not None)
    kind = section.get("kind") or ("whole-slide" if physical else "image")
    return TrainedOn(
        kind="whole-slide" if kind == "whole-slide" else "image",
        tissue=str(section.get("tissue") or "breast tissue, H&E"),
        magnification=section.get("magnification") or (spec.magnification if spec is not None else None),
        mpp=_num(section.get("mpp")) if section.get("mpp") is not None else (spec.mpp if spec else None),
        tile_um=(_num(section.get("tile_um")) if section.get("tile_um") is not None
                 else (spec.tile_um if spec else None)),
        tile_scheme=spec.tile_scheme if spec is not None else None,
    )


def describe_model(name: str, card: dict[str, Any] | None, spec: InputSpec | None) -> str:
    """One line on what a model reads, e.g. "idc-wsi: whole slide, 200 µm tiles at 4 µm/px"."""
    t = trained_on(card, spec)
    if t.kind == "whole-slide":
        tile = f"{t.tile_um:g} µm tiles" if t.tile_um else "tiles"
        at = f" at {t.mpp:g} µm/px" if t.mpp else ""
        return f"{name}: whole slide, {tile}{at}"
    mag = f" at {t.magnification}" if t.magnification else ""
    scheme = (t.tile_scheme or "").split("-")[-1]
    cut = f", cut {scheme}" if scheme and scheme != "physical" else ""
    return f"{name}: microscopy images{mag}{cut}"


def scale_warnings(slide: SlideReader, spec: InputSpec | None, card: dict[str, Any] | None, name: str,
                   tile_side0: float | None, mpp: float | None) -> list[str]:
    """Sentences warning that this input is far from what the model was trained on (empty: none).

    ``tile_side0`` is the side of the run's tiles in level-0 pixels and ``mpp`` the level-0 pixel
    size in use (the file's or the user's; None when unknown).
    """
    t = trained_on(card, spec)
    kind = input_kind(slide)
    out: list[str] = []
    if kind != t.kind:
        what = "a whole slide" if kind == "whole-slide" else "a microscopy image"
        out.append(f"{name} was trained on {_kind_words(t)}, but {slide.path.name} is {what}; "
                   "its scores are out of distribution")
    if t.kind != "whole-slide" or t.tile_um is None or tile_side0 is None:
        return out
    if mpp is None:
        out.append(f"the pixel size of {slide.path.name} is unknown, so its tiles cannot be matched to the "
                   f"{t.tile_um:g} µm tiles {name} was trained on")
        return out
    tile_um = tile_side0 * mpp
    ratio = tile_um / t.tile_um
    if ratio > SCALE_TOLERANCE or ratio < 1 / SCALE_TOLERANCE:
        out.append(f"tiles of {tile_um:.0f} µm are {ratio:.1f}x the {t.tile_um:g} µm tiles {name} was trained on; "
                   "the model sees tissue at a scale it never saw")
    if t.mpp is not None and mpp > t.mpp * SCALE_TOLERANCE:
        out.append(f"{slide.path.name} has {mpp:g} µm/px, coarser than the {t.mpp:g} µm/px {name} was trained at")
    return out


def _kind_words(t: TrainedOn) -> str:
    if t.kind == "whole-slide":
        return f"whole-slide tiles of {t.tile_um:g} µm" if t.tile_um else "whole-slide tiles"
    return f"microscopy images at {t.magnification}" if t.magnification else "microscopy images"


def _num(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
