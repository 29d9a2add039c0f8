"""``bcviewer genes train|predict|scores|models|export-onnx``: gene-expression models from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bcviewer.cli.checks import fraction, guard_outputs
from bcviewer.genes.choices import DEFAULT_MIN_COVERAGE
from bcviewer.genes.errors import GeneDataError
from bcviewer.output_kinds import (
    FORCE_HELP,
    check_output_file,
    check_output_folder,
    write_text_output,
)

# Kept here, not imported from bcviewer.genes.nets, so that building the parser does not import torch.
ARCHITECTURES = ("cnn-bilstm", "deepcme", "gexpnet")

DEFAULT_MODEL = "er-status"
_ORIENTATIONS = ["auto", "samples-in-rows", "genes-in-rows"]
_SEPARATORS = {"comma": ",", "tab": "\t", "semicolon": ";"}


def _table_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--id-col", help="column of sample ids (default: first column of unique, non-numeric strings)")
    p.add_argument("--orientation", choices=_ORIENTATIONS, default="auto",
                   help="samples in rows or genes in rows (default: detected)")
    p.add_argument("--sep", help="field separator: comma, tab, semicolon or one character (default: detected)")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    genes = sub.add_parser("genes", help="train, evaluate and apply gene-expression models")
    commands = genes.add_subparsers(dest="genes_command", metavar="ACTION", parser_class=type(genes))
    def show_help(_args: argparse.Namespace) -> int:
        genes.print_help()
        return 2

    genes.set_defaults(func=show_help)

    train = commands.add_parser("train", help="cross-validate, train and save a gene-expression model")
    train.add_argument("data", help="expression table (CSV, TSV, optionally .gz)")
    train.add_argument("--label", required=True, help="label column")
    train.add_argument("--model", required=True, choices=[*ARCHITECTURES, "all"], help="architecture")
    train.add_argument("--cv", type=int, default=5, help="number of stratified folds (default 5)")
    train.add_argument("--external", help="external cohort table for evaluation")
    train.add_argument("--external-label", help="label column of the external cohort")
    train.add_argument("--positive", help="positive class of a binary label (default: guessed, e.g. Positive, 1)")
    train.add_argument("--external-positive", help="positive class in the external cohort")
    train.add_argument("--out", help="task folder; the model goes to OUT/<architecture> (default gene-models/NAME)")
    train.add_argument("--name", help="task name in the card (default: the data file's name)")
    train.add_argument("--task", help="one-line task description for the card")
    train.add_argument("--limitation", action="append", default=[], help="a limitation for the card (repeatable)")
    train.add_argument("--log2", choices=["auto", "always", "never"], default="auto",
                       help="log2(x+1): when the data look like raw counts (auto), always or never")
    train.add_argument("--min-class-size", type=int, default=0, help="leave out classes with fewer samples")
    train.add_argument("--seed", type=int, default=0, help="random seed of the split and the training")
    train.add_argument("--epochs", type=int, help="cap on training epochs (default: the architecture's recipe)")
    train.add_argument("--noise-repeats", type=int, default=3, help="noisy copies per level (0 = skip the check)")
    train.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    train.add_argument("--id-col", help="column of sample ids")
    train.add_argument("--orientation", choices=_ORIENTATIONS, default="auto",
                       help="samples in rows or genes in rows (default: detected)")
    train.set_defaults(func=run_train)

    predict = commands.add_parser("predict", help="predict every sample of an expression profile table")
    predict.add_argument("profile", help="expression table (CSV, TSV, optionally .gz)")
    predict.add_argument("--model", default=DEFAULT_MODEL,
                         help=f"model name in models/genes (e.g. er-status, er-status/gexpnet) or folder "
                              f"(default {DEFAULT_MODEL})")
    predict.add_argument("--out", help="CSV file to write, or - (default: standard output)")
    predict.add_argument("--force", action="store_true", help=FORCE_HELP)
    predict.add_argument("--min-coverage", type=fraction, default=DEFAULT_MIN_COVERAGE,
                         help="refuse when fewer of the model's genes are measured (default 0.8)")
    predict.add_argument("--standardise", choices=["auto", "model", "cohort", "quantile", "rank"], default="auto",
                         help="auto (default): compare the table with the training cohort and use its statistics "
                              "when they match, else the model's recommended scaling for another platform (10+ "
                              "samples), and say why; or force one: the training cohort's z-scores (model), the "
                              "table's own z-scores (cohort), its quantiles mapped onto the training cohort "
                              "(quantile) or rank normal scores (rank)")
    _table_options(predict)
    predict.set_defaults(func=run_predict)

    scores = commands.add_parser("scores", help="list a model's top genes")
    scores.add_argument("model", help="model name or folder")
    scores.add_argument("--top", type=int, default=20, help="number of genes (default 20)")
    scores.add_argument("--json", action="store_true", help="print JSON")
    scores.set_defaults(func=run_scores)

    models = commands.add_parser("models", help="list the gene models in models/genes")
    models.set_defaults(func=run_models)

    export = commands.add_parser("export-onnx", help="write model.onnx, what runs a model without PyTorch, into "
                                                     "its folder and record it in its card (needs PyTorch)")
    export.add_argument("model", nargs="+", help="model name (e.g. er-status/gexpnet) or folder")
    export.set_defaults(func=run_export_onnx)


def _separator(text: str | None) -> str | None:
    if text is None:
        return None
    if text.lower() in _SEPARATORS:
        return _SEPARATORS[text.lower()]
    try:
        sep = text.encode("utf-8", errors="surrogateescape").decode("unicode_escape")  # '\\t' -> tab
    except UnicodeDecodeError:
        sep = ""
    if len(sep) != 1 or sep in "\r\n\"" or sep.isalnum():
        raise GeneDataError(f"--sep takes comma, tab, semicolon or one punctuation character (such as '|' or "
                            f"'\\t'), not {text!r}")
    return sep


def run_train(args: argparse.Namespace) -> int:
    import torch

    from bcviewer.genes.workflow import TrainRequest, train_gene_model

    torch.set_num_threads(max(1, args.threads))
    if args.external and not args.external_label:
        raise GeneDataError("--external needs --external-label, the label column of the external cohort")
    name = args.name or Path(args.data).name.split(".")[0]
    out = Path(args.out) if args.out else Path("gene-models") / name
    check_output_folder(out, "--out")
    architectures = list(ARCHITECTURES) if args.model == "all" else [args.model]
    for architecture in architectures:
        request = TrainRequest(
            data=Path(args.data), label=args.label, architecture=architecture, cv=args.cv, seed=args.seed,
            external=Path(args.external) if args.external else None, external_label=args.external_label,
            positive=args.positive, external_positive=args.external_positive, id_col=args.id_col,
            orientation=args.orientation, log2=args.log2, min_class_size=args.min_class_size,
            noise_repeats=args.noise_repeats, max_epochs=args.epochs, name=name, task=args.task,
            limitations=args.limitation)
        outcome = train_gene_model(request, out, progress=lambda m: print(m, file=sys.stderr))
        auc = outcome.cv.summary[architecture]["auc"]
        line = f"{architecture}: CV AUC {auc['mean']:.3f} ± {auc['sd']:.3f}"
        external = outcome.card.get("external")
        if external:
            line += f"; external AUC {external['metrics'][architecture]['auc']:.3f}"
        print(f"{line} -> {outcome.model_dir}")
    index = json.loads((out / "index.json").read_text())
    print(f"default architecture of {out}: {index['default']}; report: {out / index['default'] / 'report.md'}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    guard_outputs([("--out", args.out)], inputs=[args.profile])
    check_output_file(args.out, "csv", "--out", force=args.force)
    sep = _separator(args.sep)
    from bcviewer.genes.io import read_expression_table
    from bcviewer.genes.predict import predict_expression
    from bcviewer.genes.store import load_gene_model

    model = load_gene_model(args.model)
    table = read_expression_table(args.profile, id_col=args.id_col, orientation=args.orientation,
                                  sep=sep, known_genes=model.genes)
    result = predict_expression(table, model, min_coverage=args.min_coverage, standardise=args.standardise)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{model.name}: {result.coverage.summary()}", file=sys.stderr)
    if result.scaling is not None:
        print(f"{model.name}: {result.scaling.summary()}", file=sys.stderr)
    if args.out:
        where = write_text_output(args.out, result.table.to_csv(index=False, float_format="%.6f", lineterminator="\n"))
        print(f"wrote {len(result.table)} predictions to {where}", file=sys.stderr)
    else:
        result.table.to_csv(sys.stdout, index=False, float_format="%.6f")
    return 0


def run_scores(args: argparse.Namespace) -> int:
    from bcviewer.genes.store import load_gene_model

    model = load_gene_model(args.model)
    scores = model.gene_scores().head(max(1, args.top))
    kind = "S_j = sum_i |W1[i,j]|" if model.architecture == "deepcme" else "mean |input x gradient| (training cohort)"
    if args.json:
        print(json.dumps({"model": model.name, "score": kind, "genes": [
            {"gene": g, "score": round(float(s), 6)} for g, s in scores.items()]}, indent=2))
        return 0
    print(f"{model.name}: top {len(scores)} of {len(model.genes)} genes by {kind}")
    for rank, (gene, score) in enumerate(scores.items(), start=1):
        print(f"{rank:3d}  {gene:<16} {score:.4f}")
    return 0


def run_export_onnx(args: argparse.Namespace) -> int:
    from bcviewer.genes.onnx_export import export_gene_onnx

    for name in args.model:
        path = export_gene_onnx(name)
        print(f"{name}: wrote {path} ({path.stat().st_size} bytes)")
    return 0


def run_models(args: argparse.Namespace) -> int:
    from bcviewer.genes.store import list_models

    names = list_models()
    if not names:
        print("no gene models found")
        return 0
    width = max(len(n) for n in names) + 2
    for name in names:
        print(f"{name:<{width}}{_model_role(name)}".rstrip())
    return 0


def _model_role(name: str) -> str:
    """What a name in ``genes models`` stands for: a task's default architecture, and the default
    model of ``genes predict``."""
    from bcviewer.errors import BcviewerError
    from bcviewer.genes.store import resolve_model_dir

    if "/" in name:
        return ""
    try:
        default = f"{name}/{resolve_model_dir(name).name}"
    except BcviewerError as exc:
        return f"task (its default cannot be read: {exc})"
    used = "; the default of 'genes predict'" if name == DEFAULT_MODEL else ""
    return f"task: runs {default}{used}"
