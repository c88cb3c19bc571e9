"""Correlations over scoring seeds and top fractions (the zero-shot survey's Figs. 6-9 and 13-14).

``seed_summary`` gives, per (space, dataset, proxy, top fraction), Kendall tau and Spearman rho of the proxy
on the top fraction of the cells by the target (1.0: all cells), computed at every scoring seed
(``proxy@seed=N`` columns of ``load_results(keep_settings_apart=True)``, or the one plain column), then their
mean and standard deviation over the seeds, and a 95% interval of that mean from a bootstrap over the cells
(the same resample for every seed; without a bootstrap, a t-interval over the seeds). A seed that scored fewer than 90% of the cells the best-covered seed scored
(a run still going, or stopped) is left out of the mean and named in ``seeds_left_out``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence, Set
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from nasprox.core import SETTING_SEPARATOR, NasproxError, proxy_of_column
from nasprox.report.published import seed_columns
from nasprox.stats import correlate_top, target_values
from nasprox.stats.bootstrap import bootstrap_ci
from nasprox.stats.correlation import finite_pairs, top_fraction_mask
from nasprox.stats.results import ResultTable

if TYPE_CHECKING:
    from nasprox.report.findings import Finding

SEED_SUMMARY_COLUMNS = [
    "space",
    "dataset",
    "proxy",
    "target",
    "top",
    "n_top",
    "n_used",
    "seeds",
    "seeds_left_out",
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


def _cells_interval(
    statistic: Callable[[np.ndarray, np.ndarray], float],
    scores: list[np.ndarray],
    truth: np.ndarray,
    n_resamples: int,
    seed: int,
) -> tuple[float, float]:
    """95% percentile interval of the mean over seeds of ``statistic``, resampling the cells (the same draw for
    every seed). With a 500-cell sample the cells, not the seeds, are most of the uncertainty: a t-interval over
    2-5 seeds misses it (synflow, the same at every seed, would get a zero-width interval on 25 top cells)."""
    if len(scores) == 1:
        return bootstrap_ci(statistic, scores[0], truth, n_resamples=n_resamples, seed=seed)
    keep = np.isfinite(truth) & np.any([np.isfinite(s) for s in scores], axis=0)
    if keep.sum() < 2:
        return math.nan, math.nan
    stacked = np.stack([s[keep] for s in scores])
    truth = truth[keep]
    rng = np.random.default_rng(seed)
    values = np.empty(n_resamples)
    for i in range(n_resamples):
        picked = rng.integers(0, truth.size, size=truth.size)
        with np.errstate(all="ignore"):
            values[i] = np.nanmean([statistic(row[picked], truth[picked]) for row in stacked])
    values = values[np.isfinite(values)]
    if values.size < n_resamples / 2:
        return math.nan, math.nan
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


COMPLETE_SHARE = 0.9  # a scoring seed with fewer scored cells than this share of the best-covered seed is partial


def _complete_seeds(
    columns: list[str], scores: list[np.ndarray], truth: np.ndarray
) -> tuple[list[str], list[np.ndarray], str]:
    """The seeds that scored (nearly) the cells the best-covered seed did: a seed still being scored (or stopped
    early) would otherwise enter the mean over seeds with a correlation over a handful of cells. Returns the kept
    columns and scores, and what was left out, e.g. 'seed=1 (11 of 500 cells)' ('' when nothing)."""
    counts = [int((np.isfinite(s) & np.isfinite(truth)).sum()) for s in scores]
    if not counts or max(counts) == 0:
        return columns, scores, ""
    keep = [n >= COMPLETE_SHARE * max(counts) for n in counts]
    left = [
        f"{c.split(SETTING_SEPARATOR, 1)[-1]} ({n} of {max(counts)} cells)"
        for c, n, k in zip(columns, counts, keep, strict=True)
        if not k
    ]
    kept_columns = [c for c, k in zip(columns, keep, strict=True) if k]
    kept_scores = [s for s, k in zip(scores, keep, strict=True) if k]
    return kept_columns, kept_scores, "; ".join(left)


def seed_summary(
    table: ResultTable,
    fractions: Sequence[float],
    target: str | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    cells: Mapping[tuple[str, str, str], Set[str]] | None = None,
) -> pd.DataFrame:
    """One row per (space, dataset, proxy, top fraction); see the module doc. ``cells``: (space, dataset,
    proxy) -> the architecture keys a proxy is read on there (a protocol's sample; others count as unscored);
    the top fraction is then taken among those cells."""
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
            own = None if cells is None else cells.get((space, dataset, proxy))
            truth = gt
            if own is not None:  # outside the proxy's cells: neither scored nor counted in its top fraction
                outside = ~sub["arch"].isin(list(own)).to_numpy()
                scores = [np.where(outside, np.nan, s) for s in scores]
                truth = np.where(outside, np.nan, gt)
            columns, scores, left_out = _complete_seeds(columns, scores, truth)
            for fraction in fractions:
                mask = top_fraction_mask(truth, fraction)
                row: dict[str, object] = {
                    "space": space,
                    "dataset": dataset,
                    "proxy": proxy,
                    "target": tgt.removeprefix("gt_"),
                    "top": fraction,
                    "n_top": int(mask.sum()),
                    "n_used": min(finite_pairs(s[mask], truth[mask]).n for s in scores),
                    "seeds": len(columns),
                    "seeds_left_out": left_out,
                    "interval": (
                        f"bootstrap over cells ({bootstrap}) of the seed mean"
                        if bootstrap
                        else ("t over seeds" if len(columns) >= 2 else "none")
                    ),
                }
                for method in ("kendall", "spearman"):
                    statistic = functools.partial(correlate_top, fraction=fraction, method=method)
                    values = np.array([statistic(s, truth) for s in scores], dtype=float)
                    mean, sd, lo, hi = _interval(values)
                    if bootstrap and math.isfinite(mean):
                        lo, hi = _cells_interval(statistic, scores, truth, bootstrap, seed)
                    row.update({method: mean, f"{method}_sd": sd, f"{method}_lo": lo, f"{method}_hi": hi})
                rows.append(row)
    return pd.DataFrame(rows, columns=SEED_SUMMARY_COLUMNS)


def write_seed_report(
    table: ResultTable,
    folder: Path,
    fractions: Sequence[float],
    *,
    proxies: Sequence[str] | None = None,
    cells: Mapping[tuple[str, str, str], Set[str]] | None = None,
    findings: Sequence[Finding] = (),
    target: str | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    plots: bool = True,
    title: str = "",
) -> list[Path]:
    """For ``fractions``: ``seed_summary`` as tables and its bars in the survey's layout
    (``seed_summary_<method>.png/pdf``); for ``findings``: ``findings`` (one row per finding and benchmark, with
    the evidence) and ``findings_verdicts`` (one per finding). ``proxies``: the protocol's, in its order (the CSVs
    hold other protocols' proxies too; None: every one there)."""
    from nasprox.report.findings import evaluate_findings, verdicts
    from nasprox.report.plots import seed_summary_bars
    from nasprox.report.tables import write_table

    # the findings' rules may read fractions the protocol's table does not show (all cells, their own top)
    needed = sorted({*fractions, *(x for f in findings if f.kind != "picks_better" for x in (1.0, f.top))})
    summary = (
        seed_summary(table, needed, target=target, bootstrap=bootstrap, seed=seed, cells=cells) if needed else None
    )
    if summary is not None and proxies is not None:  # the CSVs hold other protocols' proxies too
        summary = summary[summary["proxy"].isin(list(proxies))]
    written: list[Path] = []
    if fractions and summary is not None:
        shown = summary[np.isin(summary["top"].astype(float), np.asarray(fractions, dtype=float))]
        written += write_table(
            shown,
            folder / "seed_summary",
            caption="Kendall / Spearman per proxy on the top fraction of cells by the target (1.0: all): mean over "
            "the scoring seeds, their sd and a 95% interval (t over seeds; one seed: bootstrap over the cells)",
        )
        if plots and not shown.empty:
            for method in ("kendall", "spearman"):
                written += seed_summary_bars(
                    shown,
                    method=method,
                    title=f"{title} {method}".strip(),
                    stem=folder / f"seed_summary_{method}",
                    proxies=list(proxies) if proxies else None,
                )
    if findings:
        empty = pd.DataFrame(columns=SEED_SUMMARY_COLUMNS)
        per_benchmark = evaluate_findings(findings, empty if summary is None else summary, table, target)
        written += write_table(
            per_benchmark,
            folder / "findings",
            caption="The paper's findings checked per benchmark against our numbers (the evidence the rule compared)",
        )
        written += write_table(
            verdicts(per_benchmark),
            folder / "findings_verdicts",
            caption="Each finding: borne out (held on every benchmark with data), partly, not borne out, or no data",
        )
    return written
