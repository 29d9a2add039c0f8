"""``bcviewer genes train`` as a function: cross-validate, fit the final model, evaluate it on
external cohorts, save weights, card and report.

With a (primary) external cohort, every model (CV folds, final model, baselines) uses only the
genes both cohorts measure, so its external numbers describe the model that is shipped. Further
cohorts (``TrainRequest.more_externals``) that lack too many of those genes get a refit on the
genes they share. Each cohort is scored under every scaling (training z-scores, its own
z-scores, quantile and rank normalisation; no labels are used) and reported under the scaling
chosen on the other cohorts (:func:`bcviewer.genes.external.choose_scaling`).
"""

from __future__ import annotations

import copy
import datetime as _dt
import shlex
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, cast

import numpy as np

from bcviewer import __version__
from bcviewer.genes.baselines import SINGLE_GENE
from bcviewer.genes.coverage import DEFAULT_MIN_COVERAGE
from bcviewer.genes.ensemble import ENSEMBLE, GeneEnsemble, ensemble_cv
from bcviewer.genes.errors import LabelError, NoGeneOverlapError
from bcviewer.genes.evaluation import CVResult, baseline_models, baseline_pipeline, cross_validate
from bcviewer.genes.external import ExternalCohort, LoadedCohort, Predictor, choose_scaling, load_external, score_cohort
from bcviewer.genes.fitting import RECIPE_SETTINGS, STANDARDISE, GeneNetClassifier
from bcviewer.genes.io import ExpressionTable, Orientation, read_expression_table
from bcviewer.genes.nets import ARCHITECTURES
from bcviewer.genes.report import update_index, write_report
from bcviewer.genes.store import GeneReference, save_gene_model
from bcviewer.genes.targets import LabelEncoding, infer_encoding

CITATIONS = {
    "TCGA": "TCGA-BRCA: Cancer Genome Atlas Network, Nature 2012",
    "GSE7390": "GSE7390: Desmedt et al., Clin Cancer Res 2007",
    "GSE1992": "GSE1992: Hu et al., BMC Genomics 2006",
    "NKI": "NKI: van de Vijver et al., N Engl J Med 2002",
    "GSE3143": "GSE3143: Bild et al., Nature 2006",
}


def citation_for(path: str | Path) -> str | None:
    """The data-set citation matching a file name, if known."""
    upper = Path(path).name.upper()
    return next((text for key, text in CITATIONS.items() if key in upper), None)


@dataclass
class TrainRequest:
    """What to train and how; field names follow the CLI options."""

    data: Path
    label: str
    architecture: str
    cv: int = 5
    seed: int = 0
    external: Path | None = None
    external_label: str | None = None
    positive: str | None = None
    external_positive: str | None = None
    id_col: str | None = None
    orientation: Orientation = "auto"
    log2: str = "auto"
    min_class_size: int = 0
    noise_repeats: int = 3
    max_epochs: int | None = None
    name: str | None = None
    task: str | None = None
    limitations: list[str] = field(default_factory=list)
    more_externals: list[ExternalCohort] = field(default_factory=list)
    class_names: dict[str, str] = field(default_factory=dict)


@dataclass
class TrainOutcome:
    """Where the model went and what was measured."""

    model_dir: Path
    card: dict[str, Any]
    cv: CVResult
    final: Any = None
    X: np.ndarray | None = None
    y: np.ndarray | None = None
    cohorts: list[LoadedCohort] = field(default_factory=list)
    refits: dict[str, Any] = field(default_factory=dict)


def _drop_rare_classes(table: ExpressionTable, min_size: int) -> tuple[ExpressionTable, list[str]]:
    labels = table.labels
    assert labels is not None  # a labelled() table
    counts = labels.value_counts()
    rare = [f"{name} ({n})" for name, n in counts.items() if n < min_size]
    if not rare:
        return table, []
    keep = labels.isin(counts[counts >= min_size].index)
    note = f"classes with fewer than {min_size} samples were left out: " + ", ".join(rare)
    return ExpressionTable(table.path, table.expression.loc[keep], labels.loc[keep], table.label_name,
                           table.orientation, table.ignored_columns, table.warnings + [note]), [note]


