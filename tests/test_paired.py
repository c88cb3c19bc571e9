"""Paired comparison of two proxies: the paired bootstrap against a brute-force loop over scipy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from nasprox.core import NasproxError
from nasprox.stats import (
    PAIRED_COLUMNS,
    BootstrapMemo,
    kendall_tau,
    paired_bootstrap_ci,
    paired_comparison_table,
    parse_pairs,
    pivot_results,
    spearman_rho,
)


def two_proxies(seed: int, n: int = 200):
    """Two tied, correlated scores of the same cells and their accuracy, NaN/inf sprinkled in each."""
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 40, n).astype(float)
    a = np.round(gt + rng.normal(0, 8, n), 0) / 3
    b = np.round(gt + rng.normal(0, 20, n), 0)
    a[rng.random(n) < 0.05] = np.nan
    b[rng.random(n) < 0.05] = np.inf
    gt[rng.random(n) < 0.03] = np.nan
    return a, b, gt


def brute_force(scipy_statistic, a, b, y, n_resamples, seed, confidence=0.95):
    """One resample at a time: the same cells drawn for both proxies, each correlated by scipy."""
    keep = np.isfinite(a) & np.isfinite(b) & np.isfinite(y)
    a, b, y = a[keep], b[keep], y[keep]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_resamples):
        picked = rng.integers(0, a.size, size=a.size)
        values.append(scipy_statistic(a[picked], y[picked]).statistic - scipy_statistic(b[picked], y[picked]).statistic)
    values = np.asarray(values)
    values = values[np.isfinite(values)]
    return tuple(np.quantile(values, [(1 - confidence) / 2, 1 - (1 - confidence) / 2]))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(("ours", "scipy_statistic"), [(spearman_rho, sps.spearmanr), (kendall_tau, sps.kendalltau)])
def test_paired_bootstrap_equals_a_brute_force_loop_over_scipy(seed, ours, scipy_statistic):
    a, b, gt = two_proxies(seed)
    lo, hi = paired_bootstrap_ci(ours, a, b, gt, n_resamples=300, seed=seed)
    want_lo, want_hi = brute_force(scipy_statistic, a, b, gt, 300, seed)
    assert lo == pytest.approx(want_lo, abs=1e-10)
    assert hi == pytest.approx(want_hi, abs=1e-10)
    assert lo < hi


def test_a_statistic_without_a_batched_form_is_resampled_one_draw_at_a_time():
    a, b, gt = two_proxies(3)

    def pearson(x, y):
        return float(sps.pearsonr(x, y).statistic)

    got = paired_bootstrap_ci(pearson, a, b, gt, n_resamples=80, seed=4)
    assert got == pytest.approx(brute_force(sps.pearsonr, a, b, gt, 80, 4), abs=1e-12)


def test_paired_interval_of_a_proxy_against_itself_is_zero_and_narrower_than_unpaired():
    a, b, gt = two_proxies(5)
    assert paired_bootstrap_ci(spearman_rho, a, a, gt, n_resamples=50) == (0.0, 0.0)
    # pairing removes the shared cell-sampling noise: the paired interval is narrower than the two
    # single intervals' extremes would suggest
    lo, hi = paired_bootstrap_ci(spearman_rho, a, b, gt, n_resamples=300)
    from nasprox.stats import bootstrap_ci

    a_lo, a_hi = bootstrap_ci(spearman_rho, a, gt, n_resamples=300)
    b_lo, b_hi = bootstrap_ci(spearman_rho, b, gt, n_resamples=300)
    assert hi - lo < (a_hi - b_lo) - (a_lo - b_hi)


def test_too_few_shared_cells_give_nan():
    nan = math.nan
    assert all(math.isnan(v) for v in paired_bootstrap_ci(spearman_rho, [1.0, nan], [nan, 2.0], [1.0, 2.0]))


@pytest.mark.parametrize("jobs", [1, 2])
def test_memo_paired_records_and_equals_the_function(jobs):
    a, b, gt = two_proxies(6)
    memo = BootstrapMemo()
    with memo.recording():
        assert np.isnan(memo.paired(kendall_tau, a, b, gt, n_resamples=40, seed=1)).all()
        memo(kendall_tau, a, gt, n_resamples=40, seed=1)  # a single interval alongside
    memo.compute_recorded(jobs)  # on this process, or a spawned pool
    assert memo.computed == 2
    assert memo.paired(kendall_tau, a, b, gt, n_resamples=40, seed=1) == paired_bootstrap_ci(
        kendall_tau, a, b, gt, n_resamples=40, seed=1
    )
    assert memo.computed == 2


def long_results(seed: int = 0) -> pd.DataFrame:
    a, b, gt = two_proxies(seed, n=120)
    c = gt * 0.5  # a third proxy, perfect up to ties
    rows = []
    for proxy, scores in (("alpha", a), ("beta", b), ("gamma", c)):
        for i, (score, acc) in enumerate(zip(scores, gt)):
            rows.append(
                {
                    "space": "toy",
                    "arch_index": i,
                    "arch": f"a{i}",
                    "dataset": "d",
                    "proxy": proxy,
                    "score": score,
                    "status": "ok",
                    "gt_test_acc": acc,
                }
            )
    return pd.DataFrame(rows)


def test_paired_comparison_table_compare_and_pair():
    table = pivot_results(long_results())
    frame = paired_comparison_table(table, compare=["alpha"], pairs=[("beta", "gamma")], bootstrap=200, seed=0)
    assert list(frame.columns) == PAIRED_COLUMNS
    pairs = list(dict.fromkeys(zip(frame["proxy_a"], frame["proxy_b"])))
    assert pairs == [("alpha", "beta"), ("alpha", "gamma"), ("beta", "gamma")]
    assert set(frame["metric"]) == {"spearman", "kendall"}
    sub = table.frame
    row = frame[(frame["proxy_a"] == "alpha") & (frame["proxy_b"] == "beta") & (frame["metric"] == "spearman")].iloc[0]
    keep = np.isfinite(sub["alpha"]) & np.isfinite(sub["beta"]) & np.isfinite(sub["gt_test_acc"])
    assert row["n_shared"] == keep.sum()
    want_a = sps.spearmanr(sub["alpha"][keep], sub["gt_test_acc"][keep]).statistic
    want_b = sps.spearmanr(sub["beta"][keep], sub["gt_test_acc"][keep]).statistic
    assert row["a"] == pytest.approx(want_a) and row["b"] == pytest.approx(want_b)
    assert row["difference"] == pytest.approx(want_a - want_b)
    lo, hi = paired_bootstrap_ci(spearman_rho, sub["alpha"], sub["beta"], sub["gt_test_acc"], n_resamples=200)
    assert (row["ci_lo"], row["ci_hi"]) == (lo, hi)
    assert row["excludes_zero"] == ("yes" if lo > 0 or hi < 0 else "no")
    # gamma is the target itself: every other proxy is clearly worse
    worse = frame[frame["proxy_b"] == "gamma"]
    assert (worse["difference"] < 0).all() and (worse["excludes_zero"] == "yes").all()


def test_paired_comparison_errors():
    table = pivot_results(long_results())
    with pytest.raises(NasproxError, match="no such proxy"):
        paired_comparison_table(table, compare=["delta"])
    for bad in ("near", "near,near", "a,b,c", ",b"):
        with pytest.raises(NasproxError, match="two different proxies"):
            parse_pairs([bad])
    assert parse_pairs(["near, synflow"]) == [("near", "synflow")]
    no_ci = paired_comparison_table(table, pairs=[("alpha", "beta")], bootstrap=0)
    assert no_ci["ci_lo"].isna().all() and (no_ci["excludes_zero"] == "").all()
