#!/usr/bin/env python
"""How the engine hands each proxy its own copy of the network: deep copy vs seeded rebuild, per space.

Every proxy of a run gets a network equal to the freshly built one (a proxy may change weights, modes or
buffers). Two ways give that: ``copy.deepcopy`` of the built network, or building it again from its seed
(``Scorer._fresh``: the same seeded build, global RNGs left as they were). For cheap proxies (#params,
FLOPs) the copy is most of the time an architecture costs, so this measures both on the same
architectures of every space, in the same process, one intra-op thread, and checks that the rebuilt
network equals the deep copy tensor for tensor.

Measured (docs/performance.md): rebuilding is 1.4-1.6x faster than copying on NATS, 4x slower on TransNAS,
so the engine keeps the copy and instead hands proxies that leave the network unchanged (#params, FLOPs)
the built network itself (ProxySpec.leaves_model_unchanged).

  python scripts/bench_model_copy.py --archs 20
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from nasprox.core import SPACES, NasproxError
from nasprox.engine import RunConfig, Scorer

DATASET = {"transnas-micro": "jigsaw", "transnas-macro": "jigsaw", "nb-nlp": "ptb"}


def same_tensors(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def bench_space(space: str, n_archs: int) -> tuple[float, float, float, bool] | None:
    """Median seconds of (build, deep copy, seeded rebuild) over ``n_archs`` seeded archs, and whether
    every rebuild equalled its deep copy; None when the space cannot enumerate here (no benchmark file)."""
    config = RunConfig(space=space, dataset=DATASET.get(space, "cifar10"), proxies=["params"], synthetic=True)
    try:
        scorer = Scorer(config)
        size = len(scorer.space)
    except NasproxError as err:
        print(f"{space}: skipped ({str(err).splitlines()[0]})")
        return None
    generator = torch.Generator().manual_seed(0)
    indices = torch.randperm(size, generator=generator)[: n_archs + 1].tolist()  # the first one warms up
    builds, copies, rebuilds, equal = [], [], [], True
    for i, index in enumerate(indices):
        arch = scorer.space.arch(index)
        t_build, base = timed(scorer.build, arch)
        t_copy, copied = timed(copy.deepcopy, base)
        t_rebuild, rebuilt = timed(scorer._fresh, arch)
        equal &= same_tensors(copied, rebuilt)
        if i:
            builds.append(t_build)
            copies.append(t_copy)
            rebuilds.append(t_rebuild)
    return statistics.median(builds), statistics.median(copies), statistics.median(rebuilds), equal


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", type=int, default=20)
    ap.add_argument("--spaces", default=",".join(SPACES.names()))
    args = ap.parse_args()
    torch.set_num_threads(1)
    print("| space | build ms | deep copy ms | seeded rebuild ms | copy / rebuild | rebuild == copy |")
    print("|---|---|---|---|---|---|")
    for space in args.spaces.split(","):
        result = bench_space(space, args.archs)
        if result is None:
            continue
        build, deep, rebuild, equal = result
        print(
            f"| {space} | {build * 1e3:.1f} | {deep * 1e3:.1f} | {rebuild * 1e3:.1f} | {deep / rebuild:.2f}x | {equal} |"
        )


if __name__ == "__main__":
    main()
