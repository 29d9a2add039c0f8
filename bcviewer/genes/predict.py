"""Prediction with a stored gene model: one row per sample plus what a viewer needs to explain it.

``predict_expression`` returns a :class:`PredictionResult`: the table written by
``bcviewer genes predict`` (``sample, model, p, predicted, gene_coverage, scaling, scaling_reason``;
``predicted`` is the predicted class, named apart from a truth ``label`` column in the input), class probabilities,
per-gene z-scores against the training cohort, input x gradient attributions, and the coverage
report. It refuses tables that measure too few of the model's genes.
"""

from __future__ import annotations

import warnings as warnings_module
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

import numpy as np
import pandas as pd

from bcviewer.genes.baselines import single_gene_probability
from bcviewer.genes.coverage import DEFAULT_MIN_COVERAGE, CoverageReport, align_to_genes, require_coverage
from bcviewer.genes.errors import GeneDataError
from bcviewer.genes.io import ExpressionTable
from bcviewer.genes.classifier import STANDARDISE
from bcviewer.genes.platform import AUTO, PlatformCheck, ScalingDecision, compare_platform, decide_scaling
from bcviewer.genes.preprocessing import MIN_COHORT_SAMPLES, MedianImputer
from bcviewer.genes.store import GeneModel, model_scale

Standardise = Literal["auto", "model", "cohort", "quantile", "rank"]
PREDICTION_COLUMNS = ["sample", "model", "p", "predicted", "gene_coverage", "scaling", "scaling_reason"]
SHIFT_WARNING_SD = 1.5
# A value this many training sd from the training mean (on the model's scale) is not biology; one
# such gene can swing the network to a confident answer, so the sample gets a warning.
EXTREME_Z = 20.0
# Beyond this no network computes anything meaningful (float32 overflows near 1e38): refuse.
ABSURD_Z = 1e4


@dataclass
class PredictionResult:
    """Everything one prediction run produces; every frame is indexed by sample id."""

    table: pd.DataFrame
    probabilities: pd.DataFrame
    zscores: pd.DataFrame
    attributions: pd.DataFrame
    coverage: CoverageReport
    standardise: str
    warnings: list[str] = field(default_factory=list)
    single_gene: pd.Series | None = None  # P(positive class) from the card's single-gene baseline; NaN: not measured
    scaling: ScalingDecision | None = None  # which scaling was used and why (``standardise`` is its name)
    # What the model read: each gene after the run's scaling (z-scores; for a cohort scaling, against the
    # table's own cohort), NaN where the sample does not measure it. ``zscores`` with the 'model' scaling.
    scaled_zscores: pd.DataFrame | None = None


def scale_shift(model: GeneModel, values: np.ndarray) -> float:
    """Median over measured genes of |cohort mean - training mean| in training sd units."""
    on_scale = model_scale(model.classifier, values)
    with warnings_module.catch_warnings():
        warnings_module.simplefilter("ignore", RuntimeWarning)  # a gene missing from every sample has no mean
        means = np.nanmean(on_scale, axis=0)
    shift = np.abs(means - model.reference.mean) / model.reference.sd
    shift = shift[np.isfinite(shift)]
    return float(np.median(shift)) if shift.size else 0.0


def training_zscores(model: GeneModel, values: np.ndarray) -> np.ndarray:
    """Each value as a z-score against the training cohort's distribution of that gene."""
    return cast(np.ndarray, (model_scale(model.classifier, values) - model.reference.mean) / model.reference.sd)


def platform_check(model: GeneModel, values: np.ndarray) -> PlatformCheck | None:
    """How ``values`` (samples x the model's genes, raw) compare with the model's training cohort."""
    reference = model.reference
    return compare_platform(model_scale(model.classifier, values), reference.mean, reference.sd,
                            trained_on_log=float(np.max(reference.quantiles)) <= 30.0,
                            training_negative=float(np.mean(reference.quantiles[0] < 0)) >= 0.25)


def training_cohort_name(model: GeneModel) -> str:
    """``TCGA-BRCA``: the training cohort as its card cites it (its file name otherwise)."""
    cohort = model.card.get("cohort") or {}
    citation = str(cohort.get("citation") or "")
    return citation.split(":")[0] if citation else str(cohort.get("file") or "the training cohort")


def recommended_scaling(model: GeneModel) -> str | None:
    """The scaling for another platform that the model's card chose on its external cohorts, if any."""
    choice = model.card.get("scaling_choice")
    default = choice.get("default") if isinstance(choice, dict) else None
    return str(default) if default in STANDARDISE else None


def choose_scaling_for(model: GeneModel, values: np.ndarray, requested: str, source: str) -> ScalingDecision:
    """The scaling ``requested`` resolves to for these values (``auto``: by the platform check)."""
    return decide_scaling(platform_check(model, values), requested, recommended_scaling(model), source=source,
                          cohort_name=training_cohort_name(model))


