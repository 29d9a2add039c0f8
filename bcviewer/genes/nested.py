"""Repeated nested cross-validation of gene-model candidates against the single-gene baseline.

Outer: ``repeats`` x stratified ``n_splits``-fold (seed = repeat; repeat 0 uses the folds of the
networks' cards). Inside each outer training fold a candidate fits its own preprocessing and
tunes its C (and k) by its own inner CV, so the outer test fold never informs a choice.

Every model, networks included, is compared with the baseline on the same outer folds (repeat
0, seed 0: the folds of the networks' cards): a model *beats* the baseline when the 95% t
interval of its per-fold AUC gain over those 5 folds lies above 0. The repeats add, for the
models that can be refitted cheaply, the mean over 25 folds and a bootstrap interval (resampling
patients) of the pooled out-of-fold AUC and of its gain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from scipy import stats
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from bcviewer.genes.linear import linear_pipeline

BASELINE = "single-gene"
CONFIDENCE = 0.95


@dataclass
class NestedResult:
    """Out-of-fold P(positive) of every repeat (``repeats x samples``) and each outer fold's AUC."""

    name: str
    oof: np.ndarray
    fold_aucs: np.ndarray  # repeats x folds

    def summary(self) -> dict[str, float]:
        """``mean``/``sd`` over repeat 0's folds (comparable with the networks); ``repeated_*`` over all."""
        return {"mean": float(self.fold_aucs[0].mean()), "sd": float(self.fold_aucs[0].std(ddof=1)),
                "repeated_mean": float(self.fold_aucs.mean()), "repeated_sd": float(self.fold_aucs.std(ddof=1))}


def nested_cv(estimator: Any, X: np.ndarray, y: np.ndarray, *, name: str, repeats: int = 5, n_splits: int = 5,
              log2: str = "auto", say: Callable[[str], None] | None = None) -> NestedResult:
    """Outer repeated CV of ``estimator`` behind the fold-fitted log2 / z-score / imputation steps."""
    oof = np.full((repeats, len(y)), np.nan)
    aucs = np.zeros((repeats, n_splits))
    for r in range(repeats):
        for k, (train, test) in enumerate(StratifiedKFold(n_splits, shuffle=True, random_state=r).split(X, y)):
            pipe = linear_pipeline(clone(estimator), log2).fit(X[train], y[train])
            oof[r, test] = pipe.predict_proba(X[test])[:, 1]
            aucs[r, k] = roc_auc_score(y[test], oof[r, test])
        if say:
            say(f"{name}: repeat {r + 1}/{repeats}, mean fold AUC {aucs[r].mean():.4f}")
    return NestedResult(name, oof, aucs)


def _pooled_auc(y: np.ndarray, oof: np.ndarray, index: np.ndarray) -> float:
    return float(np.mean([roc_auc_score(y[index], row[index]) for row in oof]))


def bootstrap_interval(y: np.ndarray, statistic: Callable[[np.ndarray], float], n_boot: int = 1000,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile interval of ``statistic(indices)`` over patient resamples that hold both classes."""
    rng = np.random.default_rng(seed)
    values: list[float] = []
    while len(values) < n_boot:
        index = rng.integers(0, len(y), len(y))
        if 0 < y[index].sum() < len(index):
            values.append(statistic(index))
    low, high = np.percentile(values, [100 * (1 - CONFIDENCE) / 2, 100 * (1 + CONFIDENCE) / 2])
    return float(low), float(high)


def t_interval(values: np.ndarray) -> tuple[float, float]:
    """The 95% t interval of the mean of ``values`` (per-fold figures)."""
    values = np.asarray(values, dtype=np.float64)
    half = float(stats.t.ppf((1 + CONFIDENCE) / 2, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size))
    return float(values.mean() - half), float(values.mean() + half)


def paired_gain(fold_aucs: np.ndarray, baseline_fold_aucs: np.ndarray) -> dict[str, Any]:
    """Mean per-fold AUC gain over the baseline on the same folds, its 95% t interval, and whether
    that interval lies above 0."""
    gain = np.asarray(fold_aucs, dtype=np.float64) - np.asarray(baseline_fold_aucs, dtype=np.float64)
    low, high = t_interval(gain)
    return {"gain": float(gain.mean()), "gain_ci95": (low, high), "beats_baseline": bool(low > 0)}


def compare_with_baseline(results: dict[str, NestedResult], y: np.ndarray, baseline: str = BASELINE,
                          n_boot: int = 1000) -> dict[str, dict[str, Any]]:
    """Per candidate: AUC on repeat 0's folds (mean ± sd) and its paired gain over ``baseline``
    (:func:`paired_gain`); over all repeats, the mean, the bootstrap 95% CI of the pooled
    out-of-fold AUC and of its gain over the baseline."""
    base = results[baseline]
    everyone = np.arange(len(y))
    out: dict[str, dict[str, Any]] = {}
    for name, result in results.items():
        def pooled(index: np.ndarray, r: NestedResult = result) -> float:
            return _pooled_auc(y, r.oof, index)
        entry: dict[str, Any] = {**result.summary(), "pooled_auc": pooled(everyone),
                                 "ci95": bootstrap_interval(y, pooled, n_boot)}
        if name != baseline:
            def gain(index: np.ndarray, r: NestedResult = result) -> float:
                return _pooled_auc(y, r.oof, index) - _pooled_auc(y, base.oof, index)
            entry.update(paired_gain(result.fold_aucs[0], base.fold_aucs[0]))
            entry["repeated_gain"] = gain(everyone)
            entry["repeated_gain_ci95"] = bootstrap_interval(y, gain, n_boot)
        out[name] = entry
    return out


def choose_default(comparison: dict[str, dict[str, Any]], baseline: str = BASELINE,
                   networks: tuple[str, ...] = ()) -> tuple[str, str]:
    """The default model and why: the best mean CV AUC among the models that beat the baseline,
    else the baseline itself. The reason names the runner-up and the best of ``networks``, so the
    comparison is in one line."""
    base = comparison[baseline]
    others = sorted((n for n in comparison if n != baseline), key=lambda n: -comparison[n]["mean"])
    winners = [n for n in others if comparison[n].get("beats_baseline")]

    def gain(name: str) -> str:
        e = comparison[name]
        return f"gain {e['gain']:+.3f}, 95% CI {e['gain_ci95'][0]:+.3f} to {e['gain_ci95'][1]:+.3f}"

    if not winners:
        best = others[0]
        return baseline, (f"no model beat the single gene in CV: the best, {best}, has {comparison[best]['mean']:.3f} "
                          f"against {base['mean']:.3f} ({gain(best)}), so the single gene is the default")
    best = winners[0]
    runner = next((n for n in others if n != best), None)
    tail = f"; next best: {runner} {comparison[runner]['mean']:.3f}" if runner else ""
    net = next((n for n in others if n in networks and n not in (best, runner)), None)
    tail += f"; best network: {net} {comparison[net]['mean']:.3f}" if net else ""
    return best, (f"the best CV AUC of the models that beat the single gene: {best} {comparison[best]['mean']:.3f} "
                  f"against {base['mean']:.3f} ({gain(best)}){tail}")
