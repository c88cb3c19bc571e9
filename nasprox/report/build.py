"""Write a full report folder: tables (md, csv, tex) and figures (png, pdf)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import pandas as pd

from nasprox.report.explained import explain, load_explanations
from nasprox.report.html import Scatter, write_html
from nasprox.report.plots import correlation_vs_top_plot, scatter_score_vs_target
from nasprox.report.published import compare_published, comparison_summary, load_published
from nasprox.report.tables import write_table
from nasprox.stats import average_rank_table, correlation_table, correlation_vs_top, search_metrics_table
from nasprox.stats.bootstrap import BootstrapMemo
from nasprox.stats.paired import paired_comparison_table
from nasprox.stats.results import ResultTable, target_values
from nasprox.storage.provenance import read_provenance

if TYPE_CHECKING:
    from nasprox.engine.protocol import ProxyPlan


def _slug(*parts: str) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9._+-]+", "-", p).strip("-") for p in parts)


def _params_colour(sub):
    """#params for colouring scatters: the benchmark's figure, else the scored ``params`` proxy."""
    for column in ("gt_params", "params"):
        if column in sub.columns and sub[column].notna().any():
            return sub[column].to_numpy(dtype=float)
    return None


def _scatters(table: ResultTable, target: str | None) -> Iterable[Scatter]:
    """Each proxy's scores against the target, per (space, dataset), for the HTML page's figures."""
    for space, dataset, sub, proxies in table.groups():
        tgt = table.target_for(space, sub, target)
        gt = target_values(sub, space, tgt)
        params = _params_colour(sub)
        for proxy in proxies:
            yield Scatter(space, dataset, proxy, tgt, sub[proxy].to_numpy(dtype=float), gt, params)


def _default_protocols() -> list:
    from nasprox.core import NasproxError
    from nasprox.engine.protocol import load_protocols

    try:
        return list(load_protocols().values())
    except NasproxError:  # no configs/reproduce next to the package (an installed wheel)
        return []


def paper_populations(protocols: Iterable) -> dict[tuple[str, ...], tuple[int | None, str]]:
    """(paper, table) -> (size, label) of the population each protocol says the paper scored; (paper, table,
    space) for a space whose population the protocol gives apart (a table over two spaces)."""
    protocols = list(protocols)
    found: dict[tuple[str, ...], tuple[int | None, str]] = {
        (p.paper, t): (p.population_size, p.population_label) for p in protocols for t in p.tables
    }
    found.update(
        {(p.paper, t, space): pop for p in protocols for t in p.tables for space, pop in p.population_by_space.items()}
    )
    return found


def paper_proxy_plans(protocols: Iterable) -> dict[tuple[str, str, str, str, str], ProxyPlan]:
    """(paper, table, space, dataset, proxy) -> how the table's protocol scores that proxy there."""
    from nasprox.engine.protocol import protocol_runs

    return {
        (proto.paper, table, run.space, run.dataset, px.name): px
        for proto in protocols
        for run in protocol_runs(proto, None, Path("."))
        for px in run.proxies
        for table in proto.tables
    }


class ComparisonContext(TypedDict):
    """What the protocols tell ``compare_published`` (its keyword arguments of the same names)."""

    populations: dict[tuple[str, ...], tuple[int | None, str]]
    batches: dict[tuple[str, str, str, str, str], int]
    incomparable: dict[tuple[str, str, str, str, str], str]


def paper_comparison_context(protocols: Iterable) -> ComparisonContext:
    """``compare_published``'s ``populations``, ``batches`` and ``incomparable``, from the protocols.

    batches: (paper, table, space, dataset, proxy) -> the batch size the table's protocol scores that
    proxy at; incomparable: the same keys -> why the protocol's scores are not the paper's measure.
    The protocols are expanded into proxy plans once for both.
    """
    protocols = list(protocols)  # read twice: a generator would be empty the second time
    plans = paper_proxy_plans(protocols)
    return ComparisonContext(
        populations=paper_populations(protocols),
        batches={key: plan.effective_batch() for key, plan in plans.items()},
        incomparable={key: plan.not_comparable for key, plan in plans.items() if plan.not_comparable},
    )


