#!/usr/bin/env python
"""SWAP's unique-pattern count: the B x D sign matrix + sort (baseline) vs integer column codes + histogram.

SWAP (and reg_swap) run 32 forwards of 16 samples per architecture and count the distinct on/off patterns of
every ReLU unit across the samples. The baseline path (``relu_patterns_4d`` + ``count_unique_columns``) keeps a
16 x D float matrix (D = 757,760 units for a NATS-TSS cell), shifts it into one int64 per column and sorts
those with ``torch.unique``; the new path (``relu_column_codes_4d`` + ``count_distinct_codes``) turns each ReLU
call's output into its column codes at once (a 16-vector of powers of two times the 0/1 matrix) and counts them
in a 2^16-bin histogram. Both run here on the same networks, weights and samples, in the same process, one
intra-op thread; the script checks that every count is equal and prints the time of one SWAP repetition
(forward and count, the re-init outside the clock) for each path and their ratio, and a profile of one repetition on request.

  OMP_NUM_THREADS=1 python scripts/bench_swap.py --archs 10 [--space nats-sss] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time

import torch

from nasprox.core import SPACES
from nasprox.engine.selection import select_archs
from nasprox.proxies._activations import (
    count_distinct_codes,
    count_unique_columns,
    gaussian_reinit,
    relu_column_codes_4d,
    relu_patterns_4d,
)


def baseline(model: torch.nn.Module, x: torch.Tensor) -> int:
    return count_unique_columns(relu_patterns_4d(model, x))


def codes(model: torch.nn.Module, x: torch.Tensor) -> int:
    return count_distinct_codes(relu_column_codes_4d(model, x), x.shape[0])


def one_repetition(count, model: torch.nn.Module, x: torch.Tensor, seed: int) -> tuple[float, int]:
    gaussian_reinit(model, torch.Generator().manual_seed(seed))
    start = time.perf_counter()
    value = count(model, x)
    return time.perf_counter() - start, value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="nats-tss")
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--archs", type=int, default=10)
    ap.add_argument("--repetitions", type=int, default=4, help="SWAP repetitions timed per architecture and path")
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--profile", action="store_true", help="print the top of a profile of each path")
    args = ap.parse_args()
    torch.set_num_threads(1)
    space = SPACES.get(args.space)()
    spec = space.input_spec(args.dataset)
    x = torch.randn(args.samples, *spec.shape, generator=torch.Generator().manual_seed(0))
    times: dict[str, list[float]] = {"baseline": [], "codes": []}
    for i, arch in enumerate(select_archs(space, sample=args.archs, seed=0)):
        model = space.build(arch, args.dataset).train()
        for rep in range(args.repetitions):
            t_base, v_base = one_repetition(baseline, model, x, 1000 * i + rep)
            t_codes, v_codes = one_repetition(codes, model, x, 1000 * i + rep)
            if v_base != v_codes:
                raise SystemExit(f"count differs on {arch.key} repetition {rep}: {v_base} vs {v_codes}")
            times["baseline"].append(t_base)
            times["codes"].append(t_codes)
    base, new = statistics.median(times["baseline"]), statistics.median(times["codes"])
    print(f"{args.space}/{args.dataset}, {args.archs} archs x {args.repetitions} repetitions, {args.samples} samples:")
    print(f"  baseline (sign matrix + sort):     {base * 1e3:8.1f} ms per repetition (median)")
    print(f"  codes (column integers + bincount): {new * 1e3:8.1f} ms per repetition (median)")
    print(f"  speed-up {base / new:.2f}x; every count equal")
    if args.profile:
        model = space.build(select_archs(space, sample=1, seed=0)[0], args.dataset).train()
        for name, count in (("baseline", baseline), ("codes", codes)):
            prof = cProfile.Profile()
            prof.runcall(count, model, x)
            print(f"\n# profile of one {name} count")
            pstats.Stats(prof).sort_stats("tottime").print_stats(8)


if __name__ == "__main__":
    main()
