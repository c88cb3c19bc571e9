"""``nasprox score``: score architectures of a space with proxies into a resumable CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from nasprox.api import run_to_csv
from nasprox.cli._common import Plugins, RetryFailed, user_errors
from nasprox.core import PROXIES, SPACES, NasproxError

EXAMPLES = """
Examples:

  nasprox score --space nats-tss --proxy near --dataset cifar10 --data-root ~/data/cifar --archs 0:200

  nasprox score --space nats-tss --proxy 'near,synflow,snip' --dataset cifar10 --sample 500 --seed 0 \\
      --data-root ../shared/data/inputs/cifar10_test_1000_from_jpg.npz \\
      --ground-truth ../shared/data/nb201/nb201_test_acc_200ep.csv --out results/tss_c10.csv

Running the same command again resumes: finished (arch, proxy) rows are skipped; with --retry-failed,
rows that failed (a crash, out of memory) are scored again.
"""


def default_out(space: str, dataset: str, proxies: list[str], seed: int) -> Path:
    tag = proxies[0] if len(proxies) == 1 else f"{len(proxies)}proxies"
    return Path("results") / f"{space}_{dataset}_{tag}_s{seed}.csv"


@user_errors
def score(
    ctx: typer.Context,
    proxy: Annotated[
        list[str], typer.Option("--proxy", "-p", help="proxy names, comma-separated or repeated; globs like 'grad*'")
    ],
    space: Annotated[
        Optional[str], typer.Option("--space", "-s", help="search space (see `nasprox spaces`); or --like")
    ] = None,
    like: Annotated[
        Optional[Path],
        typer.Option(
            help="a result CSV (e.g. results/reproduction/nats-tss_cifar10.csv): score under its protocol (space, "
            "dataset, seed, its architectures, and from its provenance sidecar the data source, checked by sha256, "
            "the batch protocol, augmentation, layout, threads, ground truth), so the rows join its baselines"
        ),
    ] = None,
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="dataset or task of the space")] = "cifar10",
    archs: Annotated[Optional[str], typer.Option(help="indices: '0:200', '5', '1,4,9'")] = None,
    sample: Annotated[
        Optional[int], typer.Option(help="score a seeded random sample of this many architectures")
    ] = None,
    subset: Annotated[
        Optional[int],
        typer.Option(
            help="with --sample N: only the first K cells of the seeded sample, in drawn order (a subset of the same N-cell sample, e.g. the slow proxies on 200 of 1,000)"
        ),
    ] = None,
    arch_list: Annotated[Optional[Path], typer.Option(help="file with one architecture string per line")] = None,
    seed: Annotated[int, typer.Option(help="seed for sampling, model init and input batches")] = 0,
    device: Annotated[str, typer.Option(help="cpu | cuda | cuda:N | auto")] = "auto",
    batch_size: Annotated[
        Optional[int],
        typer.Option(
            help="input batch size for every proxy; default: each proxy's reference batch (`nasprox proxies`), 64 where it declares none; proxy.batch_size=N sets one proxy's"
        ),
    ] = None,
    data_root: Annotated[
        Optional[Path], typer.Option(help="dataset folder (CIFAR python batches, ImageNet16, PTB) or an .npz with x/y")
    ] = None,
    synthetic: Annotated[
        bool, typer.Option(help="Gaussian inputs instead of real data (correlations are lower)")
    ] = False,
    augment: Annotated[bool, typer.Option(help="random crop + flip on input batches (the foresight pipeline)")] = False,
    memory_format: Annotated[
        str,
        typer.Option(
            help="auto | channels_last | contiguous: layout of image models and batches; auto = channels_last on CPU (NEAR 1.6-2.2x faster, scores equal to round-off)"
        ),
    ] = "auto",
    benchmark: Annotated[Optional[Path], typer.Option(help="upstream benchmark file/folder for ground truth")] = None,
    ground_truth: Annotated[
        Optional[Path], typer.Option(help="plain ground-truth CSV (arch string + metric columns)")
    ] = None,
    proxy_opt: Annotated[list[str], typer.Option(help="proxy option, e.g. near.repetitions=8 (repeatable)")] = [],
    space_opt: Annotated[
        list[str], typer.Option(help="search-space option, e.g. resolution=64 (transnas) or dropout=true (nb-nlp)")
    ] = [],
    shard: Annotated[
        Optional[str], typer.Option(help="i/n: score only this shard of the selected architectures")
    ] = None,
    devices: Annotated[
        Optional[str], typer.Option(help="'all' local GPUs or a list like cuda:0,cuda:1: one worker process per device")
    ] = None,
    workers: Annotated[int, typer.Option(help="CPU worker processes (ignored with --devices)")] = 1,
    threads: Annotated[
        int,
        typer.Option(
            help="intra-op CPU threads per scoring process; 1 (default) makes CPU scores identical whatever --workers/--shard; other counts change round-off and are part of the resume key"
        ),
    ] = 1,
    allow_tf32: Annotated[
        bool,
        typer.Option(
            help="CUDA only: TF32 matmuls/convolutions (faster, ~1e-3 relative score drift); off by default, part of the resume key"
        ),
    ] = False,
    timeout_per_arch: Annotated[
        Optional[float],
        typer.Option(help="seconds; a hung architecture is killed in its isolated worker and recorded as timeout"),
    ] = None,
    backend: Annotated[str, typer.Option(help="local | ray")] = "local",
    ray_address: Annotated[
        Optional[str],
        typer.Option(help="Ray cluster address ('auto' for the running cluster); default: start a local Ray"),
    ] = None,
    out: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="result CSV (default results/<space>_<dataset>_<proxy>_s<seed>.csv)"),
    ] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    retry_failed: RetryFailed = False,
    plugin: Plugins = [],
) -> None:
    """Score architectures of a search space with zero-cost proxies; one CSV row per (arch, proxy)."""
    from nasprox.engine import RunConfig, parse_proxy_options, parse_space_options
    from nasprox.engine.pipeline import Execution, Selection, plan

    proxies = PROXIES.select(proxy)
    settings: dict[str, Any] = dict(
        space=space,
        dataset=dataset,
        seed=seed,
        batch_size=batch_size,
        data_root=_str(data_root),
        synthetic=synthetic,
        augment=augment,
        proxy_options=parse_proxy_options(proxy_opt, proxies),
        benchmark=_str(benchmark),
        ground_truth=_str(ground_truth),
        space_options=parse_space_options(space_opt),
        memory_format=memory_format,
        threads=threads,
        allow_tf32=allow_tf32,
    )
    if like is not None:  # the CSV and its sidecar fix the protocol; the proxies, device and execution stay yours
        from nasprox.engine.like import LIKE_FIXES, like_settings

        given = [f"--{n.replace('_', '-')}" for n in LIKE_FIXES if _given(ctx, n)]
        if given:
            raise NasproxError(f"--like {like} fixes {', '.join(given)} (from the CSV and its sidecar); leave them out")
        settings, like_archs = like_settings(like, settings, proxies, warn=_warn)
        if archs is None and sample is None and arch_list is None:
            archs = like_archs
    if settings["space"] is None:
        raise NasproxError("give --space (or --like RESULTS.csv)")
    settings["space"] = SPACES.canonical(settings["space"])
    config = RunConfig(proxies=proxies, device=device, **settings)
    seed = config.seed
    selection = Selection(archs=archs, sample=sample, subset=subset, arch_list=_str(arch_list), seed=seed, shard=shard)
    execution = Execution(
        backend=backend,
        devices=_split(devices),
        workers=workers,
        timeout_per_arch=timeout_per_arch,
        ray_address=ray_address,
    )
    run_plan = plan(config, selection, execution)  # every input is checked before the output is opened
    run_to_csv(run_plan, out or default_out(config.space, config.dataset, proxies, seed), progress, retry_failed)


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether ``name`` was given on the command line (not its default)."""
    return getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"


def _warn(message: str) -> None:
    typer.echo(f"nasprox: warning: {message}", err=True)


def _str(value: Path | str | None) -> str | None:
    return None if value is None else str(value)


def _split(devices: str | None) -> tuple[str, ...]:
    return tuple(d.strip() for d in devices.split(",") if d.strip()) if devices else ()


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(score)
