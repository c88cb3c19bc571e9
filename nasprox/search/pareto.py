"""Pareto fronts of proxy score vs hardware cost, compared with the true accuracy front (zero-shot
survey §5, Figs. 18-19; HW-NAS-Bench costs).

Both fronts minimise the cost and maximise the value (proxy score oriented higher = better, or the
ground-truth accuracy). For every architecture on the proxy front we look up the best true accuracy
reachable at no higher cost; its *gap* is that accuracy minus its own. "On" the true front means
gap = 0 (it is itself non-dominated in (cost, accuracy)); "near" means gap <= ``tolerance``.
Hypervolume (2-D, cost minimised, accuracy maximised) uses the reference point (max cost over all
architectures, min accuracy over all architectures); the proxy front's hypervolume is computed from
its members' *true* accuracies, and ``hv_ratio`` = HV(proxy front) / HV(true front) <= 1.
``hv_ratio_random`` is the same ratio for fronts picked by random scores (mean over ``random_trials``
permutations): the level a proxy must beat to be useful for hardware-aware search.
"""

from __future__ import annotations

import ast
import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from nasprox.core import SPACES, NasproxError


def _nb201_keys(nets) -> list[str]:
    """HW-NAS-Bench ``net`` values (NASLib NB201 op tuples, e.g. ``(0, 1, 2, 3, 4, 0)``) -> arch strings,
    through the ``nats-tss`` space's ``parse`` (which takes NASLib tuples; codec in the space)."""
    space = SPACES.get("nats-tss")()
    keys = []
    for net in nets:
        ops = ast.literal_eval(str(net))
        try:
            keys.append(space.parse(str(tuple(int(o) for o in ops))).key)
        except NasproxError:
            raise NasproxError(f"not a NASLib NB201 op tuple: {ops}") from None
    return keys


def load_costs(path: Path, arch_column: str | None = None, metrics: list[str] | None = None) -> pd.DataFrame:
    """Costs indexed by architecture string, one numeric column per metric.

    HW-NAS-Bench files (a ``net`` column of NASLib op tuples) are converted to NB201 strings; any
    other CSV needs an architecture column (``arch_column``, default ``arch``) and numeric cost columns.
    """
    path = Path(path)
    if not path.is_file():
        raise NasproxError(f"cost file {path} does not exist")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise NasproxError(
            f"cannot parse {path}: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}"
        ) from None
    if arch_column is None and "net" in frame.columns and "arch" not in frame.columns:
        try:
            frame.index = _nb201_keys(frame.pop("net"))
        except (ValueError, SyntaxError):
            raise NasproxError(f"{path}: column 'net' does not hold NASLib NB201 op tuples") from None
    else:
        column = arch_column or "arch"
        if column not in frame.columns:
            raise NasproxError(
                f"{path}: no architecture column '{column}' (columns: {', '.join(frame.columns)}); set --arch-column"
            )
        frame.index = frame.pop(column).astype(str)
    numeric = frame.apply(pd.to_numeric, errors="coerce")
    available = [c for c in numeric.columns if numeric[c].notna().any()]
    if metrics:
        missing = [m for m in metrics if m not in available]
        if missing:
            raise NasproxError(f"{path}: no numeric cost column(s) {', '.join(missing)} (has: {', '.join(available)})")
        available = list(metrics)
    else:  # HW-NAS-Bench ships ratios beside the costs; only latency/energy are costs by default
        available = [c for c in available if c.endswith(("_latency", "_energy"))] or available
    if not available:
        raise NasproxError(f"{path}: no numeric cost columns")
    out = numeric[available]
    return out[~out.index.duplicated(keep="first")]


