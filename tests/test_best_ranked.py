"""The published-metric kind ``best_ranked`` (zero-shot survey Tables 4-5): the ground truth of the
architecture a proxy ranks first, over scoring seeds, on tiny synthetic CSVs whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml

from nasprox.report import compare_published, load_published
from nasprox.report.published import best_ranked_truth, judge, load_published_file, seed_columns
from nasprox.stats import load_results

N = 40  # cells; the 'paper population' the tests declare


def test_best_ranked_truth_ties_and_missing_values():
    assert best_ranked_truth(np.array([1.0, 3.0, 2.0]), np.array([10.0, 30.0, 20.0])) == 30.0
    # two cells tie at the top score: the mean of their ground truth
    assert best_ranked_truth(np.array([3.0, 3.0, 2.0]), np.array([10.0, 30.0, 20.0])) == 20.0
    # a non-finite score or ground truth is left out (NaN does not win the max)
    assert best_ranked_truth(np.array([np.nan, 1.0, 2.0]), np.array([99.0, 5.0, 7.0])) == 7.0
    assert best_ranked_truth(np.array([5.0, 1.0]), np.array([np.nan, 4.0])) == 4.0
    assert math.isnan(best_ranked_truth(np.array([np.nan]), np.array([1.0])))


def test_seed_columns():
    cols = ("snip@seed=10", "snip@seed=2", "snip@seed=0", "synflow", "snip@batch=64", "snipper")
    assert seed_columns("snip", cols) == ["snip@seed=0", "snip@seed=2", "snip@seed=10"]
    assert seed_columns("synflow", cols) == ["synflow"] and seed_columns("zen", cols) == []


def _write(path, seeds, space="toy-space", gt_column="gt_test_acc"):
    """N cells, ground truth 100 - i; seed s ranks cell s first (score 1000 there), the rest at random."""
    rng = np.random.default_rng(0)
    rows = []
    for s in seeds:
        for i in range(N):
            score = 1000.0 if i == s else float(rng.uniform(0, 100))
            rows.append(
                dict(space=space, arch_index=i, arch=f"a{i}", dataset="cifar10", proxy="toy", proxy_version="1",
                     seed=s, data_config="x", score=score, status="ok", error="", batch_size=64,
                     **{gt_column: 100.0 - i})
            )  # fmt: skip
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _entries(tmp_path, value, space="toy-space", target=None):
    folder = tmp_path / "published"
    folder.mkdir(exist_ok=True)
    entry = dict(table="Table 4", space=space, dataset="cifar10", proxy="toy", metric="best_ranked", value=value)
    if target:
        entry["target"] = target
    source = {"url": "https://example.org/survey", "table": "Table 4", "row": "C100", "column": "toy"}
    doc = {"version": 1, "paper": {"id": "toy"}, "entries": [{**entry, "source": source}]}
    (folder / "toy.yaml").write_text(yaml.safe_dump(doc))
    return load_published(folder)


POP = {("toy", "Table 4"): (N, f"all {N} cells")}


def test_mean_over_seeds_with_a_t_interval(tmp_path):
    table = load_results([_write(tmp_path / "r.csv", seeds=range(5))], keep_settings_apart=True)
    per_seed = np.array([100.0 - s for s in range(5)])  # 100, 99, 98, 97, 96
    half = 2.7764451051977987 * per_seed.std(ddof=1) / math.sqrt(5)  # t(0.975, 4)
    row = compare_published(_entries(tmp_path, 98.0), table, populations=POP).loc[0]
    assert row["ours"] == pytest.approx(98.0) and row["proxy"] == "toy@seeds=5"
    assert (row["ci_lo"], row["ci_hi"]) == pytest.approx((98.0 - half, 98.0 + half))
    assert row["verdict"] == "agrees" and "mean of 5 seeds" in row["note"]
    assert row["n_scored"] == N and row["population_paper"] == f"all {N} cells"
    far = compare_published(_entries(tmp_path, 90.0), table, populations=POP).loc[0]
    assert far["verdict"] == "differs" and "below our CI" in far["reason"]
    # a sample of the paper's population: the best of a sample is not the space's
    small = compare_published(_entries(tmp_path, 98.0), table, populations={("toy", "Table 4"): (15625, "x")})
    assert small.loc[0, "verdict"] == "not comparable" and "best of the ranked cells" in small.loc[0, "reason"]


def test_one_seed_bootstraps_over_cells(tmp_path):
    table = load_results([_write(tmp_path / "r.csv", seeds=[3])])
    row = compare_published(_entries(tmp_path, 97.0), table, populations=POP, bootstrap=200).loc[0]
    assert row["ours"] == 97.0 and row["proxy"] == "toy" and row["verdict"] == "agrees"
    assert row["ci_lo"] <= 97.0 <= row["ci_hi"]


def test_lower_is_better_target_stays_in_its_units(tmp_path):
    """On a lower-is-better target (a loss) ours is the loss of the top-ranked cell, not its negation."""
    path = _write(tmp_path / "r.csv", seeds=[0, 1], space="transnas-micro", gt_column="gt_max_test_loss")
    table = load_results([path], keep_settings_apart=True)
    entries = _entries(tmp_path, 99.5, space="transnas-micro", target="max_test_loss")
    row = compare_published(entries, table, populations=POP).loc[0]
    assert row["ours"] == pytest.approx(99.5) and row["target"] == "max_test_loss"


def test_judge_treats_best_ranked_like_a_population_statistic():
    assert judge(71.11, 71.11, 71.11, 71.11, "best_ranked", 15625, 15625) == ("agrees", "")
    assert judge(71.11, 70.0, 69.0, 71.0, "best_ranked", 1000, 15625)[0] == "not comparable"


def test_survey_tables_4_and_5_are_transcribed():
    from nasprox.report.published import default_published_dir

    entries = [e for e in load_published_file(default_published_dir() / "zero-shot-survey.yaml")]
    assert {e.metric for e in entries} == {"best_ranked"}
    assert sum(e.table == "Table 4" for e in entries) == 40 and sum(e.table == "Table 5" for e in entries) == 30
    cell = {(e.table, e.space, e.dataset, e.proxy): e.value for e in entries}
    assert cell["Table 4", "nats-tss", "cifar100", "jacob_cov"] == 68.89
    assert cell["Table 4", "nats-sss", "ImageNet16-120", "zen"] == 46.27
    assert cell["Table 5", "transnas-micro", "segmentsemantic", "gradsign"] == 90.19
    assert cell["Table 5", "transnas-micro", "autoencoder", "fisher"] == 0.49


def test_survey_ground_truth_columns_name_the_targets(shared):
    """The tables' 'Ground Truth' column (the best cell) against the shared data: NB201 is the 200-epoch test
    accuracy, TransNAS NASLib's last-epoch validation metric; NATS is not the 90-epoch test accuracy."""
    nb201 = pd.read_csv(shared("nb201/nb201_test_acc_200ep.csv"))
    assert round(nb201["CIFAR100TestAccuracy200Epochs"].max(), 2) == 73.51
    assert round(nb201["ImageNetTestAccuracy200Epochs"].max(), 2) == 47.31
    sss = pd.read_csv(shared("nats_sss/sss_test_acc_90ep.csv"))
    top = (
        round(sss["CIFAR100TestAccuracy90Epochs"].max(), 2),
        round(sss["ImageNet16-120TestAccuracy90Epochs"].max(), 2),
    )
    assert top == (71.34, 47.40)  # the survey prints 70.92 / 46.73
    last = pd.read_csv(shared("transnas/tnb101_micro_valmetric_zen.csv"))
    assert round(last["val_segmentsemantic"].max(), 2) == 94.61
    assert (round(last["val_normal"].max(), 2), round(last["val_autoencoder"].max(), 2)) == (0.59, 0.58)
    best = pd.read_csv(shared("transnas/tnb101_micro_best_epoch_metrics.csv"))
    assert round(best["segmentsemantic.test_mIoU"].max(), 2) != 94.61
