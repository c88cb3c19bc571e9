"""A paper's findings checked against our numbers (nasprox.report.findings): parsing, each rule on numbers
chosen by hand, and every committed protocol's findings naming its own, registered proxies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nasprox.core import PROXIES, NasproxError
from nasprox.engine.protocol import load_protocols
from nasprox.report.findings import evaluate_findings, parse_findings, proxies_named, verdicts
from nasprox.report.seeds import SEED_SUMMARY_COLUMNS


def _finding(kind: str, **rule):
    return {"id": f"f-{kind}", "claim": "a claim", "source": "Sec. 1", "rule": {"kind": kind, **rule}}


def _summary(values: dict, benchmark=("nats-tss", "cifar100")) -> pd.DataFrame:
    """Seed-summary rows: (proxy, top) -> rho, or -> (rho, lo, hi) with its interval."""
    rows = []
    for (proxy, top), value in values.items():
        rho, lo, hi = value if isinstance(value, tuple) else (value, np.nan, np.nan)
        row = dict.fromkeys(SEED_SUMMARY_COLUMNS, np.nan)
        row.update(space=benchmark[0], dataset=benchmark[1], proxy=proxy, top=top, spearman=rho, kendall=rho / 2,
                   spearman_lo=lo, spearman_hi=hi)  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows, columns=SEED_SUMMARY_COLUMNS)


@pytest.mark.parametrize(
    "item, message",
    [
        (_finding("wins"), "rule.kind must be one of"),
        (_finding("beats_most"), "rule.proxies is needed"),
        (_finding("picks_better", proxies=["params"]), "rule.than is needed"),
        (_finding("beats_most", proxies=["params"], metric="pearson"), "rule.metric must be one of"),
        (_finding("beats_most", proxies=["params"], top=0), r"rule.top must be a number in \(0, 1\]"),
        (_finding("beats_most", proxies=["params"], colour="red"), "unknown keys"),
        ({"id": "x", "claim": "c", "rule": {"kind": "beats_most"}}, "lacks source"),
        ("a claim", "must be a mapping"),
    ],
)
def test_a_bad_finding_is_one_clear_error(item, message):
    with pytest.raises(NasproxError, match=message):
        parse_findings([item], "p.yaml")


def test_a_finding_id_is_used_once():
    item = _finding("beats_most", proxies=["params"])
    with pytest.raises(NasproxError, match="used twice"):
        parse_findings([item, item], "p.yaml")


def test_beats_most_needs_more_than_half_of_the_others_beaten():
    (finding,) = parse_findings([_finding("beats_most", proxies=["params"])], "p")
    others = {("a", 1.0): 0.5, ("b", 1.0): 0.6, ("c", 1.0): 0.7, ("d", 1.0): 0.8}
    holds = evaluate_findings([finding], _summary({("params", 1.0): 0.65, **others}))
    assert holds["holds"].tolist() == ["no"]  # beats 2 of 4: not more than half
    assert holds["evidence"].iloc[0] == "params 0.650 >= 2 of 4 (best other: d 0.800)"
    holds = evaluate_findings([finding], _summary({("params", 1.0): 0.75, **others}))
    assert holds["holds"].tolist() == ["yes"]  # 3 of 4
    # kendall is read when asked (here half of rho by construction): 0.375 beats a 0.25, b 0.3, c 0.35
    (on_kendall,) = parse_findings([_finding("beats_most", proxies=["params"], metric="kendall")], "p")
    assert evaluate_findings([on_kendall], _summary({("params", 1.0): 0.75, **others}))["holds"].tolist() == ["yes"]


def test_collapse_on_top_is_judged_by_the_top_fractions_interval():
    (finding,) = parse_findings([_finding("collapses_on_top", ratio=0.5, min_all=0.2)], "p")
    values = {("a", 1.0): 0.8, ("a", 0.05): (0.1, -0.2, 0.39), ("b", 1.0): 0.6, ("b", 0.05): (0.0, -0.3, 0.29),
              ("weak", 1.0): 0.1, ("weak", 0.05): (0.09, 0.0, 0.2)}  # fmt: skip
    row = evaluate_findings([finding], _summary(values)).iloc[0]
    assert row["holds"] == "yes"  # both intervals end below half (0.4, 0.3); weak (0.1 < min_all) is not judged
    assert row["evidence"] == "2 of 2 collapse below 0.5 x their all-cells spearman"
    values["b", 0.05] = (0.35, 0.1, 0.6)  # its interval crosses 0.3: the numbers cannot tell
    row = evaluate_findings([finding], _summary(values)).iloc[0]
    assert row["holds"] == "undecided"
    assert row["evidence"].endswith("undecided (interval across the line): b 0.60 -> 0.35 [0.10, 0.60]")
    values["b", 0.05] = (0.45, 0.3, 0.6)  # the lower end at half: b keeps its ranking
    row = evaluate_findings([finding], _summary(values)).iloc[0]
    assert row["holds"] == "no" and "keep it: b 0.60 -> 0.45 [0.30, 0.60]" in row["evidence"]


def _table(tmp_path, scores: dict[str, list[float]], acc: list[float]):
    from nasprox.stats import load_results

    rows = [
        dict(space="toy-space", arch_index=i, arch=f"a{i}", dataset="c", proxy=proxy, proxy_version="1", seed=0,
             data_config="x", score=s, status="ok", error="", gt_test_acc=acc[i])
        for proxy, values in scores.items() for i, s in enumerate(values)
    ]  # fmt: skip
    pd.DataFrame(rows).to_csv(tmp_path / "r.csv", index=False)
    return load_results([tmp_path / "r.csv"], keep_settings_apart=True)


def test_picks_better_compares_the_truth_of_each_top_ranked_cell_on_common_cells(tmp_path):
    acc = [70.0, 60.0, 50.0, 40.0]
    # grad_norm has no score on cell 0 (70), so both are judged on cells 1-3: params ranks cell 1 (60) first,
    # grad_norm cell 3 (40)
    table = _table(tmp_path, {"params": [9, 8, 5, 2], "grad_norm": [np.nan, 1, 2, 5]}, acc)
    (finding,) = parse_findings([_finding("picks_better", proxies=["params"], than=["grad_norm"])], "p")
    row = evaluate_findings([finding], _summary({}), table).iloc[0]
    assert row["holds"] == "yes"
    assert row["evidence"] == "on 3 common cells (best there 60.00): params 60.00, grad_norm 40.00"
    table = _table(tmp_path, {"params": [9, 2, 5, 8], "grad_norm": [np.nan, 5, 1, 2]}, acc)  # 40 against 60
    assert evaluate_findings([finding], _summary({}), table)["holds"].tolist() == ["no"]


def test_verdicts_over_benchmarks():
    per = pd.DataFrame(
        {"finding": ["a", "a", "b", "b", "b", "c", "d", "e"], "claim": "x", "source": "y",
         "benchmark": ["s/1", "s/2", "s/1", "s/2", "s/3", "s/1", "s/1", "s/1"],
         "holds": ["yes", "yes", "yes", "no", "undecided", "no", "no data", "undecided"], "evidence": ""}
    )  # fmt: skip
    got = verdicts(per).set_index("finding")
    assert got["verdict"].to_dict() == {
        "a": "borne out", "b": "partly", "c": "not borne out", "d": "no data", "e": "undecided"
    }  # fmt: skip
    assert got.loc["b", "held_on"] == "s/1" and got.loc["b", "benchmarks"] == 2 and got.loc["d", "benchmarks"] == 0


def test_every_committed_finding_parses_and_names_its_protocols_registered_proxies():
    with_findings = [p for p in load_protocols().values() if p.findings]
    assert {p.id for p in with_findings} >= {"survey-figs6-9", "survey-tables4-5"}
    for proto in with_findings:
        findings = parse_findings(proto.findings, str(proto.path))
        named = proxies_named(findings)
        assert named <= {p.name for p in proto.proxies}, (proto.id, named)
        assert all(name in PROXIES for name in named)
