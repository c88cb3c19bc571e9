"""Issue 3 smoke test: ``nasprox score --proxy params,flops,near`` on 2 archs of every space with
real inputs from ../shared/data, and ``nasprox correlate`` on lower-is-better / negative-loss targets.

CPU-cheap by design: 2 small archs per space, NEAR with 2 repetitions, small batches, TransNAS at
64x64 (``--space-opt resolution=64``), nb101 cells given as specs (no benchmark file needed).
"""

from __future__ import annotations

import io
import math

import pandas as pd
import pytest
from conftest import shared_file
from scipy import stats as sps
from typer.testing import CliRunner

from nasprox.cli import app

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("one_thread")

CIFAR = "inputs/cifar10_test_1000_from_jpg.npz"
NLP_LOGS = "nasbench_nlp/train_logs_wikitext-2_logs.zip"

# space -> (extra score args, which need shared files via {name} placeholders)
SPACES = {
    "nats-tss": ["--dataset", "cifar10", "--data-root", "{cifar}", "--archs", "0,1"],
    "nats-sss": ["--dataset", "cifar10", "--data-root", "{cifar}", "--archs", "0,32767"],
    "nb101": ["--dataset", "cifar10", "--data-root", "{cifar}", "--arch-list", "{nb101_list}"],
    "transnas-micro": [
        "--dataset",
        "class_scene",
        "--data-root",
        "{cifar}",
        "--archs",
        "0,1234",
        "--space-opt",
        "resolution=64",
    ],
    "transnas-macro": [
        "--dataset",
        "room_layout",
        "--data-root",
        "{cifar}",
        "--archs",
        "0,1000",
        "--space-opt",
        "resolution=64",
    ],
    "nb-nlp": ["--dataset", "ptb", "--data-root", "{ptb}", "--benchmark", "{nlp_logs}", "--archs", "0,1"],
}
NB101_CELLS = ["010.001.000:1", "011.001.000:3"]  # input->conv1x1->output; conv3x3 plus a skip


def _invoke(args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("space", list(SPACES))
def test_score_params_flops_near_on_every_space(space, tmp_path):
    nb101_list = tmp_path / "nb101.txt"
    nb101_list.write_text("\n".join(NB101_CELLS) + "\n")
    paths = {"cifar": CIFAR, "ptb": "ptb", "nlp_logs": NLP_LOGS}
    fill = {k: shared_file(v) for k, v in paths.items() if any("{" + k + "}" in a for a in SPACES[space])}
    fill["nb101_list"] = nb101_list
    extra = [a.format(**fill) for a in SPACES[space]]
    out = tmp_path / f"{space}.csv"
    _invoke(
        [
            "score",
            "--space",
            space,
            "--proxy",
            "params,flops,near",
            "--proxy-opt",
            "near.repetitions=2",
            "--batch-size",
            "8",
            "--seed",
            "0",
            "--device",
            "cpu",
            "--no-progress",
            "--out",
            out,
            *extra,
        ]
    )
    rows = pd.read_csv(out)
    assert len(rows) == 6 and set(rows["proxy"]) == {"params", "flops", "near"}
    assert rows["arch"].nunique() == 2
    if space == "nb-nlp":
        # documented NEAR limit (near.py): the 10,000-word decoder would need a 10k x 10k SVD per
        # repetition, so NEAR is undefined unless near.max_columns is raised
        near = rows[rows["proxy"] == "near"]
        assert (near["status"] == "undefined").all() and near["error"].str.contains("near.max_columns").all()
        rows = rows[rows["proxy"] != "near"]
        # arch 0 is the cell h = tanh(W [x, h_prev] + b) in 3 layers (400->600, 600->600, 600->400) and a
        # 400 -> 10,000 decoder; MACs per 70-token sequence, bias included, counted by hand:
        by_hand = (
            70
            * ((400 + 600) * 600 + 600 + (600 + 600) * 600 + 600 + (600 + 400) * 400 + 400 + 400 * 10_000 + 10_000)
            / 1e6
        )
        flops0 = rows[(rows["proxy"] == "flops") & (rows["arch_index"] == 0)]["score"].item()
        assert flops0 == pytest.approx(by_hand, rel=1e-9)
    bad = rows[rows["status"] != "ok"]
    assert bad.empty, bad[["arch", "proxy", "status", "error"]].to_string()
    assert all(math.isfinite(v) and v > 0 for v in rows["score"]), rows[["arch", "proxy", "score"]]
    # the two architectures of each pair differ in size
    for proxy in ("params", "flops"):
        values = rows[rows["proxy"] == proxy].sort_values("arch_index")["score"].tolist()
        assert len(values) == 2 and values[0] != values[1]


def _correlate(path, target):
    result = _invoke(["correlate", path, "--target", target, "--format", "csv", "--top", "50%"])
    return pd.read_csv(io.StringIO(result.stdout)).set_index("proxy")


def test_correlate_flips_lower_is_better_nlp_log_perplexity(tmp_path):
    out = tmp_path / "nlp.csv"
    _invoke(
        [
            "score",
            "--space",
            "nb-nlp",
            "--dataset",
            "wikitext-2",
            "--benchmark",
            shared_file(NLP_LOGS),
            "--proxy",
            "params",
            "--synthetic",
            "--sample",
            "12",
            "--seed",
            "1",
            "--device",
            "cpu",
            "--no-progress",
            "--out",
            out,
        ]
    )
    rows = pd.read_csv(out)
    assert len(rows) == 12 and (rows["status"] == "ok").all() and rows["gt_val_loss"].notna().all()
    for target in ("val_loss", "test_loss"):
        table = _correlate(out, target)
        raw_rho = sps.spearmanr(rows["score"], rows[f"gt_{target}"]).statistic
        raw_tau = sps.kendalltau(rows["score"], rows[f"gt_{target}"]).statistic
        assert abs(raw_rho) > 0.1  # a sample where the sign is visible
        # lower log-perplexity is better: the table reports the correlation with -loss
        assert table.loc["params", "spearman"] == pytest.approx(-raw_rho, abs=1e-9)
        assert table.loc["params", "kendall"] == pytest.approx(-raw_tau, abs=1e-9)
        assert table.loc["params", "target"] == target and table.loc["params", "n_used"] == 12


def test_correlate_keeps_transnas_room_layout_negative_loss(tmp_path):
    out = tmp_path / "room.csv"
    _invoke(
        [
            "score",
            "--space",
            "transnas-micro",
            "--dataset",
            "room_layout",
            "--proxy",
            "params",
            "--synthetic",
            "--ground-truth",
            shared_file("transnas/tnb101_micro_valmetric_zen.csv"),
            "--sample",
            "16",
            "--seed",
            "3",
            "--device",
            "cpu",
            "--no-progress",
            "--out",
            out,
        ]
    )
    rows = pd.read_csv(out)
    assert len(rows) == 16 and (rows["status"] == "ok").all()
    assert (rows["gt_valid_metric"] < 0).all()  # negative MSE loss: higher is already better, no flip
    table = _correlate(out, "valid_metric")
    assert table.loc["params", "spearman"] == pytest.approx(
        sps.spearmanr(rows["score"], rows["gt_valid_metric"]).statistic, abs=1e-9
    )
    assert table.loc["params", "kendall"] == pytest.approx(
        sps.kendalltau(rows["score"], rows["gt_valid_metric"]).statistic, abs=1e-9
    )
