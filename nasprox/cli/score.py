"""``nasprox score``: score architectures of a space with proxies into a resumable CSV."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from nasprox.cli._common import user_errors
from nasprox.core import PROXIES, SPACES, NasproxError

EXAMPLES = """
Examples:

  nasprox score --space nats-tss --proxy near --dataset cifar10 --data-root ~/data/cifar --archs 0:200

  nasprox score --space nats-tss --proxy 'near,synflow,snip' --dataset cifar10 --sample 500 --seed 0 \\
      --data-root ../shared/data/inputs/cifar10_test_1000_from_jpg.npz \\
      --ground-truth ../shared/data/nb201/nb201_test_acc_200ep.csv --out results/tss_c10.csv

Running the same command again resumes: finished (arch, proxy) rows are skipped.
"""


def default_out(space: str, dataset: str, proxies: list[str], seed: int) -> Path:
    tag = proxies[0] if len(proxies) == 1 else f"{len(proxies)}proxies"
    return Path("results") / f"{space}_{dataset}_{tag}_s{seed}.csv"


@user_errors
def score(
    space: Annotated[str, typer.Option("--space", "-s", help="search space (see `nasprox spaces`)")],
    proxy: Annotated[list[str], typer.Option("--proxy", "-p", help="proxy names, comma-separated or repeated; globs like 'grad*'")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="dataset or task of the space")] = "cifar10",
    archs: Annotated[Optional[str], typer.Option(help="indices: '0:200', '5', '1,4,9'")] = None,
    sample: Annotated[Optional[int], typer.Option(help="score a seeded random sample of this many architectures")] = None,
    arch_list: Annotated[Optional[Path], typer.Option(help="file with one architecture string per line")] = None,
    seed: Annotated[int, typer.Option(help="seed for sampling, model init and input batches")] = 0,
    device: Annotated[str, typer.Option(help="cpu | cuda | cuda:N | auto")] = "auto",
    batch_size: Annotated[int, typer.Option(help="input batch size (proxies with a reference batch size use theirs unless proxy.batch_size is set)")] = 64,
    data_root: Annotated[Optional[Path], typer.Option(help="dataset folder (CIFAR python batches, ImageNet16, PTB) or an .npz with x/y")] = None,
    synthetic: Annotated[bool, typer.Option(help="Gaussian inputs instead of real data (correlations are lower)")] = False,
    augment: Annotated[bool, typer.Option(help="random crop + flip on input batches (the foresight pipeline)")] = False,
    memory_format: Annotated[str, typer.Option(help="auto | channels_last | contiguous: layout of image models and batches; auto = channels_last on CPU (NEAR 1.6-2.2x faster, scores equal to round-off)")] = "auto",
    benchmark: Annotated[Optional[Path], typer.Option(help="upstream benchmark file/folder for ground truth")] = None,
    ground_truth: Annotated[Optional[Path], typer.Option(help="plain ground-truth CSV (arch string + metric columns)")] = None,
    proxy_opt: Annotated[list[str], typer.Option(help="proxy option, e.g. near.repetitions=8 (repeatable)")] = [],
    space_opt: Annotated[list[str], typer.Option(help="search-space option, e.g. resolution=64 (transnas) or dropout=true (nb-nlp)")] = [],
    shard: Annotated[Optional[str], typer.Option(help="i/n: score only this shard of the selected architectures")] = None,
    devices: Annotated[Optional[str], typer.Option(help="'all' local GPUs or a list like cuda:0,cuda:1: one worker process per device")] = None,
    workers: Annotated[int, typer.Option(help="CPU worker processes (ignored with --devices)")] = 1,
    timeout_per_arch: Annotated[Optional[float], typer.Option(help="seconds; a hung architecture is killed in its isolated worker and recorded as timeout")] = None,
    backend: Annotated[str, typer.Option(help="local | ray")] = "local",
    ray_address: Annotated[Optional[str], typer.Option(help="Ray cluster address ('auto' for the running cluster); default: start a local Ray")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="result CSV (default results/<space>_<dataset>_<proxy>_s<seed>.csv)")] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Score architectures of a search space with zero-cost proxies; one CSV row per (arch, proxy)."""
    from nasprox.engine import RunConfig, Scorer, parse_proxy_options, parse_space_options, select_archs
    from nasprox.storage.csv_store import ResultWriter, header_for
    from nasprox.storage.provenance import update_last_provenance, write_provenance

    space_name = SPACES.canonical(space)
    proxies = PROXIES.select(proxy)
    if batch_size < 1:
        raise NasproxError(f"--batch-size must be >= 1, got {batch_size}")
    if synthetic and data_root is not None:
        raise NasproxError("--synthetic and --data-root exclude each other")
    for path, flag in ((data_root, "--data-root"), (benchmark, "--benchmark"), (ground_truth, "--ground-truth")):
        if path is not None and not path.exists():
            raise NasproxError(f"{flag} {path} does not exist")
    config = RunConfig(
        space=space_name, dataset=dataset, proxies=proxies, seed=seed, batch_size=batch_size, device=device,
        data_root=str(data_root) if data_root else None, synthetic=synthetic, augment=augment,
        proxy_options=parse_proxy_options(proxy_opt, proxies),
        benchmark=str(benchmark) if benchmark else None, ground_truth=str(ground_truth) if ground_truth else None,
        space_options=parse_space_options(space_opt), memory_format=memory_format,
    )
    if not synthetic and data_root is None and any(PROXIES.get(p).needs_real_data for p in proxies):
        raise NasproxError("these proxies need input data: give --data-root DIR (or an .npz), or --synthetic")
    scorer = Scorer(config)
    selected = select_archs(scorer.space, archs=archs, sample=sample, seed=seed, arch_list=arch_list, shard=shard)
    out = out or default_out(space_name, dataset, proxies, seed)
    device_list = _device_list(devices, workers, device)
    if backend not in ("local", "ray"):
        raise NasproxError(f"--backend must be local or ray, not '{backend}'")
    if ray_address and backend != "ray":
        raise NasproxError("--ray-address needs --backend ray")
    if timeout_per_arch is not None and timeout_per_arch <= 0:
        raise NasproxError("--timeout-per-arch must be > 0 seconds")
    writer = ResultWriter(out, header_for(scorer.space.gt_fields))
    selection = {"archs": archs, "sample": sample, "arch_list": str(arch_list) if arch_list else None, "seed": seed}
    extra = {"shard": shard or "0/1", "n_archs": len(selected), "selection": selection, "backend": backend,
             "devices": device_list}
    write_provenance(out, config.to_dict(), extra)
    if synthetic:
        typer.echo("nasprox: warning: --synthetic Gaussian inputs; correlations are lower than with real data", err=True)
    pending = [a for a in selected if any(scorer.key(a, p) not in writer.done for p in proxies)]
    if writer.rows_before:
        typer.echo(f"resuming {out}: {writer.rows_before} rows already there, {len(pending)} of {len(selected)} architectures to go", err=True)
    workers_info: list[dict] = []

    def skip_for(arch):
        return {p for p in proxies if scorer.key(arch, p) in writer.done}

    if backend == "ray":
        from nasprox.engine.ray_backend import run_ray

        stream = run_ray(scorer, pending, skip_for, address=ray_address, num_cpus=max(workers, 1),
                         gpus_per_task=1.0 if scorer.device.type == "cuda" else 0.0, on_worker=workers_info.append)
    elif len(device_list) > 1 or timeout_per_arch is not None:
        from nasprox.engine.parallel import WorkerPool

        stream = WorkerPool(scorer, device_list, timeout_per_arch).run(pending, skip_for)
    else:
        stream = scorer.run(pending, writer.done)
    t0 = time.perf_counter()
    n_rows = n_failed = 0
    try:
        with writer, _progress(progress, len(pending)) as advance:
            for records in stream:
                for rec in records:
                    writer.write(rec)
                    n_rows += 1
                    n_failed += rec.status != "ok"
                writer.flush()
                advance()
    finally:
        if workers_info:
            update_last_provenance(out, {"workers": _unique(workers_info)})
    elapsed = time.perf_counter() - t0
    rate = len(pending) / elapsed if elapsed > 0 else float("nan")
    typer.echo(f"wrote {n_rows} rows ({n_failed} not ok) for {len(pending)} architectures to {out} "
               f"in {elapsed:.1f}s: {rate:.2f} archs/s on {scorer.device}", err=True)


