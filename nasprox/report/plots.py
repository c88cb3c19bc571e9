"""Figures with matplotlib's Agg backend (no display needed), each saved as PNG and PDF."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import ticker  # noqa: E402
from scipy.stats import rankdata  # noqa: E402


def _save(fig, stem: Path) -> list[Path]:
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for path in paths:
        fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return paths


def worst_predicted(score: np.ndarray, gt: np.ndarray, count: int = 10) -> np.ndarray:
    """Indices (into the finite pairs' positions of the inputs) of the ``count`` networks whose
    score rank and ground-truth rank differ most, in normalised rank units."""
    keep = np.flatnonzero(np.isfinite(score) & np.isfinite(gt))
    if keep.size == 0:
        return keep
    gap = np.abs(rankdata(score[keep]) - rankdata(gt[keep])) / keep.size
    return keep[np.argsort(-gap, kind="stable")[:count]]


def scatter_score_vs_target(
    score, gt, params, *, title: str, target_label: str, stem: Path, worst: int = 10
) -> list[Path]:
    """Score vs ground truth, coloured by #params when known, worst-predicted networks circled."""
    score = np.asarray(score, dtype=float)
    gt = np.asarray(gt, dtype=float)
    keep = np.isfinite(score) & np.isfinite(gt)
    fig, ax = plt.subplots(figsize=(5, 4))
    colour = None if params is None else np.asarray(params, dtype=float)[keep]
    if colour is not None and np.isfinite(colour).any():
        points = ax.scatter(score[keep], gt[keep], c=colour, s=6, cmap="viridis", alpha=0.7)
        fig.colorbar(points, ax=ax, label="#params (M)")
    else:
        ax.scatter(score[keep], gt[keep], s=6, alpha=0.7)
    bad = worst_predicted(score, gt, worst)
    if bad.size:
        ax.scatter(
            score[bad],
            gt[bad],
            s=40,
            facecolors="none",
            edgecolors="red",
            linewidths=1.0,
            label=f"{bad.size} worst-predicted",
        )
        ax.legend(loc="lower right", fontsize=7)
    set_score_axis(ax, score[keep])
    ax.set_xlabel("proxy score")
    ax.set_ylabel(target_label)
    ax.set_title(title, fontsize=9)
    return _save(fig, stem)


LOG_DECADES = 3  # nonzero |scores| spanning more decades than this get a log / symlog axis
MAX_TICKS = 6


def score_axis_scale(values) -> str:
    """The x scale for ``values``: 'log' when all are > 0 and span more than LOG_DECADES decades,
    'symlog' when they span that much but include zeros or negatives (synflow: 0 for a disconnected
    cell, up to ~1e45 otherwise), else 'linear'. NaN/inf are ignored."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    magnitudes = np.abs(values[values != 0])
    if magnitudes.size < 2 or math.log10(magnitudes.max() / magnitudes.min()) <= LOG_DECADES:
        return "linear"
    return "log" if (values > 0).all() else "symlog"


def set_score_axis(ax, values) -> str:
    """Set the x axis of a score plot to the scale :func:`score_axis_scale` picks, with at most
    MAX_TICKS labelled ticks (decades spread out on log axes, a x10^k offset on linear ones)."""
    scale = score_axis_scale(values)
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if scale == "log":
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(ticker.LogLocator(base=10, numticks=MAX_TICKS))
        ax.xaxis.set_minor_locator(ticker.NullLocator())
    elif scale == "symlog":
        magnitudes = np.abs(values[values != 0])
        linthresh = 10.0 ** math.floor(math.log10(magnitudes.min()))
        ax.set_xscale("symlog", linthresh=linthresh, linscale=1.0)
        ax.xaxis.set_major_locator(ticker.FixedLocator(_symlog_ticks(values, linthresh)))
        ax.xaxis.set_minor_locator(ticker.NullLocator())
    else:
        ax.xaxis.set_major_locator(ticker.MaxNLocator(nbins=MAX_TICKS - 1))
        formatter = ticker.ScalarFormatter(useOffset=True, useMathText=True)
        formatter.set_powerlimits((-3, 4))  # x10^k offset outside 1e-3..1e4
        ax.xaxis.set_major_formatter(formatter)
    return scale


def _symlog_ticks(values: np.ndarray, linthresh: float) -> list[float]:
    """0 plus every k-th decade on each side, k chosen so that at most MAX_TICKS ticks are labelled."""
    low = math.floor(math.log10(linthresh))
    sides = []
    for sign in (1.0, -1.0):
        side = values[values * sign > 0] * sign
        if side.size:
            sides.append((sign, math.ceil(math.log10(side.max()))))
    span = sum(high - low + 1 for _, high in sides) + 1
    stride = max(1, math.ceil(span / MAX_TICKS))
    ticks = [0.0]
    for sign, high in sides:  # the first decade sits one decade from 0: skip it when thinning
        start = low if stride == 1 else low + stride
        ticks += [sign * 10.0**k for k in range(start, high + 1, stride)]
    return sorted(ticks)


def correlation_vs_top_plot(curves: pd.DataFrame, *, method: str, title: str, stem: Path) -> list[Path]:
    """One line per proxy: correlation on the top-x% (x on a log axis)."""
    fig, ax = plt.subplots(figsize=(5, 4))
    for proxy, sub in curves.groupby("proxy", sort=True):
        sub = sub.sort_values("fraction")
        ax.plot(100 * sub["fraction"], sub[method], marker="o", markersize=3, label=proxy)
    ax.set_xscale("log")
    ax.set_xlabel("top x% of architectures by ground truth")
    ax.set_ylabel(f"{method} correlation")
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, stem)


def seed_summary_bars(
    summary: pd.DataFrame, *, method: str, title: str, stem: Path, proxies: list[str] | None = None
) -> list[Path]:
    """The zero-shot survey's layout (Figs. 6-9): one panel per (space, dataset), grouped bars per proxy, one bar
    per top fraction (all cells, top 5%, ...), height the mean over the scoring seeds, whiskers its 95% interval
    (over seeds; one seed: the bootstrap over cells). ``proxies`` fixes the bar order (default: as they come)."""
    panels = list(summary.groupby(["space", "dataset"], sort=True))
    fractions = sorted(summary["top"].astype(float).unique(), reverse=True)
    order = proxies or list(dict.fromkeys(summary["proxy"]))
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(6.0, 0.55 * len(order) + 1.5), 2.6 * len(panels)))
    axes = np.atleast_1d(axes)
    width = 0.8 / max(len(fractions), 1)
    for ax, ((space, dataset), panel) in zip(axes, panels, strict=True):
        x = np.arange(len(order))
        for i, fraction in enumerate(fractions):
            rows = panel[np.isclose(panel["top"].astype(float), fraction)].set_index("proxy").reindex(order)
            mean = rows[method].to_numpy(dtype=float)
            lo = rows[f"{method}_lo"].to_numpy(dtype=float)
            hi = rows[f"{method}_hi"].to_numpy(dtype=float)
            err = np.vstack([np.where(np.isfinite(lo), mean - lo, 0.0), np.where(np.isfinite(hi), hi - mean, 0.0)])
            label = "all cells" if fraction >= 1.0 else f"top {100 * fraction:g}%"
            ax.bar(
                x + (i - (len(fractions) - 1) / 2) * width,
                np.nan_to_num(mean),
                width,
                yerr=err,
                capsize=2,
                label=label,
                error_kw={"linewidth": 0.6},
            )
        scored = panel.groupby("proxy")[method].apply(lambda v: bool(np.isfinite(v.to_numpy(dtype=float)).any()))
        for j, proxy in enumerate(order):  # a proxy the protocol names but nobody scored here: said, not blank
            if not scored.get(proxy, False):
                ax.text(j, 0.05, "n/a", ha="center", va="bottom", fontsize=6, color="grey", rotation=90)
        low, high = (int(panel["seeds"].min()), int(panel["seeds"].max())) if "seeds" in panel else (1, 1)
        seeds = f"{high} seed{'s' if high != 1 else ''}" if low == high else f"{low}-{high} seeds per proxy"
        ax.set_title(f"{space} / {dataset} ({seeds})", fontsize=9)
        ax.set_xticks(x)
        ax.set_xticklabels(order, rotation=45, ha="right", fontsize=7)
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.set_ylabel(method, fontsize=8)
        ax.set_ylim(-1, 1)
    axes[0].legend(fontsize=7, ncol=len(fractions))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, stem)