def _baseline_fits(request: TrainRequest, X: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Every baseline fitted on all training samples, behind its fold-free preprocessing pipeline."""
    return {name: baseline_pipeline(model, request.log2).fit(X, y)
            for name, model in baseline_models(request.seed).items()}


def _predictors(net: Any, baselines: dict[str, Any]) -> dict[str, Predictor]:
    def net_predict(values: np.ndarray, scaling: str) -> np.ndarray:
        return cast(np.ndarray, net.predict_proba(values, standardise=scaling))

    def pipe_predict(pipe: Any) -> Predictor:
        def predict(values: np.ndarray, scaling: str) -> np.ndarray:
            return cast(np.ndarray, pipe.set_params(zscore__source=STANDARDISE[scaling]).predict_proba(values))
        return predict

    return {net.architecture: net_predict, **{name: pipe_predict(pipe) for name, pipe in baselines.items()}}


def evaluate_externals(request: TrainRequest, cohorts: list[LoadedCohort], final: Any, baselines: dict[str, Any],
                       X: np.ndarray, y: np.ndarray, genes: list[str], trained_genes: int,
                       make_net: Callable[[list[str]], Any], say: Callable[[str], None]) -> dict[str, Any]:
    """Score the final model and the baselines on each cohort under every scaling, then choose scalings.

    A cohort measuring fewer than the coverage floor of the model's genes would be refused by the
    shipped model, so the network and the baselines are refitted (same recipe, same seed) on the
    training cohort's genes that it shares, and the card says so.
    """
    externals = []
    for cohort in cohorts:
        shared = [g for g in genes if g in cohort.table.expression.columns]
        entry: dict[str, Any] = {
            "file": Path(cohort.spec.path).name, "citation": citation_for(cohort.spec.path),
            "label_column": cohort.spec.label, "label_rule": cohort.spec.rule or None,
            "positive_class": cohort.encoding.positive, "n_samples": int(len(cohort.y)),
            "class_counts": {cohort.encoding.classes[i]: int(n) for i, n in enumerate(np.bincount(cohort.y))},
            "gene_coverage": {"training_genes": trained_genes, "model_genes": len(genes), "shared_genes": len(shared),
                              "fraction": round(len(shared) / trained_genes, 4)}}
        if len(shared) / len(genes) >= DEFAULT_MIN_COVERAGE:
            model, fitted, used = final, baselines, genes
            entry["model_used"] = "the shipped model (genes it lacks are imputed with the training median)"
        else:
            say(f"{entry['file']}: {len(shared)} of {len(genes)} genes; refitting on those")
            index = [genes.index(g) for g in shared]
            model = make_net(shared).fit(X[:, index], y)
            fitted, used = _baseline_fits(request, X[:, index], y), shared
            entry["model_used"] = (f"refitted on the {len(shared)} genes the cohort shares (same recipe and seed): "
                                   f"the shipped model would refuse it below {DEFAULT_MIN_COVERAGE:.0%} coverage")
        scores = score_cohort(cohort, used, _predictors(model, fitted))
        entry["gene_coverage"]["missing_values_imputed"] = scores.pop("missing_values_imputed")
        entry["single_gene"] = fitted[SINGLE_GENE]["model"].describe(used)["gene"]
        entry["refit"] = model if model is not final else None
        externals.append({**entry, **scores})
    choice = choose_scaling(externals)
    return {"externals": externals, "scaling_choice": choice}


def merge_baselines(cv: CVResult, baseline_cv: CVResult) -> None:
    """Copy the baselines' CV from another architecture's run on the same folds into ``cv``."""
    if len(cv.test_folds) != len(baseline_cv.test_folds) or any(
            not np.array_equal(a, b) for a, b in zip(cv.test_folds, baseline_cv.test_folds)):
        raise ValueError("the baselines were cross-validated on other folds")
    names = [m for m in baseline_cv.summary if m not in cv.summary and m not in ARCHITECTURES]
    for fold, other in zip(cv.folds, baseline_cv.folds):
        fold["metrics"].update({m: other["metrics"][m] for m in names})
        if "single_gene" in other:
            fold["single_gene"] = other["single_gene"]
    cv.summary.update({m: baseline_cv.summary[m] for m in names})
    cv.noise.update({m: baseline_cv.noise[m] for m in names if m in baseline_cv.noise})
    cv.oof.update({m: baseline_cv.oof[m] for m in names})


def train_gene_model(request: TrainRequest, out_dir: str | Path, progress: Callable[[str], None] | None = None,
                     baseline_cv: CVResult | None = None) -> TrainOutcome:
    """Cross-validate, fit on all samples, evaluate externally, save under ``out_dir/<architecture>``.

    ``baseline_cv``: another architecture's CV on the same data and seed, whose baselines are
    reused instead of being cross-validated again (same folds, so the same numbers).
    """
    say = progress or (lambda _message: None)
    table = read_expression_table(request.data, label=request.label, id_col=request.id_col,
                                  orientation=request.orientation).labelled()
    table, notes = _drop_rare_classes(table, request.min_class_size)
    encoding = infer_encoding(table.labels, request.positive)
    genes = table.genes
    cohorts = []
    if request.external is not None:
        if not request.external_label:
            raise LabelError("--external needs --external-label, the label column of the external cohort")
        primary = ExternalCohort(Path(request.external), request.external_label, request.external_positive)
        cohorts.append(load_external(primary, genes, encoding))
        shared = [g for g in genes if g in cohorts[0].table.expression.columns]
        if not shared:
            raise NoGeneOverlapError(f"{Path(request.external).name} shares no gene with {Path(request.data).name}")
        say(f"external cohort: {len(shared)} of {len(genes)} genes shared; training on those")
        genes = shared
    cohorts += [load_external(spec, genes, encoding) for spec in request.more_externals]
    X = table.expression[genes].to_numpy(dtype=np.float64)
    y = encoding.encode(table.labels)
    settings = RECIPE_SETTINGS[request.architecture]
    if request.max_epochs is not None:
        settings = replace(settings, max_epochs=request.max_epochs, patience=min(settings.patience, request.max_epochs))
    settings = replace(settings, seed=request.seed)

    def make_net(net_genes: list[str] = genes) -> GeneNetClassifier:
        return GeneNetClassifier(request.architecture, list(net_genes), list(encoding.classes), settings,
                                 log2=request.log2)

    cv = cross_validate(make_net, X, y, n_splits=request.cv, seed=request.seed, noise_repeats=request.noise_repeats,
                        progress=say, genes=list(genes), baselines={} if baseline_cv is not None else None)
    if baseline_cv is not None:
        merge_baselines(cv, baseline_cv)
    say("fitting the final model on all samples")
    final = make_net().fit(X, y)
    baselines = _baseline_fits(request, X, y)
    card = _card(request, table, encoding, genes, cv, notes)
    card["single_gene"] = single_gene_card(baselines[SINGLE_GENE], genes, cv)
    refits: dict[str, Any] = {}
    if cohorts:
        say("evaluating on the external cohorts")
        evaluated = evaluate_externals(request, cohorts, final, baselines, X, y, list(genes), len(table.genes),
                                       make_net, say)
        refits = {e["file"]: e.pop("refit") for e in evaluated["externals"]}
        card["external"] = evaluated["externals"][0]
        card["externals"] = evaluated["externals"]
        card["scaling_choice"] = evaluated["scaling_choice"]
    reference = GeneReference.from_training(final, X)
    model_dir = save_gene_model(Path(out_dir) / request.architecture, final, reference, card)
    write_report(model_dir)
    update_index(Path(out_dir))
    return TrainOutcome(model_dir, card, cv, final, X, y, cohorts, refits)


def single_gene_card(pipe: Any, genes: list[str], cv: CVResult) -> dict[str, Any]:
    """The single-gene baseline for the card: the gene chosen on all training samples, the genes
    chosen in each CV training fold, and the logistic regression that a viewer applies to the
    standardised value (``bcviewer.genes.baselines.single_gene_probability``)."""
    return {**pipe["model"].describe(list(genes)), "chosen_in_cv_folds": [f.get("single_gene") for f in cv.folds],
            "input": "the model's log2 / z-score / median-imputation output for that gene"}


def _card_identity(request: TrainRequest) -> dict[str, Any]:
    name = request.name or Path(request.data).stem
    return {
        "name": f"{name}/{request.architecture}",
        "task": request.task or f"predict {request.label!r} from gene expression",
        "architecture": request.architecture,
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "bcviewer_version": __version__,
        "training_command": " ".join(shlex.quote(a) for a in sys.argv) if sys.argv else "",
    }


def _card(request: TrainRequest, table: ExpressionTable, encoding: LabelEncoding, genes: list[str], cv: CVResult,
          notes: list[str]) -> dict[str, Any]:
    assert table.labels is not None  # a labelled() table
    counts = table.labels.value_counts()
    return {
        **_card_identity(request),
        "cohort": {"file": Path(request.data).name, "citation": citation_for(request.data),
                   "label_column": request.label, "n_samples": int(len(table.labels)),
                   "class_counts": {str(k): int(v) for k, v in counts.items()}, "notes": notes},
        "classes": list(encoding.classes),
        "positive_class": encoding.positive,
        "genes": list(genes),
        "n_genes": len(genes),
        "cv": {"scheme": f"stratified {request.cv}-fold, shuffled (seed {request.seed}); preprocessing, gene selection "
                         "and early stopping (inner 20% validation split) fitted inside each training fold",
               **cv.to_json()},
        "limitations": list(request.limitations),
        "class_names": dict(request.class_names),
    }


def train_ensemble(request: TrainRequest, outcomes: dict[str, TrainOutcome], out_dir: str | Path,
                   progress: Callable[[str], None] | None = None) -> TrainOutcome:
    """Save the probability mean of already trained architectures as ``out_dir/ensemble``.

    Its CV comes from the members' out-of-fold probabilities on the same folds (no retraining);
    on each external cohort it averages the members' models that were scored there (refits included).
    """
    say = progress or (lambda _message: None)
    first = next(iter(outcomes.values()))
    assert first.X is not None and first.y is not None
    ensemble = GeneEnsemble([o.final for o in outcomes.values()]).with_training_scores(first.X)
    cv = ensemble_cv({arch: o.cv for arch, o in outcomes.items()}, first.y)
    cv.noise = {name: values for o in outcomes.values() for name, values in o.cv.noise.items()}
    ens_request = replace(request, architecture=ENSEMBLE)
    card = {k: v for k, v in first.card.items() if k not in ("external", "externals", "scaling_choice")}
    card.update(_card_identity(ens_request))
    card["cv"] = {"scheme": first.card["cv"]["scheme"] + "; ensemble = mean of the members' out-of-fold "
                  "probabilities on the same folds", **cv.to_json()}
    card["members"] = list(outcomes)
    if first.card.get("externals"):
        say("evaluating the ensemble on the external cohorts")
        externals = []
        for cohort, entry in zip(first.cohorts, first.card["externals"]):
            refits: list[GeneNetClassifier | None] = [o.refits.get(entry["file"]) for o in outcomes.values()]
            # A cohort is refitted for every architecture or for none (it depends on gene coverage only).
            model = (ensemble if all(r is None for r in refits)
                     else GeneEnsemble(cast("list[GeneNetClassifier]", refits)))
            genes = model.genes
            scores = score_cohort(cohort, genes, {ENSEMBLE: model.predict_proba})
            merged = copy.deepcopy(entry)
            for scaling, metrics in merged["metrics_by_scaling"].items():
                for arch, o in outcomes.items():
                    member_entry = next(e for e in o.card["externals"] if e["file"] == entry["file"])
                    metrics[arch] = member_entry["metrics_by_scaling"][scaling][arch]
                metrics[ENSEMBLE] = scores["metrics_by_scaling"][scaling][ENSEMBLE]
            externals.append(merged)
        card["scaling_choice"] = choose_scaling(externals)
        card["external"], card["externals"] = externals[0], externals
    model_dir = save_gene_model(Path(out_dir) / ENSEMBLE, ensemble, GeneReference.from_training(ensemble, first.X),
                                card)
    write_report(model_dir)
    update_index(Path(out_dir))
    return TrainOutcome(model_dir, card, cv, ensemble, first.X, first.y, first.cohorts)
