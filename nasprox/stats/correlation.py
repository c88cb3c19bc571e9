"""Rank and linear correlations between proxy scores and ground truth, on all and on the top-x%.

Conventions (PROXY_SPEC section 1, "Evaluation conventions"):
- Kendall is tau-b and Spearman uses average ranks for ties, both exactly as scipy computes them.
- Non-finite pairs (NaN/inf score or ground truth) are omitted and counted, like ``nan_policy='omit'``.
- Every function here assumes higher ground truth is better; callers flip lower-is-better targets
  (``nasprox.stats.results.target_values`` does) before calling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from nasprox.core import NasproxError


@dataclass(frozen=True)
class FinitePairs:
    """The pairs where both values are finite, plus how many were dropped."""

    x: np.ndarray
    y: np.ndarray
    n_nonfinite: int

    @property
    def n(self) -> int:
        return int(self.x.size)


def finite_pairs(x, y) -> FinitePairs:
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise NasproxError(f"score and ground truth differ in length ({x.size} vs {y.size})")
    keep = np.isfinite(x) & np.isfinite(y)
    return FinitePairs(x[keep], y[keep], int(keep.size - keep.sum()))


def _constant(v: np.ndarray) -> bool:
    return v.size == 0 or bool(np.all(v == v[0]))


def kendall_tau(x, y) -> float:
    """Kendall tau-b (scipy's ``kendalltau`` with its default variant); NaN if undefined."""
    p = finite_pairs(x, y)
    if p.n < 2 or _constant(p.x) or _constant(p.y):
        return math.nan
    return float(sps.kendalltau(p.x, p.y).statistic)


def spearman_rho(x, y) -> float:
    """Spearman rho: Pearson correlation of average ranks (scipy ``spearmanr``); NaN if undefined."""
    p = finite_pairs(x, y)
    if p.n < 2 or _constant(p.x) or _constant(p.y):
        return math.nan
    return float(sps.spearmanr(p.x, p.y).statistic)


def pearson_r(x, y) -> float:
    """Pearson r on the raw values; NaN if undefined."""
    p = finite_pairs(x, y)
    if p.n < 2 or _constant(p.x) or _constant(p.y):
        return math.nan
    return float(sps.pearsonr(p.x, p.y).statistic)


CORRELATIONS = {"kendall": kendall_tau, "spearman": spearman_rho, "pearson": pearson_r}


def parse_fraction(text: str | float) -> float:
    """``'10%'``, ``'10'`` (percent) or ``0.1`` -> 0.1; errors are one line."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        raw = text.strip()
        try:
            value = float(raw.rstrip("%")) / 100 if raw.endswith("%") or float(raw) > 1 else float(raw)
        except ValueError:
            raise NasproxError(f"cannot read fraction '{text}' (use e.g. 10% or 0.1)") from None
    if not 0 < value <= 1:
        raise NasproxError(f"fraction {text} out of range (0%, 100%]")
    return value


def top_count(n: int, fraction: float) -> int:
    """How many of ``n`` architectures form the top ``fraction``: ceil(fraction * n), at least 1."""
    return max(1, math.ceil(fraction * n - 1e-9)) if n else 0


def top_fraction_mask(gt, fraction: float) -> np.ndarray:
    """Boolean mask of the top ``fraction`` by ground truth among finite ground-truth values.

    Rule: k = ceil(fraction * n_finite); an architecture is in the top set when its ground truth
    is >= the k-th best value, so ties at the boundary are all kept (the set may exceed k).
    """
    gt = np.asarray(gt, dtype=float).ravel()
    finite = np.isfinite(gt)
    mask = np.zeros(gt.shape, dtype=bool)
    n = int(finite.sum())
    if n == 0:
        return mask
    k = top_count(n, fraction)
    threshold = np.sort(gt[finite])[::-1][k - 1]
    mask[finite] = gt[finite] >= threshold
    return mask


def correlate_top(score, gt, fraction: float, method: str = "spearman") -> float:
    """Correlation restricted to the top ``fraction`` by ground truth (selected before NaN scores
    are dropped, so a proxy that fails on good networks is not rewarded)."""
    score = np.asarray(score, dtype=float).ravel()
    gt = np.asarray(gt, dtype=float).ravel()
    mask = top_fraction_mask(gt, fraction)
    return CORRELATIONS[method](score[mask], gt[mask])
