#!/usr/bin/env python
"""Speed benchmark: a reference-style scoring loop vs the nasprox engine, same archs, same process.

(a) reference-style, written the way the NASLib / zero-cost-nas / NEAR reference code does it:
    one architecture, one proxy, one NEAR repetition at a time; a deep copy of the network per
    measure; the input batch re-loaded and re-normalised per architecture; NEAR hooks keep every
    full output with its autograd graph and run one SVD per layer.
(b) the nasprox engine (``Scorer``): batches decoded once per run, channels_last image models and
    batches on CPU (``--memory-format auto``), NEAR under no_grad keeping only the rows it needs and
    one batched SVD pass over all layers and repetitions; optionally several worker processes
    (``--workers``), each with its share of the CPU threads.

Prints archs/s of each and the ratio, per proxy (proxy time only) and for the whole suite (wall),
and checks that (a) and (b) agree (identical where deterministic, else Spearman >= 0.999).

  python scripts/bench_speed.py --archs 20 --data-root ../shared/data/inputs/cifar10_test_1000_from_jpg.npz
"""
from __future__ import annotations

import argparse
import copy
import math
import time

import numpy as np
import torch
from scipy import stats

from nasprox.core import PROXIES, InputSpec, ProxyContext
from nasprox.data import image_batches
from nasprox.engine import RunConfig, Scorer, select_archs
from nasprox.engine.seeding import derive_seed, seed_everything
from nasprox.proxies import near as near_mod


# -- (a) reference-style implementations ----------------------------------------------------------
def reference_near(model, batches, repetitions: int, seed: int, device) -> float:
    """NEAR as the reference package computes it: full outputs kept with autograd, SVD per layer."""
    rng = np.random.default_rng([seed, 5_1])
    layers = near_mod.hooked_modules(model)
    totals = []
    for rep in range(repetitions):
        outputs: dict[int, list] = {i: [] for i in range(len(layers))}
        order: list[int] = []

        def hook(i):
            def fn(module, _inp, out):
                if i not in order:
                    order.append(i)
                outputs[i].append(out[0] if isinstance(out, (tuple, list)) else out)
            return fn

        handles = [m.register_forward_hook(hook(i)) for i, m in enumerate(layers)]
        for x in batches:  # the reference iterates its loader until every layer is full
            model(x)
            if all(sum(_rows(layers[i], o) for o in outputs[i]) >= _cols(outputs[i][0]) for i in order):
                break
        for h in handles:
            h.remove()
        total = 0.0
        for i in order:
            mats = [_as_matrix(layers[i], o) for o in outputs[i]]
            full = torch.cat(mats)
            cols, w_last = full.shape[1], outputs[i][0].shape[-1]
            k = full.shape[0] // w_last - 1 if w_last else 0
            start = w_last * int(rng.integers(0, k)) if k > 0 else 0
            total += near_mod.effective_rank(full[start:start + cols].detach())
        totals.append(total)
        if rep + 1 < repetitions:
            with near_mod._seeded_torch(seed * 1_000_003 + rep, device):
                near_mod.reset_parameters(model)
    return float(np.mean(totals))


def _as_matrix(module, out):
    view = near_mod._as_rows(module, out)
    return view.view.reshape(-1, view.cols)


def _rows(module, out):
    return near_mod._as_rows(module, out).n_rows


def _cols(out):
    return out.shape[-1]


def reference_loop(space, archs, proxies, args, device):
    """One arch, one proxy, one repetition at a time; deep copy and data reload per measure."""
    scores = {p: [] for p in proxies}
    seconds = {p: 0.0 for p in proxies}
    spec: InputSpec = space.input_spec(args.dataset)
    loss_fn = space.loss_fn(args.dataset)
    t0 = time.perf_counter()
    for arch in archs:
        seed_everything(derive_seed(args.seed, space.name, arch.key))
        net = space.build(arch, args.dataset).to(device)
        for name in proxies:
            t = time.perf_counter()
            stream = image_batches(args.dataset, args.batch_size, args.seed, shape=spec.shape, data_root=args.data_root,
                                   num_classes=spec.num_classes, norm=spec.norm, device=device)
            x, y = stream.next()
            model = copy.deepcopy(net)
            seed_everything(derive_seed(args.seed, arch.key, name))
            if name == "near":
                cached = [x]

                def batches(cached=cached, stream=stream):
                    i = 0
                    while True:
                        if i == len(cached):
                            cached.append(stream.next()[0])
                        yield cached[i]
                        i += 1

                class Reiterable:
                    def __iter__(self):
                        return batches()

                value = reference_near(model, Reiterable(), args.near_repetitions, args.seed, device)
            else:
                ctx = ProxyContext(model=model, build_model=lambda: copy.deepcopy(net), inputs=x, targets=y,
                                   input_spec=spec, loss_fn=loss_fn, next_batch=stream.next, device=device,
                                   seed=args.seed, space=space.name, arch=arch, options={})
                value = float(PROXIES.get(name).fn(ctx))
            seconds[name] += time.perf_counter() - t
            scores[name].append(value)
    return scores, seconds, time.perf_counter() - t0