def write_report(
    table: ResultTable,
    out: Path,
    *,
    target: str | None = None,
    top: float = 0.1,
    bootstrap: int = 0,
    seed: int = 0,
    published_dir: Path | None = None,
    plots: bool = True,
    ndcg_k: int = 10,
    precision_t: int | float = 10,
    population=None,
    published_bootstrap: int = 1000,
    protocols: Iterable | None = None,
    explanations_path: Path | None = None,
    jobs: int = 1,
    compare: Sequence[str] = (),
    pairs: Sequence[tuple[str, str]] = (),
    paired_bootstrap: int = 1000,
    html: Path | None = None,
    inputs: Sequence[Path] = (),
) -> list[Path]:
    """Write every table and figure under ``out``; returns the written paths.

    ``population`` (a ``nasprox.stats.Population``, from ``select_population``) adds a ``population``
    column to the correlation and search-metric tables saying which architectures they cover.
    ``protocols`` (``nasprox.engine.protocol.Protocol``; default: configs/reproduce) give each published
    table its population and batch sizes. ``explanations_path`` (default:
    configs/explained_differences.yaml) says which differing cells an experiment has explained.
    ``jobs`` > 1 computes the bootstrap intervals on that many processes (the same intervals).
    ``compare`` (reference proxies, each against every other) and ``pairs`` ((a, b)) add the
    ``paired_comparison`` table: the difference of their Spearman and Kendall on the cells both scored,
    with a paired bootstrap CI of ``paired_bootstrap`` resamples. ``html`` also writes the whole report
    as one self-contained page there, with the provenance sidecars of ``inputs`` (the result CSVs).
    """
    protocols = _default_protocols() if protocols is None else list(protocols)
    # bad published or explanation files fail before anything is written
    published = load_published(published_dir)
    explanations = load_explanations(explanations_path)
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    context = paper_comparison_context(protocols)

    def tables_with_intervals(ci: BootstrapMemo) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        correlations = correlation_table(
            table, target=target, top=top, bootstrap=bootstrap, seed=seed, ndcg_k=ndcg_k, precision_t=precision_t, ci=ci
        )
        paired = paired_comparison_table(
            table, compare=compare, pairs=pairs, target=target, bootstrap=paired_bootstrap, seed=seed, ci=ci.paired
        )
        return (
            correlations,
            compare_published(published, table, bootstrap=published_bootstrap, seed=seed, ci=ci, **context),
            paired,
        )

    intervals = BootstrapMemo()  # the correlation table and the published cells share their intervals
    if jobs > 1:  # a first pass names the intervals, which are then computed side by side
        with intervals.recording():
            tables_with_intervals(intervals)
        intervals.compute_recorded(jobs)
    correlations, comparison, paired = tables_with_intervals(intervals)
    search = search_metrics_table(table, target=target)
    pop_caption = ""
    if population is not None:
        for frame in (correlations, search):
            if len(frame):
                frame["population"] = [population.label(s, d) for s, d in zip(frame["space"], frame["dataset"])]
        pop_caption = f"; population {population.label()}"
    captions = {
        "correlations": f"Kendall and Spearman (all, top {top:.0%}), nDCG@{ndcg_k}, Precision@T{pop_caption}",
        "paired": "Paired comparison on the cells both proxies scored: a and b their correlation there, "
        f"difference = a - b with a paired 95% bootstrap CI ({paired_bootstrap} resamples, the same cells "
        "drawn for both); excludes_zero: whether the CI lies on one side of 0",
        "published": "Published vs ours: our 95% bootstrap CI (over architectures), verdict 'agrees' "
        "when the printed value +- half its last digit meets the CI; quoted = the paper "
        "cites another paper's number; explained = the experiment that accounts for a difference",
    }
    written += write_table(correlations, out / "correlations", caption=captions["correlations"])
    if compare or pairs:
        written += write_table(paired, out / "paired_comparison", caption=captions["paired"])
    written += write_table(
        search,
        out / "search_metrics",
        caption=f"Pearson, pairwise-order probability, top-10%/top-10%, top-64 within top-5%{pop_caption}",
    )
    ranks = average_rank_table(correlations, "spearman")
    written += write_table(ranks, out / "average_ranks", digits=2, caption="Average rank by Spearman rho")
    comparison = explain(comparison, explanations)
    written += write_table(comparison, out / "published_vs_ours", caption=captions["published"])
    summary = comparison_summary(comparison)
    written += write_table(
        summary,
        out / "published_vs_ours_summary",
        caption="Per table: comparable cells that agree, differences explained by experiment, and the "
        "largest difference overall and among the unexplained",
    )

    if html is not None:
        written.append(
            write_html(
                html,
                title=f"nasprox report: {len(inputs) or 'the'} result file(s), {len(correlations)} (proxy, space, dataset) rows",
                correlations=correlations,
                ranks=ranks,
                comparison=comparison,
                summary=summary,
                paired=paired,
                scatters=list(_scatters(table, target)),
                inputs=list(inputs),
                runs_of=read_provenance,
                captions=captions,
            )
        )

    if plots:
        curves = correlation_vs_top(table, target=target)
        for space, dataset, sub, proxies in table.groups():
            tgt = table.target_for(space, sub, target)
            gt = target_values(sub, space, tgt)
            params = _params_colour(sub)
            for proxy in proxies:
                if not sub[proxy].notna().any():  # no ok row: the table's notes say why; an empty figure says nothing
                    continue
                stem = out / "figures" / _slug("scatter", space, dataset, proxy)
                written += scatter_score_vs_target(
                    sub[proxy].to_numpy(dtype=float),
                    gt,
                    params,
                    title=f"{proxy} on {space}/{dataset}",
                    target_label=tgt,
                    stem=stem,
                )
            cell = curves[(curves["space"] == space) & (curves["dataset"] == dataset)]
            cell = cell[cell.groupby("proxy")["spearman"].transform(lambda v: v.notna().any()).astype(bool)]
            if not cell.empty:
                written += correlation_vs_top_plot(
                    cell,
                    method="spearman",
                    title=f"{space}/{dataset}",
                    stem=out / "figures" / _slug("top_curve", space, dataset),
                )
    return written
