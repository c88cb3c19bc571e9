"""Paired comparison of two proxies on the cells they share: the difference of their rank correlation
with the target, and its paired bootstrap interval (``bootstrap.paired_bootstrap_ci``: the same drawn
cells for both proxies in every resample).

Two proxies' correlations computed on different cells, or compared through two separate intervals,
answer a different question; here both are computed on the cells where both scores and the target are
finite, and the interval is that of the difference itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from nasprox.core import NasproxError
from nasprox.stats.bootstrap import paired_bootstrap_ci, shared_cells
from nasprox.stats.correlation import CORRELATIONS
from nasprox.stats.results import ResultTable, target_values

PAIRED_METRICS = ("spearman", "kendall")
PAIRED_COLUMNS = [
    "space",
    "dataset",
    "target",
    "proxy_a",
    "proxy_b",
    "metric",
    "a",  # proxy_a's correlation on the shared cells
    "b",  # proxy_b's correlation on the shared cells
    "difference",  # a - b
    "ci_lo",
    "ci_hi",
    "n_shared",  # cells where both scores and the target are finite
    "excludes_zero",  # "yes" when the interval lies on one side of 0, "no" when it holds 0, "" without one
]


def parse_pairs(items: Iterable[str]) -> list[tuple[str, str]]:
    """``A,B`` items (``--pair near,synflow``) as (A, B) pairs; one clear error otherwise."""
    pairs = []
    for item in items:
        parts = [p.strip() for p in item.split(",")]
        if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
            raise NasproxError(f"--pair '{item}' must name two different proxies as A,B (e.g. near,synflow)")
        pairs.append((parts[0], parts[1]))
    return pairs


def excludes_zero(lo: float, hi: float) -> str:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return ""
    return "yes" if lo > 0 or hi < 0 else "no"


def paired_comparison_table(
    table: ResultTable,
    *,
    compare: Iterable[str] = (),
    pairs: Iterable[tuple[str, str]] = (),
    target: str | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    metrics: Iterable[str] = PAIRED_METRICS,
    ci: Callable[..., tuple[float, float]] = paired_bootstrap_ci,
) -> pd.DataFrame:
    """One row per (space, dataset, pair, metric) with both proxies scored there (``PAIRED_COLUMNS``).

    ``compare`` names reference proxies: each is paired with every other proxy of the group, as
    (reference, other), so a positive difference means the reference correlates better. ``pairs`` adds
    explicit (a, b) pairs. A name must be a result column of some group (``proxy`` or ``proxy@setting``).
    ``ci`` computes the paired interval (``BootstrapMemo.paired`` records and shares it in a report).
    """
    compare, pairs, metrics = list(compare), list(pairs), list(metrics)
    for name in metrics:
        if name not in CORRELATIONS:
            raise NasproxError(f"unknown paired metric '{name}' (choose from {', '.join(CORRELATIONS)})")
    wanted = set(compare) | {p for pair in pairs for p in pair}
    known = {p for _s, _d, _sub, proxies in table.groups() for p in proxies}
    missing = sorted(wanted - known)
    if missing:
        raise NasproxError(
            f"cannot compare {', '.join(missing)}: no such proxy in the results (have: {', '.join(sorted(known))})"
        )
    rows = []
    for space, dataset, sub, proxies in table.groups():
        group_pairs = [(ref, other) for ref in compare if ref in proxies for other in proxies if other != ref]
        group_pairs += [pair for pair in pairs if pair[0] in proxies and pair[1] in proxies]
        if not group_pairs:
            continue
        tgt = table.target_for(space, sub, target)
        gt = target_values(sub, space, tgt)
        for proxy_a, proxy_b in dict.fromkeys(group_pairs):  # in order, each pair once
            score_a, score_b = sub[proxy_a].to_numpy(dtype=float), sub[proxy_b].to_numpy(dtype=float)
            a_shared, b_shared, y_shared = shared_cells(score_a, score_b, gt)
            for name in metrics:
                statistic = CORRELATIONS[name]
                a, b = statistic(a_shared, y_shared), statistic(b_shared, y_shared)
                lo, hi = (
                    ci(statistic, score_a, score_b, gt, n_resamples=bootstrap, seed=seed)
                    if bootstrap
                    else (math.nan, math.nan)
                )
                rows.append(
                    {
                        "space": space,
                        "dataset": dataset,
                        "target": tgt,
                        "proxy_a": proxy_a,
                        "proxy_b": proxy_b,
                        "metric": name,
                        "a": a,
                        "b": b,
                        "difference": a - b if np.isfinite(a) and np.isfinite(b) else math.nan,
                        "ci_lo": lo,
                        "ci_hi": hi,
                        "n_shared": int(y_shared.size),
                        "excludes_zero": excludes_zero(lo, hi),
                    }
                )
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)
