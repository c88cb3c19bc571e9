"""Label-free rank aggregation of several proxies, and a labelled greedy choice of the proxy subset.

Functional core on a matrix ``values`` (architectures x proxies, already oriented so that higher
is better, i.e. multiplied by each proxy's sign) with no missing values; callers drop incomplete
architectures first (``nasprox.predict.ensemble`` does, and says how many).

Per proxy, ranks are 1 = worst .. n = best, ties get the average rank (``scipy.stats.rankdata``).
Every aggregate is higher = better:

``rank-mean``  mean of the ranks (the usual "average rank" ensemble).
``geo-mean``   geometric mean of the ranks. A low rank in one proxy pulls the aggregate down more
               than in ``rank-mean``. Its order is identical to ``log-rank``'s (a monotone map of
               the same sum); the values differ (geo-mean lies in [1, n]).
``log-rank``   AZ-NAS's non-linear ranking aggregation (Lee & Ham, CVPR 2024): sum over proxies of
               log(rank / n), <= 0.
``borda``      Borda count: per proxy, the number of architectures this one strictly beats (a tie
               earns nothing), summed. Without ties it equals sum(rank - 1), i.e. the order of
               ``rank-mean``; it differs where proxies tie (params and flops tie a lot on NB201:
               both depend only on the convolution counts).

``greedy_select`` picks the subset on labelled architectures: start from nothing, add the proxy
that most raises the Spearman rho of the aggregate with the labels, stop when no addition raises
it. Only the labelled rows are ranked and compared, so the choice never sees other labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats as sps

from nasprox.core import NasproxError
from nasprox.stats import spearman_rho


def ranks(values: np.ndarray) -> np.ndarray:
    """Column-wise average ranks, 1 = lowest (worst) .. n = highest (best)."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise NasproxError("rank aggregation needs an (architectures x proxies) matrix")
    if not np.all(np.isfinite(values)):
        raise NasproxError("rank aggregation got missing or non-finite values; drop those architectures first")
    return (
        np.column_stack([sps.rankdata(values[:, j], method="average") for j in range(values.shape[1])])
        if values.shape[1]
        else np.zeros((values.shape[0], 0))
    )


def rank_mean(values: np.ndarray) -> np.ndarray:
    return ranks(values).mean(axis=1)


def geo_mean(values: np.ndarray) -> np.ndarray:
    return np.exp(np.log(ranks(values)).mean(axis=1))


def log_rank(values: np.ndarray) -> np.ndarray:
    r = ranks(values)
    return np.log(r / r.shape[0]).sum(axis=1)


def borda(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    ranks(values)  # same input checks
    beaten = [sps.rankdata(values[:, j], method="min") - 1 for j in range(values.shape[1])]
    return np.sum(beaten, axis=0).astype(float) if beaten else np.zeros(values.shape[0])


METHODS = {"rank-mean": rank_mean, "geo-mean": geo_mean, "log-rank": log_rank, "borda": borda}


def aggregate(values: np.ndarray, method: str) -> np.ndarray:
    """One aggregate score per row of the oriented ``values`` (module doc)."""
    try:
        fn = METHODS[method]
    except KeyError:
        raise NasproxError(f"unknown aggregation '{method}' (choose from {', '.join(METHODS)})") from None
    values = np.asarray(values, dtype=float)
    if values.shape[0] == 0:
        return np.zeros(0)
    if values.shape[1] == 0:
        raise NasproxError("rank aggregation needs at least one proxy")
    return fn(values)


@dataclass(frozen=True)
class Selection:
    """Result of :func:`greedy_select`: chosen column indices in order and the labelled-split rho
    after each step (``trace[i]`` = rho with ``chosen[:i + 1]``)."""

    chosen: tuple[int, ...]
    trace: tuple[float, ...]
    candidates: dict[int, tuple[float, ...]] = field(default_factory=dict)  # step -> rho of each candidate


def greedy_select(
    values: np.ndarray, gt: np.ndarray, labelled: np.ndarray, method: str = "rank-mean", max_size: int | None = None
) -> Selection:
    """Forward selection of proxy columns on the ``labelled`` rows only (module doc).

    ``values`` oriented and complete (rows x proxies), ``gt`` higher = better; rows of ``gt``
    outside ``labelled`` are never read. Ties between candidates go to the earlier column.
    """
    labelled = np.asarray(labelled, dtype=int)
    sub = np.asarray(values, dtype=float)[labelled]
    y = np.asarray(gt, dtype=float)[labelled]
    if not np.all(np.isfinite(y)):
        raise NasproxError("greedy selection: a labelled architecture has no finite ground truth")
    if labelled.size < 3:
        raise NasproxError("greedy selection needs at least 3 labelled architectures")
    n_cols = sub.shape[1]
    limit = n_cols if max_size is None else min(max_size, n_cols)
    chosen: list[int] = []
    trace: list[float] = []
    candidates: dict[int, tuple[float, ...]] = {}
    best = -np.inf
    while len(chosen) < limit:
        scores = []
        for j in range(n_cols):
            if j in chosen:
                scores.append(np.nan)
                continue
            rho = spearman_rho(aggregate(sub[:, chosen + [j]], method), y)
            scores.append(rho if np.isfinite(rho) else -np.inf)
        candidates[len(chosen)] = tuple(float(s) for s in scores)
        pick = int(np.nanargmax(np.where(np.isnan(scores), -np.inf, scores)))
        if not scores[pick] > best + 1e-12:
            break
        best = scores[pick]
        chosen.append(pick)
        trace.append(float(best))
    return Selection(tuple(chosen), tuple(trace), candidates)