def predict_expression(
    table: ExpressionTable,
    model: GeneModel,
    *,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
    standardise: Standardise = AUTO,
) -> PredictionResult:
    """Predict every sample of ``table`` with ``model``.

    ``standardise='auto'`` (the default) compares the table with the training cohort
    (:mod:`bcviewer.genes.platform`): the training statistics when it matches, the card's
    recommended scaling for another platform when it does not; ``result.scaling`` says which and
    why. ``standardise='model'`` z-scores genes with the training cohort's statistics (same platform);
    ``'cohort'`` uses the table's own statistics, ``'quantile'`` maps each gene's within-table
    quantiles onto the training cohort's distribution, ``'rank'`` turns them into normal scores
    (another platform; these three need 10+ samples). Genes
    missing from the table are imputed with the training median, after the coverage check.
    """
    if standardise != AUTO and standardise not in STANDARDISE:
        raise GeneDataError(f"standardise must be one of {AUTO}, {', '.join(STANDARDISE)}, not {standardise!r}")
    values, coverage = align_to_genes(table.expression, model.genes)
    _refuse_infinite(values, model, table)
    if model.read_genes != model.genes:  # a sparse model needs only the genes it reads
        coverage = align_to_genes(table.expression, model.read_genes)[1]
    require_coverage(coverage, min_coverage, table.path)
    decision = choose_scaling_for(model, values, standardise, table.path)
    standardise = cast(Standardise, decision.scaling)
    if standardise != "model" and values.shape[0] < MIN_COHORT_SAMPLES:
        raise GeneDataError(f"{standardise} scaling uses the profile's own cohort and needs at least "
                            f"{MIN_COHORT_SAMPLES} samples; {table.path} has {values.shape[0]}")
    warnings = list(table.warnings)
    _check_values(values, model, table, standardise, warnings)
    if coverage.missing:
        warnings.append(coverage.summary())
    shift = scale_shift(model, values)
    if standardise == "model" and not decision.automatic and values.shape[0] >= 3 and shift > SHIFT_WARNING_SD:
        warnings.append(f"expression sits {shift:.1f} training sd away from the training cohort's level per gene "
                        "(median); if this is another platform or cohort, use per-cohort standardisation")
    proba = model.classifier.predict_proba(values, standardise=standardise)
    if not np.isfinite(proba).all():
        bad = [table.samples[i] for i in np.flatnonzero(~np.isfinite(proba).all(axis=1))[:5]]
        raise GeneDataError(f"{table.path}: the model gives no valid probability for sample(s) {', '.join(bad)} "
                            "(their values are outside anything it can compute with); no prediction was written")
    index = pd.Index(table.samples, name="sample")
    probabilities = pd.DataFrame(proba, index=index, columns=model.classes)
    predicted = np.asarray(model.classes)[proba.argmax(axis=1)]
    p = proba[:, 1] if len(model.classes) == 2 else proba.max(axis=1)
    result_table = pd.DataFrame({"sample": table.samples, "model": model.name, "p": p, "predicted": predicted,
                                 "gene_coverage": coverage.per_sample.to_numpy(), "scaling": decision.scaling,
                                 "scaling_reason": decision.reason}, columns=PREDICTION_COLUMNS)
    zscores = pd.DataFrame(training_zscores(model, values), index=index, columns=model.genes)
    attributions = pd.DataFrame(model.classifier.attributions(values, standardise=standardise), index=index,
                                columns=model.genes)
    return PredictionResult(result_table, probabilities, zscores, attributions, coverage, standardise, warnings,
                            single_gene_probabilities(model, values, standardise, index), decision,
                            scaled_zscores(model, values, standardise, index))


def scaled_zscores(model: GeneModel, values: np.ndarray, standardise: str, index: pd.Index) -> pd.DataFrame:
    """Each gene on the scale the model read it with ``standardise`` (NaN: not measured).

    With ``'model'`` these are the z-scores against the training cohort; with a cohort scaling
    (``cohort``, ``quantile``, ``rank``) they are what that scaling made of the table, which the
    model compares with its training cohort as if it were on the training scale.
    """
    scaled = np.array(model.classifier.preprocess(values, standardise, upto=MedianImputer), dtype=float)
    scaled[~np.isfinite(values)] = np.nan  # imputed, not measured: drawn as such
    return pd.DataFrame(scaled, index=index, columns=model.genes)


def single_gene_probabilities(model: GeneModel, values: np.ndarray, standardise: str,
                              index: pd.Index) -> pd.Series | None:
    """P(positive class) of the card's single-gene baseline (e.g. ESR1 alone) on the same scaling as
    the model; NaN where the sample does not measure that gene. None: no baseline in the card."""
    spec = model.card.get("single_gene")
    if not spec or len(model.classes) != 2 or spec.get("gene") not in model.genes:
        return None
    if model.read_genes == [spec["gene"]]:  # the model is that gene alone: nothing to compare with
        return None
    column = model.genes.index(spec["gene"])
    standardised = model.classifier.preprocess(values, standardise, upto=MedianImputer)
    p = single_gene_probability(standardised, {**spec, "gene_index": column})
    p[~np.isfinite(values[:, column])] = np.nan
    return pd.Series(p, index=index, name=f"{spec['gene']} alone")


