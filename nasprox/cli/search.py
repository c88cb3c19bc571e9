"""``nasprox search``: random search and aging evolution with proxy warm-up/move on a benchmark oracle."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from nasprox.cli._common import Plugins, emit_table, markdown_is_md, user_errors, write_file
from nasprox.core import SPACES, NasproxError

EXAMPLES = """
Examples:

  # proxies already scored (the normal path): best accuracy found vs trained architectures
  nasprox search --space nats-tss --dataset cifar10 --scores results/tss_c10.csv --proxy near \\
      --ground-truth ../shared/data/nb201/nb201_test_acc_200ep.csv --seeds 100 --budget 200 --plot search.png

  # proxy computed on the fly by the engine, only for the architectures a strategy asks about
  nasprox search --space nats-tss --proxy synflow --data-root ../shared/data/inputs/cifar10_test_1000_from_jpg.npz \\
      --ground-truth ../shared/data/nb201/nb201_test_acc_200ep.csv --strategy random+warmup --warmup-pool 50

The ground truth is the training oracle; proxy evaluations are free; the budget counts trained archs.
"""


class TableFormat(str, Enum):
    md = "md"
    markdown = "markdown"  # synonym of md (markdown_is_md maps it)
    csv = "csv"


def _checkpoints(text: str, budget: int) -> list[int]:
    try:
        points = sorted({int(p) for p in text.split(",") if p.strip()})
    except ValueError:
        raise NasproxError(f"--checkpoints must be comma-separated integers, not '{text}'") from None
    if not points or points[0] < 1:
        raise NasproxError("--checkpoints must be positive integers")
    return [p for p in points if p <= budget] or [budget]


@user_errors
def search(
    space: Annotated[str, typer.Option("--space", "-s", help="search space with ground truth (e.g. nats-tss)")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="dataset of the space")] = "cifar10",
    scores: Annotated[
        Optional[Path],
        typer.Option(
            help="result CSV with proxy scores (`nasprox score` output); the search runs over its architectures"
        ),
    ] = None,
    proxy: Annotated[
        Optional[str],
        typer.Option("--proxy", "-p", help="proxy for warm-up/move (a column of --scores, or computed on the fly)"),
    ] = None,
    negate_proxy: Annotated[bool, typer.Option(help="treat lower proxy values as better")] = False,
    target: Annotated[
        Optional[str], typer.Option(help="ground-truth field (default: the space's, e.g. test_acc)")
    ] = None,
    ground_truth: Annotated[Optional[Path], typer.Option(help="plain ground-truth CSV for the space")] = None,
    benchmark: Annotated[Optional[Path], typer.Option(help="upstream benchmark file/folder for ground truth")] = None,
    strategy: Annotated[
        list[str],
        typer.Option(
            help="strategies (repeatable): random, random+warmup, evolution, evolution+warmup, evolution+move, evolution+warmup+move; default: all that the inputs allow"
        ),
    ] = [],
    budget: Annotated[int, typer.Option(help="trained architectures per run")] = 200,
    seeds: Annotated[int, typer.Option(help="independent runs (seeds 0..N-1 offset by --seed)")] = 50,
    seed: Annotated[int, typer.Option(help="first seed")] = 0,
    warmup_pool: Annotated[int, typer.Option(help="warm-up pool size N (best of N by proxy)")] = 100,
    population: Annotated[int, typer.Option(help="evolution population size")] = 20,
    sample_size: Annotated[int, typer.Option(help="evolution tournament sample size")] = 5,
    move_candidates: Annotated[int, typer.Option(help="mutations scored by the proxy per move")] = 24,
    checkpoints: Annotated[
        str, typer.Option(help="trained-architecture counts shown in the table")
    ] = "10,25,50,100,200",
    fmt: Annotated[
        TableFormat, typer.Option("--format", help="table format (markdown = md)", callback=markdown_is_md)
    ] = TableFormat.md,
    out: Annotated[Optional[Path], typer.Option(help="write the table here instead of stdout")] = None,
    plot: Annotated[
        Optional[Path], typer.Option(help="PNG/PDF of the mean curves with a ±1 std band over seeds")
    ] = None,
    curves_out: Annotated[Optional[Path], typer.Option(help="CSV of every run's best-so-far curve")] = None,
    data_root: Annotated[Optional[Path], typer.Option(help="input data for on-the-fly proxy scoring")] = None,
    synthetic: Annotated[bool, typer.Option(help="Gaussian inputs for on-the-fly scoring")] = False,
    batch_size: Annotated[int, typer.Option(help="batch size for on-the-fly scoring")] = 64,
    proxy_opt: Annotated[
        list[str], typer.Option(help="proxy option for on-the-fly scoring, e.g. near.repetitions=4")
    ] = [],
    device: Annotated[str, typer.Option(help="device for on-the-fly scoring")] = "auto",
    plugin: Plugins = [],
) -> None:
    """Search a benchmark with its ground truth as the training oracle, with and without proxy help.

    Reports the best accuracy found vs the number of trained architectures, averaged over seeds
    (epsilon paper §3.3, Fig. 3; Abdelfattah et al. 2021 warm-up and move).
    """
    import numpy as np

    from nasprox.search.problem import build_problem
    from nasprox.search.strategies import STRATEGIES, checkpoint_table, plot_curves, run_strategy

    if seeds < 1 or budget < 1:
        raise NasproxError("--seeds and --budget must be >= 1")
    if warmup_pool < 1 or move_candidates < 1:
        raise NasproxError("--warmup-pool and --move-candidates must be >= 1")
    for path, flag in (
        (scores, "--scores"),
        (ground_truth, "--ground-truth"),
        (benchmark, "--benchmark"),
        (data_root, "--data-root"),
    ):
        if path is not None and not path.exists():
            raise NasproxError(f"{flag} {path} does not exist")
    sp = SPACES.get(space)()
    sp.check_dataset(dataset)
    if ground_truth is not None or benchmark is not None:
        sp.configure(benchmark=benchmark, ground_truth=ground_truth)
    live = None
    if scores is None and proxy is not None:
        live = _live_scorer(
            sp.name, dataset, proxy, seed, batch_size, data_root, synthetic, proxy_opt, device, ground_truth, benchmark
        )
    problem, info = build_problem(
        sp, dataset, target=target, scores=scores, proxy=proxy, negate=negate_proxy, live_score=live
    )
    has_proxy = problem.proxy is not None
    chosen = strategy or [s for s in STRATEGIES if has_proxy or ("warmup" not in s and "move" not in s)]
    for name in chosen:
        if name not in STRATEGIES:
            raise NasproxError(f"unknown strategy '{name}' (choose from {', '.join(STRATEGIES)})")
        if not has_proxy and ("warmup" in name or "move" in name):
            raise NasproxError(f"strategy {name} needs a proxy: give --scores CSV and/or --proxy")
    run_seeds = list(range(seed, seed + seeds))
    sign = info["sign"]
    curves = {
        name: sign
        * run_strategy(
            problem,
            name,
            budget,
            run_seeds,
            warmup_pool=warmup_pool,
            population=population,
            sample=sample_size,
            move_candidates=move_candidates,
        )
        for name in chosen
    }
    table = checkpoint_table(curves, _checkpoints(checkpoints, budget), best=info["best"])
    header = (
        f"{sp.name} / {dataset}: oracle {info['oracle']}; domain {info['domain']} archs "
        f"(best {info['best']:.3f}); proxy {info.get('proxy') or '-'}; mutation {info['mutation']}; "
        f"{seeds} seeds, budget {budget}"
    )
    emit_table(table, fmt.value, header, out)
    if plot:
        ylabel = f"best {info['target']} found"
        write_file(plot, lambda path: plot_curves(curves, path, title=header, ylabel=ylabel, best=info["best"]))
    if curves_out:
        import pandas as pd

        frames = [
            pd.DataFrame(
                {
                    "strategy": name,
                    "seed": np.repeat(run_seeds, budget),
                    "trained": np.tile(np.arange(1, budget + 1), len(run_seeds)),
                    "best": arr.reshape(-1),
                }
            )
            for name, arr in curves.items()
        ]
        write_file(curves_out, lambda path: pd.concat(frames).to_csv(path, index=False))


def _live_scorer(
    space, dataset, proxy, seed, batch_size, data_root, synthetic, proxy_opt, device, ground_truth, benchmark
):
    """index -> proxy value, computed by the engine on first use (failed rows give NaN, ranked last)."""
    from nasprox.core import PROXIES
    from nasprox.engine import RunConfig, Scorer, parse_proxy_options

    name = PROXIES.canonical(proxy)
    if PROXIES.get(name).needs_real_data and data_root is None and not synthetic:
        raise NasproxError(f"on-the-fly {name} needs input data: give --data-root (or --synthetic), or use --scores")
    config = RunConfig(
        space=space,
        dataset=dataset,
        proxies=[name],
        seed=seed,
        batch_size=batch_size,
        device=device,
        data_root=str(data_root) if data_root else None,
        synthetic=synthetic,
        proxy_options=parse_proxy_options(proxy_opt, [name]),
    )
    scorer = Scorer(config)

    def score(index: int) -> float:
        records = scorer.score_arch(scorer.space.arch(index))
        return records[0].score if records else float("nan")

    return score


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(search)
