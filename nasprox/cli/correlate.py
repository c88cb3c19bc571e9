"""``nasprox correlate``: Kendall/Spearman tables per (space, dataset) from result CSVs."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from nasprox.cli._common import (
    GroundTruthFiles,
    NdcgK,
    Plugins,
    PopulationOpt,
    PrecisionT,
    SplitSettings,
    StandIn,
    emit_text,
    load_result_table,
    markdown_is_md,
    user_errors,
    warn_nan_correlations,
)


class TableFormat(str, Enum):
    md = "md"
    markdown = "markdown"  # synonym of md (markdown_is_md maps it)
    csv = "csv"
    latex = "latex"


COLUMNS = [
    "proxy",
    "kendall",
    "spearman",
    "kendall_top",
    "spearman_top",
    "n_used",
    "n_nonfinite",
    "ndcg_at_k",
    "precision_at_t",
]
CI_COLUMNS = ["kendall_lo", "kendall_hi", "spearman_lo", "spearman_hi"]


@user_errors
def correlate(
    results: Annotated[list[Path], typer.Argument(help="result CSV files written by `nasprox score`")],
    target: Annotated[
        Optional[str],
        typer.Option(help="ground-truth column without gt_ (default: each space's default, e.g. test_acc)"),
    ] = None,
    top: Annotated[str, typer.Option(help="top fraction by ground truth for the top-x% columns: 10% or 0.1")] = "10%",
    fmt: Annotated[
        TableFormat, typer.Option("--format", help="output format (markdown = md)", callback=markdown_is_md)
    ] = TableFormat.md,
    out: Annotated[Optional[Path], typer.Option(help="write to this file instead of stdout")] = None,
    bootstrap: Annotated[int, typer.Option(min=0, help="bootstrap resamples for 95% CIs (0: none)")] = 0,
    seed: Annotated[int, typer.Option(help="seed of the bootstrap")] = 0,
    ndcg_k: NdcgK = 10,
    precision_t: PrecisionT = "10",
    population: PopulationOpt = "all",
    split_settings: SplitSettings = False,
    stand_in: StandIn = [],
    ground_truth: GroundTruthFiles = [],
    plugin: Plugins = [],
) -> None:
    """Correlate proxy scores with ground truth: Kendall tau and Spearman rho on all and on the top-x%.

    One table per (space, dataset); NaN scores (failed rows) are omitted and counted in n_nonfinite.
    Lower-is-better targets (e.g. losses) are flipped so that positive always means "agrees".

    Examples:

      nasprox correlate results/nats-tss_cifar10.csv

      nasprox correlate results/*.csv --target valid_acc --top 5% --format latex --out table.tex

      nasprox correlate results/run.csv --bootstrap 1000 --format csv

      nasprox correlate results/tss_c10.csv --population unique --ndcg-k 20 --precision-t 5%
    """
    from nasprox.report.tables import render
    from nasprox.stats import correlation_table, parse_fraction, parse_t

    fraction = parse_fraction(top)
    t_value = parse_t(precision_t)
    loaded, pop = load_result_table(
        results,
        split_settings=split_settings,
        ground_truth=ground_truth,
        population=population,
        stand_in=stand_in,
    )
    table = correlation_table(
        loaded, target=target, top=fraction, bootstrap=bootstrap, seed=seed, ndcg_k=ndcg_k, precision_t=t_value
    )
    warn_nan_correlations(loaded, target)
    if len(table):
        table["population"] = [pop.label(s, d) for s, d in zip(table["space"], table["dataset"])]
    columns = COLUMNS + (CI_COLUMNS if bootstrap else [])
    if fmt is TableFormat.csv:
        text = render(
            table[["space", "dataset", "target", *columns, "ndcg_k", "precision_t", "population"]]
            if len(table)
            else table,
            "csv",
        )
    else:
        parts = []
        for (space, dataset), sub in table.groupby(["space", "dataset"], sort=True):
            t_text = f"{t_value:.0%}" if isinstance(t_value, float) else str(t_value)
            caption = (
                f"{space} / {dataset}: target {sub['target'].iloc[0]}, top {fraction:.0%}, "
                f"nDCG@{ndcg_k}, Precision@T T={t_text}; population {sub['population'].iloc[0]}"
            )
            if fmt is TableFormat.md:
                parts.append(f"### {caption}\n\n" + render(sub[columns], "md"))
            else:
                parts.append(render(sub[columns], "latex", caption=caption))
        text = "\n".join(parts)
    emit_text(text, out)


def register(app: typer.Typer) -> None:
    app.command()(correlate)
