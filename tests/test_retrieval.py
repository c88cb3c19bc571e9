"""nDCG@k and Precision@T against a direct computation; the 'unique' population of correlate/report."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nasprox.cli import app
from nasprox.core import NasproxError
from nasprox.spaces.nats._nb201_graph import canonical_cell
from nasprox.spaces.nats.nats_tss import nats_order
from nasprox.stats import load_results, ndcg_at_k, parse_t, precision_at_t, select_population

runner = CliRunner()


def direct_ndcg(score, gt, k, gain):
    """Textbook loops: order by score (stable), relevance from the ground truth, DCG / ideal DCG."""
    n = len(score)
    order = sorted(range(n), key=lambda i: -score[i])  # Python's sort is stable
    rel = []
    for i in range(n):
        if gain == "value":
            rel.append(gt[i] - min(gt))
        else:
            better = sum(1 for j in range(n) if gt[j] > gt[i])
            tied = sum(1 for j in range(n) if gt[j] == gt[i] and j != i)
            rank = 1 + better + tied / 2
            rel.append(max(0.0, k + 1 - rank))
    dcg = sum(rel[order[i]] / math.log2(i + 2) for i in range(k))
    ideal = sorted(rel, reverse=True)
    idcg = sum(ideal[i] / math.log2(i + 2) for i in range(k))
    return dcg / idcg


def direct_precision(score, gt, t):
    top_s = set(sorted(range(len(score)), key=lambda i: -score[i])[:t])
    top_g = set(sorted(range(len(gt)), key=lambda i: -gt[i])[:t])
    return len(top_s & top_g) / t


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [1, 3, 10, 40])
@pytest.mark.parametrize("gain", ["top-k", "value"])
def test_ndcg_equals_direct(seed, k, gain):
    rng = np.random.default_rng(seed)
    gt = rng.uniform(10, 95, 40)
    score = gt + rng.normal(0, 15, 40)
    assert ndcg_at_k(score, gt, k, gain) == pytest.approx(direct_ndcg(list(score), list(gt), k, gain))


def test_ndcg_with_ties_and_sklearn():
    gt = [90.0, 90.0, 80.0, 70.0, 70.0, 60.0]
    score = [1.0, 5.0, 5.0, 2.0, 0.0, 3.0]
    for k in (1, 2, 3, 6):
        assert ndcg_at_k(score, gt, k) == pytest.approx(direct_ndcg(score, gt, k, "top-k"))
    sklearn = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    truth, pred = rng.uniform(0, 1, 30), rng.normal(size=30)
    assert ndcg_at_k(pred, truth, 10, "value") == pytest.approx(sklearn.ndcg_score([truth - truth.min()], [pred], k=10))


def test_ndcg_edges():
    assert ndcg_at_k([1, 2, 3], [1, 2, 3], 2) == 1.0
    assert ndcg_at_k([3, 2, 1], [1, 2, 3], 1) == 0.0  # the proxy's first is the worst
    assert math.isnan(ndcg_at_k([np.nan], [1.0], 3))
    with pytest.raises(NasproxError, match="gain"):
        ndcg_at_k([1, 2], [1, 2], 1, gain="exp")


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("t", [1, 5, 10, 0.1, 0.25])
def test_precision_equals_direct(seed, t):
    rng = np.random.default_rng(seed)
    gt = rng.uniform(10, 95, 50)
    score = gt + rng.normal(0, 20, 50)
    count = t if isinstance(t, int) else math.ceil(t * 50)
    assert precision_at_t(score, gt, t) == pytest.approx(direct_precision(list(score), list(gt), count))


def test_precision_ties_and_parsing():
    # T=2: top-2 by score = archs 1, 2 (stable among the two 5s); true top-2 = 90, 90 -> archs 0, 1
    assert precision_at_t([1.0, 5.0, 5.0, 2.0], [90.0, 90.0, 80.0, 70.0], 2) == 0.5
    # a ground-truth tie at the T-th place counts as inside: arch 2 ties the 2nd best
    assert precision_at_t([0.0, 1.0, 5.0], [90.0, 80.0, 80.0], 2) == 1.0
    assert precision_at_t([1, 2, np.nan], [1, 2, 3], 5) == 1.0  # T capped at the finite pairs
    assert parse_t("10") == 10 and parse_t("5%") == 0.05 and parse_t("0.2") == 0.2
    with pytest.raises(NasproxError):
        parse_t("1.5")


# -- population --------------------------------------------------------------------------------
def write_dup_csv(path):
    """Four cells: two members of one isomorphism class (a, b), b's representative c, and d."""
    c = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
    a = "|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
    b = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
    d = nats_order()[0]
    assert canonical_cell(a) == canonical_cell(b) == c != canonical_cell(d)
    index = {k: i for i, k in enumerate(nats_order())}
    rows = [
        {
            "space": "nats-tss",
            "arch_index": index[k],
            "arch": k,
            "dataset": "cifar10",
            "proxy": "synflow",
            "proxy_version": "1",
            "seed": 0,
            "data_config": "x",
            "score": s,
            "status": "ok",
            "error": "",
            "gt_test_acc": acc,
        }
        for k, s, acc in ((a, 1.0, 80.0), (b, 2.0, 81.0), (c, 3.0, 82.0), (d, 0.5, 70.0), (nats_order()[1], 4.0, 90.0))
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return a, b, c, d


def test_unique_population_keeps_the_representative(tmp_path):
    a, b, c, d = write_dup_csv(tmp_path / "r.csv")
    table, pop = select_population(load_results([tmp_path / "r.csv"]), "unique")
    assert set(table.frame["arch"]) == {c, d, nats_order()[1]}
    assert pop.label() == "unique (3 of 5 archs; 2 isomorphic duplicates dropped)"
    # without the representative, the member with the lowest NATS index stays
    frame = pd.read_csv(tmp_path / "r.csv")
    frame[frame["arch"] != c].to_csv(tmp_path / "s.csv", index=False)
    table, _ = select_population(load_results([tmp_path / "s.csv"]), "unique")
    index = {k: i for i, k in enumerate(nats_order())}
    assert (min(a, b, key=index.get) in set(table.frame["arch"])) and len(table.frame) == 3


def test_correlate_and_report_say_the_population(tmp_path):
    write_dup_csv(tmp_path / "r.csv")
    result = runner.invoke(app, ["correlate", str(tmp_path / "r.csv"), "--population", "unique"])
    assert result.exit_code == 0, result.output
    assert "population unique (3 of 5 archs; 2 isomorphic duplicates dropped)" in result.stdout
    assert "population all (5 archs)" in runner.invoke(app, ["correlate", str(tmp_path / "r.csv")]).stdout
    csv_out = runner.invoke(app, ["correlate", str(tmp_path / "r.csv"), "--format", "csv", "--population", "unique"])
    assert "population" in csv_out.stdout.splitlines()[0]
    rep = runner.invoke(
        app, ["report", str(tmp_path / "r.csv"), "--out", str(tmp_path / "rep"), "--no-plots", "--population", "unique"]
    )
    assert rep.exit_code == 0, rep.output
    table = pd.read_csv(tmp_path / "rep" / "correlations.csv")
    assert table["population"].iloc[0].startswith("unique (3 of 5") and "ndcg_at_k" in table.columns
    bad = runner.invoke(app, ["correlate", str(tmp_path / "r.csv"), "--population", "some"])
    assert bad.exit_code == 2 and "unknown population" in bad.stderr


def test_unique_cells_command(tmp_path):
    out = tmp_path / "unique.txt"
    result = runner.invoke(app, ["unique-cells", "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert len(lines) == 9445 and lines[0].startswith("|")
