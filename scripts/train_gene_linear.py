"""Nested CV of the logistic gene models against the single-gene baseline; ship the baseline and
the models that beat it, and write the comparison into every card of the task.

    python3 scripts/train_gene_linear.py [--tasks er-status metastasis] [--repeats 5]

For each task: the candidates of :func:`bcviewer.genes.linear.candidate_models` (single gene,
L2 logistic, sparse L1 logistic; for ER also the literature ER gene set, genes correlated with
ESR1 and a stack on ESR1) run through repeated nested CV (:mod:`bcviewer.genes.nested`). The
single gene and every candidate that beats it are fitted on all samples and saved as model
folders. The networks (their cards' 5-fold CV, seed 0: the same outer folds as repeat 0) are
compared on those folds by their per-fold AUC gain over the single gene. The default is the best
model that beats the single gene, else the single gene. Every model of the task is scored on the
external cohorts with ``standardise='auto'`` (what a user gets with no options). Deterministic:
seeds 0..repeats-1, one thread.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from train_gene_models import DATA, GSE3143_ER_RULE  # noqa: E402

from bcviewer.genes.external import ExternalCohort, load_external  # noqa: E402
from bcviewer.genes.io import read_expression_table  # noqa: E402
from bcviewer.genes.linear import ER_GENE_SET, LinearGeneClassifier, candidate_models, linear_pipeline  # noqa: E402
from bcviewer.genes.nested import (  # noqa: E402
    BASELINE, choose_default, compare_with_baseline, nested_cv, paired_gain, t_interval)
from bcviewer.genes.predict import predict_expression  # noqa: E402
from bcviewer.genes.report import update_index, write_report  # noqa: E402
from bcviewer.genes.store import GeneReference, load_gene_model, save_gene_model  # noqa: E402
from bcviewer.genes.targets import LabelEncoding  # noqa: E402

MODELS = ROOT / "models" / "genes"
NETS = ("cnn-bilstm", "deepcme", "gexpnet", "ensemble")
TASKS: dict[str, dict[str, Any]] = {
    "er-status": {"anchor": "ESR1", "gene_set": ER_GENE_SET, "externals": [
        ExternalCohort(DATA / "survset_gse1992.csv.gz", "fac_er_positive", "1"),
        ExternalCohort(DATA / "survset_gse3143.csv.gz", "fac_erlev", positive_values=("1", "2", "3"),
                       rule=GSE3143_ER_RULE)]},
    "metastasis": {"anchor": None, "gene_set": (), "externals": []},
}
DESCRIPTIONS = {
    "single-gene": "the one gene with the best training AUC, behind a one-feature logistic regression (baseline)",
    "logistic": "L2 logistic regression on every gene, C tuned by inner 5-fold CV",
    "sparse-logistic": "L1 (sparse) logistic regression on every gene, C tuned by inner 5-fold CV",
    "gene-set": "L2 logistic regression on the literature ER genes the table measures, C tuned by inner CV",
    "anchor-sparse": "L1 logistic regression on the k genes most correlated with ESR1 (k and C tuned by inner CV)",
    "stacked": "logistic stack of the single gene and the sparse logistic model (their logits, inner 5-fold CV)",
}


def net_rows(task: str, single_fold_aucs: np.ndarray) -> dict[str, dict[str, Any]]:
    """The networks' 5-fold CV (seed 0: repeat 0's folds) and their paired gain over the single gene
    on those folds (their out-of-fold predictions are not kept, so no repeats and no bootstrap)."""
    rows = {}
    for arch in NETS:
        card = json.loads((MODELS / task / arch / "card.json").read_text())
        folds = np.array([f["metrics"][arch]["auc"] for f in card["cv"]["folds"]])
        low, high = t_interval(folds)
        rows[arch] = {"mean": float(folds.mean()), "sd": float(folds.std(ddof=1)), "ci95": (low, min(1.0, high)),
                      **paired_gain(folds, single_fold_aucs), "description": f"{arch} network (its card)",
                      "method": "networks: 5-fold CV, seed 0, fixed recipe with early stopping inside each training "
                                "fold (not repeated); AUC CI: t interval over the 5 folds"}
    return rows


def external_auto(task: str, names: list[str], cohorts: list[Any]) -> dict[str, dict[str, Any]]:
    """Each model's AUC on each external cohort as a user gets it: ``standardise='auto'``."""
    out: dict[str, dict[str, Any]] = {}
    for cohort in cohorts:
        entry: dict[str, Any] = {}
        for name in names:
            model = load_gene_model(MODELS / task / name)
            result = predict_expression(cohort.table, model, min_coverage=0.0)
            p = result.probabilities[model.classes[1]].to_numpy()
            entry[name] = {"auc": float(roc_auc_score(cohort.y, p)), "scaling": result.standardise,
                           "gene_coverage": float(result.coverage.fraction)}
        out[Path(cohort.spec.path).name] = entry
    return out


