"""Seeded percentile bootstrap confidence intervals for any paired statistic."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from nasprox.core import NasproxError
from nasprox.stats.correlation import finite_pairs


def bootstrap_ci(
    statistic: Callable[[np.ndarray, np.ndarray], float],
    x,
    y,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of ``statistic`` over resamples (with replacement) of the finite pairs.

    Resamples where the statistic is undefined (NaN, e.g. a constant resample) are skipped; the
    interval is NaN when fewer than half of the resamples are usable.
    """
    if n_resamples < 1:
        raise NasproxError(f"bootstrap needs at least one resample (got {n_resamples})")
    if not 0 < confidence < 1:
        raise NasproxError(f"confidence {confidence} must lie in (0, 1)")
    p = finite_pairs(x, y)
    if p.n < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    values = np.empty(n_resamples)
    for i in range(n_resamples):
        picked = rng.integers(0, p.n, size=p.n)
        values[i] = statistic(p.x[picked], p.y[picked])
    values = values[np.isfinite(values)]
    if values.size < n_resamples / 2:
        return math.nan, math.nan
    alpha = (1 - confidence) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return float(low), float(high)
