"""``nasprox pareto``: Pareto fronts of proxy score vs latency/energy against the true accuracy front."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from nasprox.cli._common import Plugins, emit_table, markdown_is_md, user_errors, write_file
from nasprox.core import SPACES, NasproxError

EXAMPLES = """
Examples:

  # HW-NAS-Bench costs (all devices) for the architectures scored in results/tss_c10.csv
  nasprox pareto --scores results/tss_c10.csv --proxy near --space nats-tss --dataset cifar10 \\
      --costs ../shared/data/hwnasbench_nb201/hw_cifar10.csv \\
      --ground-truth ../shared/data/nb201/nb201_test_acc_200ep.csv --plot pareto.png

  # your own latency measurements: a CSV with an arch column and a cost column
  nasprox pareto --scores results/tss_c10.csv --proxy near --space nats-tss \\
      --costs my_latency.csv --arch-column arch --metric latency_ms
"""


class TableFormat(str, Enum):
    md = "md"
    markdown = "markdown"  # synonym of md (markdown_is_md maps it)
    csv = "csv"


COLUMNS = [
    "metric",
    "n_archs",
    "n_true_front",
    "n_proxy_front",
    "on_true_front",
    "near_true_front",
    "mean_gap",
    "max_gap",
    "hv_ratio",
    "hv_ratio_random",
    "hv_proxy",
    "hv_true",
]


@user_errors
def pareto(
    scores: Annotated[Path, typer.Option(help="result CSV with proxy scores (`nasprox score` output)")],
    costs: Annotated[
        Path,
        typer.Option(help="cost CSV: an HW-NAS-Bench hw_<dataset>.csv (column `net`) or your own with --arch-column"),
    ],
    space: Annotated[str, typer.Option("--space", "-s", help="search space of the scores")] = "nats-tss",
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="dataset of the scores")] = "cifar10",
    proxy: Annotated[
        Optional[str], typer.Option("--proxy", "-p", help="proxy in --scores (needed when it holds several)")
    ] = None,
    negate_proxy: Annotated[bool, typer.Option(help="treat lower proxy values as better")] = False,
    metric: Annotated[
        list[str],
        typer.Option(
            help="cost column(s) (repeatable; default: the *_latency and *_energy columns, else every numeric column)"
        ),
    ] = [],
    arch_column: Annotated[
        Optional[str], typer.Option(help="architecture column of a user cost CSV (default: arch)")
    ] = None,
    target: Annotated[
        Optional[str], typer.Option(help="ground-truth field (default: the space's, e.g. test_acc)")
    ] = None,
    ground_truth: Annotated[
        Optional[Path], typer.Option(help="ground-truth CSV for the space (else the gt_ column of --scores)")
    ] = None,
    benchmark: Annotated[Optional[Path], typer.Option(help="upstream benchmark file/folder for ground truth")] = None,
    tolerance: Annotated[
        float, typer.Option(help="'near the true front': accuracy gap at most this (accuracy units)")
    ] = 0.5,
    random_trials: Annotated[int, typer.Option(help="random-score fronts for the hv_ratio_random baseline")] = 20,
    fmt: Annotated[
        TableFormat, typer.Option("--format", help="table format (markdown = md)", callback=markdown_is_md)
    ] = TableFormat.md,
    out: Annotated[Optional[Path], typer.Option(help="write the table here instead of stdout")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="PNG/PDF with one panel per cost metric")] = None,
    plugin: Plugins = [],
) -> None:
    """Compare the Pareto front of proxy score vs cost with the true accuracy-vs-cost front.

    Per cost metric: how many proxy-front architectures lie on / near the true front, their
    accuracy gap to the best architecture of no higher cost, and the hypervolume ratio against the
    true front (and against fronts picked by random scores). Zero-shot survey Figs. 18-19.
    """
    import numpy as np
    import pandas as pd

    from nasprox.search.pareto import compare_fronts, load_costs, plot_fronts
    from nasprox.search.problem import ground_truth_value, proxy_direction, scores_from_csv
    from nasprox.stats import lower_is_better

    if tolerance < 0 or random_trials < 0:
        raise NasproxError("--tolerance and --random-trials must be >= 0")
    for path, flag in (
        (scores, "--scores"),
        (costs, "--costs"),
        (ground_truth, "--ground-truth"),
        (benchmark, "--benchmark"),
    ):
        if path is not None and not path.exists():
            raise NasproxError(f"{flag} {path} does not exist")
    sp = SPACES.get(space)()
    target = target or sp.default_target
    rows, proxy = scores_from_csv(scores, proxy, sp.name, dataset)
    keys = rows["arch"].astype(str).tolist()
    if ground_truth is not None or benchmark is not None:
        sp.configure(benchmark=benchmark, ground_truth=ground_truth)
        indices = [int(i) if pd.notna(i) and int(i) >= 0 else -1 for i in rows["arch_index"]]
        acc = np.array([ground_truth_value(sp, i, k, dataset, target) for i, k in zip(indices, keys)])
        source = f"{sp.name} ground truth"
    elif f"gt_{target}" in rows.columns:
        acc = rows[f"gt_{target}"].to_numpy(dtype=float)
        source = f"gt_{target} of {scores.name}"
    else:
        raise NasproxError(f"no ground truth: --scores has no gt_{target} column; give --ground-truth")
    sign = -1.0 if lower_is_better(sp.name, target) else 1.0
    cost_table = load_costs(costs, arch_column, metric or None)
    matched = cost_table.index.intersection(keys)
    if len(matched) == 0:
        raise NasproxError(f"no architecture of {scores.name} appears in {costs.name} (compare the arch strings)")
    cost_rows = cost_table.reindex(keys)
    score = rows["score"].to_numpy(dtype=float) * proxy_direction(proxy, negate_proxy)
    results, panels = [], []
    for name in cost_table.columns:
        cost = cost_rows[name].to_numpy(dtype=float)
        res = compare_fronts(cost, sign * acc, score, tolerance=tolerance, random_trials=random_trials)
        keep, true_front, proxy_front = res.pop("_masks")
        results.append({"metric": name, **res})
        panels.append(
            {
                "metric": name,
                "target": target,
                "cost": cost[keep],
                "acc": acc[keep],
                "true_front": true_front,
                "proxy_front": proxy_front,
                "on": res["on_true_front"],
                "hv_ratio": res["hv_ratio"],
            }
        )
    table = pd.DataFrame(results)[COLUMNS]
    header = (
        f"{sp.name} / {dataset}: proxy {proxy} vs {source}; costs {costs.name} "
        f"({len(matched)} of {len(keys)} scored archs have costs); near = gap <= {tolerance}"
    )
    emit_table(table, fmt.value, header, out)
    if plot:
        write_file(plot, lambda path: plot_fronts(panels, path, title=header))


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(pareto)
