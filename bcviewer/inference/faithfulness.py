"""The deletion check: is a map faithful to the model it explains?

For one tile, the top-attributed ``fraction`` of the model input's pixels are deleted (replaced by
the same baseline occlusion uses: the tile's mean colour) and the drop of p_malignant is measured;
the same is done for random sets of pixels of the same size. A faithful map names the pixels the
model needs, so deleting them lowers p more than deleting random ones. Over many malignant tiles
the mean paired difference (top minus random) and its bootstrap 95% interval are reported
(:func:`summarise`); ``docs/explanations.md`` holds the measured figures and
``tests/test_explain.py`` runs the check on real data and on a shipped fixture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bcviewer.inference.explain import TileExplainer, model_input, tile_mean_baseline

DEFAULT_FRACTION = 0.10
RANDOM_DRAWS = 5


@dataclass(frozen=True)
class DeletionResult:
    """One tile: p before, and the drop of p after deleting the top and random pixel sets."""

    p: float
    drop_top: float
    drop_random: float  # mean over the random draws

    @property
    def gain(self) -> float:
        """How much more deleting the top pixels lowered p than deleting random ones."""
        return self.drop_top - self.drop_random


@dataclass(frozen=True)
class DeletionSummary:
    """The check over many tiles (``passed``: the interval of the mean gain lies above 0)."""

    n: int
    mean_p: float
    mean_drop_top: float
    mean_drop_random: float
    mean_gain: float
    gain_low: float
    gain_high: float

    @property
    def passed(self) -> bool:
        return self.n > 0 and self.gain_low > 0

    def line(self) -> str:
        return (f"{self.n} tiles, mean p {self.mean_p:.3f}: deleting the top 10% lowers p by {self.mean_drop_top:.4f}, "
                f"a random 10% by {self.mean_drop_random:.4f}; difference {self.mean_gain:.4f} "
                f"(95% bootstrap interval {self.gain_low:.4f} to {self.gain_high:.4f})")


def deleted(x: np.ndarray, mask: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """``x`` ``(1, C, H, W)`` with the pixels where ``mask`` ``(H, W)`` is true set to ``baseline``."""
    out = x.copy()
    out[0][:, mask] = np.broadcast_to(baseline.reshape(-1, 1), (x.shape[1], int(mask.sum())))
    return out


def top_mask(attribution: np.ndarray, fraction: float) -> np.ndarray:
    """The ``fraction`` of pixels with the highest attribution (ties broken by position)."""
    k = max(1, round(attribution.size * fraction))
    order = np.argsort(-attribution.ravel(), kind="stable")[:k]
    mask = np.zeros(attribution.size, dtype=bool)
    mask[order] = True
    return mask.reshape(attribution.shape)


def deletion_result(explainer: TileExplainer, rgb: np.ndarray, attribution: np.ndarray, rng: np.random.Generator,
                    fraction: float = DEFAULT_FRACTION, draws: int = RANDOM_DRAWS) -> DeletionResult:
    """The deletion check on one tile picture ``rgb`` with its input-size ``attribution`` map."""
    x = model_input(rgb, explainer.spec)
    if attribution.shape != x.shape[-2:]:
        raise ValueError(f"the map is {attribution.shape}, the model input {x.shape[-2:]}")
    baseline = tile_mean_baseline(x[0])
    k = max(1, round(attribution.size * fraction))
    masks = [top_mask(attribution, fraction)]
    for _ in range(draws):
        chosen = np.zeros(attribution.size, dtype=bool)
        chosen[rng.choice(attribution.size, size=k, replace=False)] = True
        masks.append(chosen.reshape(attribution.shape))
    batch = np.concatenate([x] + [deleted(x, m, baseline) for m in masks], axis=0)
    p = explainer.p_of(batch)
    return DeletionResult(p=float(p[0]), drop_top=float(p[0] - p[1]), drop_random=float(np.mean(p[0] - p[2:])))


def summarise(results: Sequence[DeletionResult], seed: int = 0, resamples: int = 2000) -> DeletionSummary:
    """Means over tiles and a percentile bootstrap 95% interval of the mean gain."""
    gains = np.array([r.gain for r in results], dtype=np.float64)
    if not len(gains):
        return DeletionSummary(0, float("nan"), float("nan"), float("nan"), float("nan"), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = gains[rng.integers(0, len(gains), size=(resamples, len(gains)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return DeletionSummary(n=len(gains), mean_p=float(np.mean([r.p for r in results])),
                           mean_drop_top=float(np.mean([r.drop_top for r in results])),
                           mean_drop_random=float(np.mean([r.drop_random for r in results])),
                           mean_gain=float(gains.mean()), gain_low=float(low), gain_high=float(high))


def deletion_check(explainer: TileExplainer, tiles: Sequence[np.ndarray], seed: int = 0,
                   fraction: float = DEFAULT_FRACTION) -> tuple[DeletionSummary, list[DeletionResult]]:
    """Explain each tile picture and run the deletion check on it; the summary and each tile's result."""
    rng = np.random.default_rng(seed)
    results = [deletion_result(explainer, rgb, explainer.explain(rgb).input_attribution, rng, fraction)
               for rgb in tiles]
    return summarise(results, seed), results
