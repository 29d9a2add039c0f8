"""``bcviewer selflearn PROJECT``: hierarchical self-learning rounds on a label project.

Each round trains a model on the current labels of the training patients (by default the probe: a
logistic regression on pooled ImageNet trunk features, computed by ONNX Runtime and cached, with
no PyTorch; where PyTorch is installed ``--trainer lite`` trains the Lite hybrid's LSTM, fusion and
head on the same features and ``--trainer hybrid`` a small CNN+LSTM from scratch), scores every
sub-image and relabels (``auto``) or proposes (``review``) malignant sub-images the model is
confidently benign about. The round's tau is the schedule's value at the project's level (its
count of completed rounds), so runs continue the schedule; a review run is one round, and no
round starts while proposals wait for review. Progress goes to stderr; the per-round table (the
paper's benign/malignant counts per magnification, plus the held-out accuracy of each round's
model) to stdout, and with ``--json FILE`` the same statistics as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bcviewer.cli.annotator import add_annotator_options, apply_annotator
from bcviewer.cli.checks import bounded_float, guard_outputs
from bcviewer.cli.labels_review import review_waiting_text
from bcviewer.cli.progress import progress_bar
from bcviewer.errors import BcviewerError
from bcviewer.labels.trainers import DEFAULT_TRAINER, TRAINER_KINDS
from bcviewer.output_kinds import FORCE_HELP, check_output_file, write_text_output

if TYPE_CHECKING:
    from bcviewer.labels import HeldOutAccuracy, LabelStore, RoundReport


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("selflearn", help="relabel sub-images by hierarchical self-learning rounds")
    p.add_argument("project", help="label project (see 'bcviewer labels import')")
    p.add_argument("--rounds", type=int, help="number of rounds (levels); default 4 in auto mode, 1 in review "
                   "mode (a review run is always one round)")
    p.add_argument("--mode", choices=("auto", "review"), default="auto",
                   help="auto: apply the relabels; review: store them as proposals for an annotator")
    p.add_argument("--tau", default="0.1,0.2,0.3,0.4", metavar="LIST",
                   help="relabel threshold per round: p_malignant < tau becomes benign (last value repeats)")
    p.add_argument("--holdout", type=bounded_float(0.0, 1.0, high_open=True), metavar="F",
                   help="share of patients held out of training to measure accuracy (default 0.2, stored "
                        "in the project at the first run)")
    p.add_argument("--resplit", action="store_true", help="choose the held-out patients again")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the held-out choice")
    p.add_argument("--final-eval", action="store_true",
                   help="after the last round, train once more on the final labels and report its accuracy")
    p.add_argument("--json", metavar="FILE", help="write the statistics as JSON")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.add_argument("--crossfit", type=int, default=0, metavar="K",
                   help="cross-fitted scoring: train K models per round, each on K-1 of K groups of the "
                        "training patients, and score every sub-image with a model that never saw its "
                        "patient (held-out patients: the mean of the K models); K times the training, on "
                        "(K-1)/K of the data each. 0 (default): one model scores the sub-images it was "
                        "trained on")
    p.add_argument("--trainer", choices=TRAINER_KINDS, default=DEFAULT_TRAINER,
                   help="probe (default, no PyTorch needed): a logistic regression on pooled frozen ImageNet "
                        "EfficientNet-Lite0 features (ONNX Runtime), computed once and cached (about a second a "
                        "round); lite (needs PyTorch): retrain the Lite hybrid's LSTM, fusion and head on the "
                        "same features (seconds a round); hybrid (needs PyTorch): train the small CNN+LSTM below "
                        "from scratch every round (minutes)")
    train = p.add_argument_group("training of --trainer hybrid (a small CNN+LSTM retrained from scratch each round)")
    train.add_argument("--config", choices=("cpu", "gpu"), default="cpu", help="training plan (default cpu)")
    train.add_argument("--members", metavar="LIST", help="e.g. resnet18:0.25:rows (default: one small member)")
    train.add_argument("--input-size", metavar="WxH", help="network input (default 64x42)")
    train.add_argument("--epochs", type=int, default=8, help="stage-1 epochs (default 8)")
    train.add_argument("--finetune-epochs", type=int, default=2, help="stage-2 epochs (default 2)")
    train.add_argument("--val-fraction", type=bounded_float(0.0, 1.0, high_open=True), default=0.0, metavar="F",
                       help="share of training patients for early stopping (default 0: fixed epochs; with "
                            "few patients a tiny validation part stops before the net learns anything)")
    train.add_argument("--batch-size", type=int, help="tiles per training step (default: the plan's)")
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads while training a model (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_annotator_options(p, reason=False)
    p.set_defaults(func=run)


def build_trainer(args: argparse.Namespace) -> Any:
    """The trainer the options describe (imports the training stack)."""
    from bcviewer.labels.trainers import check_trainer_kind, trainer_for

    check_trainer_kind(args.trainer)  # one line when the trainer needs the PyTorch this install lacks
    if args.trainer in ("probe", "lite"):
        return trainer_for(args.trainer, seed=args.seed, threads=args.threads)
    from bcviewer.labels.hybrid_trainer import HybridTrainer
    from bcviewer.training import PLANS, MemberPlan

    default_members = "resnet18:0.25:rows" if args.config == "cpu" else None
    text = args.members or default_members
    members = tuple(MemberPlan.parse(m) for m in text.split(",")) if text else None
    size = _input_size(args.input_size) if args.input_size else ((64, 42) if args.config == "cpu" else None)
    plan = PLANS[args.config].with_overrides(
        members=members, input_size=size, stage1_epochs=args.epochs, stage2_epochs=args.finetune_epochs,
        batch_size=args.batch_size, seed=args.seed, threads=args.threads, patience=max(args.epochs, 1))
    if not 0.0 <= args.val_fraction < 1.0:
        raise BcviewerError(f"--val-fraction must be at least 0 and below 1, got {args.val_fraction}")
    return HybridTrainer(plan, val_fraction=args.val_fraction, progress=not args.quiet)


def _input_size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m or min(int(m.group(1)), int(m.group(2))) < 16:
        raise BcviewerError(f"--input-size must look like 64x42 (width x height, at least 16), got {text!r}")
    return int(m.group(1)), int(m.group(2))


def heldout_for(store: LabelStore, args: argparse.Namespace) -> frozenset[str]:
    """The stored held-out patients, or a new choice (stored) at the first run or on --resplit."""
    from bcviewer.labels.split import choose_heldout_patients

    stored = store.heldout_patients()
    if stored is not None and not args.resplit:
        if args.holdout is not None:
            raise BcviewerError(f"this project already holds out {len(stored)} patients; add --resplit to "
                                "choose them again (earlier rounds were measured on the old choice)")
        return stored
    chosen = choose_heldout_patients(store, 0.2 if args.holdout is None else args.holdout, args.split_seed)
    store.set_heldout_patients(sorted(chosen))
    return chosen


def _acc(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def round_table(initial: dict[str, dict[str, int]], reports: list[RoundReport],
                final: HeldOutAccuracy | None = None) -> str:
    """The per-round table: counts per magnification and held-out accuracy of each round's model."""
    head = (f"{'round':>5} {'tau':>5} {'mag':>5} {'benign':>7} {'malignant':>9} {'changed':>7} "
            f"{'img acc':>7} {'img any':>7} {'sub acc':>7}")
    lines = [head]
    mags = [m for m in initial if m != "all"]
    keys = mags + (["all"] if len(mags) > 1 else [])
    for key in keys:
        row = initial[key]
        lines.append(f"{0:>5} {'-':>5} {_mag(key):>5} {row['benign']:>7} {row['malignant']:>9} {'-':>7}")
    for r in reports:
        held = r.heldout or {}
        for key in keys:
            row = r.counts.get(key, {"benign": 0, "malignant": 0})
            changed = r.stats["relabelled"] if r.mode == "auto" else r.stats["proposed"]
            is_total = key == "all" or len(keys) == 1
            img = held.get("image_accuracy") if is_total else held.get("by_magnification", {}).get(key, {}).get(
                "image_accuracy")
            lines.append(f"{r.number:>5} {r.tau:>5.2f} {_mag(key):>5} {row['benign']:>7} {row['malignant']:>9} "
                         f"{changed if is_total else '':>7} {_acc(img):>7} "
                         f"{_acc(held.get('image_accuracy_any')) if is_total else '':>7} "
                         f"{_acc(held.get('subimage_accuracy')) if is_total else '':>7}")
    if final is not None:
        lines.append(f"final model on the last labels: img acc {final.image_accuracy:.3f}, "
                     f"img any {final.image_accuracy_any:.3f}, sub acc {final.subimage_accuracy:.3f}")
    lines.append("img acc: held-out images, mean sub-image p >= 0.5; img any: any sub-image p >= 0.5; "
                 "sub acc: held-out sub-images vs inherited labels. Each round's model is trained on the "
                 "labels before that round's changes.")
    return "\n".join(lines)


