#!/usr/bin/env python
"""grasp: the reference's two gradient passes (baseline) vs one pass whose gradient also serves as g.

grasp needs g = dL/dtheta held constant and the same gradient again with a graph (z = <g, grad>, then Hg by
back-propagating z). The reference (foresight) computes them in two forward/backward passes on the same batch;
when the forward draws no random numbers both passes give the same tensor, so ``nasprox`` detaches the graph
pass's gradient instead of running the first pass. Both run here on the same networks, weights and batch, in
the same process, one intra-op thread, alternating per architecture; the script checks that every value is
equal bit for bit and prints the median seconds per architecture of each and their ratio.

  OMP_NUM_THREADS=1 python scripts/bench_grasp.py --archs 10 [--space nats-sss] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from nasprox.core import PROXIES, SPACES, ProxyContext
from nasprox.engine.selection import select_archs
from nasprox.proxies._common import logits_of, weight_layers


def two_pass_grasp(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """The reference's order: g from a first pass without a graph, then the graph pass, z, Hg."""
    weights = [layer.weight for layer in weight_layers(model.train())]
    first = torch.autograd.grad(F.cross_entropy(logits_of(model(x)), y), weights, allow_unused=True)
    second = torch.autograd.grad(F.cross_entropy(logits_of(model(x)), y), weights, create_graph=True, allow_unused=True)
    z = sum((g.detach() * h).sum() for g, h in zip(first, second) if g is not None and h is not None)
    z.backward()
    return float(sum((-w.detach() * w.grad).double().sum() for w in weights if w.grad is not None))


def proxy_grasp(model: nn.Module, x: torch.Tensor, y: torch.Tensor, spec) -> float:
    ctx = ProxyContext(
        model=model,
        build_model=lambda: copy.deepcopy(model),
        inputs=x,
        targets=y,
        input_spec=spec,
        loss_fn=F.cross_entropy,
        next_batch=lambda: (x, y),
        device=torch.device("cpu"),
        seed=0,
    )
    return PROXIES.get("grasp").fn(ctx)


def timed(fn, *args) -> tuple[float, float]:
    start = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - start, value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="nats-tss")
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--archs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=64, help="NEAR Table 1 and epsilon score grasp at 64")
    args = ap.parse_args()
    torch.set_num_threads(1)
    space = SPACES.get(args.space)()
    spec = space.input_spec(args.dataset)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch_size, *spec.shape, generator=gen)
    y = torch.randint(0, spec.num_classes, (args.batch_size,), generator=gen)
    times: dict[str, list[float]] = {"two passes": [], "one pass": []}
    for arch in select_archs(space, sample=args.archs, seed=0):
        model = space.build(arch, args.dataset)
        t_base, v_base = timed(two_pass_grasp, copy.deepcopy(model), x, y)
        t_new, v_new = timed(proxy_grasp, copy.deepcopy(model), x, y, spec)
        if v_base != v_new:
            raise SystemExit(f"grasp differs on {arch.key}: {v_base!r} vs {v_new!r}")
        times["two passes"].append(t_base)
        times["one pass"].append(t_new)
    base, new = statistics.median(times["two passes"]), statistics.median(times["one pass"])
    print(f"{args.space}/{args.dataset}, {args.archs} archs, batch {args.batch_size}:")
    print(f"  baseline (reference, two gradient passes): {base:7.3f} s per arch (median)")
    print(f"  nasprox grasp (graph pass reused as g):    {new:7.3f} s per arch (median)")
    print(f"  speed-up {base / new:.2f}x; every value equal bit for bit")


if __name__ == "__main__":
    main()
