"""Correlations over scoring seeds and top fractions (the zero-shot survey's Figs. 6-9 and 13-14).

``seed_summary`` gives, per (space, dataset, proxy, top fraction), Kendall tau and Spearman rho of the proxy
on the top fraction of the cells by the target (1.0: all cells), computed at every scoring seed
(``proxy@seed=N`` columns of ``load_results(keep_settings_apart=True)``, or the one plain column), then their
mean, standard deviation over the seeds and a 95% interval: a t-interval of the mean over the seeds, or, with
one seed, a bootstrap over the cells.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from nasprox.core import NasproxError, proxy_of_column
from nasprox.report.published import seed_columns
from nasprox.stats import correlate_top, target_values
from nasprox.stats.bootstrap import bootstrap_ci
from nasprox.stats.correlation import finite_pairs, top_fraction_mask
from nasprox.stats.results import ResultTable

SEED_SUMMARY_COLUMNS = [
    "space",
    "dataset",
    "proxy",
    "target",
    "top",
    "n_top",
    "n_used",
    "seeds",
    "kendall",
    "kendall_sd",
    "kendall_lo",
    "kendall_hi",
    "spearman",
    "spearman_sd",
    "spearman_lo",
    "spearman_hi",
    "interval",
]


def _interval(values: np.ndarray) -> tuple[float, float, float, float]:
    """(mean, sd, lo, hi) of per-seed values: a 95% t-interval of the mean (NaN with fewer than 2 values)."""
    from scipy.stats import t as student_t

    values = values[np.isfinite(values)]
    if len(values) == 0:
        return math.nan, math.nan, math.nan, math.nan
    mean = float(values.mean())
    if len(values) < 2:
        return mean, math.nan, math.nan, math.nan
    sd = float(values.std(ddof=1))
    half = float(student_t.ppf(0.975, len(values) - 1) * sd / math.sqrt(len(values)))
    return mean, sd, mean - half, mean + half


def seed_summary(
    table: ResultTable,
    fractions: Sequence[float],
    target: str | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (space, dataset, proxy, top fraction); see the module doc."""
    rows = []
    for space, dataset, sub, proxies in table.groups():
        tgt = table.target_for(space, sub, target)
        try:
            gt = target_values(sub, space, tgt)
        except NasproxError:
            continue
        for proxy in dict.fromkeys(proxy_of_column(c) for c in proxies):
            columns = seed_columns(proxy, proxies)
            if not columns:  # kept apart by another setting (a batch size): the correlation tables show it
                continue
            scores = [sub[c].to_numpy(dtype=float) for c in columns]
            for fraction in fractions:
                mask = top_fraction_mask(gt, fraction)
                row: dict[str, object] = {
                    "space": space,
                    "dataset": dataset,
                    "proxy": proxy,
                    "target": tgt.removeprefix("gt_"),
                    "top": fraction,
                    "n_top": int(mask.sum()),
                    "n_used": min(finite_pairs(s[mask], gt[mask]).n for s in scores),
                    "seeds": len(columns),
                    "interval": "t over seeds" if len(columns) >= 2 else f"bootstrap over cells ({bootstrap})",
                }
                for method in ("kendall", "spearman"):
                    statistic = functools.partial(correlate_top, fraction=fraction, method=method)
                    values = np.array([statistic(s, gt) for s in scores], dtype=float)
                    mean, sd, lo, hi = _interval(values)
                    if len(columns) == 1 and bootstrap and math.isfinite(mean):
                        lo, hi = bootstrap_ci(statistic, scores[0], gt, n_resamples=bootstrap, seed=seed)
                    row.update({method: mean, f"{method}_sd": sd, f"{method}_lo": lo, f"{method}_hi": hi})
                rows.append(row)
    return pd.DataFrame(rows, columns=SEED_SUMMARY_COLUMNS)
