#!/usr/bin/env python
"""Proxies of one architecture sharing work through ``ProxyContext.memo``: scored in one run vs one run each.

The engine hands the proxies of one architecture one memo. Two computations are kept there:
- ``swap_mean`` (swap, reg_swap: reg_swap is SWAP times a parameter-count factor, 1 while its mu, sigma are
  unset), keyed by (samples, repetitions, batch size): one set of 32 re-inits and forwards, not two;
- ``layers_with_loss_grads`` (snip, grad_norm, plain, snip_snr, snip_snr_log): the weight gradients of the
  loss on the batch, keyed by batch size and the network's parameter sums, kept only when the forward and
  backward drew no random numbers: one backward, not one per proxy. fisher's pass (the same loss backward,
  with hooks that only read) keeps them too, and fisher is scored first (``ProxySpec.scored_first``), so
  with fisher in the run the others need no backward at all.
This script scores the same cells with the given proxies in one run twice: sharing the memo, and with a fresh
memo per proxy (the baseline: the engine before the memo, the same network builds and copies), in the same
process with one intra-op thread, checks every score is equal and prints the seconds of each and the ratio.

  OMP_NUM_THREADS=1 python scripts/bench_shared_memo.py --proxies swap,reg_swap --archs 0:6
  OMP_NUM_THREADS=1 python scripts/bench_shared_memo.py --proxies snip,grad_norm,plain --archs 0:40
  OMP_NUM_THREADS=1 python scripts/bench_shared_memo.py --proxies snip,grad_norm,fisher --archs 0:40
  python scripts/bench_shared_memo.py --proxies snip,grad_norm,plain --archs 0:200 --device cuda

On CUDA two backward passes of one network may differ in round-off (atomic adds in some cuDNN kernels), so
there the scores must agree to a relative 1e-4 instead of exactly; the largest relative difference is printed.
"""

from __future__ import annotations

import argparse
import time

import torch

from nasprox.engine import RunConfig, Scorer, select_archs


class UnsharedScorer(Scorer):
    """The baseline: every proxy gets a memo of its own, so none reuses another's work."""

    def _score_one(self, arch, proxy, base, gt, memo, owns_base=False):
        return super()._score_one(arch, proxy, base, gt, {}, owns_base=owns_base)


def timed_scores(args: argparse.Namespace, share: bool) -> tuple[float, dict]:
    proxies = args.proxies.split(",")
    config = RunConfig(
        space=args.space,
        dataset="cifar10",
        proxies=proxies,
        synthetic=True,
        device=args.device,
        batch_size=args.batch_size,
    )
    scorer = (Scorer if share else UnsharedScorer)(config)
    selected = select_archs(scorer.space, archs=args.archs)
    start = time.perf_counter()
    scores = {(r.arch, r.proxy): r.score for records in scorer.run(selected) for r in records}
    if scorer.device.type == "cuda":
        torch.cuda.synchronize(scorer.device)
    return time.perf_counter() - start, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="nats-tss")
    parser.add_argument("--proxies", default="swap,reg_swap", help="comma-separated")
    parser.add_argument("--archs", default="0:6", help="architecture indices, e.g. 0:6")
    parser.add_argument("--batch-size", type=int, default=None, help="every proxy's batch (default: each one's own)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)
    apart, alone = timed_scores(args, share=False)
    together, shared = timed_scores(args, share=True)
    if args.device == "cpu" and shared != alone:
        raise SystemExit("scores differ between the shared run and the unshared one")
    worst = max(abs(shared[k] - alone[k]) / max(abs(alone[k]), 1e-12) for k in alone)
    print(f"largest relative difference shared vs per proxy: {worst:.2e}")
    if worst > 1e-4:
        raise SystemExit("scores differ by more than a relative 1e-4")
    print(f"{args.space} archs {args.archs}, {args.proxies}: memo per proxy {apart:.1f} s, shared {together:.1f} s")
    print(f"shared vs per proxy: {apart / together:.2f}x faster; {len(shared)} scores equal")


if __name__ == "__main__":
    main()
