"""``bcviewer explain SLIDE --tile X,Y``: why one tile got its p (see :mod:`bcviewer.inference.explain`).

The tile is the one of the analysis grid (the grid ``predict`` and the viewer use) that holds the
level-0 point X,Y. Prints its grid position and bounds, p overall and per member, the branch
attention (or why there is none) and the method; writes the "explain" PNG (the tile, the map over
it and a legend) to ``--out``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from bcviewer.cli.checks import guard_outputs
from bcviewer.cli.pixel_size import pixel_size
from bcviewer.errors import BcviewerError
from bcviewer.output_kinds import FORCE_HELP, check_output_file, is_stdout

EXPLAIN_RUNTIMES = ("onnx", "torch")


def point(text: str) -> tuple[float, float]:
    """``X,Y``: two finite numbers, level-0 pixels."""
    parts = text.replace(" ", "").split(",")
    try:
        x, y = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X,Y in level-0 pixels (e.g. 350,230), got {text!r}") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise argparse.ArgumentTypeError(f"expected finite X,Y, got {text!r}")
    return x, y


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("explain", help="explain one tile's p: attribution map, p per member, attention")
    p.add_argument("path", help="slide or image file")
    p.add_argument("--tile", type=point, required=True, metavar="X,Y",
                   help="level-0 pixel coordinates of any point inside the tile to explain (x to the right, y down, "
                        "from the top-left corner of the image)")
    p.add_argument("--model", metavar="NAME|DIR", help="model to explain (default: the model predict would choose)")
    p.add_argument("--runtime", choices=EXPLAIN_RUNTIMES, default="onnx",
                   help="onnx: occlusion over the ONNX model (no PyTorch); torch: Grad-CAM with captum "
                        "(needs PyTorch)")
    p.add_argument("--mpp", type=pixel_size, metavar="UM",
                   help="µm per level-0 pixel for a slide that does not record it (default: none)")
    p.add_argument("--out", metavar="PNG", help="where to write the explain PNG "
                   "(default: <image name>-explain-<X>-<Y>.png in the current folder)")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bcviewer.slides import open_slide  # imported here, not for --help

    x, y = args.tile
    if args.out is not None and is_stdout(args.out):
        raise BcviewerError("--out names a PNG file; the explanation is not written to standard output")
    out = Path(args.out) if args.out else Path(f"{Path(args.path).stem}-explain-{x:g}-{y:g}.png")
    guard_outputs([("--out", str(out))], inputs=[args.path])
    check_output_file(out, "png", "--out", force=args.force)
    with open_slide(args.path) as slide:
        width, height = slide.dimensions
        if not (0 <= x < width and 0 <= y < height):
            raise BcviewerError(f"point {x:g},{y:g} lies outside {Path(args.path).name} "
                                f"({width} x {height} level-0 pixels)")
        from bcviewer.export.explanation import write_explanation_png
        from bcviewer.inference.explain import (
            NoTileHereError,
            explain_tile,
            make_explainer,
            tile_at,
        )
        from bcviewer.inference.plan import PlanOptions, plan_input
        from bcviewer.nets.stored import open_model

        plan = plan_input(slide, PlanOptions(model=args.model or "", mpp=args.mpp))
        index = tile_at(plan.grid, x, y)
        if index is None:
            raise NoTileHereError(f"no tile of the {plan.model.name} grid holds {x:g},{y:g}: glass or too little "
                                  "tissue there (the analysis scores no tile at that point)")
        flags = plan.qc_flags
        if flags is not None and flags[index] != "ok":
            raise NoTileHereError(f"the tile at {x:g},{y:g} was left out by quality control ({flags[index]}); "
                                  "the analysis gives it no p to explain")
        explainer = make_explainer(open_model(plan.model.source), args.runtime)
        explanation = explain_tile(slide, plan.grid, index, explainer)
    tile = plan.grid[index]
    print(f"{Path(args.path).name}: tile {index} (row {tile.row + 1}, column {tile.col + 1}); level-0 x {tile.x}-"
          f"{tile.x + tile.w}, y {tile.y}-{tile.y + tile.h} (read at level {tile.level} as {tile.read_w} x {tile.read_h} px)")
    for line in explanation.lines():
        print(line)
    write_explanation_png(explanation, out)
    print(f"wrote {out}")
    return 0
