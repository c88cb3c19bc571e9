"""``nasprox report``: tables (md, csv, tex), figures (png, pdf) and published-vs-ours."""

from __future__ import annotations

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
    echo_published_summary,
    load_result_table,
    user_errors,
    warn_nan_correlations,
)


@user_errors
def report(
    results: Annotated[list[Path], typer.Argument(help="result CSV files written by `nasprox score`")],
    out: Annotated[Path, typer.Option(help="output folder")] = Path("report"),
    target: Annotated[
        Optional[str], typer.Option(help="ground-truth column without gt_ (default: each space's default)")
    ] = None,
    top: Annotated[str, typer.Option(help="top fraction for the top-x% correlations: 10% or 0.1")] = "10%",
    bootstrap: Annotated[int, typer.Option(min=0, help="bootstrap resamples for 95% CIs (0: none)")] = 0,
    seed: Annotated[int, typer.Option(help="seed of the bootstrap")] = 0,
    published: Annotated[
        Optional[Path], typer.Option(help="folder of published-number YAMLs (default: configs/published)")
    ] = None,
    explanations: Annotated[
        Optional[Path],
        typer.Option(
            help="YAML naming the differing published cells an experiment explains "
            "(default: configs/explained_differences.yaml)"
        ),
    ] = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="draw figures")] = True,
    ndcg_k: NdcgK = 10,
    precision_t: PrecisionT = "10",
    population: PopulationOpt = "all",
    split_settings: SplitSettings = False,
    stand_in: StandIn = [],
    ground_truth: GroundTruthFiles = [],
    workers: Annotated[
        int, typer.Option(min=1, help="processes computing the bootstrap intervals (the same intervals for any count)")
    ] = 1,
    plugin: Plugins = [],
    html: Annotated[
        Optional[Path],
        typer.Option(
            help="also write the report as one self-contained HTML page (leaderboards, paired comparison, "
            "published vs ours, scatters, provenance; no network needed to view it)"
        ),
    ] = None,
    compare: Annotated[
        list[str],
        typer.Option(
            help="paired comparison: this proxy against every other one of its space/dataset on their shared "
            "cells (difference of Spearman and Kendall, paired bootstrap CI); repeatable"
        ),
    ] = [],
    pair: Annotated[
        list[str], typer.Option(help="paired comparison of two proxies A,B (difference A - B); repeatable")
    ] = [],
) -> None:
    """Write a report folder: correlation, search-metric, average-rank and published-vs-ours tables
    (each as .md, .csv, .tex) and figures (score vs accuracy coloured by #params with the worst-predicted
    networks circled; correlation vs top-x%) as .png and .pdf.

    Examples:

      nasprox report results/*.csv --out report/

      nasprox report results/run.csv --out report/ --target valid_acc --bootstrap 1000 --no-plots

      nasprox report results/reproduction/*.csv --stand-in test_acc=valid_acc   # runs with validation GT only

      nasprox report results/*.csv --bootstrap 1000 --workers 8   # intervals on 8 processes

      nasprox report results/*.csv --html report.html --compare near   # one page; NEAR against every other proxy

      nasprox report results/*.csv --pair near,synflow --pair zico,snip   # paired_comparison.md/.csv/.tex

    The paired comparison uses --bootstrap resamples (1000 when --bootstrap is 0).
    """
    from nasprox.core import NasproxError
    from nasprox.report import write_report
    from nasprox.stats import parse_fraction, parse_pairs, parse_t

    if out.exists() and not out.is_dir():
        raise NasproxError(f"--out {out} is a file; the report needs a folder (give a new or existing folder)")
    if html is not None and html.is_dir():
        raise NasproxError(f"--html {html} is a folder; give the path of the page to write, e.g. report.html")
    pairs = parse_pairs(pair)  # a malformed flag fails before any file is read

    table, pop = load_result_table(
        results,
        split_settings=split_settings,
        ground_truth=ground_truth,
        population=population,
        stand_in=stand_in,
    )
    warn_nan_correlations(table, target)
    written = write_report(
        table,
        out,
        target=target,
        top=parse_fraction(top),
        bootstrap=bootstrap,
        seed=seed,
        published_dir=published,
        explanations_path=explanations,
        plots=plots,
        ndcg_k=ndcg_k,
        precision_t=parse_t(precision_t),
        population=pop,
        jobs=workers,
        compare=compare,
        pairs=pairs,
        paired_bootstrap=bootstrap or 1000,
        html=html,
        inputs=results,
    )
    typer.echo(f"population {pop.label()}", err=True)
    typer.echo(f"wrote {len(written)} files under {out}", err=True)
    echo_published_summary(out)


def register(app: typer.Typer) -> None:
    app.command()(report)