def pareto_mask(cost: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Non-dominated points (cost minimised, value maximised); exact duplicates are all kept."""
    cost, value = np.asarray(cost, float), np.asarray(value, float)
    order = np.lexsort((-value, cost))  # by cost, then best value first
    mask = np.zeros(len(cost), bool)
    best = -math.inf
    last = (math.nan, math.nan)
    for i in order:
        if value[i] > best or (cost[i], value[i]) == last:
            mask[i] = True
            best = max(best, value[i])
            last = (cost[i], value[i])
    return mask


def best_at_cost(cost: np.ndarray, acc: np.ndarray, query: np.ndarray) -> np.ndarray:
    """For each query cost, the best accuracy among architectures with cost <= it."""
    order = np.argsort(cost, kind="stable")
    running = np.maximum.accumulate(acc[order])
    pos = np.searchsorted(cost[order], query, side="right") - 1
    return np.where(pos >= 0, running[np.clip(pos, 0, None)], -math.inf)


def hypervolume(cost: np.ndarray, acc: np.ndarray, ref_cost: float, ref_acc: float) -> float:
    """2-D hypervolume dominated by the points (cost min, acc max) w.r.t. (ref_cost, ref_acc)."""
    keep = (cost <= ref_cost) & (acc >= ref_acc)
    cost, acc = cost[keep], acc[keep]
    if cost.size == 0:
        return 0.0
    front = pareto_mask(cost, acc)
    c, a = cost[front], acc[front]
    order = np.argsort(c, kind="stable")
    c, a = c[order], a[order]
    right = np.append(c[1:], ref_cost)
    return float(np.sum((right - c) * (a - ref_acc)))


def compare_fronts(cost, acc, score, *, tolerance: float = 0.5, random_trials: int = 20, seed: int = 0) -> dict:
    """Metrics of the proxy-score front against the true accuracy front for one cost metric."""
    cost, acc, score = (np.asarray(v, float) for v in (cost, acc, score))
    keep = np.isfinite(cost) & np.isfinite(acc) & np.isfinite(score)
    cost, acc, score = cost[keep], acc[keep], score[keep]
    if cost.size < 2:
        raise NasproxError("fewer than 2 architectures have a cost, an accuracy and a proxy score")
    true_front = pareto_mask(cost, acc)
    proxy_front = pareto_mask(cost, score)
    gap = best_at_cost(cost, acc, cost[proxy_front]) - acc[proxy_front]
    ref = (float(cost.max()), float(acc.min()))
    hv_true = hypervolume(cost, acc, *ref)
    hv_proxy = hypervolume(cost[proxy_front], acc[proxy_front], *ref)
    rng = np.random.default_rng(seed)
    random_ratios = []
    for _ in range(random_trials):
        fake = pareto_mask(cost, rng.permutation(score))
        random_ratios.append(hypervolume(cost[fake], acc[fake], *ref) / hv_true if hv_true > 0 else math.nan)
    return {
        "n_archs": int(cost.size),
        "n_true_front": int(true_front.sum()),
        "n_proxy_front": int(proxy_front.sum()),
        "on_true_front": int((gap <= 1e-12).sum()),
        "near_true_front": int((gap <= tolerance).sum()),
        "mean_gap": float(gap.mean()),
        "max_gap": float(gap.max()),
        "hv_true": hv_true,
        "hv_proxy": hv_proxy,
        "hv_ratio": hv_proxy / hv_true if hv_true > 0 else math.nan,
        "hv_ratio_random": float(np.nanmean(random_ratios)) if random_ratios else math.nan,
        "_masks": (keep, true_front, proxy_front),
    }


def plot_fronts(panels: list[dict], path, title: str = "") -> None:
    """One panel per cost metric: all archs, the true accuracy front and the proxy front's archs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(panels)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols, 3.5 * rows), squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        cost, acc = panel["cost"], panel["acc"]
        tf, pf = panel["true_front"], panel["proxy_front"]
        ax.scatter(cost, acc, s=4, color="lightgrey", label="architectures")
        order = np.argsort(cost[tf])
        ax.step(cost[tf][order], acc[tf][order], where="post", color="black", lw=1.0, label="true accuracy front")
        ax.scatter(
            cost[pf],
            acc[pf],
            s=18,
            color="tab:red",
            marker="x",
            label=f"proxy front ({panel['on']}/{int(pf.sum())} on true front)",
        )
        if cost.min() > 0 and cost.max() / cost.min() > 20:
            ax.set_xscale("log")
        ax.set_xlabel(panel["metric"])
        ax.set_ylabel(panel["target"])
        ax.set_title(f"{panel['metric']}: HV ratio {panel['hv_ratio']:.3f}", fontsize=9)
        ax.legend(fontsize=6, loc="lower right")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if title:
        fig.suptitle(textwrap.fill(title, 110), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
