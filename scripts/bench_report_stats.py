#!/usr/bin/env python
"""The report's bootstrap statistics: pairwise-order probability before and after vectorising it.

``nasprox report`` spends most of its time in 1,000-resample bootstraps of Spearman, Kendall and the
pairwise-order probability (NEAR Table 12) of every (proxy, target) cell. Pairwise order used to
count concordant pairs with a Fenwick tree walked in Python, one element at a time (``fenwick_*``
below, kept here as the baseline); ``nasprox.stats.ranking.pair_counts`` now counts inversions a
whole merge level at a time in numpy. This script evaluates both on the same resamples, checks they
agree exactly, and prints ms per resample and the ratio; Spearman and Kendall (scipy) are timed on
the same resamples for scale, since they are what the report spends the rest on. ``--profile``
prints the cProfile top of one bootstrap of all three (cProfile inflates per-call overhead, so read
it for shares, not for absolute times).

``--report CSV`` instead times the report's two bootstrapping tables on a result CSV (the correlation
table and the published cells), computed apart (plain ``bootstrap_ci``) and sharing their intervals
(``BootstrapMemo``, what ``nasprox report`` does), checks the tables are equal and prints the ratio:

  python scripts/bench_report_stats.py --sizes 1000 15625 --resamples 100
  python scripts/bench_report_stats.py --report results/reproduction/nats-tss_cifar10.csv --resamples 200
"""

from __future__ import annotations

import argparse
import cProfile
import math
import pstats
import time
from collections.abc import Callable

import numpy as np

from nasprox.engine.protocol import load_protocols
from nasprox.report import compare_published, load_published
from nasprox.report.build import paper_comparison_context
from nasprox.stats import (
    BootstrapMemo,
    bootstrap_ci,
    correlation_table,
    kendall_tau,
    load_results,
    pairwise_order_probability,
    spearman_rho,
)
from nasprox.stats.correlation import finite_pairs
from nasprox.stats.ranking import _tie_pairs


def fenwick_concordant(x: np.ndarray, y: np.ndarray) -> int:
    """The previous implementation: concordant pairs by a Fenwick tree over dense x ranks, in Python."""
    n = x.size
    _, x_rank = np.unique(x, return_inverse=True)
    x_rank = x_rank + 1
    size = int(x_rank.max()) if n else 0
    tree = [0] * (size + 1)
    order = np.lexsort((x, y))
    y_sorted = y[order]
    concordant = start = 0
    while start < n:
        stop = start
        while stop < n and y_sorted[stop] == y_sorted[start]:
            stop += 1
        group = order[start:stop]
        for i in group:  # every element already in the tree has strictly smaller y
            r, below = int(x_rank[i]) - 1, 0
            while r > 0:
                below += tree[r]
                r -= r & -r
            concordant += below
        for i in group:
            r = int(x_rank[i])
            while r <= size:
                tree[r] += 1
                r += r & -r
        start = stop
    return concordant


def fenwick_pairwise_order(score: np.ndarray, gt: np.ndarray) -> float:
    p = finite_pairs(score, gt)
    total = p.n * (p.n - 1) // 2
    denominator = total - _tie_pairs(p.y)
    if denominator <= 0:
        return math.nan
    _, joint = np.unique(np.stack([p.x, p.y], axis=1), axis=0, return_counts=True)
    score_only_ties = _tie_pairs(p.x) - int(np.sum(joint * (joint - 1) // 2))
    return (fenwick_concordant(p.x, p.y) + 0.5 * score_only_ties) / denominator


def _resamples(n: int, count: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    gt = np.round(rng.normal(70, 5, n), 2)  # accuracies printed to 2 decimals tie like the benchmarks'
    score = np.round(0.8 * (gt - 70) / 5 + 0.6 * rng.normal(size=n), 3)
    return score, gt, [rng.integers(0, n, n) for _ in range(count)]


def _ms_per_resample(statistic: Callable, score, gt, picks) -> tuple[float, list[float]]:
    start = time.perf_counter()
    values = [statistic(score[p], gt[p]) for p in picks]
    return (time.perf_counter() - start) / len(picks) * 1e3, values


def time_report_tables(csv: str, resamples: int) -> None:
    """The correlation table and the published cells, without and with shared intervals."""
    table = load_results([csv], keep_settings_apart=True)
    protocols = list(load_protocols().values())
    entries = load_published()
    context = paper_comparison_context(protocols)
    timings, outputs = {}, {}
    for name, ci in (("apart", bootstrap_ci), ("shared", BootstrapMemo())):
        start = time.perf_counter()
        outputs[name] = (
            correlation_table(table, bootstrap=resamples, ci=ci),
            compare_published(entries, table, bootstrap=resamples, ci=ci, **context),
        )
        timings[name] = time.perf_counter() - start
    if not all(a.equals(b) for a, b in zip(outputs["apart"], outputs["shared"])):
        raise SystemExit("the tables differ when the intervals are shared")
    print(f"{csv}, {resamples} resamples: correlation table + published cells")
    print(
        f"apart {timings['apart']:.1f}s, shared {timings['shared']:.1f}s: {timings['apart'] / timings['shared']:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 15625])
    parser.add_argument("--resamples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="cProfile one bootstrap of the three statistics")
    parser.add_argument("--report", metavar="CSV", help="time the report's bootstrapping tables on this result CSV")
    args = parser.parse_args()
    if args.report:
        time_report_tables(args.report, args.resamples)
        return
    print(f"{'n':>6} {'fenwick ms':>11} {'numpy ms':>9} {'ratio':>6} {'spearman ms':>12} {'kendall ms':>11}")
    for n in args.sizes:
        score, gt, picks = _resamples(n, args.resamples, args.seed)
        baseline_ms, baseline = _ms_per_resample(fenwick_pairwise_order, score, gt, picks)
        new_ms, new = _ms_per_resample(pairwise_order_probability, score, gt, picks)
        if baseline != new:
            raise SystemExit(f"n={n}: the two pairwise-order implementations disagree")
        spearman_ms, _ = _ms_per_resample(spearman_rho, score, gt, picks)
        kendall_ms, _ = _ms_per_resample(kendall_tau, score, gt, picks)
        print(
            f"{n:>6} {baseline_ms:>11.2f} {new_ms:>9.2f} {baseline_ms / new_ms:>5.1f}x"
            f" {spearman_ms:>12.2f} {kendall_ms:>11.2f}"
        )
    if args.profile:
        score, gt, picks = _resamples(max(args.sizes), args.resamples, args.seed)
        profiler = cProfile.Profile()
        profiler.enable()
        for statistic in (spearman_rho, kendall_tau, pairwise_order_probability):
            _ms_per_resample(statistic, score, gt, picks)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()
