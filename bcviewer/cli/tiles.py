"""``bcviewer tiles PATH``: print or save the tile grid a slide would be analysed with."""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from typing import TYPE_CHECKING, TextIO

from bcviewer.cli.checks import bounded_float, guard_outputs, positive_float
from bcviewer.cli.pixel_size import pixel_size
from bcviewer.errors import BcviewerError
from bcviewer.output_kinds import FORCE_HELP, check_output_file, write_text_output

if TYPE_CHECKING:
    from bcviewer.tiling import TileGrid

FIELDS = ("x", "y", "w", "h", "level", "row", "col", "tissue")
MAX_GRID_CELLS = 10_000  # 100x100 sub-images; more is a typo, not a sub-image scheme


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("tiles", help="print the tile grid of a slide or image")
    p.add_argument("path", help="slide or image file")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--grid", metavar="RxC",
                      help="sub-image grid of a microscopy image, e.g. 3x3 (default when no size is given; "
                           "whole slides need --tile-um or --tile-px)")
    size.add_argument("--tile-um", type=positive_float, metavar="N",
                      help="tile side in micrometres (needs the slide's mpp)")
    size.add_argument("--tile-px", type=int, metavar="N",
                      help="tile side in pixels (of level 0, of --level, or at --target-mpp)")
    p.add_argument("--level", type=int, help="pyramid level the --tile-px size refers to")
    p.add_argument("--mpp", type=pixel_size, metavar="UM",
                   help="the slide's pixel size in µm/px, used only when the file records none (as in predict)")
    p.add_argument("--target-mpp", type=positive_float, metavar="UM",
                   help="resolution of the output tiles in µm/px (tiles are resized to it)")
    p.add_argument("--overlap", type=bounded_float(0.0, 1.0, high_open=True), default=0.0,
                   help="fraction of a tile shared with its neighbour (0..<1)")
    p.add_argument("--min-tissue", type=float, default=0.0, metavar="F", help="skip tiles with less tissue (0..1)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON instead of a table")
    out.add_argument("--csv", metavar="FILE", help="write the tiles to a CSV file (- for standard output)")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.set_defaults(func=run)


def parse_grid(text: str) -> tuple[int, int]:
    """'3x3' -> (3, 3)."""
    m = re.fullmatch(r"\s*(\d{1,6})\s*[xX×]\s*(\d{1,6})\s*", text)
    if not m:
        raise BcviewerError(f"--grid must look like 3x3 (rows x columns), got {text!r}")
    rows, cols = int(m.group(1)), int(m.group(2))
    if rows < 1 or cols < 1 or rows * cols > MAX_GRID_CELLS:
        raise BcviewerError(f"--grid needs 1 to {MAX_GRID_CELLS} sub-images (at least 1 row and 1 column), "
                            f"got {text!r}")
    return rows, cols


def build_grid(args: argparse.Namespace) -> TileGrid:
    """The grid described by the command-line options."""
    from bcviewer.slides import open_slide  # the imaging stack: not for --help

    if not 0.0 <= args.min_tissue <= 1.0:
        raise BcviewerError(f"--min-tissue must be between 0 and 1, got {args.min_tissue}")
    sub_images = args.tile_um is None and args.tile_px is None
    if sub_images:
        if args.level is not None or args.target_mpp is not None:
            raise BcviewerError("--level and --target-mpp apply to --tile-px or --tile-um, not to --grid")
        rows, cols = parse_grid(args.grid or "3x3")
    with open_slide(args.path) as slide:
        # The tiling stack (scikit-image) only once the input has opened: a wrong path is refused at once.
        from bcviewer.tiling import physical_grid, subimage_grid
        from bcviewer.tiling.kind import input_kind, kind_reason

        if slide.scale_problem and sub_images:
            raise BcviewerError(slide.scale_problem)  # damaged scale: say so before anything else
        if sub_images:
            if input_kind(slide) == "whole-slide":
                raise BcviewerError(f"{slide.path.name} is a whole slide ({kind_reason(slide)}); it is never cut into "
                                    "sub-images like a microscopy image; give --tile-um N or --tile-px N")
            return subimage_grid(slide, rows, cols).with_min_tissue(args.min_tissue)
        return physical_grid(
            slide, tile_um=args.tile_um, tile_px=args.tile_px, mpp=args.target_mpp, level=args.level,
            overlap=args.overlap, min_tissue=args.min_tissue, slide_mpp=args.mpp,
        )


def write_csv(grid: TileGrid, fh: TextIO) -> None:
    """One row per tile with the FIELDS columns."""
    writer = csv.writer(fh, lineterminator="\n")
    writer.writerow(FIELDS)
    for t in grid:
        writer.writerow([t.x, t.y, t.w, t.h, t.level, t.row, t.col, f"{t.tissue:.4f}"])


def run(args: argparse.Namespace) -> int:
    guard_outputs([("--csv", args.csv)], inputs=[args.path])
    check_output_file(args.csv, "csv", "--csv", force=args.force)
    grid = build_grid(args)
    if args.csv:
        buffer = io.StringIO()  # written atomically: a failed run leaves an older CSV whole
        write_csv(grid, buffer)
        where = write_text_output(args.csv, buffer.getvalue())
        print(f"{len(grid)} tiles written to {where}", file=sys.stderr)
        return 0
    if args.json:
        payload = {
            "kind": grid.kind, "rows": grid.rows, "cols": grid.cols, "out_size": grid.out_size, "mpp": grid.mpp,
            "tiles": [{f: getattr(t, f) for f in FIELDS} for t in grid],
        }
        print(json.dumps(payload, indent=2))
        return 0
    print(f"# {len(grid)} tiles, {grid.rows} rows x {grid.cols} cols ({grid.kind})")
    print(f"{'x':>7} {'y':>7} {'w':>6} {'h':>6} {'level':>5} {'row':>4} {'col':>4} {'tissue':>7}")
    for t in grid:
        print(f"{t.x:>7} {t.y:>7} {t.w:>6} {t.h:>6} {t.level:>5} {t.row:>4} {t.col:>4} {t.tissue:>7.4f}")
    return 0
