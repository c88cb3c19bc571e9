#!/usr/bin/env python
"""NEAR Table 12's NATS-TSS #params/FLOPs pairwise order with ties counted as failures, on all 15,625 cells.

docs/reproduction.md item 2: 8.5% of NATS-TSS cell pairs tie in #params/FLOPs; nasprox counts a tied pair as
half right, and the paper's printed values match counting it as wrong. #params and FLOPs were scored on
all 15,625 CIFAR-10 networks. The CIFAR-100 and ImageNet16-120 networks differ from them only in the
classifier (and, for ImageNet16-120, in a 16x16 input, a quarter of every conv's FLOPs), so they order the
cells exactly alike, ties included; this checks that on every cell scored for those datasets too, then
prints both counts per dataset against each target beside the paper.

  python scripts/tss_pairwise_ties.py results/reproduction/nats-tss_*.csv \\
      --ground-truth ../shared/data/nb201/nb201_test_acc_200ep.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from nasprox.report.published import load_published
from nasprox.stats.ranking import pair_counts
from nasprox.stats.results import read_results

TARGETS = {
    "cifar10": "CIFAR10TestAccuracy200Epochs",
    "cifar100": "CIFAR100TestAccuracy200Epochs",
    "ImageNet16-120": "ImageNetTestAccuracy200Epochs",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", type=Path, help="NATS-TSS result CSVs (CIFAR-10 on all cells)")
    ap.add_argument("--ground-truth", type=Path, required=True, help="nb201_test_acc_200ep.csv")
    args = ap.parse_args()
    rows = read_results(args.results)
    rows = rows[(rows["space"] == "nats-tss") & (rows["status"] == "ok")]
    truth = pd.read_csv(args.ground_truth).set_index("ArchitectureString")
    published = {
        (e.dataset, e.proxy): e.value
        for e in load_published()
        if e.paper == "near" and e.space == "nats-tss" and e.metric == "pairwise_order"
    }
    print("| proxy | dataset | cells | tied pairs | ties half right (nasprox) | ties as failures | NEAR Table 12 |")
    print("|---|---|---|---|---|---|---|")
    for proxy in ("params", "flops"):
        base = rows[(rows["proxy"] == proxy) & (rows["dataset"] == "cifar10")].set_index("arch")["score"]
        for dataset, column in TARGETS.items():
            other = rows[(rows["proxy"] == proxy) & (rows["dataset"] == dataset)].set_index("arch")["score"]
            shared = other.index.intersection(base.index)
            same = pair_counts(base[shared].to_numpy(), other[shared].to_numpy())
            if same.discordant or same.x_ties != same.y_ties:
                raise SystemExit(f"{proxy}: the {dataset} networks do not order the cells as the CIFAR-10 ones do")
            counts = pair_counts(base.to_numpy(), truth.loc[base.index, column].to_numpy(dtype=float))
            counted = counts.total - counts.y_ties  # pairs the target orders
            tied = counts.x_ties - counts.joint_ties
            print(
                f"| {proxy} | {dataset} | {len(base)} (checked alike on {len(shared)}) | {tied / counted:.3f} | "
                f"{(counts.concordant + 0.5 * tied) / counted:.3f} | {counts.concordant / counted:.3f} | "
                f"{published.get((dataset, proxy), '-')} |"
            )


if __name__ == "__main__":
    main()
