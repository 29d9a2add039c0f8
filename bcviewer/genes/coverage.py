"""Which of a model's genes a table measures, and the table laid out in the model's gene order."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bcviewer.genes.choices import (
    DEFAULT_MIN_COVERAGE as DEFAULT_MIN_COVERAGE,  # re-exported
)
from bcviewer.genes.errors import LowCoverageError, NoGeneOverlapError


@dataclass
class CoverageReport:
    """Genes of the model found in the table; missing ones and per-sample gaps are imputed."""

    model_genes: list[str]
    present: list[str]
    missing: list[str]
    per_sample: pd.Series  # fraction of model genes measured (non-missing) in each sample
    imputed: dict[str, list[str]] = field(default_factory=dict)  # sample -> genes filled by imputation
    # sample -> genes whose cell holds +inf/-inf: a bad value, never imputed (prediction refuses it)
    infinite: dict[str, list[str]] = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        """Share of the model's genes that occur in the table at all."""
        return len(self.present) / len(self.model_genes)

    @property
    def bad_cells(self) -> int:
        """How many cells hold an infinite value (bad cells, not measurements and not imputed)."""
        return sum(len(genes) for genes in self.infinite.values())

    def bad_cells_text(self, limit: int = 3) -> str:
        """'2 cells hold infinite values (sample S1: ESR1; sample S2: PGR)', or '' when none does."""
        if not self.infinite:
            return ""
        shown = "; ".join(f"sample {s}: {', '.join(g)}" for s, g in list(self.infinite.items())[:limit])
        more = " ..." if len(self.infinite) > limit else ""
        n = self.bad_cells
        return f"{n} cell{'s' if n != 1 else ''} hold{'s' if n == 1 else ''} an infinite value ({shown}{more})"

    def summary(self) -> str:
        text = f"{len(self.present)} of {len(self.model_genes)} model genes present ({self.fraction:.0%})"
        if self.missing:
            text += "; missing (imputed with the training median): " + ", ".join(self.missing[:10])
            text += " ..." if len(self.missing) > 10 else ""
        if self.infinite:
            text += "; " + self.bad_cells_text()
        return text

    def to_json(self) -> dict[str, object]:
        return {"model_genes": len(self.model_genes), "present": len(self.present), "fraction": round(self.fraction, 4),
                "missing": list(self.missing), "min_sample_coverage": round(float(self.per_sample.min()), 4),
                "infinite_cells": self.bad_cells}


def align_to_genes(expression: pd.DataFrame, genes: list[str]) -> tuple[np.ndarray, CoverageReport]:
    """Samples x ``genes`` array (NaN where a gene or a value is missing) and its coverage report."""
    present = [g for g in genes if g in expression.columns]
    if not present:
        raise NoGeneOverlapError(
            "none of the model's genes occur in the table (model genes such as "
            + ", ".join(genes[:5]) + "; table columns such as " + ", ".join(map(str, expression.columns[:5]))
            + "). Check that genes are columns named by symbol, or pass the right --orientation")
    aligned = expression.reindex(columns=genes)
    values = aligned.to_numpy(dtype=np.float64)
    measured = np.isfinite(values)
    per_sample = pd.Series(measured.mean(axis=1), index=expression.index, name="gene_coverage")
    # Only empty cells (NaN) are imputed; an infinite value is a bad cell that the user must fix.
    imputed = _genes_by_sample(np.isnan(values), expression.index, genes)
    infinite = _genes_by_sample(np.isinf(values), expression.index, genes)
    missing = [g for g in genes if g not in expression.columns]
    return values, CoverageReport(list(genes), present, missing, per_sample, imputed, infinite)


def _genes_by_sample(mask: np.ndarray, samples: pd.Index, genes: list[str]) -> dict[str, list[str]]:
    return {str(sample): [genes[j] for j in np.flatnonzero(row)] for sample, row in zip(samples, mask) if row.any()}


def require_coverage(report: CoverageReport, floor: float, source: str) -> None:
    """Refuse a table (or samples) measuring fewer than ``floor`` of the model's genes."""
    if report.fraction < floor:
        raise LowCoverageError(
            f"{source}: only {len(report.present)} of the model's {len(report.model_genes)} genes are present "
            f"({report.fraction:.0%}, below the {floor:.0%} floor); missing: " + ", ".join(report.missing[:8])
            + (" ..." if len(report.missing) > 8 else "") + ". Predictions would rest on imputed values")
    low = report.per_sample[report.per_sample < floor]
    if len(low):
        raise LowCoverageError(
            f"{source}: {len(low)} samples measure fewer than {floor:.0%} of the model's genes: "
            + ", ".join(f"{s} ({v:.0%})" for s, v in low.head(5).items()) + "; remove them or lower the floor")
