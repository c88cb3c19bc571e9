#!/usr/bin/env python
"""Rescore a proxy variant on exactly the cells of committed result rows and set it beside the paper.

A `differs` cell is explained by experiment: change one thing of the protocol (a proxy option such as
the batch size, or a sibling proxy such as synflow_bn for synflow), score it on the same architectures
as the committed rows of PROXY, and print per (space, dataset) the paper's Kendall/Spearman, ours as
committed and the variant's, each with a 95% bootstrap CI over architectures.

Examples (docs/reproduction.md, items 5 and 8):

  # NEAR's batch: the committed NATS-SSS rows use batch 64; the variant feeds one image at a time
  python scripts/variant_on_committed_cells.py results/reproduction/nats-sss_*.csv --proxy near --paper near \\
      --variant-opt near.batch_size=1 --variant-opt near.repetitions=4 --max-archs 200 \\
      --data-root cifar10=../shared/data/inputs/cifar10_test_1000_from_jpg.npz \\
      --data-root cifar100=../shared/data/inputs/cifar100_test_916.npz \\
      --data-root ImageNet16-120=../shared/data/inputs/imagenet16_120_val_1perclass.npz \\
      --ground-truth nats-sss=../shared/data/nats_sss/sss_test_acc_90ep.csv

  # T-CET's synflow: BatchNorm kept (synflow_bn) instead of removed; no images needed
  python scripts/variant_on_committed_cells.py results/reproduction/nats-sss_*.csv \\
      results/reproduction/nats-tss_cifar10.csv --proxy synflow --variant-proxy synflow_bn --paper t-cet \\
      --ground-truth nats-sss=../shared/data/nats_sss/sss_test_acc_90ep.csv \\
      --ground-truth nats-tss=../shared/data/nb201/nb201_test_acc_200ep.csv --max-archs 1000

  # NB101 cells carry no index (their key is the module hash): --arch-list gives the specs to rebuild them from
  python scripts/variant_on_committed_cells.py results/reproduction/nb101_cifar10.csv --proxy near --paper near \\
      --variant-opt near.batch_size=1 --arch-list build/suite_zero/nb101_suite_zero_archs.txt \\
      --data-root cifar10=../shared/data/inputs/cifar10_test_1000_from_jpg.npz \\
      --ground-truth nb101=build/suite_zero/nb101_suite_zero_gt.csv --target valid_acc
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from nasprox.api import score_space
from nasprox.core import PROXIES, SPACES, NasproxError, parse_key_values
from nasprox.engine.selection import read_arch_list
from nasprox.report.published import load_published
from nasprox.stats import kendall_tau, spearman_rho, target_values
from nasprox.stats.bootstrap import bootstrap_ci
from nasprox.stats.results import pivot_results, read_results

METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {"kendall": kendall_tau, "spearman": spearman_rho}


def with_ci(scores: np.ndarray, truth: np.ndarray, metric: str, resamples: int) -> str:
    fn = METRICS[metric]
    lo, hi = bootstrap_ci(fn, scores, truth, n_resamples=resamples, seed=0)
    return f"{fn(scores, truth):.3f} [{lo:.3f}, {hi:.3f}]"


def variant_options(items: list[str]) -> dict[str, dict[str, str]]:
    """``near.batch_size=1`` items as {proxy: {option: value}}."""
    out: dict[str, dict[str, str]] = {}
    for dotted, value in parse_key_values(items, "--variant-opt", form="PROXY.OPTION=VALUE").items():
        proxy, _, option = dotted.partition(".")
        out.setdefault(proxy, {})[option] = value
    return out


def cells_to_score(ours: pd.DataFrame, space: str, arch_list: Path | None, out: Path) -> dict[str, str]:
    """score_space's selection of the committed cells: their indices, or (cells without an index, such as
    NB101's) the lines of ``arch_list`` whose key is theirs, written to ``out``."""
    if (ours["arch_index"] >= 0).all():
        return {"archs": ",".join(map(str, ours["arch_index"].astype(int)))}
    if arch_list is None:
        raise SystemExit(f"{space} cells carry no index: give --arch-list with their architecture strings")
    parse = SPACES.get(space)().parse
    by_key = {parse(line).key: line for line in read_arch_list(arch_list)}
    missing = set(ours["arch"]) - set(by_key)
    if missing:
        raise SystemExit(f"{len(missing)} committed {space} cells are not in {arch_list}, e.g. {sorted(missing)[0]}")
    out.write_text("".join(f"{by_key[arch]}\n" for arch in ours["arch"]))
    return {"arch_list": str(out)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", type=Path, help="committed result CSVs holding PROXY rows")
    ap.add_argument("--proxy", required=True, help="the committed proxy (its rows choose the cells)")
    ap.add_argument("--variant-proxy", help="score this proxy instead (default: PROXY with --variant-opt)")
    ap.add_argument("--variant-opt", action="append", default=[], help="PROXY.OPTION=VALUE for the variant")
    ap.add_argument("--paper", required=True, help="paper id in configs/published (near, t-cet, epsilon)")
    ap.add_argument("--data-root", action="append", default=[], help="DATASET=PATH (none: Gaussian inputs)")
    ap.add_argument("--ground-truth", action="append", default=[], help="SPACE=CSV")
    ap.add_argument("--max-archs", type=int, default=200, help="the lowest-indexed N scored cells per dataset")
    ap.add_argument("--arch-list", type=Path, help="architecture strings of cells without an index (NB101)")
    ap.add_argument("--target", default="test_acc", help="ground-truth field (NB101's Suite-Zero cells: valid_acc)")
    ap.add_argument("--out-dir", type=Path, default=Path("build/variants"))
    ap.add_argument("--bootstrap", type=int, default=1000)
    args = ap.parse_args()
    variant = PROXIES.canonical(args.variant_proxy or args.proxy)
    try:
        options = variant_options(args.variant_opt)
        roots = parse_key_values(args.data_root, "--data-root", form="DATASET=PATH")
        truths = parse_key_values(args.ground_truth, "--ground-truth", form="SPACE=CSV")
    except NasproxError as err:
        ap.error(str(err))
    label = variant + "".join(f" {p}.{k}={v}" for p, opts in options.items() for k, v in opts.items())
    published = {
        (e.space, e.dataset, e.metric): e.value
        for e in load_published()
        if e.paper == args.paper and e.proxy == args.proxy and e.metric in METRICS and not e.quoted
    }
    long = read_results(args.results)
    committed = pivot_results(long[long["proxy"] == args.proxy])
    stem = "_".join(label.replace("=", "-").replace(".", "-").split())
    print(f"variant: {label}; ours: the committed {args.proxy} rows on the same cells")
    print(f"| space / dataset | n | metric | {args.paper} | ours ({args.proxy}) | variant |")
    print("|---|---|---|---|---|---|")
    for space, dataset, ours, _ in committed.groups():
        ours = ours[ours[args.proxy].notna()].sort_values(["arch_index", "arch"]).head(args.max_archs)
        out = args.out_dir / f"{space}_{dataset}_{stem}.csv"
        args.out_dir.mkdir(parents=True, exist_ok=True)
        score_space(
            space,
            [variant],
            dataset=dataset,
            **cells_to_score(ours, space, args.arch_list, out.with_suffix(".archs.txt")),
            data_root=roots.get(dataset),
            synthetic=dataset not in roots,
            ground_truth=truths.get(space),
            proxy_options=options,
            out=out,
        )
        rescored = pivot_results(read_results([out])).frame[["arch", variant]]
        both: pd.DataFrame = ours.merge(rescored, on="arch", suffixes=("", "_variant"))
        truth = target_values(both, space, args.target)
        variant_column = variant if variant != args.proxy else f"{variant}_variant"
        for metric in METRICS:
            paper = published.get((space, dataset, metric))
            cells = [
                with_ci(both[c].to_numpy(dtype=float), truth, metric, args.bootstrap)
                for c in (args.proxy, variant_column)
            ]
            print(
                f"| {space} / {dataset} | {len(both)} | {metric} | {'-' if paper is None else paper} | {' | '.join(cells)} |"
            )


if __name__ == "__main__":
    main()
