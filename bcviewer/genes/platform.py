"""Does an expression table look like the model's training cohort, and so which scaling to use?

A model trained on TCGA RNA-seq (log2) meets tables from other platforms: Affymetrix (log2 on
another scale), two-colour arrays (log ratios centred on 0), or linear intensities. The model's
genes in the table are compared with the training cohort's per-gene mean and sd (on the model's
scale, after its log2 step) without any label:

- **location**: each gene's median, in training sd from the training mean;
- **spread**: each gene's sd over the training sd (10+ samples only);
- **log or linear**: a table whose 99th percentile runs past 30 is not log2 expression;
- **ratio data**: values centred on 0 with many negatives, where the training cohort has none;
- **share alike**: genes whose location is within 1 training sd and whose spread is within a
  factor 2 (10+ samples), or, in a smaller table, the median per sample of the share of genes
  within 3 training sd.

The table *matches* when at least :data:`MATCH_SHARE` of the compared genes look alike. On the
development cohorts (er-status's genes; see ``docs/genes.md``) TCGA folds score 1.00, GSE3143
0.47 and GSE1992 0.00 with all samples; with 1-9 samples TCGA's median share is 1.00, GSE3143's
0.70 and GSE1992's 0.11. :func:`decide_scaling` turns that into the scaling used by ``auto``.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np

from bcviewer.genes.errors import GeneDataError
from bcviewer.genes.preprocessing import MIN_COHORT_SAMPLES, looks_like_counts

MATCH_SHARE = 0.8
LOCATION_SD = 1.0  # a gene's median within this many training sd of the training mean looks alike
SPREAD_FACTOR = 2.0  # and its sd within this factor of the training sd
SAMPLE_SD = 3.0  # small tables: a value within this many training sd looks alike
MIN_GENES = 3
AUTO: Final = "auto"
SCALING_WORDS = {"model": "the training cohort's z-scores", "cohort": "the table's own z-scores (cohort)",
                 "quantile": "quantiles mapped onto the training cohort", "rank": "rank normal scores"}


@dataclass(frozen=True)
class PlatformCheck:
    """How the table's model genes compare with the training cohort (see the module docstring)."""

    samples: int
    genes_compared: int
    share_alike: float
    median_shift_sd: float
    median_spread_ratio: float | None  # None: fewer than MIN_COHORT_SAMPLES samples
    negative_fraction: float
    looks_linear: bool
    centred_on_zero: bool

    @property
    def matches(self) -> bool:
        return self.share_alike >= MATCH_SHARE and not self.looks_linear and not self.centred_on_zero

    def evidence(self) -> str:
        """What was seen, in words: the signs of another platform first, then the share alike."""
        signs = []
        if self.looks_linear:
            signs.append("values look linear, not log2 (raw intensities or counts)")
        if self.centred_on_zero:
            signs.append(f"values are centred on 0, {self.negative_fraction:.0%} negative: log ratios, "
                         "as two-colour arrays give")
        how = ("within 1 training sd of its level and a factor 2 of its spread" if self.median_spread_ratio is not None
               else "within 3 training sd (median over samples)")
        signs.append(f"{self.share_alike:.0%} of {self.genes_compared} genes look like the training cohort "
                     f"({how}); median shift {self.median_shift_sd:.1f} sd"
                     + ("" if self.median_spread_ratio is None else f", spread x{self.median_spread_ratio:.2f}"))
        return "; ".join(signs)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "matches": self.matches}


