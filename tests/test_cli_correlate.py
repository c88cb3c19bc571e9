"""``nasprox correlate`` on a small synthetic result CSV: each format parses, errors exit 2."""

from __future__ import annotations

import pandas as pd
import pytest
from scipy import stats as sps
from test_stats import write_results
from typer.testing import CliRunner

from nasprox.cli import app

runner = CliRunner()


@pytest.fixture
def results_csv(tmp_path):
    return write_results(tmp_path / "results.csv")


def expected_spearman(path, proxy):
    frame = pd.read_csv(path)
    frame = frame[(frame["proxy"] == proxy) & (frame["status"] == "ok")]
    return sps.spearmanr(frame["score"], frame["gt_test_acc"]).statistic


def test_markdown(results_csv):
    result = runner.invoke(app, ["correlate", str(results_csv), "--top", "20%"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("| good")]
    cells = [c.strip() for c in lines[0].strip("|").split("|")]
    assert float(cells[2]) == pytest.approx(expected_spearman(results_csv, "good"), abs=5e-4)
    assert cells[5:7] == ["56", "4"]  # n_used, n_nonfinite; ndcg_at_k and precision_at_t follow


def test_csv_output_parses(results_csv, tmp_path):
    out = tmp_path / "table.csv"
    result = runner.invoke(
        app, ["correlate", str(results_csv), "--format", "csv", "--out", str(out), "--bootstrap", "30"]
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out).set_index("proxy")
    assert table.loc["good", "spearman"] == pytest.approx(expected_spearman(results_csv, "good"), abs=1e-9)
    assert {"kendall_top", "spearman_top", "n_used", "n_nonfinite", "spearman_lo", "spearman_hi"} <= set(table.columns)


def test_latex_output_parses(results_csv):
    result = runner.invoke(app, ["correlate", str(results_csv), "--format", "latex"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.count(r"\begin{tabular}") == 1 and r"\end{tabular}" in text
    body = text.split(r"\midrule")[1].split(r"\bottomrule")[0].strip().splitlines()
    rows = {r.split(" & ")[0]: r.rstrip(" \\").split(" & ") for r in body}
    assert set(rows) == {"good", "bad"} and all(len(r) == 9 for r in rows.values())
    assert float(rows["good"][2]) == pytest.approx(expected_spearman(results_csv, "good"), abs=5e-4)


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.csv"], "not found"),
        (["{bad}"], "missing column"),
        (["{good}", "--target", "nope"], "target 'nope'"),
        (["{good}", "--top", "abc"], "fraction"),
    ],
)
def test_errors_are_one_line_exit_2(results_csv, tmp_path, args, message):
    bad = tmp_path / "bad.csv"
    bad.write_text("space,arch\nx,y\n")
    args = [a.format(bad=bad, good=results_csv) for a in args]
    result = runner.invoke(app, ["correlate", *args])
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def _tss_results_without_valid_acc(tmp_path):
    """Six NATS-TSS cells scored by one proxy, their test accuracy attached, no validation accuracy."""
    from nasprox.core import SPACES

    space = SPACES.get("nats-tss")()
    keys = [space.key(i) for i in range(6)]
    rows = [
        {"space": "nats-tss", "arch_index": i, "arch": k, "dataset": "cifar10", "proxy": "p", "score": float(i)}
        | {"status": "ok", "gt_test_acc": 80.0 + i, "gt_valid_acc": ""}
        for i, k in enumerate(keys)
    ]
    results = tmp_path / "tss.csv"
    pd.DataFrame(rows).to_csv(results, index=False)
    truth = tmp_path / "valid.csv"  # long layout; cell 5 missing, cell 0..4 in reverse order of the score
    pd.DataFrame(
        {"arch": keys[:5], "dataset": "cifar10", "valid_acc": [70.0 - i for i in range(5)], "test_acc": 1.0}
    ).to_csv(truth, index=False)
    return results, truth, keys


def test_ground_truth_is_attached_after_scoring_for_the_fields_the_file_has(tmp_path):
    from nasprox.stats import load_results, with_ground_truth

    results, truth, keys = _tss_results_without_valid_acc(tmp_path)
    table = with_ground_truth(load_results([results]), {"nats-tss": truth})
    frame = table.frame.set_index("arch").loc[keys]
    assert frame["gt_valid_acc"].tolist()[:5] == [70.0, 69.0, 68.0, 67.0, 66.0]
    assert pd.isna(frame["gt_valid_acc"].iloc[5]) and pd.isna(frame["gt_test_acc"].iloc[5])  # no mixing
    assert frame["gt_test_acc"].tolist()[:5] == [1.0] * 5 and frame["p"].tolist() == [0.0, 1, 2, 3, 4, 5]


def test_correlate_against_a_ground_truth_file_given_at_correlation_time(tmp_path):
    results, truth, _ = _tss_results_without_valid_acc(tmp_path)
    plain = runner.invoke(app, ["correlate", str(results), "--target", "valid_acc", "--format", "csv"])
    assert "no ground truth 'valid_acc'" in plain.stderr
    args = ["correlate", str(results), "--target", "valid_acc", "--format", "csv", "--ground-truth", str(truth)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    (row,) = pd.read_csv(__import__("io").StringIO(result.stdout)).to_dict("records")
    assert row["spearman"] == pytest.approx(-1.0) and row["n_used"] == 5


@pytest.mark.parametrize(
    "item, message",
    [
        ("nb101={truth}", "no results of space 'nb101'"),
        ("nats-tss=missing.csv", "not found"),
        ("nats-tss=", "NAME=PATH"),
    ],
)
def test_bad_ground_truth_is_one_line_exit_2(tmp_path, item, message):
    results, truth, _ = _tss_results_without_valid_acc(tmp_path)
    result = runner.invoke(app, ["correlate", str(results), "--ground-truth", item.format(truth=truth)])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