def _device_list(devices: str | None, workers: int, device: str) -> list[str]:
    """Devices of the worker processes: --devices all|list, else --workers copies of --device."""
    import torch

    if devices:
        if devices.strip() == "all":
            n = torch.cuda.device_count()
            if n == 0:
                raise NasproxError("--devices all: torch sees no CUDA GPU (use --workers N for CPU processes)")
            return [f"cuda:{i}" for i in range(n)]
        return [d.strip() for d in devices.split(",") if d.strip()]
    if workers < 1:
        raise NasproxError("--workers must be >= 1")
    return [device] * workers


def _unique(infos: list[dict]) -> list[dict]:
    seen, out = set(), []
    for info in infos:
        key = (info.get("ray_node_id"), info.get("pid"))
        if key not in seen:
            seen.add(key)
            out.append(info)
    return out


class _progress:
    """A rich progress bar with archs/s and ETA (or nothing when disabled / not a terminal)."""

    def __init__(self, enabled: bool, total: int):
        self.enabled, self.total = enabled, total

    def __enter__(self):
        if not self.enabled or self.total == 0:
            return lambda: None
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        class Rate(TextColumn):
            def render(self, task):
                speed = task.finished_speed or task.speed
                return f"{speed:.2f} archs/s" if speed else "- archs/s"

        self._bar = Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                             Rate(""), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), transient=False)
        self._bar.start()
        task = self._bar.add_task("scoring", total=self.total)
        return lambda: self._bar.advance(task)

    def __exit__(self, *exc):
        if getattr(self, "_bar", None) is not None:
            self._bar.stop()


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(score)