def compare_platform(values: np.ndarray, mean: np.ndarray, sd: np.ndarray, *, trained_on_log: bool = True,
                     training_negative: bool = False) -> PlatformCheck | None:
    """Compare a table's model genes (``values``, samples x genes on the model's scale, NaN = not
    measured) with the training cohort's per-gene ``mean`` and ``sd``.

    ``trained_on_log``: the training values were log2, so linear values are another scale;
    ``training_negative``: the training cohort itself is full of negative values (ratio data), so
    values centred on 0 are no sign of another platform. None: fewer than :data:`MIN_GENES` genes
    are measured, so there is nothing to compare.
    """
    values = np.asarray(values, dtype=np.float64)
    measured = np.isfinite(values).sum(axis=0) > 0
    if measured.sum() < MIN_GENES:
        return None
    x, m, s = values[:, measured], mean[measured], np.where(sd[measured] > 1e-12, sd[measured], 1.0)
    finite = x[np.isfinite(x)]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # a gene measured in no sample of a slice
        shift = np.abs(np.nanmedian(x, axis=0) - m) / s
        spread = np.nanstd(x, axis=0) / s if x.shape[0] >= MIN_COHORT_SAMPLES else None
        if spread is not None:
            alike = (shift < LOCATION_SD) & (spread > 1 / SPREAD_FACTOR) & (spread < SPREAD_FACTOR)
            share = float(np.mean(alike))
        else:
            within = np.abs(x - m) / s < SAMPLE_SD
            per_sample = np.where(np.isfinite(x), within, np.nan)
            share = float(np.nanmedian(np.nanmean(per_sample, axis=1)))
    negative = float(np.mean(finite < 0)) if finite.size else 0.0
    centred = negative >= 0.25 and abs(float(np.median(finite))) < 1.0 and not training_negative
    return PlatformCheck(int(x.shape[0]), int(measured.sum()), round(share, 4), round(float(np.nanmedian(shift)), 3),
                         None if spread is None else round(float(np.nanmedian(spread)), 3), round(negative, 4),
                         bool(trained_on_log and looks_like_counts(finite)), bool(centred))


@dataclass(frozen=True)
class ScalingDecision:
    """The scaling a prediction used, whether the user chose it, and why."""

    scaling: str
    requested: str
    reason: str
    platform: PlatformCheck | None = None

    @property
    def automatic(self) -> bool:
        return self.requested == AUTO

    def summary(self) -> str:
        """One line for a terminal or a status field: ``scaling cohort (auto): another platform: ...``."""
        return f"scaling {self.scaling} ({'auto' if self.automatic else 'chosen'}): {self.reason}"

    def to_json(self) -> dict[str, Any]:
        return {"scaling": self.scaling, "requested": self.requested, "reason": self.reason,
                "platform": None if self.platform is None else self.platform.to_json()}


def decide_scaling(check: PlatformCheck | None, requested: str, recommended: str | None, *, source: str,
                   cohort_name: str) -> ScalingDecision:
    """The scaling for ``requested`` (``auto`` or a scaling name) given the platform ``check``.

    ``auto``: the training statistics when the table matches the training cohort (``cohort_name``);
    otherwise the model's ``recommended`` cross-platform scaling (chosen on its external cohorts;
    ``cohort`` when the card names none, and the reason says so). A table from another platform
    with fewer than 10 samples cannot be scaled by its own cohort, and linear values are not log2
    expression: each is a :class:`GeneDataError` (``source`` names the table).
    """
    seen = "" if check is None else check.evidence()
    if requested != AUTO:
        if check is None or check.matches or requested != "model":
            return ScalingDecision(requested, requested, f"chosen by the user; {seen or 'no genes to compare'}", check)
        return ScalingDecision(requested, requested, f"chosen by the user although the table looks like another "
                               f"platform than {cohort_name}: {seen}", check)
    if check is None:
        raise GeneDataError(f"{source}: fewer than {MIN_GENES} of the model's genes are measured, so its platform "
                            "cannot be told; no prediction was made. Choose the scaling yourself (--standardise "
                            "model for the training cohort's platform)")
    if check.looks_linear:
        raise GeneDataError(f"{source}: {seen}, while {cohort_name} was log2 expression; log2-transform the table "
                            "first, or pass --standardise rank (ranks do not change under a log)")
    if check.matches:
        return ScalingDecision("model", AUTO, f"the table matches the training cohort ({cohort_name}): {seen}", check)
    if check.samples < MIN_COHORT_SAMPLES:
        raise GeneDataError(f"{source} looks like another platform than {cohort_name} ({seen}), and scaling by its "
                            f"own cohort needs at least {MIN_COHORT_SAMPLES} samples; it has {check.samples}. Add "
                            "samples measured the same way, or pass --standardise model to use the training "
                            "statistics anyway")
    chosen = recommended or "cohort"
    why = ("the model's recommended scaling for another platform (chosen on its external cohorts)" if recommended
           else "no scaling for another platform was chosen for this model (it was never tested on one), so the "
                "plainest: the table's own z-scores")
    return ScalingDecision(chosen, AUTO, f"another platform than {cohort_name}: {seen}; {why}", check)
