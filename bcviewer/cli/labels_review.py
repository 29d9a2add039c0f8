"""``bcviewer labels review|accept|reject|revert|open``: decide on a review round from a terminal.

The commands call the store methods the labeling panel calls (``proposals``, ``accept_proposals``,
``reject_proposals``, ``accept_proposals_above``, ``revert_round``), so a decision made here
writes the same history rows, can be undone with the panel's Ctrl+Z, and shows in the panel at
once. Every selection is checked before anything is written: an unknown proposal, image or round,
or nothing to decide, is one line and exit code 2 with the project unchanged.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections import Counter
from typing import TYPE_CHECKING

from bcviewer.cli.help_format import EpilogDefaultsFormatter
from bcviewer.cli.annotator import add_annotator_options, apply_annotator
from bcviewer.cli.checks import bounded_float
from bcviewer.errors import BcviewerError

if TYPE_CHECKING:
    from bcviewer.labels import DecisionResult, LabelStore, ProposalRow

SELECT_EPILOG = """\
choose the proposals one way:
  ID ...          proposal ids, as 'bcviewer labels review' lists them
  --image IMAGE   every pending proposal of an image (its file name, path or image id); repeatable
  --all           every pending proposal
--min-p P keeps those whose p_proposed (the model's probability for the proposed label, the panel's
"confidence": 1 - p_malignant for a benign proposal) is at least P; it goes with --all or --image.
The decision is one undo step (Ctrl+Z in the labeling panel undoes it) and is kept in the history.
"""


def register(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add review, accept, reject, revert and open to ``bcviewer labels``."""
    review = actions.add_parser("review", help="list the proposals waiting for review")
    review.add_argument("project", help="project file")
    review.set_defaults(func=run_review)
    for verb, text in (("accept", "accept proposals: apply the proposed labels as a person's decision"),
                       ("reject", "reject proposals: keep the current labels as a person's decision")):
        p = actions.add_parser(verb, help=text, epilog=SELECT_EPILOG,
                               formatter_class=EpilogDefaultsFormatter)
        p.add_argument("project", help="project file")
        p.add_argument("ids", nargs="*", type=int, metavar="ID", help="proposal ids")
        p.add_argument("--image", action="append", metavar="IMAGE", help="an image's pending proposals")
        p.add_argument("--all", action="store_true", help="every pending proposal")
        p.add_argument("--min-p", type=bounded_float(0.0, 1.0), metavar="P",
                       help="only proposals whose p_proposed is at least P (with --all or --image)")
        add_annotator_options(p)
        p.set_defaults(func=run_accept if verb == "accept" else run_reject)
    revert = actions.add_parser("revert", help="undo a completed round's relabels and withdraw its proposals")
    revert.add_argument("project", help="project file")
    revert.add_argument("round", type=int, metavar="ROUND", help="round number, as 'labels stats' lists them")
    add_annotator_options(revert)
    revert.set_defaults(func=run_revert)
    opener = actions.add_parser("open", help="open the project in the desktop viewer's labeling panel")
    opener.add_argument("project", help="project file")
    opener.set_defaults(func=run_open)


def review_waiting_text(waiting: tuple[int, int], project: str) -> str:
    """Why no round may start, naming the commands that end the wait."""
    number, count = waiting
    p = shlex.quote(str(project))
    return (f"round {number} has {count} proposal{'s' if count != 1 else ''} waiting for review: list them with "
            f"'bcviewer labels review {p}', then accept or reject them ('bcviewer labels accept {p} --all', "
            f"'bcviewer labels reject {p} ID...'), or revert round {number} ('bcviewer labels revert {p} {number}'), "
            "before the next round")


def _name(project: str) -> str:
    return shlex.quote(str(project))


def run_review(args: argparse.Namespace) -> int:
    from bcviewer.labels import LabelStore

    with LabelStore.open(args.project, readonly=True) as store:
        proposals = store.proposals("pending")
        if not proposals:
            print(f"no proposals are waiting for review in {args.project}", file=sys.stderr)
            return 0
        names = {r.id: r.path.name for r in store.images(pending=True)}
        cells: dict[int, tuple[int, int, str]] = {}
        for image_id in {p.image_id for p in proposals}:
            cells.update({s.id: (s.row, s.col, s.label) for s in store.subimages(image_id)})
    width = max(len("image"), *(len(names.get(p.image_id, "?")) for p in proposals))
    print(f"{'id':>6}  {'image':<{width}}  {'sub':<5} {'round':>5}  {'label':<9}  {'proposed':<9}  "
          f"{'p_malignant':>11}  {'p_proposed':>10}")
    for p in proposals:
        row, col, label = cells[p.subimage_id]
        print(f"{p.id:>6}  {names.get(p.image_id, '?'):<{width}}  {f'{row + 1},{col + 1}':<5} {p.round_number:>5}  "
              f"{label:<9}  {p.new_label:<9}  {p.p_malignant:>11.3f}  {p.confidence:>10.3f}")
    rounds = sorted({p.round_number for p in proposals})
    print(f"{len(proposals)} proposal{'s' if len(proposals) != 1 else ''} pending (round "
          f"{', '.join(map(str, rounds))}); sub: row,column from the top left; most confident first. Decide with "
          f"'bcviewer labels accept|reject {_name(args.project)} ID...', --image IMAGE or --all [--min-p P]",
          file=sys.stderr)
    return 0


