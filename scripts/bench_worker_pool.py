#!/usr/bin/env python
"""Cheap architectures (#params, FLOPs on every cell of a space): what the engine costs around the proxies.

Two changes, each measured against its baseline in the same run, with identical scores checked:
(1) sharing: proxies that leave the network unchanged (ProxySpec.leaves_model_unchanged: #params, FLOPs)
    score on the built network instead of a deep copy; measured inline (one process), with the flags
    switched off as the baseline.
(2) the worker pool: with one task per worker and a parent polling every 50 ms, a worker sat idle from the
    moment it finished an architecture until the parent's next poll, which for ~15 ms architectures was
    most of the time. Each worker now holds a second task and the parent polls every 10 ms when idle;
    measured with N workers (both with sharing, which the spawned workers cannot switch off), the worker
    start-up included.

  python scripts/bench_worker_pool.py --archs 1500 --workers 2
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable, Iterator

from nasprox.engine import RunConfig, Scorer, select_archs
from nasprox.engine.parallel import WorkerPool


def timed_scores(stream: Callable[[], Iterator[list]]) -> tuple[float, dict[tuple[str, str], float]]:
    start = time.perf_counter()
    scores = {(r.arch, r.proxy): r.score for records in stream() for r in records}
    return time.perf_counter() - start, scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="nats-sss")
    ap.add_argument("--proxies", default="params,flops")
    ap.add_argument("--archs", type=int, default=400)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    config = RunConfig(space=args.space, dataset="cifar10", proxies=args.proxies.split(","), synthetic=True)
    scorer = Scorer(config)
    archs = select_archs(scorer.space, sample=args.archs, seed=0)
    unshared = Scorer(config)  # the baseline of (1): every proxy on a deep copy, as before
    unshared.proxies = [dataclasses.replace(p, leaves_model_unchanged=False) for p in unshared.proxies]
    devices = [config.device] * args.workers
    runs = {
        "inline, every proxy on a copy": lambda: unshared.run(archs),
        "inline, sharing": lambda: scorer.run(archs),
        "old pool (depth 1, 50 ms poll)": lambda: WorkerPool(scorer, devices, depth=1, poll_s=0.05).run(
            archs, frozenset()
        ),
        "current pool": lambda: WorkerPool(scorer, devices).run(archs, frozenset()),
    }
    seconds, scores = {}, {}
    for name, stream in runs.items():
        seconds[name], scores[name] = timed_scores(stream)
        print(f"{name:32s} {len(archs) / seconds[name]:7.1f} archs/s ({seconds[name]:.1f} s for {len(archs)})")
    sharing = seconds["inline, every proxy on a copy"] / seconds["inline, sharing"]
    pool = seconds["old pool (depth 1, 50 ms poll)"] / seconds["current pool"]
    shared = ", ".join(p.name for p in scorer.proxies if p.leaves_model_unchanged) or "none"
    print(f"(1) sharing vs copying, inline: {sharing:.2f}x ({args.space}, {args.proxies}; sharing: {shared})")
    print(f"(2) current pool vs old pool, {args.workers} workers: {pool:.2f}x")
    print(f"current pool vs inline sharing: {seconds['inline, sharing'] / seconds['current pool']:.2f}x")
    first = next(iter(scores.values()))
    assert all(s == first for s in scores.values()), "the runs disagree"
    print(f"scores identical across the {len(runs)} runs ({len(first)} rows)")


if __name__ == "__main__":
    main()
