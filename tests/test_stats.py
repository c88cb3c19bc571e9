"""Every statistic against scipy or an O(n^2) brute force, on random data with ties and NaNs."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from nasprox.core import NasproxError
from nasprox.stats import (
    PairCounts,
    average_rank_table,
    bootstrap_ci,
    concordance_counts,
    correlate_top,
    correlation_table,
    finite_pairs,
    kendall_tau,
    load_results,
    pair_counts,
    pairwise_order_probability,
    parse_fraction,
    parse_stand_ins,
    partial_spearman,
    pearson_r,
    pivot_results,
    read_results,
    spearman_rho,
    top_k_hit_rate,
    top_k_within_top_fraction,
    top_overlap,
)


def tied_data(seed: int, n: int = 300, nan_fraction: float = 0.1):
    """Scores and accuracies with many ties (few distinct values) and NaNs/infs sprinkled in."""
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 40, n).astype(float)
    score = np.round(gt + rng.normal(0, 12, n), 0) / 3
    score[rng.random(n) < nan_fraction] = np.nan
    gt[rng.random(n) < nan_fraction / 2] = np.nan
    score[rng.integers(0, n, 2)] = np.inf
    return score, gt


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_correlations_match_scipy_with_nan_omitted(seed):
    score, gt = tied_data(seed)
    keep = np.isfinite(score) & np.isfinite(gt)
    assert finite_pairs(score, gt).n == keep.sum()
    assert finite_pairs(score, gt).n_nonfinite == (~keep).sum() > 0
    assert kendall_tau(score, gt) == pytest.approx(
        sps.kendalltau(score[keep], gt[keep], variant="b").statistic, abs=1e-12
    )
    assert spearman_rho(score, gt) == pytest.approx(sps.spearmanr(score[keep], gt[keep]).statistic, abs=1e-12)
    assert pearson_r(score, gt) == pytest.approx(np.corrcoef(score[keep], gt[keep])[0, 1], abs=1e-12)


def test_kendall_tau_b_by_hand_with_ties():
    # x = [1, 1, 2, 3], y = [1, 2, 2, 3]: pairs (6) -> concordant 4, discordant 0, x-ties 1, y-ties 1
    # tau_b = (4 - 0) / sqrt((6 - 1) * (6 - 1)) = 0.8
    assert kendall_tau([1, 1, 2, 3], [1, 2, 2, 3]) == pytest.approx(0.8)


def test_undefined_correlations_are_nan():
    assert math.isnan(spearman_rho([1, 1, 1], [1, 2, 3]))
    assert math.isnan(kendall_tau([np.nan, 1], [1, 2]))


def test_top_fraction_correlation_uses_top_by_ground_truth():
    score, gt = tied_data(3, n=500)
    finite_gt = gt[np.isfinite(gt)]
    k = math.ceil(0.2 * finite_gt.size)
    threshold = np.sort(finite_gt)[::-1][k - 1]
    mask = np.isfinite(gt) & (gt >= threshold)
    keep = mask & np.isfinite(score)
    expected = sps.spearmanr(score[keep], gt[keep]).statistic
    assert correlate_top(score, gt, 0.2, "spearman") == pytest.approx(expected, abs=1e-12)
    assert correlate_top(score, gt, 1.0, "kendall") == pytest.approx(kendall_tau(score, gt), abs=1e-12)


def test_parse_fraction():
    assert parse_fraction("10%") == pytest.approx(0.1)
    assert parse_fraction("0.05") == pytest.approx(0.05)
    assert parse_fraction("5") == pytest.approx(0.05)
    with pytest.raises(NasproxError):
        parse_fraction("ten")
    with pytest.raises(NasproxError):
        parse_fraction("0")


# -- ranking metrics vs brute force -----------------------------------------------------------
def brute_pairwise(score, gt):
    keep = np.isfinite(score) & np.isfinite(gt)
    s, a = score[keep], gt[keep]
    good = total = 0.0
    for i, j in itertools.combinations(range(s.size), 2):
        if a[i] == a[j]:
            continue
        total += 1
        better, worse = (i, j) if a[i] > a[j] else (j, i)
        good += 1.0 if s[better] > s[worse] else 0.5 if s[better] == s[worse] else 0.0
    return good / total


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_pairwise_order_probability_matches_brute_force(seed):
    score, gt = tied_data(seed, n=160)
    assert pairwise_order_probability(score, gt) == pytest.approx(brute_pairwise(score, gt), abs=1e-12)


def test_concordance_counts_match_brute_force():
    rng = np.random.default_rng(5)
    x, y = rng.integers(0, 6, 90).astype(float), rng.integers(0, 6, 90).astype(float)
    c = d = 0
    for i, j in itertools.combinations(range(x.size), 2):
        prod = np.sign(x[i] - x[j]) * np.sign(y[i] - y[j])
        c += prod > 0
        d += prod < 0
    assert concordance_counts(x, y) == (c, d)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 64, 129])
def test_pair_counts_match_brute_force(n):
    rng = np.random.default_rng(n)
    x, y = rng.integers(0, 4, n).astype(float), rng.integers(0, 5, n).astype(float)
    pairs = list(itertools.combinations(range(n), 2))
    sign = [np.sign(x[i] - x[j]) * np.sign(y[i] - y[j]) for i, j in pairs]
    assert pair_counts(x, y) == PairCounts(
        total=len(pairs),
        concordant=sum(s > 0 for s in sign),
        discordant=sum(s < 0 for s in sign),
        x_ties=sum(x[i] == x[j] for i, j in pairs),
        y_ties=sum(y[i] == y[j] for i, j in pairs),
        joint_ties=sum(x[i] == x[j] and y[i] == y[j] for i, j in pairs),
    )


def test_pairwise_order_extremes():
    assert pairwise_order_probability([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert pairwise_order_probability([4, 3, 2, 1], [10, 20, 30, 40]) == 0.0
    assert pairwise_order_probability([1, 1, 1, 1], [10, 20, 30, 40]) == 0.5


def brute_top_k_within(score, gt, k, m):
    keep = np.isfinite(score) & np.isfinite(gt)
    s, a = score[keep], gt[keep]
    picked = sorted(range(s.size), key=lambda i: (-s[i], i))[:k]  # stable descending
    threshold = sorted(a, reverse=True)[m - 1]
    return sum(a[i] >= threshold for i in picked)


@pytest.mark.parametrize("seed", [0, 1])
def test_top_metrics_match_brute_force(seed):
    score, gt = tied_data(seed, n=400)
    n = finite_pairs(score, gt).n
    k10 = math.ceil(0.1 * n)
    assert top_overlap(score, gt, 0.1) == pytest.approx(brute_top_k_within(score, gt, k10, k10) / k10)
    assert top_k_within_top_fraction(score, gt, 64, 0.05) == brute_top_k_within(score, gt, 64, math.ceil(0.05 * n))
    assert top_k_hit_rate(score, gt, 10) == pytest.approx(brute_top_k_within(score, gt, 10, 10) / 10)


def test_top_overlap_perfect_and_reversed():
    gt = np.arange(100.0)
    assert top_overlap(gt * 2, gt, 0.1) == 1.0
    assert top_overlap(-gt, gt, 0.1) == 0.0
    assert top_k_within_top_fraction(gt, gt, 64, 0.05) == 5  # only 5 of the best 64 are in the top-5


# -- partial correlation, bootstrap, ranks ------------------------------------------------------
def test_partial_spearman_equals_residual_correlation_of_ranks():
    rng = np.random.default_rng(7)
    acc = rng.normal(size=400)
    a = acc + rng.normal(size=400)
    b = acc + 0.5 * a + rng.normal(size=400)
    a[:5] = np.nan
    keep = np.isfinite(a)
    ra, rb, racc = (sps.rankdata(v[keep]) for v in (a, b, acc))
    design = np.column_stack([np.ones(racc.size), racc])
    res_a = ra - design @ np.linalg.lstsq(design, ra, rcond=None)[0]
    res_b = rb - design @ np.linalg.lstsq(design, rb, rcond=None)[0]
    assert partial_spearman(a, b, acc) == pytest.approx(np.corrcoef(res_a, res_b)[0, 1], abs=1e-10)


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    score, gt = tied_data(1, n=300, nan_fraction=0.05)
    low, high = bootstrap_ci(spearman_rho, score, gt, n_resamples=200, seed=3)
    assert (low, high) == bootstrap_ci(spearman_rho, score, gt, n_resamples=200, seed=3)
    assert low < spearman_rho(score, gt) < high
    # same resampling by hand
    p = finite_pairs(score, gt)
    rng = np.random.default_rng(3)
    values = [spearman_rho(p.x[idx], p.y[idx]) for idx in (rng.integers(0, p.n, p.n) for _ in range(200))]
    assert (low, high) == pytest.approx(tuple(np.quantile(values, [0.025, 0.975])))


def test_average_rank_table_by_hand():
    metrics = pd.DataFrame(
        {
            "space": ["s1"] * 3 + ["s2"] * 3,
            "dataset": ["d"] * 6,
            "proxy": ["a", "b", "c", "a", "b", "c"],
            "spearman": [0.9, 0.5, 0.5, 0.1, 0.8, np.nan],
        }
    )
    table = average_rank_table(metrics).set_index("proxy")
    # s1: a=1, b=c=2.5 ; s2: b=1, a=2, c unranked
    assert table.loc["a", "mean_rank"] == pytest.approx(1.5)
    assert table.loc["b", "mean_rank"] == pytest.approx(1.75)
    assert table.loc["c", "mean_rank"] == pytest.approx(2.5)
    assert table.loc["c", "n_cells"] == 1


# -- reading result CSVs ----------------------------------------------------------------------
def write_results(path, space="toy-space", lower=False, n=60, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        acc = float(rng.uniform(10, 90))
        loss = 100 - acc
        for proxy, score in (("good", acc + rng.normal(0, 5)), ("bad", rng.normal())):
            status = "ok" if i % 17 else "error"
            rows.append(
                {
                    "space": space,
                    "arch_index": i,
                    "arch": f"arch{i}",
                    "dataset": "cifar10",
                    "proxy": proxy,
                    "proxy_version": "1",
                    "seed": 0,
                    "data_config": "x",
                    "score": score,
                    "status": status,
                    "error": "",
                    "gt_test_acc": acc,
                    "gt_params": 0.1 + i / n,
                    "gt_test_loss": loss,
                }
            )
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_reader_pivots_and_masks_failed_rows(tmp_path):
    table = load_results([write_results(tmp_path / "r.csv")])
    assert table.proxies == ("bad", "good")
    assert len(table.frame) == 60
    assert table.frame["good"].isna().sum() == 4  # status error at i = 0, 17, 34, 51
    assert set(table.gt_columns) == {"gt_test_acc", "gt_params", "gt_test_loss"}


def test_reader_rejects_bad_files(tmp_path):
    with pytest.raises(NasproxError, match="not found"):
        read_results([tmp_path / "missing.csv"])
    bad = tmp_path / "bad.csv"
    bad.write_text("space,arch,score\nx,y,1\n")
    with pytest.raises(NasproxError, match="missing column"):
        read_results([bad])


def test_lower_is_better_target_is_flipped(tmp_path, monkeypatch):
    from nasprox.stats import results as results_module

    class LossSpace:
        default_target = "test_loss"
        lower_is_better_targets = frozenset({"test_loss"})

    monkeypatch.setattr(results_module, "_space_attrs", lambda space: LossSpace if space == "loss-space" else None)
    loss_table = pivot_results(read_results([write_results(tmp_path / "a.csv", space="loss-space")]))
    plain_table = pivot_results(read_results([write_results(tmp_path / "b.csv", space="toy-space")]))
    flipped = correlation_table(loss_table).set_index("proxy")
    assert flipped.loc["good", "target"] == "test_loss"
    # loss = 100 - acc, so the flipped loss ranks exactly like accuracy
    by_acc = correlation_table(plain_table, target="test_acc").set_index("proxy")
    assert flipped.loc["good", "spearman"] == pytest.approx(by_acc.loc["good", "spearman"])
    assert flipped.loc["good", "spearman"] > 0.8
    # an unknown space falls back to higher-is-better: raw loss anti-correlates
    raw = correlation_table(plain_table, target="test_loss").set_index("proxy")
    assert raw.loc["good", "spearman"] == pytest.approx(-by_acc.loc["good", "spearman"])


def test_correlation_table_counts(tmp_path):
    table = load_results([write_results(tmp_path / "r.csv")])
    out = correlation_table(table, top=0.2, bootstrap=50).set_index("proxy")
    assert out.loc["good", "n_used"] == 56 and out.loc["good", "n_nonfinite"] == 4
    assert out.loc["good", "spearman_lo"] <= out.loc["good", "spearman"] <= out.loc["good", "spearman_hi"]
    with pytest.raises(NasproxError, match="target 'nope'"):
        correlation_table(table, target="nope")


def test_stand_in_target_serves_only_groups_without_the_target(tmp_path):
    with_test = pd.read_csv(write_results(tmp_path / "a.csv", space="with-test"))
    valid_only = pd.read_csv(write_results(tmp_path / "b.csv", space="valid-only", seed=1))
    valid_only["gt_valid_acc"] = valid_only.pop("gt_test_acc")
    with_test["gt_valid_acc"] = np.nan
    frame = pd.concat([with_test, valid_only])
    frame.to_csv(tmp_path / "both.csv", index=False)
    table = load_results([tmp_path / "both.csv"])
    plain = correlation_table(table, target="test_acc").set_index(["space", "proxy"])
    assert math.isnan(plain.loc[("valid-only", "good"), "spearman"])  # no test_acc there, and nobody said otherwise

    stood = correlation_table(table.with_stand_ins(parse_stand_ins(["test_acc=valid_acc"])), target="test_acc")
    stood = stood.set_index(["space", "proxy"])
    assert stood.loc[("with-test", "good"), "target"] == "test_acc"  # has its own target: untouched
    assert stood.loc[("with-test", "good"), "spearman"] == plain.loc[("with-test", "good"), "spearman"]
    assert stood.loc[("valid-only", "good"), "target"] == "valid_acc"  # the table says what was used
    sub = valid_only[valid_only["proxy"] == "good"]
    ok = sub["status"] == "ok"
    expected = sps.spearmanr(sub["score"][ok], sub["gt_valid_acc"][ok]).statistic
    assert stood.loc[("valid-only", "good"), "spearman"] == pytest.approx(expected)


@pytest.mark.parametrize("bad", ["test_acc", "test_acc=", "=valid_acc", "valid_acc=valid_acc"])
def test_stand_in_needs_target_equals_other(bad):
    with pytest.raises(NasproxError, match="TARGET=OTHER"):
        parse_stand_ins([bad])


BATCHED = [spearman_rho, kendall_tau, pairwise_order_probability]


@pytest.mark.parametrize("statistic", BATCHED, ids=lambda f: f.__name__)
@pytest.mark.parametrize("n", [2, 3, 7, 40, 300])
def test_batched_statistics_equal_one_resample_at_a_time(statistic, n):
    """The multiplicity form of each statistic against the statistic (scipy's for Spearman and Kendall)
    of the resample itself: tied data, resamples that repeat pairs, constant resamples (NaN)."""
    from nasprox.stats.resampled import OVER_COUNTS

    rng = np.random.default_rng(n)
    for _ in range(10):
        gt = rng.integers(0, max(2, n // 6), n).astype(float)
        score = np.round(gt + rng.normal(0, 3, n)) / 2
        picks = [rng.integers(0, n, n) for _ in range(40)]
        counts = np.stack([np.bincount(p, minlength=n) for p in picks])
        expected = [statistic(score[p], gt[p]) for p in picks]
        got = OVER_COUNTS[statistic](score, gt)(counts)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert n > 3 or np.isnan(expected).any()  # the smallest cases do meet constant resamples


@pytest.mark.parametrize("statistic", BATCHED, ids=lambda f: f.__name__)
def test_batched_bootstrap_draws_what_one_resample_at_a_time_draws(statistic, monkeypatch):
    """Batched or not, the same resamples in the same order: the interval does not move, over several
    batches too (a batch of 13 resamples here), and the rule on undefined resamples still holds."""
    import nasprox.stats.bootstrap as bootstrap_module

    score, gt = tied_data(4, n=80, nan_fraction=0.05)
    p = finite_pairs(score, gt)
    rng = np.random.default_rng(5)
    values = np.array([statistic(p.x[i], p.y[i]) for i in (rng.integers(0, p.n, p.n) for _ in range(100))])
    expected = tuple(np.quantile(values[np.isfinite(values)], [0.025, 0.975]))
    monkeypatch.setattr(bootstrap_module, "_BATCH_ELEMENTS", 13 * p.n)
    assert bootstrap_ci(statistic, score, gt, n_resamples=100, seed=5) == pytest.approx(expected, abs=1e-12)
    # two pairs: a resample that repeats one pair is undefined; seed 0 draws undefined, usable, then 3
    # undefined: 1 of 2 usable is enough (half), 2 of 5 is not
    two = np.array([1.0, 2.0])
    rng = np.random.default_rng(0)
    assert [np.unique(rng.integers(0, 2, 2)).size == 2 for _ in range(5)] == [False, True, False, False, True]
    assert np.isfinite(bootstrap_ci(statistic, two, two, n_resamples=2, seed=0)).all()
    assert np.isnan(bootstrap_ci(statistic, two, two, n_resamples=5, seed=0)).all()


def test_bootstrap_memo_equals_bootstrap_ci_and_computes_each_interval_once():
    from nasprox.stats import BootstrapMemo

    score, gt = tied_data(7, n=120)
    memo = BootstrapMemo()
    first = memo(spearman_rho, score, gt, n_resamples=100, seed=2)
    assert first == bootstrap_ci(spearman_rho, score, gt, n_resamples=100, seed=2)
    assert memo(spearman_rho, score.copy(), gt.copy(), n_resamples=100, seed=2) == first and memo.computed == 1
    memo(kendall_tau, score, gt, n_resamples=100, seed=2)  # another statistic
    memo(spearman_rho, score, gt, n_resamples=100, seed=3)  # another seed
    changed = score.copy()
    changed[0] += 1.0
    memo(spearman_rho, changed, gt, n_resamples=100, seed=2)  # other data
    assert memo.computed == 4


@pytest.mark.parametrize("jobs", [1, 2])
def test_bootstrap_memo_records_then_computes_the_same_intervals(jobs):
    """``recording()`` names the intervals a pass asks for (NaN meanwhile), ``compute_recorded`` computes
    each once, on one process or several, equal to ``bootstrap_ci``; the next pass finds them all."""
    from nasprox.stats import BootstrapMemo

    score, gt = tied_data(8, n=150)
    asked = [(spearman_rho, score, gt), (kendall_tau, score, gt), (spearman_rho, score, gt), (pearson_r, gt, score)]
    memo = BootstrapMemo()
    with memo.recording():
        assert all(np.isnan(memo(f, x, y, n_resamples=60, seed=1)).all() for f, x, y in asked)
    memo.compute_recorded(jobs)
    assert memo.computed == 3  # the repeated request once
    for f, x, y in asked:
        assert memo(f, x, y, n_resamples=60, seed=1) == bootstrap_ci(f, x, y, n_resamples=60, seed=1)
    assert memo.computed == 3
