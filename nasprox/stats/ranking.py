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


def _joint_tie_pairs(x: np.ndarray, y: np.ndarray) -> int:
    _, counts = np.unique(np.stack([x, y], axis=1), axis=0, return_counts=True)
    return int(np.sum(counts * (counts - 1) // 2))


def concordance_counts(x, y) -> tuple[int, int]:
    """Exact (concordant, discordant) pair counts in O(n log n) with a Fenwick tree.

    Pairs are grouped by y; within equal y nothing is counted (those pairs are tied in y), and a
    pair with equal x is neither concordant nor discordant.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = x.size
    # dense ranks of x, 1-based for the Fenwick tree
    _, x_rank = np.unique(x, return_inverse=True)
    x_rank = x_rank + 1
    size = int(x_rank.max()) if n else 0
    tree = [0] * (size + 1)

    def add(i: int) -> None:
        while i <= size:
            tree[i] += 1
            i += i & -i

    def prefix(i: int) -> int:  # how many inserted have rank <= i
        total = 0
        while i > 0:
            total += tree[i]
            i -= i & -i
        return total

    order = np.lexsort((x, y))
    y_sorted = y[order]
    concordant = discordant = inserted = 0
    start = 0
    while start < n:
        stop = start
        while stop < n and y_sorted[stop] == y_sorted[start]:
            stop += 1
        group = order[start:stop]
        for i in group:  # every inserted element has strictly smaller y
            r = int(x_rank[i])
            concordant += prefix(r - 1)
            discordant += inserted - prefix(r)
        for i in group:
            add(int(x_rank[i]))
        inserted += len(group)
        start = stop
    return concordant, discordant


def pairwise_order_probability(score, gt) -> float:
    """P(the better network by ground truth also has the higher score), over unordered pairs of
    distinct networks (NEAR paper, Table 12), computed exactly:

        P = (C + T_s / 2) / (N_pairs - T_gt)

    C: concordant pairs; T_s: pairs tied in score but not in ground truth (a coin flip);
    T_gt: pairs tied in ground truth (excluded: no better network). NaN when no pair qualifies.
    """
    p = finite_pairs(score, gt)
    n = p.n
    total = n * (n - 1) // 2
    gt_ties = _tie_pairs(p.y)
    score_only_ties = _tie_pairs(p.x) - _joint_tie_pairs(p.x, p.y)
    denominator = total - gt_ties
    if denominator <= 0:
        return math.nan
    concordant, _ = concordance_counts(p.x, p.y)
    return (concordant + 0.5 * score_only_ties) / denominator