def run_task(task: str, repeats: int, say: Any) -> None:
    spec = TASKS[task]
    reference_card = json.loads((MODELS / task / "deepcme" / "card.json").read_text())
    genes, classes = list(reference_card["genes"]), list(reference_card["classes"])
    cohort = reference_card["cohort"]
    table = read_expression_table(DATA / cohort["file"], label=cohort["label_column"]).labelled()
    X = table.expression[genes].to_numpy(dtype=np.float64)
    y = LabelEncoding(tuple(classes)).encode(table.labels)
    candidates = candidate_models(genes, 0, spec["anchor"], spec["gene_set"])
    results = {name: nested_cv(model, X, y, name=name, repeats=repeats, say=say) for name, model in candidates.items()}
    comparison = compare_with_baseline(results, y)
    for name, entry in comparison.items():
        entry["method"] = (f"logistic models: nested CV, C (and k) tuned by inner CV inside each training fold; 5-fold "
                           f"seed 0, and {repeats} repeats (seeds 0-{repeats - 1}); AUC CI: bootstrap of patients over "
                           "the repeats' pooled out-of-fold predictions")
        entry["description"] = DESCRIPTIONS[name]
    comparison.update(net_rows(task, results[BASELINE].fold_aucs[0]))
    default, reason = choose_default(comparison, networks=NETS)
    shipped = [BASELINE] + [n for n in candidates if comparison[n].get("beats_baseline")]
    say(f"{task}: default {default}: {reason}; shipping {shipped}")
    base_card = {k: reference_card[k] for k in ("task", "cohort", "classes", "positive_class", "genes", "n_genes",
                                                "limitations", "class_names", "single_gene", "scaling_choice",
                                                "bcviewer_version") if k in reference_card}
    for name in shipped:
        pipe = linear_pipeline(candidates[name]).fit(X, y)
        model = LinearGeneClassifier.from_pipeline(name, pipe, genes, classes,
                                                   {"description": DESCRIPTIONS[name], "candidate": repr(pipe["model"])})
        fold_aucs = results[name].fold_aucs[0]
        card = {**base_card, "name": f"{task}/{name}", "architecture": name,
                "training_command": f"python3 scripts/train_gene_linear.py --tasks {task} --repeats {repeats}",
                "cv": {"scheme": "stratified 5-fold, shuffled (seed 0), the networks' folds; C tuned inside each "
                                 "training fold", "summary": {name: {"auc": {"mean": float(fold_aucs.mean()),
                                                                              "sd": float(fold_aucs.std(ddof=1))}}},
                       "folds": [{"fold": k + 1, "metrics": {name: {"auc": float(a)}}} for k, a in enumerate(fold_aucs)]}}
        save_gene_model(MODELS / task / name, model, GeneReference.from_training(model, X), card)
    encoding = LabelEncoding(tuple(classes))
    cohorts = [load_external(e, genes, encoding) for e in spec["externals"]]
    names = shipped + list(NETS)
    task_section = {"baseline": BASELINE, "models": comparison, "default": default, "default_reason": reason,
                    "shipped_logistic_models": shipped,
                    "rule": "a model can be the default only if the 95% t interval of its per-fold AUC gain over the "
                            "single gene (same 5 folds, seed 0) lies above 0; the default is the best such model by "
                            "mean CV AUC, else the single gene; logistic models ship only then",
                    "external_auto": external_auto(task, names, cohorts)}
    for name in names:
        path = MODELS / task / name / "card.json"
        card = json.loads(path.read_text())
        card["task_comparison"] = task_section
        path.write_text(json.dumps(_rounded(card), indent=1) + "\n")
        write_report(path.parent)
    update_index(MODELS / task, default=default, reason=reason, rule=task_section["rule"])


def _rounded(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    for task in args.tasks:
        run_task(task, args.repeats, lambda m: print(m, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
