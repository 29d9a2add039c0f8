"""``bcviewer labels import|export|stats``: build a label project, export its labels, show counts.

The review commands (review, accept, reject, revert, open) live in :mod:`bcviewer.cli.labels_review`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bcviewer.cli.help_format import EpilogDefaultsFormatter
from bcviewer.cli import labels_history
from bcviewer.cli.annotator import add_annotator_options, apply_annotator
from bcviewer.cli.checks import guard_outputs
from bcviewer.cli.progress import progress_bar
from bcviewer.errors import BcviewerError
from bcviewer.output_kinds import (
    FORCE_HELP,
    check_output_file,
    check_output_folder,
    write_text_output,
)
from bcviewer.qupath import OBJECT_TYPE_HELP, OBJECT_TYPES

IMPORT_EPILOG = """\
three ways to give the labels:
  BreakHis names  folders of BreakHis files, single files, .txt lists (one path a line): the
                  name SOB_<B|M>_<type>-<patient>-<mag>-<seq>.png carries label, patient,
                  magnification and subtype
  a CSV           columns image (or file/path), label, patient, optional magnification and
                  subtype; headers in any case; label benign/malignant, B/M or 0/1
                  (0 = benign, 1 = malignant); magnification 40, 40X or empty (unknown);
                  relative paths start at the CSV's folder; the data set's manifest.csv works
  class folders   a folder with benign/ and malignant/ sub-folders gives the label; an image
                  in a sub-folder of a class folder takes that sub-folder's name as patient,
                  an image directly in a class folder is its own patient
assumptions (patients taken from folders, 0/1 labels, skipped files) are printed as notes;
files whose sources disagree (a CSV row against a BreakHis name) are left out and listed
"""

if TYPE_CHECKING:
    from bcviewer.labels import LabelStore


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("labels", help="sub-image label projects: import images, export labels, show counts")
    actions = p.add_subparsers(dest="labels_command", metavar="ACTION")
    imp = actions.add_parser("import", help="add images (BreakHis names, a labels CSV, or class folders) to a project",
                             epilog=IMPORT_EPILOG, formatter_class=EpilogDefaultsFormatter)
    imp.add_argument("project", help="project file (created when missing), e.g. labels.bcv")
    imp.add_argument("data", nargs="+", help="folder (BreakHis files, or benign/ and malignant/ sub-folders), "
                     "image file with a BreakHis name, .txt list of paths, or .csv with labels")
    imp.add_argument("--grid", default="3x3", metavar="RxC", help="sub-image grid (default 3x3)")
    add_annotator_options(imp, reason=False)
    imp.set_defaults(func=run_import)
    exp = actions.add_parser("export", help="write the sub-image labels as CSV and/or QuPath GeoJSON")
    exp.add_argument("project", help="project file")
    exp.add_argument("--csv", metavar="FILE", help="one row per sub-image (- for standard output)")
    exp.add_argument("--geojson", metavar="DIR", help="one QuPath GeoJSON file per image")
    exp.add_argument("--force", action="store_true", help=FORCE_HELP)
    exp.add_argument("--object-type", choices=OBJECT_TYPES, default="annotation",
                     help=OBJECT_TYPE_HELP + " (default: annotation, so labels can be edited in QuPath)")
    exp.set_defaults(func=run_export)
    labels_history.register(actions)  # labels history: the audit log
    stats = actions.add_parser("stats", help="benign/malignant sub-images per magnification and the rounds run")
    stats.add_argument("project", help="project file")
    stats.set_defaults(func=run_stats)
    from bcviewer.cli import labels_review  # review, accept, reject, revert, open

    labels_review.register(actions)
    from bcviewer.cli.label_issues import register_issues

    register_issues(actions)
    p.set_defaults(func=lambda args: _usage(p))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def run_import(args: argparse.Namespace) -> int:
    from bcviewer.cli.tiles import parse_grid
    from bcviewer.labels import LabelStore
    from bcviewer.labels.importer import (  # the imaging stack, only here
        collect_images,
        import_collected,
    )

    rows, cols = parse_grid(args.grid)
    items = collect_images(args.data)  # before creating the project: a typo must not leave an empty file
    project = Path(args.project).expanduser()
    guard_outputs([("the project", project)], inputs=[i for i in args.data])
    is_new = not project.exists()
    try:
        with LabelStore.create(project) as store, progress_bar(desc="importing", unit="image") as bar:
            apply_annotator(store, args)
            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            report = import_collected(store, items, rows=rows, cols=cols, progress=progress)
            counts = store.counts()
    except BaseException:
        if is_new:
            _remove_new_project(project)
        raise
    if is_new and not report.added:
        _remove_new_project(project)  # nothing imported: leave no empty project behind
    for line in [f"warning: {w}" for w in report.warnings] + [f"note: {n}" for n in report.notes]:
        print(line, file=sys.stderr)
    for path, reason in report.skipped + report.failed + report.conflicts:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    disagree = f", {len(report.conflicts)} left out as their sources disagree" if report.conflicts else ""
    other = f", {len(report.skipped)} other files skipped" if report.skipped else ""
    print(f"{len(report.added)} images added, {len(report.already_present)} already in the project, "
          f"{len(report.duplicates)} duplicate files skipped, {len(report.failed)} unreadable{disagree}{other}; "
          f"the project now holds {counts.total} sub-images ({counts.benign} benign, {counts.malignant} malignant)")
    return 2 if (report.failed or report.conflicts) and not report.added else 0


def _remove_new_project(project: Path) -> None:
    """Delete a project this command created (and its WAL files) when the import added nothing."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        project.with_name(project.name + suffix).unlink(missing_ok=True)


