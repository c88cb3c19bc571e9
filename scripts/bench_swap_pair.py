#!/usr/bin/env python
"""swap and reg_swap scored together: one set of SWAP forwards per architecture instead of two.

Every NEAR table scores swap and reg_swap on the same cells. reg_swap is SWAP times a factor of the
parameter count (1 while its mu, sigma are unset), so both run the same 32 re-inits and forwards. The
engine hands the proxies of one architecture one ``ProxyContext.memo``, and ``swap_mean`` keys its value
there by (samples, repetitions, batch size). This script scores the same cells with swap and reg_swap in
one run (sharing) and in two runs (the baseline: what every run did before), in the same process with one
intra-op thread, checks every score is equal and prints the seconds of each and the ratio.

  OMP_NUM_THREADS=1 python scripts/bench_swap_pair.py --space nats-tss --archs 0:6
"""

from __future__ import annotations

import argparse
import time

import torch

from nasprox.engine import RunConfig, Scorer, select_archs


def timed_scores(space: str, proxies: list[str], archs: str) -> tuple[float, dict[tuple[str, str], float]]:
    scorer = Scorer(RunConfig(space=space, dataset="cifar10", proxies=proxies, synthetic=True, device="cpu"))
    selected = select_archs(scorer.space, archs=archs)
    start = time.perf_counter()
    scores = {(r.arch, r.proxy): r.score for records in scorer.run(selected) for r in records}
    return time.perf_counter() - start, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="nats-tss")
    parser.add_argument("--archs", default="0:6", help="architecture indices, e.g. 0:6")
    args = parser.parse_args()
    torch.set_num_threads(1)
    apart_swap, swap_scores = timed_scores(args.space, ["swap"], args.archs)
    apart_reg, reg_scores = timed_scores(args.space, ["reg_swap"], args.archs)
    together, both = timed_scores(args.space, ["swap", "reg_swap"], args.archs)
    if both != {**swap_scores, **reg_scores}:
        raise SystemExit("scores differ between the shared and the separate runs")
    apart = apart_swap + apart_reg
    print(f"{args.space} archs {args.archs}: swap and reg_swap in two runs {apart:.1f} s, in one run {together:.1f} s")
    print(f"one run vs two: {apart / together:.2f}x faster; {len(both)} scores equal")


if __name__ == "__main__":
    main()
