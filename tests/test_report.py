"""``nasprox report`` writes every table and figure; published YAMLs load and cite their sources."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml
from test_stats import write_results
from typer.testing import CliRunner

from nasprox.cli import app
from nasprox.core import NasproxError
from nasprox.report import compare_published, load_published, load_published_file, to_markdown
from nasprox.report.published import SOURCE_FIELDS, comparison_summary, default_published_dir, judge
from nasprox.stats import load_results, spearman_rho
from nasprox.stats.bootstrap import bootstrap_ci
from nasprox.stats.correlation import finite_pairs


def test_report_writes_expected_files(tmp_path):
    results = write_results(tmp_path / "r.csv")
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", str(results), "--out", str(out)])
    assert result.exit_code == 0, result.output
    for stem in ("correlations", "search_metrics", "average_ranks", "published_vs_ours"):
        for suffix in (".md", ".csv", ".tex"):
            assert (out / f"{stem}{suffix}").stat().st_size > 0
    figures = {p.name for p in (out / "figures").iterdir()}
    for stem in ("scatter_toy-space_cifar10_good", "scatter_toy-space_cifar10_bad", "top_curve_toy-space_cifar10"):
        assert {f"{stem}.png", f"{stem}.pdf"} <= figures
    assert (out / "figures" / "scatter_toy-space_cifar10_good.png").read_bytes()[:4] == b"\x89PNG"
    ranks = pd.read_csv(out / "average_ranks.csv")
    assert list(ranks["proxy"]) == ["good", "bad"]


def test_published_vs_ours_on_synthetic_entry(tmp_path):
    results = write_results(tmp_path / "r.csv")
    folder = tmp_path / "published"
    folder.mkdir()
    source = {"url": "https://example.org/paper", "table": "Table 1", "row": "good", "column": "rho"}
    doc = {
        "version": 1,
        "paper": {"id": "toy"},
        "entries": [
            {
                "table": "Table 1",
                "space": "toy-space",
                "dataset": "cifar10",
                "proxy": "good",
                "metric": "spearman",
                "value": 0.5,
                "source": source,
            },
            {
                "table": "Table 1",
                "space": "other",
                "dataset": "cifar10",
                "proxy": "good",
                "metric": "spearman",
                "value": 0.5,
                "source": source,
            },
        ],
    }
    (folder / "toy.yaml").write_text(yaml.safe_dump(doc))
    table = load_results([results])
    comparison = compare_published(load_published(folder), table)
    assert len(comparison) == 1  # the 'other' space is not in our results
    sub = table.frame
    ours = spearman_rho(sub["good"], sub["gt_test_acc"])
    assert comparison.loc[0, "ours"] == pytest.approx(ours)
    lo, hi = bootstrap_ci(
        spearman_rho, sub["good"].to_numpy(float), sub["gt_test_acc"].to_numpy(float), n_resamples=1000, seed=0
    )
    assert (comparison.loc[0, "ci_lo"], comparison.loc[0, "ci_hi"]) == pytest.approx((lo, hi))
    assert comparison.loc[0, "n_used"] == finite_pairs(sub["good"], sub["gt_test_acc"]).n
    assert comparison.loc[0, "n_scored"] == len(sub) and comparison.loc[0, "kind"] == "own"
    expected = "agrees" if lo - 0.005 <= 0.5 <= hi + 0.005 else "differs"
    assert comparison.loc[0, "verdict"] == expected
    del doc["entries"][0]["source"]["url"]
    (folder / "toy.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(NasproxError, match="source.url"):
        load_published(folder)


def test_verdicts_follow_the_ci_and_the_printed_precision():
    assert judge(0.80, 0.85, 0.79, 0.90, "spearman", 1000, 15625) == ("agrees", "")
    assert judge(0.785, 0.85, 0.79, 0.90, "spearman", 1000, 15625)[0] == "agrees"  # 0.785 +- 0.005 meets 0.79
    verdict, reason = judge(0.70, 0.85, 0.79, 0.90, "spearman", 1000, 15625)
    assert verdict == "differs" and reason == "published is 0.085 below our CI"
    assert judge(0.95, 0.85, 0.79, 0.90, "kendall", 1000, 15625)[1] == "published is 0.045 above our CI"
    verdict, reason = judge(29, 9, 9, 12, "top64_top5", 1000, 15625)
    assert verdict == "not comparable" and "15,625" in reason and "1,000" in reason
    assert judge(29, 30, 27, 33, "top64_top5", 15625, 15625)[0] == "agrees"
    assert judge(0.5, float("nan"), float("nan"), float("nan"), "spearman", 2, 15625)[0] == "not comparable"
    verdict, reason = judge(0.31, -0.33, -1.0, 1.0, "kendall", 4, 423624)  # a CI of [-1, 1] agrees with anything
    assert verdict == "not comparable" and reason == "only 4 architectures scored (a verdict needs 30)"


def test_a_protocol_caveat_makes_a_cell_not_comparable_whatever_the_numbers(tmp_path):
    results = write_results(tmp_path / "r.csv")
    folder = tmp_path / "published"
    folder.mkdir()
    table = load_results([results])
    ours = spearman_rho(table.frame["good"], table.frame["gt_test_acc"])
    source = {"url": "https://example.org/p", "table": "Table 1", "row": "good", "column": "rho"}
    entry = dict(table="Table 1", space="toy-space", dataset="cifar10", proxy="good", metric="spearman")
    doc = {"version": 1, "paper": {"id": "toy"}, "entries": [{**entry, "value": round(ours, 2), "source": source}]}
    (folder / "toy.yaml").write_text(yaml.safe_dump(doc))
    entries = load_published(folder)
    assert compare_published(entries, table).loc[0, "verdict"] == "agrees"  # the printed value is ours
    caveat = {("toy", "Table 1", "toy-space", "cifar10", "good"): "an option the paper set is unknown"}
    row = compare_published(entries, table, incomparable=caveat).loc[0]
    assert (row["verdict"], row["reason"]) == ("not comparable", "an option the paper set is unknown")
    assert row["ours"] == pytest.approx(ours)  # the number is still shown beside the paper's


def test_near_reg_swap_cells_are_not_comparable_while_mu_and_sigma_are_unknown():
    from nasprox.engine.protocol import load_protocols
    from nasprox.report.build import paper_comparison_context

    caveats = paper_comparison_context(load_protocols().values())["incomparable"]
    assert {key[4] for key in caveats} == {"reg_swap"}
    assert {key[:2] for key in caveats} >= {("near", f"Table {n}") for n in (1, 2, 3, 12)}
    assert all("PROXY_SPEC §10.2" in reason for reason in caveats.values())


def test_comparison_context_reads_the_protocols_once_whatever_iterable_it_is_given():
    from nasprox.engine.protocol import load_protocols
    from nasprox.report.build import paper_comparison_context

    protocols = list(load_protocols().values())
    from_list = paper_comparison_context(protocols)
    assert paper_comparison_context(p for p in protocols) == from_list  # a generator is not read empty twice
    assert from_list["batches"][("epsilon", "Table 2", "nb101", "cifar10", "snip")] == 256
    assert from_list["batches"][("near", "Table 3", "nb101", "cifar10", "snip")] == 64
    # Table 12's NB101 column shares Table 3's rows: without a batch of its own, a CSV holding snip at 64 and
    # at 256 (epsilon Table 2) would leave its snip, grad_norm and fisher cells without a column
    assert from_list["batches"][("near", "Table 12", "nb101", "cifar10", "snip")] == 64
    assert from_list["populations"][("near", "Table 1")][0] == 15625


def test_quoted_cells_are_kept_apart_and_summarised(tmp_path):
    results = write_results(tmp_path / "r.csv")
    folder = tmp_path / "published"
    folder.mkdir()
    own = {"url": "https://example.org/p", "table": "Table 1", "row": "good", "column": "rho"}
    quoted = {**own, "column": "rho / bracketed reference (Other et al.)"}
    text = (
        "version: 1\npaper: {id: toy}\nentries:\n"
        f"  - {{table: 'Table 1', space: toy-space, dataset: cifar10, proxy: good, metric: spearman, value: 0.1, source: {own}}}  # reconstructed\n"
        f"  - {{table: 'Table 1', space: toy-space, dataset: cifar10, proxy: bad, metric: spearman, value: 0.1, source: {quoted}}}\n"
    )
    (folder / "toy.yaml").write_text(text)
    entries = load_published(folder)
    assert [e.note for e in entries] == ["reconstructed", ""] and [e.quoted for e in entries] == [False, True]
    comparison = compare_published(entries, load_results([results]), bootstrap=200)
    assert list(comparison["kind"]) == ["own", "quoted"]
    summary = comparison_summary(comparison)
    assert list(summary["kind"]) == ["own", "quoted"]
    assert all(s.endswith("comparable cells agree") for s in summary["summary"])


def test_summary_ranks_gaps_in_printed_digits_not_raw_units():
    """A top-64 count 8 outside its CI (16 half-units) is a smaller miss than a correlation 0.2 outside (40)."""
    import pandas as pd

    rows = [
        {"metric": "top64_top5", "published": 29.0, "ours": 45.0, "ci_lo": 37.0, "ci_hi": 50.0, "proxy": "count"},
        {"metric": "spearman", "published": 0.36, "ours": 0.56, "ci_lo": 0.51, "ci_hi": 0.61, "proxy": "rho"},
    ]
    frame = pd.DataFrame(
        [
            {**r, "paper": "p", "table": "T", "kind": "own", "space": "s", "dataset": "d", "verdict": "differs"}
            for r in rows
        ]
    )
    (worst,) = comparison_summary(frame)["largest_difference"]
    assert worst.startswith("rho s/d spearman")


def test_shipped_published_numbers_load_with_sources():
    folder = default_published_dir()
    files = sorted(folder.glob("*.yaml"))
    assert files, f"no published-number files in {folder}"
    for path in files:
        doc = yaml.safe_load(path.read_text())
        assert doc["version"] == 1 and doc["paper"]["id"]
        assert str(doc["paper"].get("url", "http")).startswith("http")
        for entry in load_published_file(path):
            assert all(entry.source.get(field) for field in SOURCE_FIELDS), (path, entry)
            assert math.isfinite(entry.value)


def test_markdown_table_shape():
    text = to_markdown(pd.DataFrame({"a": [1.23456, float("nan")], "b": ["x|y", "z"]}))
    lines = text.strip().splitlines()
    assert lines[0] == "| a | b |" and lines[2] == "| 1.235 | x\\|y |" and lines[3] == "| nan | z |"


def test_scatter_colour_falls_back_to_the_scored_params_proxy():
    import numpy as np
    import pandas as pd

    from nasprox.report.build import _params_colour

    sub = pd.DataFrame({"gt_params": [np.nan, np.nan], "params": [0.1, 0.2], "near": [1.0, 2.0]})
    assert list(_params_colour(sub)) == [0.1, 0.2]
    assert list(_params_colour(sub.assign(gt_params=[1.0, 2.0]))) == [1.0, 2.0]
    assert _params_colour(sub.drop(columns="params")) is None


def _comparison_rows(*rows: dict) -> pd.DataFrame:
    base = {"paper": "p", "table": "Table 1", "kind": "own", "space": "s", "dataset": "d", "ours": 0.5}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_explanations_mark_only_differing_cells_they_name(tmp_path):
    from nasprox.report.explained import explain, load_explanations

    path = tmp_path / "explained.yaml"
    path.write_text(
        "version: 1\nexplanations:\n"
        "  - {id: target, summary: validation target, evidence: docs item 1,"
        " cells: [{paper: p, proxy: [a, b], metric: spearman}]}\n"
    )
    frame = _comparison_rows(
        {"proxy": "a", "metric": "spearman", "verdict": "differs"},
        {"proxy": "b", "metric": "spearman", "verdict": "agrees"},  # an agreeing cell needs no explanation
        {"proxy": "b", "metric": "kendall", "verdict": "differs"},  # another metric: not named
        {"proxy": "c", "metric": "spearman", "verdict": "differs"},
        {"proxy": "a@batch=256", "metric": "spearman", "verdict": "differs"},  # a, kept apart by its batch
        {"proxy": "c@batch=256", "metric": "spearman", "verdict": "differs"},
    )
    explained = explain(frame, load_explanations(path))["explained"].tolist()
    label = "target: validation target (docs item 1)"
    assert explained == [label, "", "", "", label, ""]


def test_summary_names_the_largest_unexplained_difference():
    rows = [
        {"proxy": "big", "metric": "spearman", "published": 0.1, "ci_lo": 0.4, "ci_hi": 0.6, "explained": "item 1"},
        {"proxy": "small", "metric": "spearman", "published": 0.3, "ci_lo": 0.4, "ci_hi": 0.6, "explained": ""},
        {"proxy": "ok", "metric": "spearman", "published": 0.5, "ci_lo": 0.4, "ci_hi": 0.6, "explained": ""},
    ]
    verdicts = ["differs", "differs", "agrees"]
    frame = _comparison_rows(*({**r, "verdict": v, "reason": ""} for r, v in zip(rows, verdicts)))
    (row,) = comparison_summary(frame).to_dict("records")
    assert (row["agree"], row["differ"], row["explained"]) == (1, 2, 1)
    assert row["summary"] == "1 of 3 comparable cells agree; 1 of 2 differences explained"
    assert row["largest_difference"].startswith("big ") and row["largest_unexplained"].startswith("small ")


@pytest.mark.parametrize(
    "text, message",
    [
        ("version: 1\nexplanations:\n  - {id: x, summary: s, evidence: e, cells: [{row: NEAR}]}\n", "unknown field"),
        ("version: 1\nexplanations:\n  - {id: x, summary: s, cells: [{paper: p}]}\n", "lacks evidence"),
        ("explanations: []\n", "needs 'version'"),
    ],
)
def test_bad_explanations_file_is_one_clear_error(tmp_path, text, message):
    from nasprox.report.explained import load_explanations

    path = tmp_path / "explained.yaml"
    path.write_text(text)
    with pytest.raises(NasproxError, match=message):
        load_explanations(path)
    with pytest.raises(NasproxError, match="does not exist"):
        load_explanations(tmp_path / "missing.yaml")


def test_report_with_a_missing_explanations_file_exits_2_and_writes_nothing(tmp_path):
    results = write_results(tmp_path / "r.csv")
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", str(results), "--out", str(out), "--explanations", "nope.yaml"])
    assert result.exit_code == 2 and "nope.yaml does not exist" in result.output
    assert not out.exists()


def test_every_shipped_explanation_names_published_cells():
    """A typo in a pattern (a paper id, a table, a proxy name) would silently explain nothing."""
    from nasprox.report.explained import load_explanations

    entries = load_published(default_published_dir())
    explanations = load_explanations()
    assert explanations, "configs/explained_differences.yaml is missing"
    for explanation in explanations:
        for cell in explanation.cells:
            matches = [
                e
                for e in entries
                if all(
                    ("quoted" if e.quoted else "own") in values if field == "kind" else getattr(e, field) in values
                    for field, values in cell.items()
                )
            ]
            assert matches, f"explanation {explanation.id}: {cell} names no published cell"


@pytest.mark.parametrize("doc", ["README.md", "docs/reproduction.md"])
def test_near_table1_side_by_side_in_the_docs_matches_the_committed_report(doc):
    """The hand-copied NEAR Table 1 rows of README and docs must be the committed report's, digit for digit."""
    import csv
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    report = root / "results" / "reproduction" / "report" / "published_vs_ours.csv"
    if not report.exists():
        pytest.skip(f"no committed report at {report}")
    with open(report, newline="") as fh:
        committed = {
            (r["proxy"], r["metric"]): r
            for r in csv.DictReader(fh)
            if (r["paper"], r["table"], r["dataset"], r["kind"]) == ("near", "Table 1", "cifar10", "own")
        }
    lines = (root / doc).read_text().splitlines()
    start = lines.index("| proxy (paper row) | metric | published | ours | our 95% CI | n | verdict |")
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    assert len(rows) == len(committed), f"{doc} shows {len(rows)} NEAR Table 1 rows, the report has {len(committed)}"
    for proxy_row, metric, published, ours, ci, n, verdict in rows:
        r = committed[(proxy_row.split(" (")[0], metric)]
        expected = [
            f"{float(r['published']):.2f}",
            f"{float(r['ours']):.3f}",
            f"[{float(r['ci_lo']):.3f}, {float(r['ci_hi']):.3f}]",
            r["n_used"],
            r["verdict"],
        ]
        assert [published, ours, ci, n, verdict] == expected, (doc, proxy_row, metric)


