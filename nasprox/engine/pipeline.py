"""The life of one scoring run: ``plan`` checks everything and opens nothing, ``execute`` streams records.

    run_plan = plan(config, Selection(sample=1000), Execution(workers=2))   # all validation happens here
    for records in execute(run_plan, done=writer.done):                    # one backend, one `done` set
        ...

Every backend (inline, worker processes, Ray) takes the same ``done`` set of ``ResultKey`` and
yields each architecture's new records; the caller is the single writer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence, Set
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from nasprox.core import PROXIES, ArchRef, NasproxError, ResultKey, ScoreRecord
from nasprox.engine.device import MemoryMeter
from nasprox.engine.runner import RunConfig, Scorer
from nasprox.engine.selection import select_archs
from nasprox.storage.provenance import file_checksums

BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class Selection:
    """Which architectures: at most one of ``archs``, ``sample`` and ``arch_list``, then a shard."""

    archs: str | None = None
    sample: int | None = None
    subset: int | None = None
    arch_list: str | None = None
    seed: int = 0
    shard: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The selection shared by all shards of one run (the shard itself is recorded apart)."""
        return {k: v for k, v in asdict(self).items() if k != "shard"}


@dataclass(frozen=True)
class Execution:
    """Where the scores are computed; never part of what a score means (see RunConfig for that)."""

    backend: str = "local"  # local | ray
    devices: tuple[str, ...] = ()  # one worker process per entry; empty: ``workers`` copies of config.device
    workers: int = 1
    timeout_per_arch: float | None = None
    ray_address: str | None = None


@dataclass
class RunPlan:
    config: RunConfig
    scorer: Scorer
    archs: list[ArchRef]
    selection: Selection
    execution: Execution
    device_list: list[str]
    warnings: list[str] = field(default_factory=list)  # one line each, shown before scoring starts

    def pending(self, done: Set[ResultKey]) -> list[ArchRef]:
        """Selected architectures with at least one proxy row not yet in ``done``."""
        return [a for a in self.archs if len(self.scorer.skip_set(a, done)) < len(self.scorer.proxies)]

    def keys(self) -> set[ResultKey]:
        """The result key of every (architecture, proxy) row this plan writes."""
        return {self.scorer.key(arch, p.name) for arch in self.archs for p in self.scorer.proxies}

    def pending_per_proxy(self, done: Set[ResultKey]) -> dict[str, int]:
        """Per proxy, how many selected architectures still lack its row in ``done`` (what a resume scores)."""
        return {
            p.name: sum(self.scorer.key(arch, p.name) not in done for arch in self.archs) for p in self.scorer.proxies
        }

    def provenance(self) -> dict[str, Any]:
        """What a provenance entry records about this run besides the environment."""
        return {
            "selection": self.selection.to_dict(),
            "shard": self.selection.shard or "0/1",
            "n_archs": len(self.archs),
            "backend": self.execution.backend,
            "devices": self.device_list,
            "device_used": str(self.scorer.device),
            "peak_memory": MemoryMeter.scope(self.scorer.device),  # what the rows' peak_mem_mb measures
            "batch_sizes": {p.name: self.scorer.batch_size_for(p) for p in self.scorer.proxies},
            "threads": self.config.threads,
            "input_checksums": file_checksums(
                {
                    "data_root": self.config.data_root,
                    "benchmark": self.config.benchmark,
                    "ground_truth": self.config.ground_truth,
                }
            ),
        }


def _check_paths(config: RunConfig) -> None:
    from nasprox.core.sources import DOCS, dataset_hint

    if config.data_root is not None and not Path(config.data_root).exists():
        raise NasproxError(f"--data-root {config.data_root} does not exist; {dataset_hint(config.dataset)}")
    for value, flag in ((config.benchmark, "--benchmark"), (config.ground_truth, "--ground-truth")):
        if value is not None and not Path(value).exists():
            raise NasproxError(
                f"{flag} {value} does not exist; `nasprox spaces --details {config.space}` says which "
                f"files {config.space} reads and where they come from; see {DOCS}"
            )


MAX_SEED = 2**32 - 1  # numpy's legacy seeding, which proxies may call, takes no larger seed


def check_seed(seed: int, flag: str = "--seed") -> None:
    """Refuse a seed the seeding functions would reject mid-run (each architecture an error row)."""
    if not 0 <= seed <= MAX_SEED:
        raise NasproxError(f"{flag} must be an integer between 0 and {MAX_SEED}, got {seed}")


def _check_inputs(config: RunConfig) -> None:
    check_seed(config.seed)
    if config.batch_size is not None and config.batch_size < 1:
        raise NasproxError(f"--batch-size must be >= 1, got {config.batch_size}")
    if config.threads < 1:
        raise NasproxError(f"--threads must be >= 1, got {config.threads}")
    if config.synthetic and config.data_root is not None:
        raise NasproxError("--synthetic and --data-root exclude each other")
    _check_paths(config)
    if (
        not config.synthetic
        and config.data_root is None
        and any(PROXIES.get(p).needs_real_data for p in config.proxies)
    ):
        raise NasproxError("these proxies need input data: give --data-root DIR (or an .npz), or --synthetic")


def device_list(execution: Execution, device: str) -> list[str]:
    """Devices of the worker processes: explicit ``devices`` ('all' = every local GPU), else ``workers`` copies."""
    if execution.devices:
        if execution.devices == ("all",):
            import torch

            n = torch.cuda.device_count()
            if n == 0:
                raise NasproxError("--devices all: torch sees no CUDA GPU (use --workers N for CPU processes)")
            return [f"cuda:{i}" for i in range(n)]
        return list(execution.devices)
    if execution.workers < 1:
        raise NasproxError("--workers must be >= 1")
    return [device] * execution.workers


