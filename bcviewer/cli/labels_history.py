"""``bcviewer labels history P.bcv --out FILE``: export the audit log (every change, who, when, why)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bcviewer.cli.help_format import EpilogDefaultsFormatter
from bcviewer.cli.checks import guard_outputs
from bcviewer.errors import BcviewerError
from bcviewer.output_kinds import check_output_file, is_stdout, write_text_output

HISTORY_EPILOG = """\
one row per change, oldest first: id, time (ISO 8601 UTC), person, action, source (manual,
review, undo, self-learning, revert, import), image, row, col, before, after (labels), locked
(after the change), round (the self-learning round it belongs to, 0: none), reason, undoes (the
id of the row an undo or revert takes back). person is empty where it was not recorded (changes
made before bcviewer kept it).
"""


def register(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``history`` to the ``labels`` actions."""
    p = actions.add_parser("history", help="export the audit log: every change with time, person, source and reason",
                           epilog=HISTORY_EPILOG, formatter_class=EpilogDefaultsFormatter)
    p.add_argument("project", help="project file")
    p.add_argument("--out", metavar="FILE", required=True,
                   help="CSV (.csv) or JSON Lines (.jsonl) file; - for standard output (CSV unless --format jsonl)")
    p.add_argument("--format", choices=("csv", "jsonl"), help="the file's format (default: from its suffix)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing file (never a label project or other SQLite file)")
    p.set_defaults(func=run_history)


def run_history(args: argparse.Namespace) -> int:
    from bcviewer.labels.audit_export import format_for  # no sqlite work yet

    out = str(args.out)
    fmt = format_for(out, args.format) if not is_stdout(out) else (args.format or "csv")
    guard_outputs([("--out", out)], projects=[args.project])
    if not is_stdout(out) and not args.force and Path(out).expanduser().is_file():
        # An audit log is a record: an earlier export is not replaced unless asked, whatever it holds.
        raise BcviewerError(f"--out {out} already exists; give another name, or add --force to replace it")
    check_output_file(out, "csv" if fmt == "csv" else "jsonl", "--out", force=args.force)
    from bcviewer.labels import LabelStore
    from bcviewer.labels.audit_export import audit_text

    with LabelStore.open(args.project, readonly=True) as store:
        rows = store.audit_trail()
    where = write_text_output(out, audit_text(rows, fmt))
    unknown = sum(1 for r in rows if not r.person)
    note = f" ({unknown} without a recorded person)" if unknown else ""
    print(f"{len(rows)} changes written to {where}{note}", file=sys.stderr)
    return 0