def _mag(key: str) -> str:
    return key if key in ("all", "unknown") else f"{key}X"


def run(args: argparse.Namespace) -> int:
    from bcviewer.labels import (  # the label stack: not for --help
        LabelStore,
        SelfLearningEngine,
        TauSchedule,
    )
    from bcviewer.labels.selflearn import check_run
    from bcviewer.labels.trainers import check_trainer_kind

    schedule = TauSchedule.parse(args.tau)
    if args.rounds is None:
        args.rounds = 1 if args.mode == "review" else 4
    if args.rounds < 1:
        raise BcviewerError(f"--rounds must be at least 1, got {args.rounds}")
    check_run(args.mode, args.rounds)
    check_trainer_kind(args.trainer)  # before the project is touched
    if args.crossfit == 1 or args.crossfit < 0:
        raise BcviewerError(f"--crossfit must be 0 (off) or at least 2, got {args.crossfit}")
    guard_outputs([("--json", args.json)], projects=[args.project])
    check_output_file(args.json, "json", "--json", force=args.force)
    with LabelStore.open(args.project) as store:
        waiting = store.pending_review()  # refused before the split or the trainer, naming the commands
        if waiting is not None:
            raise BcviewerError(review_waiting_text(waiting, args.project))
        heldout = heldout_for(store, args)
        trainer = build_trainer(args)
        apply_annotator(store, args)  # --annotator: the person the round's relabels name
        initial = store.count_table()
        with progress_bar(total=args.rounds, desc="self-learning", unit="round", quiet=args.quiet) as bar:
            def progress(stage: str, position: int, total: int) -> None:
                bar.set_postfix_str(f"round {position}: {stage}")
                if stage == "done":
                    bar.update(1)

            params = trainer.describe() if hasattr(trainer, "describe") else {"plan": trainer.plan.to_dict()}
            engine = SelfLearningEngine(store, trainer=trainer, schedule=schedule, mode=args.mode,
                                        heldout_patients=heldout, progress=progress,
                                        params=params, crossfit_folds=args.crossfit)
            # The trainer logs its epochs with print-like writes; keep stdout for the table.
            with contextlib.redirect_stdout(sys.stderr):
                reports = engine.run(args.rounds)
                final = engine.evaluate() if args.final_eval else None
    print(round_table(initial, reports, final))
    from bcviewer.labels.round_notes import round_notes

    for report in reports:  # why a round changed nothing; how far its held-out accuracy goes
        for note in round_notes(report.stats):
            print(f"round {report.number}: {note}")
    if args.json:
        payload = {"project": str(Path(args.project)), "mode": args.mode, "schedule": list(schedule.taus),
                   "heldout_patients": sorted(heldout), "initial_counts": initial, "crossfit": args.crossfit,
                   "rounds": [r.stats for r in reports], "final_evaluation": final.to_dict() if final else None,
                   "training": trainer.history}
        write_text_output(args.json, json.dumps(payload, indent=2, default=str) + "\n")
    return 0