def _check_execution(execution: Execution) -> None:
    if execution.backend not in BACKENDS:
        raise NasproxError(f"--backend must be one of {', '.join(BACKENDS)}, not '{execution.backend}'")
    if execution.ray_address and execution.backend != "ray":
        raise NasproxError("--ray-address needs --backend ray")
    if execution.timeout_per_arch is not None and execution.timeout_per_arch <= 0:
        raise NasproxError("--timeout-per-arch must be > 0 seconds")


def plan(config: RunConfig, selection: Selection, execution: Execution = Execution()) -> RunPlan:
    """Validate every input (flags, files, data, batch sizes, selection) and build the run; opens no output."""
    _check_inputs(config)
    _check_execution(execution)
    devices = device_list(execution, config.device)
    if len(devices) == 1 and devices[0] != config.device:  # e.g. --devices cuda:1: score inline there
        config = replace(config, device=devices[0])
    scorer = Scorer(config)  # loads the input data and checks it fits every proxy's batch
    check_seed(selection.seed)
    notes: list[str] = []
    archs = select_archs(
        scorer.space,
        archs=selection.archs,
        sample=selection.sample,
        seed=selection.seed,
        arch_list=selection.arch_list,
        shard=selection.shard,
        subset=selection.subset,
        on_note=notes.append,
    )
    return RunPlan(config, scorer, archs, selection, execution, devices, notes + _warnings(config, scorer))


def _warnings(config: RunConfig, scorer: Scorer) -> list[str]:
    out = list(scorer.data_notes)
    reading = [p.name for p in scorer.proxies if p.needs_real_data]
    if config.synthetic and reading:  # data-free proxies (params, synflow, ...) take only the input shape
        out.append(f"--synthetic Gaussian inputs for {', '.join(reading)}; correlations are lower than with real data")
    covered = scorer.space.ground_truth_datasets()
    if covered is not None and config.dataset not in covered:
        out.append(
            f"the ground-truth files given cover {', '.join(sorted(covered)) or 'no dataset'}, not "
            f"{config.dataset}: the gt_* columns of this run will be empty"
        )
    return out


# -- backends ---------------------------------------------------------------------------------------
class Backend(Protocol):
    def run(self, scorer: Scorer, archs: Sequence[ArchRef], done: Set[ResultKey]) -> Iterator[list[ScoreRecord]]:
        """Each architecture's new records (those whose key is not in ``done``), in any order."""
        ...


class InlineBackend:
    """This process, one architecture after another, with the run's intra-op thread count on CPU."""

    def run(self, scorer: Scorer, archs: Sequence[ArchRef], done: Set[ResultKey]) -> Iterator[list[ScoreRecord]]:
        import torch

        if scorer.device.type == "cpu":
            torch.set_num_threads(scorer.config.threads)
        return scorer.run(archs, done)


class ProcessBackend:
    """One worker process per device, each architecture isolated (timeouts, crashes become rows)."""

    def __init__(
        self, devices: list[str], timeout_per_arch: float | None, on_notice: Callable[[str], None] = lambda m: None
    ):
        self.devices, self.timeout, self.on_notice = devices, timeout_per_arch, on_notice

    def run(self, scorer: Scorer, archs: Sequence[ArchRef], done: Set[ResultKey]) -> Iterator[list[ScoreRecord]]:
        from nasprox.engine.parallel import WorkerPool

        return WorkerPool(scorer, self.devices, self.timeout, on_notice=self.on_notice).run(archs, done)


class RayBackend:
    def __init__(self, address: str | None, num_cpus: int, on_worker: Callable[[dict], None]):
        self.address, self.num_cpus, self.on_worker = address, num_cpus, on_worker

    def run(self, scorer: Scorer, archs: Sequence[ArchRef], done: Set[ResultKey]) -> Iterator[list[ScoreRecord]]:
        from nasprox.engine.ray_backend import run_ray

        return run_ray(
            scorer,
            archs,
            done,
            address=self.address,
            num_cpus=self.num_cpus,
            gpus_per_task=1.0 if scorer.device.type == "cuda" else 0.0,
            on_worker=self.on_worker,
        )


def backend_for(
    run_plan: RunPlan,
    on_worker: Callable[[dict], None] = lambda info: None,
    on_notice: Callable[[str], None] = lambda message: None,
) -> Backend:
    """The backend of the plan's execution; ``on_worker`` gets each Ray worker's environment, ``on_notice``
    one-line news of the worker pool (a killed worker's architecture set aside to be scored alone)."""
    ex = run_plan.execution
    if ex.backend == "ray":
        return RayBackend(ex.ray_address, max(ex.workers, 1), on_worker)
    if len(run_plan.device_list) > 1 or ex.timeout_per_arch is not None:
        return ProcessBackend(run_plan.device_list, ex.timeout_per_arch, on_notice)
    return InlineBackend()


def execute(run_plan: RunPlan, done: Set[ResultKey], backend: Backend | None = None) -> Iterator[list[ScoreRecord]]:
    """Score the plan's architectures whose rows are not in ``done``; yields records per architecture."""
    backend = backend or backend_for(run_plan)
    return backend.run(run_plan.scorer, run_plan.pending(done), done)