def _refuse_infinite(values: np.ndarray, model: GeneModel, table: ExpressionTable) -> None:
    """An infinite cell is a bad value, not a missing one: refused before coverage counts it as unmeasured."""
    samples = table.samples
    infinite = np.isinf(values)
    if infinite.any():
        rows, cols = np.nonzero(infinite)
        shown = "; ".join(f"sample {samples[r]}, gene {model.genes[c]}" for r, c in zip(rows[:3], cols[:3]))
        raise GeneDataError(f"{table.path}: {int(infinite.sum())} expression values are infinite ({shown}); "
                            "fix or remove them (an empty cell counts as missing)")


def _check_values(values: np.ndarray, model: GeneModel, table: ExpressionTable, standardise: str,
                  warnings: list[str]) -> None:
    """Refuse or warn about values far from the training cohort and about a cohort with no variation."""
    if standardise == "model":  # the cohort scalings never apply the training statistics to the values
        _check_training_scale(values, model, table, warnings)
    if values.shape[0] >= 2 and np.array_equal(values, np.broadcast_to(values[:1], values.shape), equal_nan=True):
        warnings.append(f"all {values.shape[0]} samples have identical expression values, so their predictions "
                        "are identical; check that the table holds real measurements")
    if standardise == "cohort":
        with np.errstate(all="ignore"), warnings_module.catch_warnings():
            warnings_module.simplefilter("ignore", RuntimeWarning)
            sd = np.nanstd(values, axis=0)
        measured = np.isfinite(sd)
        flat = measured & (sd <= 1e-12)
        if measured.any() and flat[measured].all():
            raise GeneDataError(f"{table.path}: every measured gene has the same value in every sample, so "
                                "per-cohort standardisation has nothing to work with; no prediction was made")
        if flat.sum() > 0.5 * measured.sum():
            warnings.append(f"{int(flat.sum())} of {int(measured.sum())} measured genes have the same value in every "
                            "sample; per-cohort standardisation treats them as average, so predictions rest on "
                            "the remaining genes")


def _check_training_scale(values: np.ndarray, model: GeneModel, table: ExpressionTable, warnings: list[str]) -> None:
    """Refuse values absurdly far from the training cohort; warn about extreme ones."""
    samples = table.samples
    with np.errstate(all="ignore"):
        z = np.abs(training_zscores(model, values))
    absurd = ~np.isfinite(z) & ~np.isnan(values) | (np.nan_to_num(z, nan=0.0) > ABSURD_Z)
    if absurd.any():
        rows, cols = np.nonzero(absurd)
        shown = "; ".join(f"sample {samples[r]}, gene {model.genes[c]}: {values[r, c]:g}"
                          for r, c in zip(rows[:3], cols[:3]))
        raise GeneDataError(f"{table.path}: {int(absurd.sum())} expression values are more than {ABSURD_Z:g} training "
                            f"sd from the training cohort ({shown}); they are not expression on the model's scale, "
                            "so no prediction was made. Check the table's units")
    extreme = np.nan_to_num(z, nan=0.0) > EXTREME_Z
    if extreme.any():
        which = [samples[i] for i in np.flatnonzero(extreme.any(axis=1))]
        warnings.append(f"{len(which)} samples hold values more than {EXTREME_Z:g} training sd from the training "
                        f"cohort (e.g. {', '.join(which[:3])}); their predictions are not reliable; check the "
                        "table's units and scale")


def predictions_csv_text(results: Sequence[PredictionResult]) -> str:
    """The rows of several runs (one per model) as the CSV ``bcviewer genes predict`` writes."""
    if not results:
        return ",".join(PREDICTION_COLUMNS) + "\n"
    rows = pd.concat([r.table for r in results], ignore_index=True)
    return cast(str, rows.to_csv(index=False, float_format="%.6f", lineterminator="\n"))


def top_contributions(result: PredictionResult, model: GeneModel, sample: str, n: int = 20) -> pd.Series:
    """The ``n`` genes that weigh most in ``sample``'s prediction, largest first.

    DeepCME: its gene scores S_j (the same for every sample; name ``"gene score"``). Other nets:
    the sample's input x gradient, ranked by absolute value and signed (name
    ``"input x gradient"``). Genes the networks do not read (score 0) are left out.
    """
    if model.architecture == "deepcme":
        scores = model.gene_scores()
        name = "gene score"
    else:
        values = result.attributions.loc[sample]
        scores = values.reindex(values.abs().sort_values(ascending=False, kind="stable").index)
        name = "input x gradient"
    scores = scores[scores != 0].head(n)
    return scores.rename(name)
