"""``bcviewer info PATH [--json]``: what a slide or image is."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from bcviewer.filenames import escaped_text

if TYPE_CHECKING:
    from bcviewer.slides import SlideReader


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("info", help="show format, size, levels, mpp and associated images of a slide or image")
    p.add_argument("path", help="slide or image file")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=run)


def magnification_report(slide: SlideReader) -> dict[str, Any]:
    """The magnification ``predict`` and the viewer will use for this input and where it comes from:
    the file (a whole slide's objective), the file name (BreakHis), or nowhere (then they assume
    the model's training magnification and say so)."""
    from bcviewer.tiling.kind import input_kind, kind_reason
    from bcviewer.tiling.magnification import magnification_of

    kind = input_kind(slide)
    report: dict[str, Any] = {"kind": kind, "kind_reason": kind_reason(slide)}
    if kind == "whole-slide":
        power = slide.objective_power
        report.update(value=power, source="file" if power else None,
                      note=("whole slides are analysed by their pixel size (µm/px), not by their objective"))
        return report
    found = magnification_of(slide.path, None, None)
    if found is not None:
        report.update(value=found.value, source="file name", note="predict and the viewer use it")
    else:
        report.update(value=None, source=None,
                      note="neither the file nor its name records it; predict and the viewer assume the "
                           "model's training magnification (100X for breakhis-100x) and say so; "
                           "give it with --magnification")
    return report


def describe(slide: SlideReader) -> dict[str, Any]:
    """A JSON-ready description of an open slide."""
    width, height = slide.dimensions
    return {
        "path": str(slide.path),
        "format": slide.format,
        "vendor": slide.vendor,
        "width": width,
        "height": height,
        "level_count": slide.level_count,
        "levels": [
            {"level": lv.index, "width": lv.width, "height": lv.height, "downsample": round(lv.downsample, 4)}
            for lv in slide.levels
        ],
        "mpp": slide.mpp,
        "objective_power": slide.objective_power,
        "magnification": magnification_report(slide),
        "associated_images": list(slide.associated_names),
    }


def run(args: argparse.Namespace) -> int:
    from bcviewer.slides import open_slide  # the imaging stack: not for --help

    with open_slide(args.path) as slide:
        info = describe(slide)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    mpp = f"{info['mpp']:.4g} µm/px" if info["mpp"] else "unknown"
    power = f"{info['objective_power']:g}x (from the file)" if info["objective_power"] else "unknown"
    mag = info["magnification"]
    used = f"{mag['value']:g}X (from the {mag['source']})" if mag["value"] else "unknown"
    print(f"file:        {escaped_text(info['path'])}")
    print(f"format:      {info['format']}" + (f" (vendor {info['vendor']})" if info["vendor"] else ""))
    print(f"dimensions:  {info['width']} x {info['height']} px")
    print(f"mpp:         {mpp}")
    print(f"kind:        {'whole slide' if mag['kind'] == 'whole-slide' else 'microscopy image'} ({mag['kind_reason']})")
    print(f"objective:   {power}")
    print(f"magnification: {used}: {mag['note']}")
    print(f"levels:      {info['level_count']}")
    for lv in info["levels"]:
        print(f"  level {lv['level']}: {lv['width']} x {lv['height']} (downsample {lv['downsample']:g})")
    print(f"associated:  {', '.join(info['associated_images']) or 'none'}")
    return 0
