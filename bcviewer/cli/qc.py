"""``bcviewer qc PATH``: check every tile a slide would be scored on for glass, pen ink, folds and
debris, over- and under-staining and blur, and say how much of the tissue falls in each class."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bcviewer.cli.checks import guard_outputs
from bcviewer.cli.pixel_size import pixel_size
from bcviewer.cli.progress import progress_bar
from bcviewer.output_kinds import FORCE_HELP, check_output_file, write_text_output


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("qc", help="quality control: glass, pen ink, folds, staining and blur, tile by tile")
    p.add_argument("path", help="slide or image file")
    p.add_argument("--model", metavar="NAME|DIR",
                   help="check the tiles this model would score (default: the model predict would choose)")
    p.add_argument("--mpp", type=pixel_size, metavar="UM",
                   help="µm per level-0 pixel for a slide that does not record it (default: none)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the summary as JSON")
    out.add_argument("--csv", metavar="FILE", help="also write one line per tile (flag and measurements)")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress bar (default: off)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bcviewer.slides import open_slide  # imported here, not for --help

    guard_outputs([("--csv", args.csv)], inputs=[args.path])
    check_output_file(args.csv, "csv", "--csv", force=args.force)
    with open_slide(args.path) as slide:
        # The planning and QC stack (seconds to import) only once the input has opened.
        from bcviewer.export import atomic_write_text
        from bcviewer.inference.plan import PlanOptions, plan_input
        from bcviewer.qc import qc_csv_text, qc_grid, summarise

        plan = plan_input(slide, PlanOptions(model=args.model or "", mpp=args.mpp, qc=False))  # checked below, once
        bar = progress_bar(total=len(plan.grid), unit="tile", quiet=args.quiet, desc="qc")
        try:
            results = qc_grid(slide, plan.grid, on_tile=lambda _i: bar.update(1))
        finally:
            bar.close()
    summary = summarise(plan.grid, results)
    if args.csv:
        write_text_output(args.csv, qc_csv_text(plan.grid, results))
    if args.json:
        print(json.dumps({"path": str(args.path), "model": plan.model.source, "tiles": summary.tiles,
                          "tissue_share": summary.tissue_share}, indent=1))
    else:
        print(f"{Path(args.path).name}: {len(results)} tiles of the {plan.model.source} grid: {summary.line()}")
    return 0