def run_export(args: argparse.Namespace) -> int:
    if not args.csv and not args.geojson:
        raise BcviewerError("say what to export: --csv FILE and/or --geojson DIR")
    guard_outputs([("--csv", args.csv), ("--geojson", args.geojson)], projects=[args.project])
    check_output_file(args.csv, "csv", "--csv", force=args.force)  # another project is never replaced
    check_output_folder(args.geojson, "--geojson")
    from bcviewer.labels import (  # after the cheap refusals
        LabelStore,
        labels_csv_text,
        write_labels_geojson,
    )

    with LabelStore.open(args.project, readonly=True) as store:
        _note_snapshot(store)
        if args.csv:
            where = write_text_output(args.csv, labels_csv_text(store))
            print(f"{store.counts().total} sub-image labels written to {where}", file=sys.stderr)
        if args.geojson:
            files = write_labels_geojson(store, args.geojson, args.object_type, force=args.force)
            print(f"{len(files)} GeoJSON files written to {args.geojson}", file=sys.stderr)
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from bcviewer.labels import LabelStore

    with LabelStore.open(args.project, readonly=True) as store:
        _note_snapshot(store)
        table = store.count_table()
        counts = store.counts()
        rounds = store.rounds()
        pending = len(store.proposals())
    print(f"{'magnification':<14} {'benign':>8} {'malignant':>10}")
    for mag, row in table.items():
        print(f"{mag if mag in ('all', 'unknown') else mag + 'X':<14} {row['benign']:>8} {row['malignant']:>10}")
    print(f"sources: {counts.inherited} inherited, {counts.model} model, {counts.human} human; "
          f"{counts.locked} locked; {pending} proposals pending")
    for r in rounds:
        print(f"round {r.number} ({r.mode}, tau {r.tau:g}): {r.status}, "
              f"{r.stats.get('relabelled', 0)} relabelled, {r.stats.get('proposed', 0)} proposed")
    return 0


def _note_snapshot(store: LabelStore) -> None:
    """Say so when a project in a read-only folder was read as an unchanging snapshot."""
    if store.immutable:
        print(f"note: {store.path} is in a read-only folder; it was read as a snapshot (SQLite immutable=1), "
              "so changes another program makes meanwhile are not seen", file=sys.stderr)