def test_report_prints_one_summary_line_per_published_table(tmp_path):
    results = write_results(tmp_path / "r.csv")
    folder = tmp_path / "published"
    folder.mkdir()
    source = {"url": "https://example.org/p", "table": "Table 1", "row": "good", "column": "rho"}
    entry = {"table": "Table 1", "space": "toy-space", "dataset": "cifar10", "proxy": "good", "metric": "spearman"}
    doc = {"version": 1, "paper": {"id": "toy"}, "entries": [{**entry, "value": -0.9, "source": source}]}
    (folder / "toy.yaml").write_text(yaml.safe_dump(doc))
    args = ["report", str(results), "--out", str(tmp_path / "rep"), "--published", str(folder), "--no-plots"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (line,) = [s for s in result.output.splitlines() if s.startswith("toy Table 1 (own): ")]
    assert "0 of 1 comparable cells agree; 0 of 1 differences explained; largest unexplained: good" in line


def test_ours_and_verdict_reads_one_side_of_merged_comparisons():
    from nasprox.report.published import ours_and_verdict

    row = pd.Series({"ours_a": 0.51234, "ci_lo_a": 0.4, "ci_hi_a": 0.6049, "verdict_a": "agrees", "ours": 0.1})
    assert ours_and_verdict(row, "_a") == "0.512 [0.400, 0.605] | agrees"


def test_report_intervals_on_several_processes_equal_those_on_one(tmp_path):
    """``--workers 2``: the intervals are named by a first pass and computed on two processes; every table
    equals the one-process report byte for byte, for every kind of published metric (picklable statistics)."""
    results = write_results(tmp_path / "r.csv")
    folder = tmp_path / "published"
    folder.mkdir()
    source = {"url": "https://example.org/p", "table": "Table 1", "row": "good", "column": "x"}
    metrics = ["spearman", "kendall", "kendall_top10", "spearman_top10", "top10_top10", "pairwise_order"]
    entries = [
        {"table": "Table 1", "space": "toy-space", "dataset": "cifar10", "proxy": proxy, "metric": metric}
        | {"value": 0.3, "source": source}
        for proxy in ("good", "bad")
        for metric in metrics
    ]
    (folder / "toy.yaml").write_text(yaml.safe_dump({"version": 1, "paper": {"id": "toy"}, "entries": entries}))
    tables = {}
    for workers in ("1", "2"):
        out = tmp_path / f"rep{workers}"
        args = ["report", str(results), "--out", str(out), "--published", str(folder), "--no-plots"]
        result = CliRunner().invoke(app, [*args, "--bootstrap", "100", "--workers", workers])
        assert result.exit_code == 0, result.output
        tables[workers] = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert tables["1"] == tables["2"] and len(tables["1"]) == 15
    comparison = pd.read_csv(tmp_path / "rep2" / "published_vs_ours.csv")
    assert len(comparison) == 12 and comparison[["ci_lo", "ci_hi"]].notna().all().all()
