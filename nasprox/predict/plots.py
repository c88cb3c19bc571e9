"""Learning-curve figure for ``nasprox predict`` (matplotlib, PNG or PDF by the file suffix)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def learning_curve_plot(
    summaries: dict[str, pd.DataFrame],
    path: Path,
    *,
    metrics=("spearman", "kendall"),
    references: dict[str, float] | None = None,
) -> Path:
    """One panel per metric: mean +- std over seeds vs the number of labelled archs (log x), one line
    per (cell, method). ``references`` draws horizontal lines (e.g. a training-free ensemble)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for cell, summary in summaries.items():
            for method, grp in summary.groupby("method", sort=True):
                grp = grp.sort_values("n_train")
                x, m, s = grp["n_train"], grp[f"{metric}_mean"], grp[f"{metric}_std"].fillna(0)
                label = f"{cell}: {method}" if len(summaries) > 1 else method
                style = "-o" if "proxy" not in str(method) else "--s"
                ax.plot(x, m, style, label=label, markersize=4)
                ax.fill_between(x, m - s, m + s, alpha=0.2)
        for label, value in (references or {}).items():
            ax.axhline(value, linestyle=":", color="grey", linewidth=1)
            ax.annotate(label, (ax.get_xlim()[0], value), fontsize=7, va="bottom")
        ax.set_xscale("log")
        ticks = sorted({int(x) for summary in summaries.values() for x in summary["n_train"]})
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("labelled architectures (N)")
        ax.set_ylabel(f"{metric} on held-out archs")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