def run_accept(args: argparse.Namespace) -> int:
    return _decide(args, accept=True)


def run_reject(args: argparse.Namespace) -> int:
    return _decide(args, accept=False)


def _decide(args: argparse.Namespace, accept: bool) -> int:
    ways = sum((bool(args.ids), bool(args.image), bool(args.all)))
    if ways != 1:
        raise BcviewerError("choose the proposals one way: proposal ids, --image IMAGE, or --all"
                            if ways else "say which proposals: proposal ids, --image IMAGE, or --all "
                            f"(see 'bcviewer labels review {_name(args.project)}')")
    if args.min_p is not None and args.ids:
        raise BcviewerError("--min-p goes with --all or --image, not with proposal ids")
    from bcviewer.labels import LabelStore

    with LabelStore.open(args.project) as store:
        apply_annotator(store, args)
        pending = store.proposals("pending")
        if not pending:
            raise BcviewerError(f"{args.project} has no proposals waiting for review")
        chosen = _chosen(store, args, pending)
        if args.all and accept:  # the panel's "Accept all ≥": one call, one undo step
            result = store.accept_proposals_above(0.0 if args.min_p is None else args.min_p, args.reason)
        else:
            decide = store.accept_proposals if accept else store.reject_proposals
            result = decide([p.id for p in chosen], args.reason)
    return _report(result, chosen, accept)


def _chosen(store: LabelStore, args: argparse.Namespace, pending: list[ProposalRow]) -> list[ProposalRow]:
    """The pending proposals the arguments select; refuses ids and images that select nothing."""
    if args.ids:
        by_id = {p.id: p for p in pending}
        for pid in dict.fromkeys(args.ids):
            if pid not in by_id:
                decided = store.proposals(None)
                status = next((p.status for p in decided if p.id == pid), None)
                raise BcviewerError(f"proposal {pid} is already {status}" if status else
                                    f"proposal {pid} is not in {args.project} (see 'bcviewer labels review "
                                    f"{_name(args.project)}')")
        return [by_id[pid] for pid in dict.fromkeys(args.ids)]
    chosen = pending
    if args.image:
        images = [_image_id(store, text) for text in args.image]
        chosen = [p for p in pending if p.image_id in images]
        empty = [text for text, image in zip(args.image, images) if not any(p.image_id == image for p in chosen)]
        if empty:
            raise BcviewerError(f"image {empty[0]} has no proposals waiting for review")
    if args.min_p is not None:
        above = [p for p in chosen if p.confidence >= args.min_p]
        if not above:
            raise BcviewerError(f"no pending proposal reaches p_proposed {args.min_p:g} (the highest is "
                                f"{max(p.confidence for p in chosen):.3f})")
        chosen = above
    return chosen


def _image_id(store: LabelStore, text: str) -> int:
    """The image a user named: its path as imported, its file name (when unique) or its id."""
    rows = store.images()
    exact = [r.id for r in rows if str(r.path) == text]
    named = exact or [r.id for r in rows if r.path.name == text]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise BcviewerError(f"{len(named)} images are named {text}; give the path or the image id")
    if text.isdigit() and any(r.id == int(text) for r in rows):
        return int(text)
    raise BcviewerError(f"image {text} is not in {store.path.name} (give its file name, path or image id)")


def _report(result: DecisionResult, chosen: list[ProposalRow], accept: bool) -> int:
    verb = "accepted" if accept else "rejected"
    why = "; ".join(f"{n} proposal{'s' if n != 1 else ''}: {reason}"
                    for reason, n in Counter(result.skipped.values()).items())
    if not result.applied:
        raise BcviewerError(f"nothing {verb}, to keep every label sound: {why}")
    rounds = sorted({p.round_number for p in chosen if p.id in result.applied})
    print(f"{verb} {len(result.applied)} proposal{'s' if len(result.applied) != 1 else ''} of round "
          f"{', '.join(map(str, rounds))}")
    if why:
        print(f"not {verb}, to keep every label sound: {why}", file=sys.stderr)
    return 0


def run_revert(args: argparse.Namespace) -> int:
    from bcviewer.labels import LabelStore

    with LabelStore.open(args.project) as store:
        apply_annotator(store, args)
        rounds = [r for r in store.rounds() if r.number == args.round]
        if not rounds:
            numbers = sorted({r.number for r in store.rounds()})
            known = f"its rounds are {', '.join(map(str, numbers))}" if numbers else "it has no rounds yet"
            raise BcviewerError(f"round {args.round} is not in {args.project}; {known}")
        target = next((r for r in rounds if r.status == "done"), rounds[-1])  # one done round per number
        withdrawn = len(store.proposals("pending")) if target.status == "done" else 0
        reverted = store.revert_round(target.id, args.reason)  # a round not done is refused here, nothing written
        withdrawn -= len(store.proposals("pending"))
    print(f"reverted round {args.round}: {reverted} sub-image{'s' if reverted != 1 else ''} back to their earlier "
          f"labels, {withdrawn} pending proposal{'s' if withdrawn != 1 else ''} withdrawn")
    return 0


def run_open(args: argparse.Namespace) -> int:
    # The launcher (the bcviewer command) starts the desktop viewer for 'labels open' before this
    # Qt-free module is reached; only a caller of bcviewer.cli.main directly gets here.
    raise BcviewerError("'labels open' starts the desktop viewer: run it as 'bcviewer labels open "
                        f"{_name(args.project)}' (or 'python -m bcviewer labels open ...')")
