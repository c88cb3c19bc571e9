#!/usr/bin/env python
"""The report's bootstrap statistics, before and after each speed-up, on the same resamples.

``nasprox report`` spends most of its time in 1,000-resample bootstraps of Spearman, Kendall and the
pairwise-order probability (NEAR Table 12) of every (proxy, target) cell.

``--sizes``: (1) pairwise order used to count concordant pairs with a Fenwick tree walked in Python,
one element at a time (``fenwick_*`` below, kept as the baseline); ``nasprox.stats.ranking.pair_counts``
counts inversions a whole merge level at a time in numpy: both on the same resamples, equal values,
ms per resample and the ratio. (2) ``bootstrap_ci`` one resample at a time (each resample drawn,
sorted and handed to the statistic, scipy for Spearman and Kendall: the baseline, forced by hiding
``nasprox.stats.resampled.OVER_COUNTS``) against a batch of resamples at once from their
multiplicities (what ``bootstrap_ci`` does now): same draws, intervals checked equal to 1e-12.
``--profile`` prints the cProfile top of the batched bootstraps of the three (cProfile inflates
per-call overhead, so read it for shares, not for absolute times).

``--report CSV`` times the report's two bootstrapping tables on a result CSV (the correlation table and
the published cells): computed apart (plain ``bootstrap_ci``) against sharing their intervals
(``BootstrapMemo``, what ``nasprox report`` does), tables equal; then shared intervals one resample at a
time against batched, tables equal to 1e-12; then batched on one process against ``--jobs`` processes
(``nasprox report --workers N``), tables equal:

  python scripts/bench_report_stats.py --sizes 200 1000 15625 --resamples 200
  python scripts/bench_report_stats.py --report results/reproduction/nats-tss_cifar10.csv --resamples 200
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import math
import pstats
import time
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

import nasprox.stats.bootstrap as bootstrap_module
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


@contextlib.contextmanager
def one_resample_at_a_time() -> Iterator[None]:
    """The baseline: ``bootstrap_ci`` without its batched statistics."""
    saved = bootstrap_module.OVER_COUNTS
    bootstrap_module.OVER_COUNTS = {}
    try:
        yield
    finally:
        bootstrap_module.OVER_COUNTS = saved


def _timed(work: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def time_batched_bootstrap(sizes: list[int], resamples: int, seed: int) -> None:
    """``bootstrap_ci`` of each statistic, one resample at a time against batched, same draws."""
    print(f"\nbootstrap_ci, {resamples} resamples: ms per resample")
    print(f"{'n':>6} {'statistic':<27} {'one at a time':>13} {'batched':>8} {'ratio':>6}")
    for n in sizes:
        score, gt, _ = _resamples(n, 0, seed)
        for statistic in (spearman_rho, kendall_tau, pairwise_order_probability):
            interval = functools.partial(bootstrap_ci, statistic, score, gt, n_resamples=resamples)
            with one_resample_at_a_time():
                baseline_s, baseline = _timed(interval)
            batched_s, batched = _timed(interval)
            if not np.allclose(baseline, batched, rtol=0, atol=1e-12):
                raise SystemExit(f"n={n} {statistic.__name__}: intervals differ ({baseline} vs {batched})")
            print(
                f"{n:>6} {statistic.__name__:<27} {baseline_s / resamples * 1e3:>13.3f}"
                f" {batched_s / resamples * 1e3:>8.3f} {baseline_s / batched_s:>5.1f}x"
            )


def _report_tables(table, entries, context, resamples: int, ci) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (
        correlation_table(table, bootstrap=resamples, ci=ci),
        compare_published(entries, table, bootstrap=resamples, ci=ci, **context),
    )


def _close(left: pd.DataFrame, right: pd.DataFrame) -> bool:
    """Equal frames, numbers to 1e-12 (batched statistics round differently from scipy)."""
    if not left.columns.equals(right.columns) or left.shape != right.shape:
        return False
    numeric = left.select_dtypes("number").columns
    rest = left.columns.difference(numeric)
    return left[rest].equals(right[rest]) and np.allclose(
        left[numeric].to_numpy(float), right[numeric].to_numpy(float), rtol=0, atol=1e-12, equal_nan=True
    )


def time_report_tables(csv: str, resamples: int, jobs: int) -> None:
    """The correlation table and the published cells: apart vs shared intervals, then one resample at a
    time vs batched."""
    table = load_results([csv], keep_settings_apart=True)
    protocols = list(load_protocols().values())
    entries = load_published()
    context = paper_comparison_context(protocols)
    with one_resample_at_a_time():
        apart_s, apart = _timed(lambda: _report_tables(table, entries, context, resamples, bootstrap_ci))
        shared_s, shared = _timed(lambda: _report_tables(table, entries, context, resamples, BootstrapMemo()))
    batched_s, batched = _timed(lambda: _report_tables(table, entries, context, resamples, BootstrapMemo()))
    parallel_s, parallel = _timed(lambda: _on_processes(table, entries, context, resamples, jobs))
    if not all(a.equals(b) for a, b in zip(apart, shared)):
        raise SystemExit("the tables differ when the intervals are shared")
    if not all(_close(a, b) for a, b in zip(shared, batched)):
        raise SystemExit("the tables differ when the resamples are batched")
    if not all(a.equals(b) for a, b in zip(batched, parallel)):
        raise SystemExit(f"the tables differ when the intervals are computed on {jobs} processes")
    print(f"{csv}, {resamples} resamples: correlation table + published cells")
    print(f"one resample at a time: apart {apart_s:.1f}s, shared {shared_s:.1f}s: {apart_s / shared_s:.2f}x")
    print(f"shared: one resample at a time {shared_s:.1f}s, batched {batched_s:.1f}s: {shared_s / batched_s:.2f}x")
    print(f"batched: one process {batched_s:.1f}s, {jobs} processes {parallel_s:.1f}s: {batched_s / parallel_s:.2f}x")


def _on_processes(table, entries, context, resamples: int, jobs: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What ``nasprox report --workers N`` does: a pass naming the intervals, computed on N processes, then the tables."""
    memo = BootstrapMemo()
    with memo.recording():
        _report_tables(table, entries, context, resamples, memo)
    memo.compute_recorded(jobs)
    return _report_tables(table, entries, context, resamples, memo)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 15625])
    parser.add_argument("--resamples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="cProfile the batched bootstraps of the three")
    parser.add_argument("--report", metavar="CSV", help="time the report's bootstrapping tables on this result CSV")
    parser.add_argument("--jobs", type=int, default=2, help="processes for the intervals in --report's last run")
    args = parser.parse_args()
    if args.report:
        time_report_tables(args.report, args.resamples, args.jobs)
        return
    print(f"{'n':>6} {'fenwick ms':>11} {'numpy ms':>9} {'ratio':>6}")
    for n in args.sizes:
        score, gt, picks = _resamples(n, args.resamples, args.seed)
        baseline_ms, baseline = _ms_per_resample(fenwick_pairwise_order, score, gt, picks)
        new_ms, new = _ms_per_resample(pairwise_order_probability, score, gt, picks)
        if baseline != new:
            raise SystemExit(f"n={n}: the two pairwise-order implementations disagree")
        print(f"{n:>6} {baseline_ms:>11.2f} {new_ms:>9.2f} {baseline_ms / new_ms:>5.1f}x")
    time_batched_bootstrap(args.sizes, args.resamples, args.seed)
    if args.profile:
        score, gt, _ = _resamples(max(args.sizes), 0, args.seed)
        profiler = cProfile.Profile()
        profiler.enable()
        for statistic in (spearman_rho, kendall_tau, pairwise_order_probability):
            bootstrap_ci(statistic, score, gt, n_resamples=args.resamples)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()
