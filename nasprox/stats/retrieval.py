"""Retrieval-style ranking metrics: nDCG@k and Precision@T (top-T overlap).

Both take (score, gt) with higher = better for both (flip lower-is-better targets first), omit
non-finite pairs, and use the tie rules of ``nasprox.stats.ranking``: the k best by score are taken
in a stable descending order (equal scores keep their input order).

nDCG@k (Jarvelin & Kekalainen 2002)
    DCG@k = sum_{i=1..k} rel(a_i) / log2(i + 1), a_i the i-th best architecture by score;
    nDCG@k = DCG@k / IDCG@k, IDCG@k the DCG@k of the ground-truth order. ``gain`` sets rel:

    * ``"top-k"`` (default): graded relevance of the true top-k only, rel = k + 1 - r for an
      architecture of ground-truth rank r <= k (ties: average rank), 0 below. 1.0 means the proxy's
      first k are the true first k in the true order; finding none of the true top-k gives 0.
      Accuracy values are not used, only their order, so the metric does not depend on the
      accuracy scale (raw accuracies 85..94 % would make every nDCG look close to 1).
    * ``"value"``: rel = ground truth minus its minimum over the evaluated set (classic nDCG
      with accuracy as relevance; equals scikit-learn's ``ndcg_score`` on tie-free scores).

Precision@T
    |top-T by score  intersect  top-T by ground truth| / T, the "P@topK" of Ning et al. (NeurIPS
    2021, "Evaluating efficient performance estimators of neural architectures"). ``t`` is a count
    (int >= 1) or a fraction of the evaluated architectures (0 < t < 1: T = ceil(t * n)). An
    architecture tied with the T-th best ground truth counts as inside the true top-T.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from nasprox.core import NasproxError
from nasprox.stats.correlation import finite_pairs, top_count
from nasprox.stats.ranking import top_k_hit_rate

GAINS = ("top-k", "value")


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def ndcg_at_k(score, gt, k: int = 10, gain: str = "top-k") -> float:
    """Normalised discounted cumulative gain of the k best by score (module doc); NaN when empty
    or when no architecture has a positive relevance."""
    if gain not in GAINS:
        raise NasproxError(f"unknown nDCG gain '{gain}' (choose from {', '.join(GAINS)})")
    if k < 1:
        raise NasproxError(f"nDCG needs k >= 1 (got {k})")
    p = finite_pairs(score, gt)
    if p.n == 0:
        return math.nan
    k = min(int(k), p.n)
    if gain == "top-k":
        true_rank = sps.rankdata(-p.y, method="average")  # 1 = best
        rel = np.clip(k + 1 - true_rank, 0.0, None)
    else:
        rel = p.y - p.y.min()
    picked = np.argsort(-p.x, kind="stable")[:k]
    ideal = np.sort(rel)[::-1][:k]
    discount = _discounts(k)
    idcg = float(np.sum(ideal * discount))
    if idcg <= 0:
        return math.nan
    return float(np.sum(rel[picked] * discount)) / idcg


def resolve_t(t: int | float, n: int) -> int:
    """T as a count: ints >= 1 as given (capped at n), fractions 0 < t < 1 as ceil(t * n)."""
    if isinstance(t, float) and 0 < t < 1:
        return top_count(n, t)
    if float(t) >= 1 and float(t) == int(t):
        return min(int(t), n)
    raise NasproxError(f"Precision@T needs T >= 1 or a fraction in (0, 1) (got {t})")


def precision_at_t(score, gt, t: int | float = 10) -> float:
    """Share of the T best by score that are among the T best by ground truth (module doc)."""
    p = finite_pairs(score, gt)
    if p.n == 0:
        return math.nan
    return top_k_hit_rate(p.x, p.y, resolve_t(t, p.n))


def parse_t(text: str | int | float) -> int | float:
    """CLI spelling of T: ``'10'`` -> 10 architectures, ``'5%'`` or ``'0.05'`` -> the fraction 0.05."""
    if isinstance(text, (int, float)):
        return text
    raw = str(text).strip()
    try:
        if raw.endswith("%"):
            value = float(raw[:-1]) / 100
            if not 0 < value < 1:
                raise ValueError
            return value
        value = float(raw)
    except ValueError:
        raise NasproxError(f"cannot read T '{text}' (use a count like 10 or a share like 5%)") from None
    if 0 < value < 1:
        return value
    if value >= 1 and value == int(value):
        return int(value)
    raise NasproxError(f"cannot read T '{text}' (use a count like 10 or a share like 5%)")
