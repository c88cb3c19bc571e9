"""Average-rank tables across spaces and datasets (NEAR paper, Table 4).

Per (space, dataset), proxies are ranked by a metric (default Spearman rho, higher is better;
rank 1 = best, ties get the average rank, proxies with a NaN metric are left unranked there).
The table then averages each proxy's ranks over the (space, dataset) cells it appears in.
"""

from __future__ import annotations

import pandas as pd

from nasprox.core import NasproxError


def average_rank_table(
    metrics: pd.DataFrame, metric: str = "spearman", by: tuple[str, ...] = ("space", "dataset")
) -> pd.DataFrame:
    """``metrics`` has one row per (space, dataset, proxy) with a ``metric`` column.

    Returns one row per proxy: ``proxy``, ``mean_rank``, ``n_cells`` and one rank column per cell
    (named ``space/dataset``), sorted by mean rank.
    """
    missing = [c for c in (*by, "proxy", metric) if c not in metrics.columns]
    if missing:
        raise NasproxError(f"average-rank table needs columns {', '.join(missing)}")
    frame = metrics.dropna(subset=[metric]).copy()
    if frame.empty:
        return pd.DataFrame(columns=["proxy", "mean_rank", "n_cells"])
    frame["cell"] = frame[list(by)].astype(str).agg("/".join, axis=1)
    frame["rank"] = frame.groupby("cell")[metric].rank(ascending=False, method="average")
    wide = frame.pivot_table(index="proxy", columns="cell", values="rank", aggfunc="first")
    out = pd.DataFrame({"mean_rank": wide.mean(axis=1), "n_cells": wide.notna().sum(axis=1)})
    out = out.join(wide).reset_index().sort_values(["mean_rank", "proxy"], kind="stable")
    return out.reset_index(drop=True)
