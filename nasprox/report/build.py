"""Write a full report folder: tables (md, csv, tex) and figures (png, pdf)."""
from __future__ import annotations

import re
from pathlib import Path

from nasprox.report.plots import correlation_vs_top_plot, scatter_score_vs_target
from nasprox.report.published import compare_published, load_published
from nasprox.report.tables import write_table
from nasprox.stats import average_rank_table, correlation_table, correlation_vs_top, search_metrics_table
from nasprox.stats.results import ResultTable, default_target, target_values


def _slug(*parts: str) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9._+-]+", "-", p).strip("-") for p in parts)


def _params_colour(sub):
    """#params for colouring scatters: the benchmark's figure, else the scored ``params`` proxy."""
    for column in ("gt_params", "params"):
        if column in sub.columns and sub[column].notna().any():
            return sub[column].to_numpy(dtype=float)
    return None


def write_report(table: ResultTable, out: Path, *, target: str | None = None, top: float = 0.1,
                 bootstrap: int = 0, seed: int = 0, published_dir: Path | None = None,
                 plots: bool = True) -> list[Path]:
    """Write every table and figure under ``out``; returns the written paths."""
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    correlations = correlation_table(table, target=target, top=top, bootstrap=bootstrap, seed=seed)
    written += write_table(correlations, out / "correlations", caption=f"Kendall and Spearman (all, top {top:.0%})")
    written += write_table(search_metrics_table(table, target=target), out / "search_metrics",
                           caption="Pearson, pairwise-order probability, top-10%/top-10%, top-64 within top-5%")
    ranks = average_rank_table(correlations, "spearman")
    written += write_table(ranks, out / "average_ranks", digits=2, caption="Average rank by Spearman rho")
    comparison = compare_published(load_published(published_dir), table)
    written += write_table(comparison, out / "published_vs_ours", caption="Published vs ours")

    if plots:
        curves = correlation_vs_top(table, target=target)
        for space, dataset, sub, proxies in table.groups():
            tgt = target or default_target(space)
            gt = target_values(sub, space, tgt)
            params = _params_colour(sub)
            for proxy in proxies:
                stem = out / "figures" / _slug("scatter", space, dataset, proxy)
                written += scatter_score_vs_target(sub[proxy].to_numpy(dtype=float), gt, params,
                                                   title=f"{proxy} on {space}/{dataset}",
                                                   target_label=tgt, stem=stem)
            cell = curves[(curves["space"] == space) & (curves["dataset"] == dataset)]
            if not cell.empty:
                written += correlation_vs_top_plot(cell, method="spearman", title=f"{space}/{dataset}",
                                                   stem=out / "figures" / _slug("top_curve", space, dataset))
    return written
