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

        def hook(i, order=order, outputs=outputs):  # bound now: one repetition's buffers per hook
            def fn(module, _inp, out):
                if i not in order:
                    order.append(i)
                # a copy (with its autograd graph, as the reference keeps it): the raw output would be
                # overwritten by a later in-place op, e.g. the head's ReLU(inplace=True) on its BatchNorm output
                outputs[i].append((out[0] if isinstance(out, (tuple, list)) else out).clone())

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
            total += near_mod.effective_rank(full[start : start + cols].detach())
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
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    t0 = time.perf_counter()
    for arch in archs:
        seed_everything(derive_seed(args.seed, space.name, arch.key))
        net = space.build(arch, args.dataset).to(device)
        for name in proxies:
            t = time.perf_counter()
            stream = image_batches(
                args.dataset,
                args.batch_size,
                args.seed,
                shape=spec.shape,
                data_root=args.data_root,
                synthetic=args.synthetic,
                num_classes=spec.num_classes,
                norm=spec.norm,
                device=device,
            )
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
                ctx = ProxyContext(
                    model=model,
                    build_model=lambda net=net: copy.deepcopy(net),
                    inputs=x,
                    targets=y,
                    input_spec=spec,
                    loss_fn=loss_fn,
                    next_batch=stream.next,
                    device=device,
                    seed=args.seed,
                    space=space.name,
                    arch=arch,
                    options={},
                )
                value = float(PROXIES.get(name).fn(ctx))
            sync()
            seconds[name] += time.perf_counter() - t
            scores[name].append(value)
    sync()
    return scores, seconds, time.perf_counter() - t0


# -- (b) the engine ---------------------------------------------------------------------------------
def engine_loop(config: RunConfig, archs, workers: int):
    scorer = Scorer(config)
    scores = {p: [] for p in config.proxies}
    seconds = {p: 0.0 for p in config.proxies}
    t0 = time.perf_counter()
    if workers > 1:
        from nasprox.engine.parallel import WorkerPool

        stream = WorkerPool(scorer, [config.device] * workers).run(archs, frozenset())
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


class GpuMonitor:
    """Samples GPU utilisation (torch.cuda.utilization via NVML, else nvidia-smi) every ``period`` seconds."""

    def __init__(self, device: torch.device, period: float = 0.2):
        import threading

        self.device, self.period, self.samples = device, period, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True) if device.type == "cuda" else None

    def _read(self) -> float | None:
        try:
            return float(torch.cuda.utilization(self.device))
        except Exception:  # noqa: BLE001 - no pynvml: ask nvidia-smi
            import subprocess

            try:
                index = self.device.index if self.device.index is not None else torch.cuda.current_device()
                out = subprocess.run(
                    ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-i", str(index)],
                    capture_output=True,
                    text=True,
                    timeout=5,
                )
                return float(out.stdout.strip().splitlines()[0])
            except Exception:  # noqa: BLE001
                return None

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            value = self._read()
            if value is not None:
                self.samples.append(value)

    def __enter__(self):
        if self._thread is not None:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self._thread is not None:
            torch.cuda.synchronize(self.device)
            self._stop.set()
            self._thread.join()
            self.peak_mib = torch.cuda.max_memory_allocated(self.device) / 2**20

    def summary(self) -> str:
        if self._thread is None:
            return ""
        util = (
            f"mean {np.mean(self.samples):.0f} %, median {np.median(self.samples):.0f} % ({len(self.samples)} samples)"
            if self.samples
            else "not readable (no NVML / nvidia-smi)"
        )
        return f"GPU utilisation {util}; peak memory {self.peak_mib:.0f} MiB"


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
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--synthetic", action="store_true", help="Gaussian inputs instead of --data-root")
    ap.add_argument(
        "--ref-archs",
        type=int,
        default=None,
        help="run (a) on the first N archs only (default: all); ratios compare archs/s",
    )
    ap.add_argument("--memory-format", default="auto", help="engine layout (auto | channels_last | contiguous)")
    ap.add_argument(
        "--near-batched",
        default=None,
        choices=("auto", "on", "off"),
        help="engine near.batched (default: not given = auto: on for CUDA, off on CPU)",
    )
    ap.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    args = ap.parse_args()

    proxies = PROXIES.select(args.proxies)
    device = torch.device(args.device)
    near_options = {"repetitions": str(args.near_repetitions)}
    if args.near_batched is not None:
        near_options["batched"] = args.near_batched
    config = RunConfig(
        space=args.space,
        dataset=args.dataset,
        proxies=proxies,
        seed=args.seed,
        batch_size=args.batch_size,
        device=args.device,
        data_root=args.data_root,
        synthetic=args.synthetic,
        proxy_options={"near": near_options},
        memory_format=args.memory_format,
    )
    probe = Scorer(config)
    space = probe.space
    archs = select_archs(space, sample=args.archs, seed=args.seed)
    print(
        f"{len(archs)} {args.space} archs, {args.dataset}, batch {args.batch_size}, near reps {args.near_repetitions}, "
        f"device {args.device}, torch threads {torch.get_num_threads()}, engine workers {args.workers}, "
        f"engine memory format {str(probe.memory_format).removeprefix('torch.')}"
    )

    ref_archs = archs[: args.ref_archs] if args.ref_archs else archs
    with GpuMonitor(device) as ref_gpu:
        ref_scores, ref_sec, ref_wall = reference_loop(space, ref_archs, proxies, args, device)
    with GpuMonitor(device) as eng_gpu:
        eng_scores, eng_sec, eng_wall = engine_loop(config, archs, args.workers)

    n, m = len(archs), len(ref_archs)
    if m < n:
        print(f"(a) on the first {m} archs, (b) on all {n}; agreement on the first {m}")
    print(f"\n{'proxy':<10} {'ref archs/s':>12} {'engine archs/s':>15} {'ratio':>7}  agreement")
    table = {}
    for p in proxies:
        ra = m / ref_sec[p] if ref_sec[p] else math.inf
        ea = n / eng_sec[p] if eng_sec[p] else math.inf
        agree = agreement(ref_scores[p], eng_scores[p][:m])
        table[p] = {
            "ref_archs_per_s": ra,
            "engine_archs_per_s": ea,
            "ratio": ea / ra if ra else math.nan,
            "agreement": agree,
        }
        print(f"{p:<10} {ra:>12.3f} {ea:>15.3f} {ea / ra if ra else math.nan:>6.2f}x  {agree}")
    ra, ea = m / ref_wall, n / eng_wall
    table["suite"] = {"ref_archs_per_s": ra, "engine_archs_per_s": ea, "ratio": ea / ra}
    print(f"{'suite':<10} {ra:>12.3f} {ea:>15.3f} {ea / ra:>6.2f}x  (wall clock, incl. model build)")
    if device.type == "cuda":
        print(f"(a) {ref_gpu.summary()}\n(b) {eng_gpu.summary()}")
        table["gpu"] = {
            "reference": ref_gpu.summary(),
            "engine": eng_gpu.summary(),
            "name": torch.cuda.get_device_name(device),
            "tf32": config.allow_tf32,
        }
    if args.json:
        import json

        with open(args.json, "w") as fh:
            json.dump(
                {
                    "archs": n,
                    "ref_archs": m,
                    "device": args.device,
                    "near_repetitions": args.near_repetitions,
                    "batch_size": args.batch_size,
                    "table": table,
                },
                fh,
                indent=1,
            )


if __name__ == "__main__":
    main()
