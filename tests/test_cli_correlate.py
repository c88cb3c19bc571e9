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
