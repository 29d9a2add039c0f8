"""What ``bcviewer predict`` is given: the files its paths name (folders expanded), and the one
refusal it can make before the device and the scoring stack load (every input a whole slide that
records no pixel size). Plain imports only: this runs before anything heavy."""

from __future__ import annotations

import argparse
from pathlib import Path

from bcviewer.errors import BcviewerError

INPUT_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".svs", ".ndpi", ".vms", ".mrxs",
                            ".scn", ".bif", ".dcm", ".svslide"})


def collect_inputs(paths: list[str]) -> list[Path]:
    """Files as given; folders expand to every image or slide inside them (recursively, sorted)."""
    found: list[Path] = []
    for text in paths:
        p = Path(text).expanduser()
        if p.is_dir():
            inside = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in INPUT_SUFFIXES
                            and not f.name.startswith("."))
            found.extend(inside if inside else [p])  # an empty folder becomes one error row
        else:
            found.append(p)
    return found


EARLY_CHECK_MAX_INPUTS = 8  # a larger batch is checked per input as it is scored (opening each twice costs)


def refuse_unscaled_slides(args: argparse.Namespace) -> None:
    """Refuse at once, before the device and the scoring stack load, when every input is a whole
    slide that records no pixel size and was given none: the run could score nothing. Small runs
    only; a larger batch reports such inputs in its summary as it goes."""
    inputs = collect_inputs(args.paths)
    if args.tile_px or len(inputs) > EARLY_CHECK_MAX_INPUTS or not all(p.is_file() for p in inputs):
        return
    from bcviewer.batch.choices import UNKNOWN_SCALE_HINT
    from bcviewer.batch.pixel_sizes import read_mpp_table
    from bcviewer.slides import SlideError, open_slide
    from bcviewer.tiling.kind import input_kind, unknown_scale_message

    listed = dict(read_mpp_table(args.mpp_table)) if getattr(args, "mpp_table", None) else {}
    reasons = []
    for path in inputs:
        try:
            with open_slide(path) as slide:
                given = listed.get(str(path.resolve()), args.mpp)
                if input_kind(slide) != "whole-slide" or slide.mpp is not None or given is not None \
                        or getattr(slide, "scale_problem", None):
                    return  # this one can be scored (or fails otherwise): run the batch
                reasons.append(unknown_scale_message(slide))
        except SlideError:
            return  # the run reports it in its own words
    more = f" (and {len(reasons) - 1} more like it)" if len(reasons) > 1 else ""
    raise BcviewerError(f"{inputs[0]}: {reasons[0]}; {UNKNOWN_SCALE_HINT}{more}")
