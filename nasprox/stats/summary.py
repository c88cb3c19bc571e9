"""Per (space, dataset, proxy) metric tables computed from a ResultTable."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from nasprox.stats.bootstrap import bootstrap_ci
from nasprox.stats.correlation import correlate_top, finite_pairs, kendall_tau, pearson_r, spearman_rho
from nasprox.stats.ranking import pairwise_order_probability, top_k_within_top_fraction, top_overlap
from nasprox.stats.results import ResultTable, target_values
from nasprox.stats.retrieval import ndcg_at_k, precision_at_t


def _proxy_scores(table: ResultTable, target: str | None):
    """Per (space, dataset, proxy): the row's identifying columns, the scores and the ground truth."""
    for space, dataset, sub, proxies in table.groups():
        tgt = table.target_for(space, sub, target)
        gt = target_values(sub, space, tgt)
        for proxy in proxies:
            ids = {"space": space, "dataset": dataset, "target": tgt, "proxy": proxy}
            yield ids, sub[proxy].to_numpy(dtype=float), gt


def correlation_table(
    table: ResultTable,
    *,
    target: str | None = None,
    top: float = 0.1,
    bootstrap: int = 0,
    seed: int = 0,
    ndcg_k: int = 10,
    precision_t: int | float = 10,
    ci: Callable[..., tuple[float, float]] = bootstrap_ci,
) -> pd.DataFrame:
    """Kendall tau and Spearman rho on all and on the top-``top`` by ground truth, per proxy.

    ``target`` None uses each space's default target. ``n_used`` counts finite pairs and
    ``n_nonfinite`` the architectures dropped for a non-finite score or ground truth.
    With ``bootstrap`` > 0, seeded 95% percentile intervals are added for the all-data values.
    ``ndcg_at_k`` (top-k gain) and ``precision_at_t`` (top-T overlap; T a count or a fraction) are
    described in ``nasprox.stats.retrieval``; ``ndcg_k`` and ``precision_t`` record k and T.
    ``ci`` computes the intervals (a ``BootstrapMemo`` shares them with other tables).
    """
    rows = []
    for ids, score, gt in _proxy_scores(table, target):
        pairs = finite_pairs(score, gt)
        row = {
            **ids,
            "kendall": kendall_tau(score, gt),
            "spearman": spearman_rho(score, gt),
            "top": top,
            "kendall_top": correlate_top(score, gt, top, "kendall"),
            "spearman_top": correlate_top(score, gt, top, "spearman"),
            "n_used": pairs.n,
            "n_nonfinite": pairs.n_nonfinite,
            "ndcg_at_k": ndcg_at_k(score, gt, ndcg_k),
            "precision_at_t": precision_at_t(score, gt, precision_t),
            "ndcg_k": ndcg_k,
            "precision_t": precision_t,
        }
        if bootstrap:
            row["kendall_lo"], row["kendall_hi"] = ci(kendall_tau, score, gt, n_resamples=bootstrap, seed=seed)
            row["spearman_lo"], row["spearman_hi"] = ci(spearman_rho, score, gt, n_resamples=bootstrap, seed=seed)
        rows.append(row)
    return pd.DataFrame(rows)


def search_metrics_table(
    table: ResultTable, *, target: str | None = None, fraction: float = 0.1, top_k: int = 64, within: float = 0.05
) -> pd.DataFrame:
    """Pearson r, pairwise-order probability, top-x%/top-x% overlap and "top-k within top-y%"."""
    rows = []
    for ids, score, gt in _proxy_scores(table, target):
        rows.append(
            {
                **ids,
                "pearson": pearson_r(score, gt),
                "pairwise_order": pairwise_order_probability(score, gt),
                "top_overlap": top_overlap(score, gt, fraction),
                f"top{top_k}_within": top_k_within_top_fraction(score, gt, top_k, within),
                "n_used": finite_pairs(score, gt).n,
            }
        )
    return pd.DataFrame(rows)


def correlation_vs_top(
    table: ResultTable,
    *,
    target: str | None = None,
    fractions=(0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0),
    method: str = "spearman",
) -> pd.DataFrame:
    """Correlation on the top-x% for a range of x, one row per (space, dataset, proxy, fraction)."""
    rows = []
    for ids, score, gt in _proxy_scores(table, target):
        for fraction in fractions:
            rows.append({**ids, "fraction": fraction, method: correlate_top(score, gt, fraction, method)})
    return pd.DataFrame(rows)
