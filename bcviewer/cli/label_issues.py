"""``bcviewer labels issues PROJECT``: the project's likely label errors, in both directions.

Confident learning (cleanlab's ``find_label_issues``) on cross-fitted probabilities of the
self-learning trainer (:mod:`bcviewer.labels.label_issues`): one line per suspected image (or
sub-image with ``--level subimage``), most likely first, with its current and suggested label and
its self-confidence (the out-of-sample probability of the current label). Changes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bcviewer.cli.checks import guard_outputs
from bcviewer.cli.progress import progress_bar
from bcviewer.errors import BcviewerError
from bcviewer.labels.trainers import DEFAULT_TRAINER, TRAINER_KINDS
from bcviewer.output_kinds import FORCE_HELP, check_output_file, write_text_output

LEVELS = ("image", "subimage")  # bcviewer.labels.label_issues.LEVELS, without loading it for --help
UNITS = ("image", "person")


def register_issues(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``issues`` to the ``labels`` actions."""
    p = actions.add_parser("issues", help="likely label errors in both directions (confident learning on "
                           "cross-fitted probabilities), most likely first")
    p.add_argument("project", help="project file")
    p.add_argument("--top", type=int, metavar="K", help="show the first K only (default: all)")
    p.add_argument("--level", choices=LEVELS, default="image",
                   help="image (default): image label against the mean sub-image probability; subimage: each "
                        "sub-image's current label (also finds relabels that look malignant again)")
    p.add_argument("--folds", type=int, default=5, help="cross-fitting folds (default 5)")
    p.add_argument("--unit", choices=UNITS, default="image",
                   help="what a fold holds out: image (default; on the BreakHis dev set it ranked planted errors "
                        "far better, docs/selflearn.md) or person (also finds a patient mislabelled as a whole)")
    p.add_argument("--trainer", choices=TRAINER_KINDS, default=DEFAULT_TRAINER,
                   help="the model trained per fold (default probe: no PyTorch)")
    p.add_argument("--seed", type=int, default=0, help="seed of the folds and the trainer (default 0)")
    p.add_argument("--json", metavar="FILE", help="also write the issues as JSON")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress")
    p.set_defaults(func=run_issues)


def run_issues(args: argparse.Namespace) -> int:
    if args.top is not None and args.top < 1:
        raise BcviewerError(f"--top must be at least 1, got {args.top}")
    if args.folds < 2:
        raise BcviewerError(f"--folds must be at least 2, got {args.folds}")
    guard_outputs([("--json", args.json)], projects=[args.project])
    check_output_file(args.json, "json", "--json", force=args.force)
    from bcviewer.labels import LabelStore
    from bcviewer.labels.label_issues import find_label_errors, issue_lines, to_records
    from bcviewer.labels.trainers import check_trainer_kind, trainer_for

    check_trainer_kind(args.trainer)
    with LabelStore.open(args.project, readonly=True) as store:
        trainer = trainer_for(args.trainer, seed=args.seed)
        with progress_bar(total=args.folds, desc="label issues", unit="model", quiet=args.quiet) as bar:
            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            queue = find_label_errors(store, trainer, level=args.level, folds=args.folds, seed=args.seed,
                                      unit=args.unit, progress=progress)
    print(f"{'rank':>4}  {'where'}  patient  label -> suggested  self-confidence")
    for line in issue_lines(queue, args.top):
        print(line)
    shown = f"; the first {args.top} shown" if args.top is not None and args.top < len(queue.issues) else ""
    print(f"{queue.summary()}{shown}", file=sys.stderr)
    if args.json:
        payload: dict[str, Any] = {"project": args.project, "level": queue.level, "unit": args.unit,
                                   "folds": queue.folds, "examples": queue.examples, "issues": to_records(queue)}
        write_text_output(args.json, json.dumps(payload, indent=2) + "\n")
    return 0
