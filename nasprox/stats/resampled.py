"""Rank statistics of many bootstrap resamples at once, from each resample's multiplicities.

A resample of n pairs drawn with replacement is the original pairs, pair i taken ``w_i`` times (the
``w_i`` sum to n). Its ranks, tie counts and discordant pairs follow from the original data's order and
``w`` alone: copies of one pair tie with each other in both values, and any two distinct pairs compare
as they do in the data. So the order is worked out once per (x, y), and a batch of resamples costs a
few vectorised passes over its (resamples x n) multiplicity matrix, where the per-resample way sorts
every resample again and pays scipy's per-call overhead (the report's bootstrap: 1,000 resamples of
every cell). The values equal the per-resample functions' (scipy's for Spearman and Kendall) to
rounding: ``tests/test_stats.py`` checks both on tied data.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nasprox.stats.correlation import kendall_tau, spearman_rho
from nasprox.stats.ranking import _dense_ranks, _joint_ranks, merge_levels, pairwise_order_probability

CountsStatistic = Callable[[np.ndarray], np.ndarray]  # (resamples x n) multiplicities -> one value per resample


class _TieGroups:
    """The groups of equal values of one variable, in ascending order."""

    def __init__(self, values: np.ndarray) -> None:
        self.order = np.argsort(values, kind="stable")
        ordered = values[self.order]
        new_group = np.r_[True, ordered[1:] != ordered[:-1]] if values.size else np.zeros(0, dtype=bool)
        self.starts = np.flatnonzero(new_group)
        self.group_of = np.empty(values.size, dtype=np.int64)
        self.group_of[self.order] = np.cumsum(new_group) - 1

    def sizes(self, counts: np.ndarray) -> np.ndarray:
        """How many resampled pairs fall in each group: (resamples x groups)."""
        return np.add.reduceat(counts[:, self.order], self.starts, axis=1)

    def tied_pairs(self, counts: np.ndarray) -> np.ndarray:
        sizes = self.sizes(counts)
        return np.sum(sizes * (sizes - 1) // 2, axis=1)

    def average_ranks(self, counts: np.ndarray) -> np.ndarray:
        """Each original pair's average rank (1-based, ties averaged) within every resample."""
        sizes = self.sizes(counts).astype(float)
        below = np.cumsum(sizes, axis=1) - sizes
        return (below + (sizes + 1) / 2)[:, self.group_of]


class _Discordance:
    """Discordant pairs of a resample: pairs ordered one way by x and the other way by y.

    Sorted by (y, x), a pair is discordant exactly when its x ranks are out of order (as in
    ``ranking.pair_counts``), counted over ``ranking.merge_levels``: at each level a right-half element
    pairs with one run of the sorted left halves, fixed by the data. A resample weighs each pair by the
    product of the two multiplicities, so per level it is a cumulative sum of the sorted left halves'
    multiplicities read at the run's two ends.
    """

    def __init__(self, x_rank: np.ndarray, y_rank: np.ndarray) -> None:
        original = np.lexsort((x_rank, y_rank))  # original index of each position in (y, x) order
        self.levels: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        for left, right, run_start, run_end in merge_levels(x_rank[original]):
            pairs = run_end > run_start  # right-half elements with a larger element on their left
            self.levels.append((original[left], original[right[pairs]], run_start[pairs], run_end[pairs]))

    def __call__(self, counts: np.ndarray) -> np.ndarray:
        discordant = np.zeros(counts.shape[0], dtype=np.int64)
        for left, right, run_start, run_end in self.levels:
            if right.size == 0:
                continue
            cumulative = np.zeros((counts.shape[0], left.size + 1), dtype=np.int64)
            np.cumsum(counts[:, left], axis=1, out=cumulative[:, 1:])
            larger_on_left = cumulative[:, run_end] - cumulative[:, run_start]
            discordant += np.einsum("ij,ij->i", counts[:, right], larger_on_left)
        return discordant


class _PairCounts:
    """Pairs of each resample: total, tied in x, in y, in both, and discordant."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        x_rank, y_rank = _dense_ranks(x), _dense_ranks(y)
        self.x_groups, self.y_groups = _TieGroups(x_rank), _TieGroups(y_rank)
        self.joint_groups = _TieGroups(_joint_ranks(x_rank, y_rank))
        self.discordance = _Discordance(x_rank, y_rank)

    def __call__(self, counts: np.ndarray) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        n = int(counts[0].sum()) if counts.shape[0] else 0
        return (
            n * (n - 1) // 2,
            self.x_groups.tied_pairs(counts),
            self.y_groups.tied_pairs(counts),
            self.joint_groups.tied_pairs(counts),
            self.discordance(counts),
        )


def spearman_over_counts(x: np.ndarray, y: np.ndarray) -> CountsStatistic:
    """``spearman_rho`` of resamples: Pearson of the resample's average ranks, each pair weighed by
    its multiplicity (the mean rank is (n + 1) / 2 in every resample)."""
    x_groups, y_groups = _TieGroups(x), _TieGroups(y)

    def statistic(counts: np.ndarray) -> np.ndarray:
        weights = counts.astype(float)
        mean_rank = (weights.sum(axis=1, keepdims=True) + 1) / 2
        dx = x_groups.average_ranks(counts) - mean_rank
        dy = y_groups.average_ranks(counts) - mean_rank
        covariance = np.einsum("ij,ij,ij->i", weights, dx, dy)
        spread = np.sqrt(np.einsum("ij,ij,ij->i", weights, dx, dx) * np.einsum("ij,ij,ij->i", weights, dy, dy))
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = covariance / spread
        return np.where(spread > 0, np.clip(rho, -1.0, 1.0), np.nan)

    return statistic


def kendall_over_counts(x: np.ndarray, y: np.ndarray) -> CountsStatistic:
    """``kendall_tau`` (tau-b, as scipy) of resamples; NaN where x or y is constant."""
    pairs = _PairCounts(x, y)

    def statistic(counts: np.ndarray) -> np.ndarray:
        total, x_ties, y_ties, joint_ties, discordant = pairs(counts)
        concordant_minus_discordant = (total - x_ties - y_ties + joint_ties - 2 * discordant).astype(float)
        untied = (total - x_ties).astype(float) * (total - y_ties).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            tau = concordant_minus_discordant / np.sqrt(untied)
        return np.where((x_ties < total) & (y_ties < total), np.clip(tau, -1.0, 1.0), np.nan)

    return statistic


def pairwise_order_over_counts(score: np.ndarray, gt: np.ndarray) -> CountsStatistic:
    """``pairwise_order_probability`` of resamples: (C + T_s / 2) / (N_pairs - T_gt)."""
    pairs = _PairCounts(score, gt)

    def statistic(counts: np.ndarray) -> np.ndarray:
        total, x_ties, y_ties, joint_ties, discordant = pairs(counts)
        concordant = total - discordant - x_ties - (y_ties - joint_ties)
        denominator = (total - y_ties).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            probability = (concordant + 0.5 * (x_ties - joint_ties)) / denominator
        return np.where(denominator > 0, probability, np.nan)

    return statistic


# statistic -> its many-resamples form, built from the finite pairs; statistics not here are computed
# one resample at a time
OVER_COUNTS: dict[Callable, Callable[[np.ndarray, np.ndarray], CountsStatistic]] = {
    spearman_rho: spearman_over_counts,
    kendall_tau: kendall_over_counts,
    pairwise_order_probability: pairwise_order_over_counts,
}
