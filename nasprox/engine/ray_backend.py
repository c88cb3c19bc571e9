"""Multi-node scoring on Ray: chunks of architectures become Ray tasks; the driver writes.

Start a cluster the usual way (``ray start --head`` on one node, ``ray start --address=HEAD:6379``
on the others) and pass ``--backend ray --ray-address auto``; without an address a local Ray
instance is started on this machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Set
from dataclasses import replace
from typing import Any

from nasprox.core import ArchRef, NasproxError, ResultKey, ScoreRecord
from nasprox.engine.runner import RunConfig, Scorer


def _score_chunk(config: RunConfig, work: list[tuple[ArchRef, frozenset]]) -> tuple[dict, list[list[ScoreRecord]]]:
    """Runs inside a Ray worker: score a chunk, return (worker provenance, records per arch)."""
    from nasprox.storage.provenance import environment

    scorer = Scorer(config)
    out = [scorer.score_arch(arch, skip=skip.__contains__) for arch, skip in work]
    info = {**environment(), "pid": os.getpid(), "device": str(scorer.device)}
    try:
        import ray

        info["ray_node_id"] = ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - provenance is best effort
        pass
    return info, [r for r in out if r]


def run_ray(
    scorer: Scorer,
    archs: Iterable[ArchRef],
    done: Set[ResultKey],
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    chunk_size: int = 8,
    gpus_per_task: float = 0.0,
    on_worker: Callable[[dict], None] = lambda info: None,
) -> Iterator[list[ScoreRecord]]:
    try:
        import ray
    except ImportError:
        raise NasproxError("--backend ray needs Ray: pip install 'nasprox[ray]'") from None
    work = [(a, scorer.skip_set(a, done)) for a in archs]
    if not work:
        return
    init_kwargs: dict[str, Any] = {"ignore_reinit_error": True, "include_dashboard": False, "log_to_driver": False}
    if address:
        init_kwargs["address"] = address
    elif num_cpus:
        init_kwargs["num_cpus"] = num_cpus
    try:
        ray.init(**init_kwargs)
    except Exception as exc:  # noqa: BLE001 - e.g. no cluster at that address
        raise NasproxError(f"cannot connect to Ray ({address or 'local'}): {str(exc).splitlines()[0]}") from None
    config = (
        scorer.config
        if gpus_per_task
        else replace(scorer.config, device="cpu" if scorer.device.type == "cpu" else scorer.config.device)
    )
    task = ray.remote(num_gpus=gpus_per_task, num_cpus=1)(_score_chunk)
    pending = [task.remote(config, work[i : i + chunk_size]) for i in range(0, len(work), chunk_size)]
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            info, per_arch = ray.get(ready[0])
            on_worker(info)
            yield from per_arch
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if not address:
            ray.shutdown()
