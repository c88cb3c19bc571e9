#!/usr/bin/env python
"""Does T-CET's synflow keep BatchNorm? Rescore synflow_bn on the cells of our committed synflow rows.

T-CET Table 3 (NATS-SSS) prints synflow Kendall 0.61 / 0.60 / 0.39 on CIFAR-10 / CIFAR-100 /
ImageNet16-120; ours (BN removed, float64, PROXY_SPEC §3.6) is 0.81 / 0.59 / 0.83, and NEAR Table 2 prints
0.79 / 0.59 / 0.81 for the same cells. synflow reads no images, so T-CET's inputs cannot explain the
gap; the BN mode can: the foresight code registers both ``synflow`` (BN removed) and ``synflow_bn`` (BN
kept, train-mode statistics of the all-ones batch), and a model class without a BN switch silently
gives the second. This script scores ``synflow_bn`` (and ``synflow`` again, as a check) on exactly the
architectures whose ``synflow`` is in the given result CSVs and prints, per (space, dataset), T-CET's
published Kendall beside both, each with a 95% bootstrap CI over architectures.

Usage:
  python scripts/tcet_synflow_bn.py results/reproduction/nats-sss_*.csv results/reproduction/nats-tss_cifar10.csv \
      --ground-truth nats-sss=../shared/data/nats_sss/sss_test_acc_90ep.csv \
      --ground-truth nats-tss=../shared/data/nb201/nb201_test_acc_200ep.csv --max-archs 1000
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from nasprox.api import score_space
from nasprox.report.published import load_published
from nasprox.stats import kendall_tau, target_values
from nasprox.stats.bootstrap import bootstrap_ci
from nasprox.stats.results import pivot_results, read_results

PROXIES = ("synflow", "synflow_bn")


def kendall_with_ci(frame, space: str, proxy: str, resamples: int) -> str:
    scores = frame[proxy].to_numpy(dtype=float)
    truth = target_values(frame, space, "test_acc")
    lo, hi = bootstrap_ci(kendall_tau, scores, truth, n_resamples=resamples, seed=0)
    return f"{kendall_tau(scores, truth):.3f} [{lo:.3f}, {hi:.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", type=Path, help="committed result CSVs with synflow rows")
    ap.add_argument("--ground-truth", action="append", default=[], help="SPACE=CSV (repeatable)")
    ap.add_argument("--max-archs", type=int, default=1000, help="at most this many cells per (space, dataset)")
    ap.add_argument("--out-dir", type=Path, default=Path("build/tcet_synflow_bn"))
    ap.add_argument("--bootstrap", type=int, default=1000)
    args = ap.parse_args()
    truths = dict(item.split("=", 1) for item in args.ground_truth)
    published = {
        (e.space, e.dataset): e.value
        for e in load_published()
        if e.paper == "t-cet" and e.proxy == "synflow" and e.metric == "kendall"
    }
    long = read_results(args.results)
    synflow = long[(long["proxy"] == "synflow") & (long["status"] == "ok")]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    print("| space | dataset | n | T-CET synflow tau | ours synflow (BN removed) | ours synflow_bn (BN kept) |")
    print("|---|---|---|---|---|---|")
    for (space, dataset), rows in synflow.groupby(["space", "dataset"], sort=True):
        indices = np.sort(rows["arch_index"].astype(int).unique())[: args.max_archs]
        out = args.out_dir / f"{space}_{dataset}.csv"
        score_space(
            space,
            PROXIES,
            dataset=dataset,
            archs=",".join(map(str, indices)),
            synthetic=True,  # neither proxy reads images: the all-ones input only takes the input shape
            ground_truth=truths.get(space),
            out=out,
        )
        table = pivot_results(read_results([out]))
        frame = next(sub for s, d, sub, _ in table.groups() if (s, d) == (space, dataset))
        paper = published.get((space, dataset))
        cells = [kendall_with_ci(frame, space, proxy, args.bootstrap) for proxy in PROXIES]
        print(f"| {space} | {dataset} | {len(frame)} | {paper if paper is not None else '-'} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