# -- (b) the engine ---------------------------------------------------------------------------------
def engine_loop(config: RunConfig, archs, workers: int):
    scorer = Scorer(config)
    scores = {p: [] for p in config.proxies}
    seconds = {p: 0.0 for p in config.proxies}
    t0 = time.perf_counter()
    if workers > 1:
        from nasprox.engine.parallel import WorkerPool

        stream = WorkerPool(scorer, [config.device] * workers).run(archs, lambda a: set())
    else:
        stream = scorer.run(archs)
    by_arch = {}
    for recs in stream:
        for r in recs:
            by_arch[(r.arch, r.proxy)] = r
    wall = time.perf_counter() - t0
    for a in archs:
        for p in config.proxies:
            r = by_arch[(a.key, p)]
            scores[p].append(r.score)
            seconds[p] += r.seconds
    return scores, seconds, wall


def agreement(a: list[float], b: list[float]) -> str:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if np.array_equal(a, b, equal_nan=True):
        return "identical"
    finite = np.isfinite(a) & np.isfinite(b)
    rho = stats.spearmanr(a[finite], b[finite]).statistic if finite.sum() > 2 else float("nan")
    return f"spearman {rho:.6f}, max rel diff {np.nanmax(np.abs(a - b) / np.maximum(np.abs(a), 1e-30)):.2e}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="nats-tss")
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--archs", type=int, default=20, help="number of architectures (seeded sample)")
    ap.add_argument("--proxies", default="near,synflow,snip,naswot,params,flops")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--near-repetitions", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workers", type=int, default=1, help="engine worker processes (CPU) for (b)")
    ap.add_argument("--data-root", required=True)
    args = ap.parse_args()

    proxies = PROXIES.select(args.proxies)
    device = torch.device(args.device)
    config = RunConfig(space=args.space, dataset=args.dataset, proxies=proxies, seed=args.seed,
                       batch_size=args.batch_size, device=args.device, data_root=args.data_root,
                       proxy_options={"near": {"repetitions": str(args.near_repetitions)}})
    probe = Scorer(config)
    space = probe.space
    archs = select_archs(space, sample=args.archs, seed=args.seed)
    print(f"{len(archs)} {args.space} archs, {args.dataset}, batch {args.batch_size}, near reps {args.near_repetitions}, "
          f"device {args.device}, torch threads {torch.get_num_threads()}, engine workers {args.workers}, "
          f"engine memory format {str(probe.memory_format).removeprefix('torch.')}")

    ref_scores, ref_sec, ref_wall = reference_loop(space, archs, proxies, args, device)
    eng_scores, eng_sec, eng_wall = engine_loop(config, archs, args.workers)

    n = len(archs)
    print(f"\n{'proxy':<10} {'ref archs/s':>12} {'engine archs/s':>15} {'ratio':>7}  agreement")
    for p in proxies:
        ra = n / ref_sec[p] if ref_sec[p] else math.inf
        ea = n / eng_sec[p] if eng_sec[p] else math.inf
        print(f"{p:<10} {ra:>12.3f} {ea:>15.3f} {ea / ra if ra else math.nan:>6.2f}x  {agreement(ref_scores[p], eng_scores[p])}")
    print(f"{'suite':<10} {n / ref_wall:>12.3f} {n / eng_wall:>15.3f} {ref_wall / eng_wall:>6.2f}x  (wall clock, incl. model build)")
    if device.type == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
