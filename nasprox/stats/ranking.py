"""Search-oriented ranking metrics: top-k hits, top-x%/top-x% overlap, pairwise-order probability.

All functions take (score, gt) with higher = better for both (flip lower-is-better targets first)
and omit non-finite pairs before computing.

Tie rules (documented here once, tested against brute force):
- "Top-k by score" is the k highest scores in a stable descending order: equal scores keep their
  input order. This mirrors what a search does (it must pick k networks).
- "Within the top-m by ground truth" means ground truth >= the m-th best ground truth, so networks
  tied with the m-th best count as inside.
- Pairwise order: pairs tied in ground truth have no better network and are excluded; pairs with
  different ground truth but tied scores count 1/2 (a coin flip picks one of them).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from nasprox.stats.correlation import finite_pairs, top_count


def _top_k_by_score(score: np.ndarray, k: int) -> np.ndarray:
    order = np.argsort(-score, kind="stable")
    return order[:k]


def _kth_best(values: np.ndarray, k: int) -> float:
    return float(np.sort(values)[::-1][k - 1])


def top_k_within(score, gt, k: int, m: int) -> int:
    """How many of the k best networks by score have ground truth within the top-m.

    ``top_k_within(s, a, 64, ceil(0.05 n))`` is the epsilon paper's "Top-64 within top-5%".
    """
    p = finite_pairs(score, gt)
    if p.n == 0:
        return 0
    k, m = min(k, p.n), min(m, p.n)
    picked = _top_k_by_score(p.x, k)
    return int(np.sum(p.y[picked] >= _kth_best(p.y, m)))


def top_k_hit_rate(score, gt, k: int) -> float:
    """Fraction of the k best by score that are among the k best by ground truth (ties as above)."""
    p = finite_pairs(score, gt)
    if p.n == 0:
        return math.nan
    k = min(k, p.n)
    return top_k_within(p.x, p.y, k, k) / k


def top_overlap(score, gt, fraction: float) -> float:
    """Top-x%/top-x% (epsilon paper): fraction of the top-x% by score that is in the top-x% by
    ground truth, with k = ceil(x * n) over the finite pairs."""
    p = finite_pairs(score, gt)
    if p.n == 0:
        return math.nan
    return top_k_hit_rate(p.x, p.y, top_count(p.n, fraction))


def top_k_within_top_fraction(score, gt, k: int = 64, fraction: float = 0.05) -> int:
    """ "Top-k within top-x%": count of the k best by score whose ground truth is in the top-x%."""
    p = finite_pairs(score, gt)
    return top_k_within(p.x, p.y, k, top_count(p.n, fraction)) if p.n else 0


def best_found_rank(score, gt) -> float:
    """Ground-truth rank (1 = best) of the network the proxy ranks first; NaN when empty."""
    p = finite_pairs(score, gt)
    if p.n == 0:
        return math.nan
    chosen = p.y[_top_k_by_score(p.x, 1)[0]]
    return float(1 + np.sum(p.y > chosen))


# -- pairwise order ------------------------------------------------------------------------------
def _tie_pairs(values: np.ndarray) -> int:
    _, counts = np.unique(values, return_counts=True)
    return int(np.sum(counts * (counts - 1) // 2))


def _dense_ranks(values: np.ndarray) -> np.ndarray:
    return np.unique(values, return_inverse=True)[1].astype(np.int64).ravel()


def _joint_ranks(x_rank: np.ndarray, y_rank: np.ndarray) -> np.ndarray:
    """One integer per (x, y) pair of dense ranks, equal exactly for equal pairs."""
    return x_rank * (int(y_rank.max()) + 1 if y_rank.size else 1) + y_rank


def merge_levels(sequence: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The levels of a bottom-up merge of non-negative integers, each done whole in numpy.

    At width w (1, 2, 4, ...) the sequence splits into blocks of 2w, and every element in the right half
    of a block pairs with the larger elements of its left half. Prefixing each value with its block
    number makes one sorted array hold every left half, each still sorted, so those larger elements are
    one run of it. Per level: the left-half positions in that sorted order, the right-half positions, and
    for each right-half element its run [start, end) in the former.
    """
    n = sequence.size
    span = int(sequence.max()) + 1 if n else 1
    position = np.arange(n, dtype=np.int64)
    width = 1
    while width < n:
        block = position // (2 * width)
        in_right_half = (position // width) % 2 == 1
        keys = block * span + sequence
        left = np.flatnonzero(~in_right_half)
        left = left[np.argsort(keys[left], kind="stable")]
        right = np.flatnonzero(in_right_half)
        run_end = np.searchsorted(keys[left], (block[right] + 1) * span, side="left")
        run_start = np.searchsorted(keys[left], keys[right], side="right")
        yield left, right, run_start, run_end
        width *= 2


def _inversions(sequence: np.ndarray) -> int:
    """Pairs i < j with sequence[i] > sequence[j], for non-negative integers, in O(n log^2 n): the runs of
    every ``merge_levels`` level (a Python loop per element was the report's bottleneck)."""
    return sum(int(np.sum(run_end - run_start)) for _, _, run_start, run_end in merge_levels(sequence))


@dataclass(frozen=True)
class PairCounts:
    """How the unordered pairs of (x, y) points split: every pair is concordant, discordant, or
    tied in x or y (``x_ties + y_ties - joint_ties`` pairs)."""

    total: int
    concordant: int
    discordant: int
    x_ties: int
    y_ties: int
    joint_ties: int


def pair_counts(x, y) -> PairCounts:
    """Exact pair counts of two equally long arrays, in O(n log^2 n).

    Sorted by (y, x), a pair is discordant exactly when its x values are out of order (pairs of
    equal y have x in order), and in order for a concordant pair or an equal-y pair with distinct x.
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    n = x.size
    x_rank, y_rank = _dense_ranks(x), _dense_ranks(y)
    total = n * (n - 1) // 2
    x_ties, y_ties = _tie_pairs(x_rank), _tie_pairs(y_rank)
    joint_ties = _tie_pairs(_joint_ranks(x_rank, y_rank))
    discordant = _inversions(x_rank[np.lexsort((x_rank, y_rank))])
    in_order = total - discordant - x_ties
    concordant = in_order - (y_ties - joint_ties)
    return PairCounts(total, concordant, discordant, x_ties, y_ties, joint_ties)


def concordance_counts(x, y) -> tuple[int, int]:
    """Exact (concordant, discordant) pair counts; a pair tied in x or y is neither."""
    counts = pair_counts(x, y)
    return counts.concordant, counts.discordant


def pairwise_order_probability(score, gt) -> float:
    """P(the better network by ground truth also has the higher score), over unordered pairs of
    distinct networks (NEAR paper, Table 12), computed exactly:

        P = (C + T_s / 2) / (N_pairs - T_gt)

    C: concordant pairs; T_s: pairs tied in score but not in ground truth (a coin flip);
    T_gt: pairs tied in ground truth (excluded: no better network). NaN when no pair qualifies.
    """
    p = finite_pairs(score, gt)
    counts = pair_counts(p.x, p.y)
    denominator = counts.total - counts.y_ties
    if denominator <= 0:
        return math.nan
    score_only_ties = counts.x_ties - counts.joint_ties
    return (counts.concordant + 0.5 * score_only_ties) / denominator
