"""How sure a number is: bootstrap intervals of a mean over clusters, and of a paired difference; numpy only.

Why a bootstrap over *clusters*: pairs that share a prompt are not independent evidence (a model that handles a
prompt well tends to win all of that prompt's pairs), so a bootstrap that resamples pairs one by one makes the
interval too narrow. Here whole clusters (prompts) are drawn with replacement and every pair of a drawn cluster
comes along; with one pair per prompt this is the ordinary bootstrap. The statistic of a resample is the mean
over all its pairs (sum of the drawn clusters' totals / their pair count), the same statistic as the estimate.

Why percentile intervals, seeded: they need no normality assumption (accuracies near 0 or 1 are skewed) and the
same scores with the same seed give the same bounds, so a rerun or another machine reports identical numbers.

Why a *paired* difference: two runs scored on the same pairs share the pairs' difficulty; the interval of the
per-pair difference is far narrower than what two separate intervals suggest, and it is the one that says
whether two trials can be told apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
N_RESAMPLES = 2000
SEED = 0
Z95 = 1.959963984540054  # the standard normal's 97.5% quantile


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap percentile interval, standard error and pair count."""

    estimate: float
    low: float
    high: float
    se: float  # standard deviation of the bootstrap distribution
    n: int  # pairs (not clusters) behind the estimate
    clusters: int

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def _cluster_totals(values: np.ndarray, clusters: Sequence[object] | None) -> tuple[np.ndarray, np.ndarray]:
    """(sum of values, number of pairs) per cluster, in first-seen order; no clusters = one cluster per pair."""
    if clusters is None:
        return values, np.ones_like(values)
    if len(clusters) != len(values):
        raise ValueError(f"{len(clusters)} cluster labels for {len(values)} values")
    index: dict[object, int] = {}
    codes = np.fromiter((index.setdefault(c, len(index)) for c in clusters), dtype=np.int64, count=len(clusters))
    totals = np.bincount(codes, weights=values, minlength=len(index))
    counts = np.bincount(codes, minlength=len(index)).astype(float)
    return totals, counts


def bootstrap_mean(
    values: Sequence[float],
    clusters: Sequence[object] | None = None,
    *,
    level: float = LEVEL,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
) -> Interval:
    """Percentile bootstrap interval of the mean of `values`, resampling whole clusters (e.g. prompts)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("the interval of a mean of zero values is undefined")
    totals, counts = _cluster_totals(x, clusters)
    k = len(totals)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, k, size=(n_resamples, k))
    means = totals[draws].sum(axis=1) / counts[draws].sum(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    estimate = float(x.mean())
    # float noise of the resample sums must not push a bound past a constant estimate
    low, high = min(float(low), estimate), max(float(high), estimate)
    return Interval(estimate, low, high, float(means.std(ddof=1)) if n_resamples > 1 else 0.0, int(x.size), k)


def paired_difference(
    a: Sequence[float],
    b: Sequence[float],
    clusters: Sequence[object] | None = None,
    **kwargs: float,
) -> Interval:
    """Interval of mean(a - b) for two score vectors on the same pairs (same order), resampling clusters."""
    if len(a) != len(b):
        raise ValueError(f"paired scores need the same pairs: {len(a)} against {len(b)}")
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    return bootstrap_mean(diff, clusters, **kwargs)  # type: ignore[arg-type]


def resolvable_difference(n_pairs: int, z: float = Z95) -> float:
    """The smallest accuracy difference `n_pairs` pairs can tell from noise: the 95% half-width of an accuracy
    at 0.5 (its widest), z * 0.5 / sqrt(n). 64 pairs: 0.12; 400 pairs: 0.05; 1600 pairs: 0.025."""
    if n_pairs <= 0:
        return math.inf
    return z * 0.5 / math.sqrt(n_pairs)


def pairs_for_resolution(difference: float, z: float = Z95) -> int:
    """Validation pairs needed so that `difference` is no longer noise (the inverse of `resolvable_difference`)."""
    return math.ceil((z * 0.5 / difference) ** 2)
