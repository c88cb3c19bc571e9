"""Learned predictors: no training arch in the evaluation, labels enter only through the training rows;
NB201 unique cells (9,445) and GRAF-style architecture features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nasprox.cli import app
from nasprox.core import SPACES, ArchRef
from nasprox.predict.features import build_features
from nasprox.predict.learn import evaluate, fit, learning_curve, split
from nasprox.spaces.nats._nb201_graph import canonical_cell, live_edges, nb201_features
from nasprox.spaces.nats.nats_tss import nats_order, nb201_unique_representatives

runner = CliRunner()


# -- unique cells ----------------------------------------------------------------------------------
def test_unique_nb201_cells_are_9445():
    reps = nb201_unique_representatives()
    assert len(reps) == 9445 == len(set(reps))
    space = SPACES.get("nats-tss")()
    assert len({space.unique_key(k) for k in nats_order()}) == 9445
    assert all(canonical_cell(r) == r for r in reps)  # each representative is its own class key
    assert [space.index_of(r) for r in reps] == sorted(space.index_of(r) for r in reps)  # NATS index order


def test_dead_edges_do_not_make_a_new_cell():
    a = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
    b = "|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"  # node 2 never reaches the output
    c = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"  # without 1->3 the conv on 0->1 is dead
    assert canonical_cell(a) == canonical_cell(b) == a != canonical_cell(c)
    assert canonical_cell(c) == "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    assert live_edges(("none",) * 6) == (False,) * 6
    # all 'no path' cells are one class (the all-none cell)
    assert (
        canonical_cell("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|")
        == "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    )
    # node positions are kept: the mirror image of nodes 1 and 2 is another cell (the 9,445 convention)
    m1 = "|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|none~0|skip_connect~1|skip_connect~2|"
    m2 = "|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|none~0|skip_connect~1|skip_connect~2|"
    assert canonical_cell(m1) != canonical_cell(m2)


def test_arch_features_by_hand():
    key = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|"
    f = nb201_features(key)
    assert (f["n_conv3x3"], f["n_conv1x1"], f["n_skip"], f["n_avg_pool"], f["n_none"]) == (2, 1, 1, 1, 1)
    # paths: 0-1-3 (conv3, pool), 0-2-3 (conv1, conv3), 0-1-2-3 (conv3, skip, conv3); 0-3 is none
    assert f["n_paths"] == 3 and f["paths_with_conv"] == 3 and f["paths_all_conv"] == 1
    assert f["longest_path"] == 3 and f["shortest_path"] == 2
    assert f["max_conv_depth"] == 2 and f["min_conv_depth"] == 1 and f["paths_with_pool"] == 1
    assert f["output_in_degree"] == 2 and f["input_out_degree"] == 2
    space = SPACES.get("nats-tss")()
    assert space.arch_features(space.parse(key)) == f
    assert SPACES.get("nats-sss")().arch_features(ArchRef("nats-sss", 0, "8:16:16:64:8"))["width_changes"] == 3


def test_cell_params_match_the_built_model():
    space = SPACES.get("nats-tss")()

    def params(key):
        model = space.build(space.parse(key), "cifar10")
        return sum(p.numel() for p in model.parameters())

    keys = [
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    ]
    base = params(keys[0])
    for key in keys[1:]:
        assert params(key) - base == pytest.approx(nb201_features(key)["cell_params_k"] * 1e3)


# -- splits and leakage -------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_split_is_disjoint_nested_and_seeded(seed):
    n = 120
    previous = np.array([], dtype=int)
    for size in (10, 20, 50, 100):
        train, test = split(n, size, seed)
        assert np.intersect1d(train, test).size == 0
        assert np.array_equal(np.union1d(train, test), np.arange(n))
        assert train.size == size and np.isin(previous, train).all()  # nested within a seed
        previous = train
        again_train, again_test = split(n, size, seed)
        assert np.array_equal(train, again_train) and np.array_equal(test, again_test)
    assert not np.array_equal(split(n, 20, seed)[0], split(n, 20, seed + 1)[0])


def synthetic(n=150, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    y = X[:, 0] * 2 + np.sin(X[:, 1]) + rng.normal(0, 0.3, n)
    return X, y


@pytest.mark.parametrize("model", ["rf", "gb", "et"])
def test_held_out_labels_do_not_change_the_model(model):
    X, y = synthetic()
    train, test = split(len(y), 40, seed=0)
    changed = y.copy()
    changed[test] = np.random.default_rng(9).normal(size=test.size) * 100  # any held-out labels
    a = fit(X, y, train, model, seed=0).predict(X)
    b = fit(X, changed, train, model, seed=0).predict(X)
    np.testing.assert_array_equal(a, b)
    c = y.copy()
    c[train[0]] += 5.0  # a training label does change it
    assert not np.array_equal(a, fit(X, c, train, model, seed=0).predict(X))


def test_learning_curve_evaluates_held_out_only():
    X, y = synthetic(n=100)
    arch_index = np.arange(1000, 1100)
    curve = learning_curve(
        X, y, [f"f{i}" for i in range(6)], 2, arch_index, train_sizes=[20, 50, 95], seeds=[0, 1], model="rf"
    )
    assert curve.skipped == [95]  # would leave < 10 held-out
    for row in curve.runs[curve.runs["method"] == "rf"].itertuples():
        trained = np.array([int(i) for i in row.train_arch_index.split(";")])
        train, test = split(100, row.n_train, row.seed)
        assert np.array_equal(trained, arch_index[train]) and row.n_test == test.size == 100 - row.n_train
        pred = fit(X, y, train, "rf", row.seed).predict(X[test])
        assert evaluate(pred, y[test])["spearman"] == pytest.approx(row.spearman)
    summary = curve.summary.set_index(["n_train", "method"])
    assert summary.loc[(50, "rf"), "seeds"] == 2
    assert summary.loc[(50, "rf"), "spearman_mean"] > 0.8


def test_features_from_the_registry():
    keys = list(nats_order()[:5])
    sub = pd.DataFrame({"arch": keys, "arch_index": range(5), "synflow": [1e40, 2e40, np.inf, 3.0, np.nan]})
    feats = build_features(sub, "nats-tss", ["synflow"])
    assert feats.n_proxy == 1 and feats.names[0] == "synflow" and "arch:n_paths" in feats.names
    assert np.isnan(feats.X[2, 0]) and np.isnan(feats.X[4, 0]) and np.isfinite(feats.X[[0, 1, 3], 0]).all()
    assert feats.X[1, 0] > feats.X[0, 0] > feats.X[3, 0]  # monotone transform
    plain = build_features(sub.assign(arch=[f"x{i}" for i in range(5)]), "unknown-space", ["synflow"])
    assert plain.names == ("synflow",)


def test_cli_predict(tmp_path):
    rng = np.random.default_rng(0)
    keys = nats_order()[:80]
    rows = []
    for i, key in enumerate(keys):
        acc = float(rng.uniform(80, 94))
        for proxy, score in (("synflow", acc + rng.normal(0, 2)), ("zico", rng.normal())):
            rows.append(
                {
                    "space": "nats-tss",
                    "arch_index": i,
                    "arch": key,
                    "dataset": "cifar10",
                    "proxy": proxy,
                    "proxy_version": "1",
                    "seed": 0,
                    "data_config": "x",
                    "score": score,
                    "status": "ok",
                    "error": "",
                    "gt_test_acc": acc if i != 5 else float("nan"),
                }
            )
    path = tmp_path / "r.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    out, plot = tmp_path / "runs.csv", tmp_path / "curve.png"
    result = runner.invoke(
        app,
        [
            "predict",
            str(path),
            "--train",
            "20,40,1000",
            "--seeds",
            "3",
            "--out",
            str(out),
            "--plot",
            str(plot),
            "--importances",
            "3",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "79 archs with ground truth (1 without left out)" in result.stdout
    assert "1000 skipped" in result.stderr
    runs = pd.read_csv(out)
    assert set(runs["n_train"]) == {20, 40} and set(runs["seed"]) == {0, 1, 2}
    for row in runs.itertuples():
        assert len(row.train_arch_index.split(";")) == row.n_train and row.n_test == 79 - row.n_train
        assert "5" not in row.train_arch_index.split(";")  # no target -> never in a split
    assert plot.stat().st_size > 0
    bad = runner.invoke(app, ["predict", str(path), "--model", "svm"])
    assert bad.exit_code == 2 and "unknown model" in bad.stderr
