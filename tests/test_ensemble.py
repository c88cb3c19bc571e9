"""``nasprox ensemble``: rank aggregates against hand-computed ranks, directions, missing values, greedy split."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from typer.testing import CliRunner

from nasprox.cli import app
from nasprox.core import NasproxError
from nasprox.predict.aggregate import aggregate, borda, geo_mean, greedy_select, log_rank, rank_mean, ranks
from nasprox.predict.ensemble import build_ensembles, ensemble_name, parse_signs, proxy_sign
from nasprox.spaces.nats.nats_tss import nats_order
from nasprox.stats import load_results, read_results
from nasprox.storage.csv_store import header_for

runner = CliRunner()

# 5 archs x 3 proxies; b is lower-is-better (sign -1), c has a tie
A = [1.0, 2.0, 3.0, 4.0, 5.0]
B = [50.0, 40.0, 30.0, 20.0, 10.0]
C = [3.0, 3.0, 1.0, 5.0, 2.0]
ORIENTED = np.column_stack([A, [-b for b in B], C])
# by hand: a -> 1..5, -b -> 1..5, c -> 3.5 3.5 1 5 2 (the two 3s share ranks 3 and 4)
HAND_RANKS = np.array([[1, 1, 3.5], [2, 2, 3.5], [3, 3, 1], [4, 4, 5], [5, 5, 2]], dtype=float)


def test_ranks_by_hand():
    np.testing.assert_array_equal(ranks(ORIENTED), HAND_RANKS)


def test_aggregates_by_hand():
    np.testing.assert_allclose(rank_mean(ORIENTED), [5.5 / 3, 7.5 / 3, 7 / 3, 13 / 3, 12 / 3])
    np.testing.assert_allclose(geo_mean(ORIENTED), np.cbrt([3.5, 14.0, 9.0, 80.0, 50.0]))
    np.testing.assert_allclose(
        log_rank(ORIENTED),
        [
            math.log(1 / 5) * 2 + math.log(3.5 / 5),
            math.log(2 / 5) * 2 + math.log(3.5 / 5),
            math.log(3 / 5) * 2 + math.log(1 / 5),
            math.log(4 / 5) * 2 + math.log(5 / 5),
            math.log(5 / 5) * 2 + math.log(2 / 5),
        ],
    )
    # borda: archs strictly beaten per proxy: a 0..4, -b 0..4, c 2 2 0 4 1 (a tie beats nobody)
    np.testing.assert_array_equal(borda(ORIENTED), [2, 4, 4, 10, 9])


def test_documented_equivalences():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(40, 4))  # no ties
    assert sps.spearmanr(geo_mean(values), log_rank(values)).statistic == pytest.approx(1.0)
    assert sps.spearmanr(rank_mean(values), borda(values)).statistic == pytest.approx(1.0)
    tied = np.round(values, 0)  # ties: borda and rank-mean part ways
    assert not np.allclose(sps.rankdata(rank_mean(tied)), sps.rankdata(borda(tied)))


def test_aggregate_refuses_missing_and_unknown():
    with pytest.raises(NasproxError, match="non-finite"):
        aggregate(np.array([[1.0, np.nan], [2.0, 3.0]]), "rank-mean")
    with pytest.raises(NasproxError, match="unknown aggregation"):
        aggregate(ORIENTED, "median")


def test_greedy_reads_only_labelled_rows():
    rng = np.random.default_rng(1)
    gt = rng.normal(size=60)
    values = np.column_stack([gt + rng.normal(0, 0.3, 60), rng.normal(size=60), gt + rng.normal(0, 1.0, 60)])
    labelled = np.arange(0, 60, 2)
    sel = greedy_select(values, gt, labelled)
    assert sel.chosen[0] == 0 and 1 not in sel.chosen
    garbage = gt.copy()
    garbage[1::2] = np.nan  # labels outside the labelled rows are never read
    assert greedy_select(values, garbage, labelled) == sel
    # the trace is the labelled-split rho of the chosen prefix
    assert sel.trace[0] == pytest.approx(sps.spearmanr(values[labelled, 0], gt[labelled]).statistic)


# -- table level ---------------------------------------------------------------------------------------
def write_csv(path, n=30, seed=0, fail=(), raw_proxy=True):
    """nats-tss rows with real arch strings: synflow, zico (+1 in the registry) and l2_norm (raw)."""
    rng = np.random.default_rng(seed)
    keys = nats_order()[:n]
    rows = []
    for i, key in enumerate(keys):
        acc = float(rng.uniform(80, 94))
        scores = {"synflow": acc + rng.normal(0, 2), "zico": acc + rng.normal(0, 4)}
        if raw_proxy:
            scores["l2_norm"] = -acc + rng.normal(0, 3)
        for proxy, score in scores.items():
            status = "error" if (i, proxy) in fail else "ok"
            rows.append(
                {
                    "space": "nats-tss",
                    "arch_index": i,
                    "arch": key,
                    "dataset": "cifar10",
                    "proxy": proxy,
                    "proxy_version": "1",
                    "seed": 0,
                    "data_config": "abc",
                    "score": score if status == "ok" else "nan",
                    "status": status,
                    "error": "boom" if status != "ok" else "",
                    "seconds": 0.5,
                    "peak_mem_mb": 10.0,
                    "batch_size": 64,
                    "device": "cpu",
                    "gt_test_acc": acc,
                    "gt_valid_acc": "",
                    "gt_params": "",
                    "gt_flops": "",
                }
            )
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_directions():
    assert proxy_sign("synflow", {}) == 1.0
    assert proxy_sign("synflow", {"synflow": -1.0}) == -1.0
    with pytest.raises(NasproxError, match="--sign l2_norm"):
        proxy_sign("l2_norm", {})
    assert proxy_sign("l2_norm", {"l2_norm": -1.0}) == -1.0
    with pytest.raises(NasproxError, match="not a registered proxy"):
        proxy_sign("mystery", {})
    assert parse_signs(["a=+1", "b=-1"]) == {"a": 1.0, "b": -1.0}
    with pytest.raises(NasproxError, match="cannot read sign"):
        parse_signs(["a=2"])


def test_rank_mean_rows_match_hand_ranks(tmp_path):
    path = write_csv(tmp_path / "r.csv")
    res = build_ensembles(
        [path], proxies=["synflow", "zico", "l2_norm"], methods=["rank-mean"], signs={"l2_norm": -1.0}
    )
    name = ensemble_name("rank-mean", ["synflow", "zico", "l2_norm"])
    assert name == "ensemble:rank-mean(synflow+zico+l2_norm)"
    assert res.header == header_for(["test_acc", "valid_acc", "params", "flops"])
    out = tmp_path / "out.csv"
    res.rows.to_csv(out, index=False)
    long = read_results([out])
    assert set(long["proxy"]) == {"synflow", "zico", "l2_norm", name}
    wide = load_results([out]).frame.sort_values("arch_index")
    expected = (sps.rankdata(wide["synflow"]) + sps.rankdata(wide["zico"]) + sps.rankdata(-wide["l2_norm"])) / 3
    np.testing.assert_allclose(wide[name].to_numpy(), expected)
    ens = long[long["proxy"] == name]
    assert (ens["seconds"] == 1.5).all() and (ens["status"] == "ok").all()  # cost = sum of the members'


def test_raw_proxy_refused_without_sign(tmp_path):
    path = write_csv(tmp_path / "r.csv")
    with pytest.raises(NasproxError, match="--sign l2_norm"):
        build_ensembles([path], proxies=["synflow", "l2_norm"], methods=["rank-mean"])
    res = build_ensembles([path], proxies=None, methods=["rank-mean"])  # default: directed proxies only
    assert any("l2_norm" in m for m in res.messages)
    assert res.info[0]["members"] == ["synflow", "zico"]


def test_missing_members_become_undefined_rows(tmp_path):
    path = write_csv(tmp_path / "r.csv", fail={(3, "zico"), (7, "synflow")})
    res = build_ensembles([path], proxies=["synflow", "zico"], methods=["rank-mean"])
    assert any("2 of 30 archs miss a member value" in m for m in res.messages)
    ens = res.rows[res.rows["proxy"].str.startswith("ensemble:")]
    bad = ens[ens["status"] == "undefined"]
    assert sorted(bad["arch_index"].astype(int)) == [3, 7]
    assert "zico (error)" in bad[bad["arch_index"] == "3"]["error"].iloc[0]
    ok = ens[ens["status"] == "ok"]
    assert len(ok) == 28
    # ranks over the 28 complete archs only: rank-means lie in [1, 28]
    assert ok["score"].astype(float).min() >= 1 and ok["score"].astype(float).max() <= 28


def test_cells_no_member_scored_keep_the_members_seed_so_the_column_is_one_setting(tmp_path):
    """A CSV with another proxy on more cells than the members (AZ-NAS on a 1,000-cell sample of a CSV holding
    #params on all 15,625): the ensemble's undefined rows for the other cells once carried seed -1, and correlate
    refused the column as two settings."""
    path = write_csv(tmp_path / "r.csv", n=12)
    frame = pd.read_csv(path)
    extra = frame[frame["proxy"] == "synflow"].copy()
    extra["arch_index"] += 100
    extra["arch"] = nats_order()[100:112]
    extra["proxy"] = "params"
    frame = pd.concat([frame, extra], ignore_index=True)
    frame.to_csv(path, index=False)
    res = build_ensembles([path], proxies=["synflow", "zico"], methods=["rank-mean"])
    ens = res.rows[res.rows["proxy"].str.startswith("ensemble:")]
    assert (ens["status"] == "undefined").sum() == 12 and set(ens["seed"].astype(int)) == {0}
    out = tmp_path / "ens.csv"
    res.rows.to_csv(out, index=False)
    load_results([out])  # one setting per column: no "different settings" refusal


def test_greedy_removes_labelled_archs_everywhere(tmp_path):
    path = write_csv(tmp_path / "r.csv", n=40)
    res = build_ensembles(
        [path],
        proxies=["synflow", "zico", "l2_norm"],
        methods=["greedy", "rank-mean"],
        signs={"l2_norm": -1.0},
        select_labels=12,
        seed=3,
    )
    greedy = next(e for e in res.info if e["method"] == "greedy")["greedy"]
    labelled = set(greedy["labelled_arch_index"])
    assert len(labelled) == 12 and greedy["seed"] == 3
    left = set(res.rows["arch_index"].astype(int))
    assert not labelled & left and len(left) == 28
    again = build_ensembles(
        [path],
        proxies=["synflow", "zico", "l2_norm"],
        methods=["greedy"],
        signs={"l2_norm": -1.0},
        select_labels=12,
        seed=3,
    )
    assert next(iter(again.info))["greedy"]["labelled_arch_index"] == greedy["labelled_arch_index"]


def test_cli_writes_schema_csv_and_sidecar(tmp_path):
    path = write_csv(tmp_path / "r.csv", raw_proxy=False)
    out = tmp_path / "ens.csv"
    args = [
        "ensemble",
        str(path),
        "--proxies",
        "synflow,zico",
        "--method",
        "rank-mean",
        "--method",
        "borda",
        "--out",
        str(out),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    sidecar = json.loads((tmp_path / "ens.csv.provenance.json").read_text())
    entries = sidecar["runs"][-1]["ensembles"]
    assert {e["method"] for e in entries} == {"rank-mean", "borda"}
    assert entries[0]["signs"] == {"synflow": 1.0, "zico": 1.0}
    corr = runner.invoke(app, ["correlate", str(out)])
    assert corr.exit_code == 0 and "ensemble:rank-mean(synflow+zico)" in corr.stdout
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--force" in again.stderr
    raw = runner.invoke(
        app,
        [
            "ensemble",
            str(write_csv(tmp_path / "raw.csv")),
            "--proxies",
            "synflow,l2_norm",
            "--out",
            str(tmp_path / "x.csv"),
        ],
    )
    assert raw.exit_code == 2 and "--sign l2_norm" in raw.stderr
    default = runner.invoke(app, ["ensemble", str(path), "--proxies", "synflow,zico"])  # no --out
    assert default.exit_code == 0, default.output
    assert (tmp_path / "r_ensemble.csv").is_file() and (tmp_path / "r_ensemble.csv.provenance.json").is_file()
