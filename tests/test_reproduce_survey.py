"""The zero-shot survey protocols (configs/reproduce/survey-*.yaml) and the protocol keys they added:
scoring seeds, top fractions, per-dataset targets, per-space populations, pending proxies."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from nasprox.core import PROXIES, NasproxError, RegistryError
from nasprox.engine.protocol import load_protocol, load_protocols, protocol_runs
from nasprox.report.build import paper_populations

SURVEY = {"survey-figs6-9", "survey-fig10", "survey-figs13-14", "survey-tables4-5", "survey-figs18-19"}
SURVEY_PROXIES = {
    "grad_norm", "snip", "synflow", "grasp", "gradsign", "fisher", "jacob_cov", "ntk_cond", "zen",
    "linear_regions", "naswot", "nn_mass", "params", "flops",
}  # fmt: skip


def test_survey_protocols_load_with_their_proxies(tmp_path):
    protocols = load_protocols()
    assert SURVEY <= set(protocols)
    figs = protocols["survey-figs6-9"]
    assert {p.name for p in figs.proxies} == SURVEY_PROXIES  # every survey proxy
    assert figs.seeds == (0, 1, 2, 3, 4) and figs.top == (1.0, 0.05)
    assert {(d.space, d.dataset) for d in figs.datasets} == {
        (s, d) for s in ("nats-tss", "nats-sss") for d in ("cifar100", "ImageNet16-120")
    }
    assert protocols["survey-figs13-14"].top == (0.2, 0.4, 0.6, 0.8, 1.0)
    fig10 = protocols["survey-fig10"]
    assert {d.dataset: fig10.target_of(d) for d in fig10.datasets} == {
        "segmentsemantic": "test_mIoU",
        "normal": "test_ssim",
        "autoencoder": "test_ssim",
    }
    assert protocols["survey-figs18-19"].pareto_metrics[:2] == ("edgegpu_energy", "edgegpu_latency")
    for proto in (protocols[p] for p in SURVEY):
        runs = protocol_runs(proto, 1000, tmp_path)
        assert runs and all(p.name in PROXIES for r in runs for p in r.proxies)


def test_nn_mass_is_scored_by_the_survey_protocols():
    for pid in ("survey-figs6-9", "survey-fig10"):
        proto = load_protocols()[pid]
        assert "nn_mass" in {p.name for p in proto.proxies} and not proto.pending


def _write(tmp_path, proxies, **extra):
    doc = {
        "version": 1,
        "id": "toy",
        "paper": "zero-shot-survey",
        "tables": ["Table 4"],
        "runs": [
            {"space": "nats-tss", "datasets": {"cifar100": {"max_archs": 30}, "cifar10": {"target": "valid_acc"}}}
        ],
        "proxies": proxies,
        **extra,
    }
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_pending_name_must_say_why_and_only_unregistered_names_are_left_out(tmp_path):
    proto = load_protocol(_write(tmp_path, {"params": {"pending": "not needed"}, "nn_massive": {"pending": "later"}}))
    assert [p.name for p in proto.proxies] == ["params"] and proto.pending == {"nn_massive": "later"}
    with pytest.raises(RegistryError, match="nn_massive"):  # without `pending` an unknown name stays an error
        load_protocol(_write(tmp_path, {"params": {}, "nn_massive": {}}))


def test_seeds_expand_into_one_run_per_seed_and_free_proxies_once(tmp_path):
    proto = load_protocol(_write(tmp_path, {"params": {}, "synflow": {}}, seeds=[0, 3, 7], top=[0.05, 1.0]))
    runs = [r for r in protocol_runs(proto, 100, tmp_path) if r.dataset == "cifar100"]
    assert [(r.seed, [p.name for p in r.proxies]) for r in runs] == [
        (0, ["params", "synflow"]),
        (3, ["synflow"]),
        (7, ["synflow"]),
    ]
    assert {r.n_archs for r in runs} == {30} and proto.top == (0.05, 1.0)
    for bad in ({"seeds": [1, 1]}, {"seeds": "0"}, {"top": [0]}, {"top": [1.5]}):
        with pytest.raises(NasproxError):
            load_protocol(_write(tmp_path, {"params": {}}, **bad))


def test_per_space_population():
    pops = paper_populations(load_protocols().values())
    assert pops["zero-shot-survey", "Table 4"][0] == 15625
    assert pops["zero-shot-survey", "Table 4", "nats-sss"][0] == 32768
    assert pops["zero-shot-survey", "Table 5", "transnas-micro"][0] == 4096


def _seeded_table(tmp_path, scores_by_seed: dict[int, np.ndarray], acc: np.ndarray):
    """A result table of one proxy 'p' on toy cells a0, a1, ...: seed -> its scores of the first len(scores) cells."""
    from nasprox.stats import load_results

    rows = [
        dict(space="toy-space", arch_index=i, arch=f"a{i}", dataset="c", proxy="p", proxy_version="1", seed=seed,
             data_config="x", score=value, status="ok", error="", gt_test_acc=acc[i])
        for seed, scores in scores_by_seed.items() for i, value in enumerate(scores)
    ]  # fmt: skip
    pd.DataFrame(rows).to_csv(tmp_path / "r.csv", index=False)
    return load_results([tmp_path / "r.csv"], keep_settings_apart=True)


def test_seed_summary_means_over_seeds(tmp_path):
    """Two seeds of one proxy: the summary's value is the mean of the per-seed correlations."""
    from nasprox.report.seeds import seed_summary
    from nasprox.stats import correlate_top

    rng = np.random.default_rng(1)
    acc = rng.uniform(0, 100, 60)
    table = _seeded_table(tmp_path, {seed: acc + rng.normal(0, 20 * (seed + 1), 60) for seed in (0, 1)}, acc)
    summary = seed_summary(table, [1.0, 0.5], bootstrap=100).set_index("top")
    sub = table.frame
    for fraction in (1.0, 0.5):
        per_seed = [correlate_top(sub[f"p@seed={s}"], sub["gt_test_acc"], fraction, "kendall") for s in (0, 1)]
        row = summary.loc[fraction]
        assert row["kendall"] == pytest.approx(np.mean(per_seed)) and row["seeds"] == 2
        assert row["kendall_sd"] == pytest.approx(np.std(per_seed, ddof=1))
        assert row["kendall_lo"] < row["kendall"] < row["kendall_hi"]
    assert summary.loc[0.5, "n_top"] == 30


def test_list_names_the_survey_protocols_with_a_cost():
    res = subprocess.run(
        [sys.executable, "-m", "nasprox", "reproduce", "--list"], capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stderr
    for pid in SURVEY:
        block = res.stdout.split(f"{pid}:", 1)[1].split("\n\n", 1)[0]
        assert "CPU core-hours" in block, block
    assert "scoring seeds: 0, 1, 2, 3, 4" in res.stdout and "nats-sss: all 32,768 NATS-SSS cells" in res.stdout


def test_a_seeded_protocol_scores_the_same_cells_per_seed_and_reports_over_seeds(tmp_path, shared):
    truth = shared("nb201/nb201_test_acc_200ep.csv")
    folder = tmp_path / "protocols"
    folder.mkdir()
    doc = {
        "version": 1,
        "id": "toy-seeds",
        "paper": "zero-shot-survey",
        "tables": ["Table 4"],
        "target": "test_acc",
        "population": {"size": 15625, "label": "all"},
        "seeds": [0, 1],
        "top": [1.0, 0.5],
        "runs": [{"space": "nats-tss", "datasets": {"cifar10": {}}}],
        "proxies": {"params": {}, "synflow": {}, "nn_massive": {"pending": "not registered anywhere"}},
        "findings": [
            {"id": "params-beat", "claim": "#Params beats most", "source": "Fig. 6",
             "rule": {"kind": "beats_most", "proxies": ["params"]}},
        ],
    }  # fmt: skip
    (folder / "toy-seeds.yaml").write_text(yaml.safe_dump(doc))
    out = tmp_path / "out"
    args = ["reproduce", "toy-seeds", "--protocol-dir", str(folder), "--sample", "40", "--synthetic"]
    args += ["--ground-truth", str(truth), "--out", str(out), "--no-progress", "--bootstrap", "100"]
    res = subprocess.run([sys.executable, "-m", "nasprox", *args], capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr
    rows = pd.read_csv(out / "nats-tss_cifar10.csv")
    cells = {(p, s): set(g["arch"]) for (p, s), g in rows.groupby(["proxy", "seed"])}
    assert set(cells) == {("params", 0), ("synflow", 0), ("synflow", 1)}  # #params once: the same at every seed
    assert cells["synflow", 0] == cells["synflow", 1] == cells["params", 0] and len(cells["params", 0]) == 40
    summary = pd.read_csv(out / "report" / "toy-seeds" / "seed_summary.csv")
    synflow = summary[summary["proxy"] == "synflow"]
    assert set(synflow["top"]) == {1.0, 0.5} and set(synflow["seeds"]) == {2}
    assert set(summary.loc[summary["proxy"] == "params", "seeds"]) == {1}
    report = out / "report" / "toy-seeds"
    assert {"seed_summary_kendall.png", "seed_summary_spearman.pdf"} <= {p.name for p in report.iterdir()}
    findings = pd.read_csv(report / "findings.csv")
    assert findings[["finding", "benchmark"]].values.tolist() == [["params-beat", "nats-tss/cifar10"]]
    assert findings["holds"].iloc[0] in {"yes", "no"} and "of 1" in findings["evidence"].iloc[0]  # synflow only
    assert pd.read_csv(report / "findings_verdicts.csv")["verdict"].iloc[0] in {"borne out", "not borne out"}


def test_pareto_report_and_report_ground_truth(tmp_path, shared):
    """A protocol with `pareto` writes one Pareto table per (dataset, proxy) from --costs; --report-ground-truth
    replaces the CSVs' ground truth in the report only."""
    truth = shared("nb201/nb201_test_acc_200ep.csv")
    costs = shared("hwnasbench_nb201/hw_cifar10.csv")
    folder = tmp_path / "protocols"
    folder.mkdir()
    doc = {
        "version": 1,
        "id": "toy-pareto",
        "paper": "zero-shot-survey",
        "tables": ["Figs. 18-19"],
        "target": "test_acc",
        "pareto": {"metrics": ["edgegpu_latency", "edgegpu_energy"]},
        "runs": [{"space": "nats-tss", "datasets": {"cifar10": {}}}],
        "proxies": {"params": {}},
    }
    (folder / "toy-pareto.yaml").write_text(yaml.safe_dump(doc))
    out = tmp_path / "out"
    args = ["reproduce", "toy-pareto", "--protocol-dir", str(folder), "--sample", "40", "--synthetic", "--out"]
    args += [str(out), "--no-progress", "--bootstrap", "100", "--costs", f"cifar10={costs}"]
    args += ["--report-ground-truth", f"nats-tss={truth}"]  # the scoring run had none
    res = subprocess.run([sys.executable, "-m", "nasprox", *args], capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr
    table = (out / "report" / "toy-pareto" / "pareto_nats-tss_cifar10_params.md").read_text()
    assert "edgegpu_latency" in table and "edgegpu_energy" in table
    correlations = pd.read_csv(out / "report" / "toy-pareto" / "correlations.csv")
    assert correlations.loc[correlations["proxy"] == "params", "n_used"].item() == 40  # ground truth from the file


def test_a_space_with_its_own_sample_draws_it_and_seeds_pick_scoring_seeds(tmp_path):
    """`sample: 500` on a run: with --sample 1000 that space's cells are a seeded 500-cell sample of their own (NEAR
    Table 2's NATS-SSS cells), the other space keeps the 1,000; --seeds keeps some of the protocol's seeds, and a
    free proxy stays at its first seed."""
    from nasprox.engine.protocol import protocol_cells

    doc = {
        "version": 1, "id": "two-spaces", "paper": "zero-shot-survey", "tables": ["Table 4"], "seeds": [0, 1, 2],
        "runs": [{"space": "nats-tss", "datasets": {"cifar100": {"max_archs": 30}}},
                 {"space": "nats-sss", "sample": 20, "datasets": {"cifar100": {}}}],
        "proxies": {"params": {}, "synflow": {}, "grasp": {"max_archs": 10}},
    }  # fmt: skip
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(doc))
    proto = load_protocol(path)
    runs = protocol_runs(proto, 100, tmp_path, seeds=[1, 2])
    assert {(r.space, r.sample, r.n_archs) for r in runs} == {
        ("nats-tss", 100, 30), ("nats-tss", 100, 10), ("nats-sss", 20, 20), ("nats-sss", 20, 10)
    }  # fmt: skip
    assert {r.seed for r in runs} == {1, 2} and "params" not in {p.name for r in runs for p in r.proxies}
    assert protocol_runs(proto, 10, tmp_path)[-1].sample == 10  # a smaller --sample wins
    with pytest.raises(NasproxError, match=r"--seeds 5: not among protocol two-spaces's scoring seeds \(0, 1, 2\)"):
        protocol_runs(proto, 100, tmp_path, seeds=[5])
    cells = protocol_cells(protocol_runs(proto, 100, tmp_path), seed=0)
    from nasprox.engine.runner import make_space
    from nasprox.engine.selection import select_archs

    sss = {a.key for a in select_archs(make_space("nats-sss"), sample=20, seed=0)}
    assert cells["nats-sss", "cifar100", "synflow"] == sss  # the space's own 20-cell sample, not 20 of the 100
    assert cells["nats-sss", "cifar100", "grasp"] < sss and len(cells["nats-sss", "cifar100", "grasp"]) == 10
    tss = cells["nats-tss", "cifar100", "synflow"]
    assert len(tss) == 30 and cells["nats-tss", "cifar100", "params"] == tss
    assert cells["nats-tss", "cifar100", "grasp"] < tss


def test_seed_summary_reads_each_proxy_on_its_own_cells_only(tmp_path):
    """With `cells`, rows outside a proxy's cells are neither correlated nor counted in its top fraction."""
    from nasprox.report.seeds import seed_summary
    from nasprox.stats import correlate_top

    rng = np.random.default_rng(2)
    acc = rng.uniform(0, 100, 80)
    score = acc + rng.normal(0, 30, 80)
    table = _seeded_table(tmp_path, {0: score}, acc)
    own = frozenset(f"a{i}" for i in range(0, 80, 2))
    summary = seed_summary(table, [1.0, 0.25], bootstrap=0, cells={("toy-space", "c", "p"): own}).set_index("top")
    keep = np.arange(0, 80, 2)
    for fraction in (1.0, 0.25):
        expected = correlate_top(score[keep], acc[keep], fraction, "spearman")
        assert summary.loc[fraction, "spearman"] == pytest.approx(expected)
    assert summary.loc[0.25, "n_top"] == 10 and summary.loc[1.0, "n_used"] == 40


def test_a_partly_scored_seed_is_left_out_of_the_mean_and_named(tmp_path):
    """Seed 2 scored 5 of 60 cells (a run still going): the summary is seeds 0 and 1 alone, and says so."""
    from nasprox.report.seeds import seed_summary
    from nasprox.stats import correlate_top

    rng = np.random.default_rng(3)
    acc = rng.uniform(0, 100, 60)
    table = _seeded_table(
        tmp_path, {seed: (acc + rng.normal(0, 25, 60))[:n] for seed, n in ((0, 60), (1, 58), (2, 5))}, acc
    )
    row = seed_summary(table, [1.0], bootstrap=0).iloc[0]
    sub = table.frame
    per_seed = [correlate_top(sub[f"p@seed={s}"], sub["gt_test_acc"], 1.0, "spearman") for s in (0, 1)]
    assert row["seeds"] == 2 and row["spearman"] == pytest.approx(np.mean(per_seed))  # seed 1's 58 of 60 count
    assert row["seeds_left_out"] == "seed=2 (5 of 60 cells)"


def test_the_seed_mean_interval_resamples_cells_not_only_seeds(tmp_path):
    """Two seeds giving the same scores (synflow: data-free, the same at every seed) have no spread over seeds, but
    a 40-cell sample leaves the correlation uncertain: the interval is a bootstrap over the cells of the seed mean,
    and only without a bootstrap the t-interval over seeds (zero width here)."""
    from nasprox.report.seeds import seed_summary

    rng = np.random.default_rng(4)
    acc = rng.uniform(0, 100, 40)
    score = acc + rng.normal(0, 40, 40)
    table = _seeded_table(tmp_path, {0: score, 1: score}, acc)
    boot = seed_summary(table, [1.0], bootstrap=200).iloc[0]
    assert boot["spearman_sd"] == 0 and boot["spearman_hi"] - boot["spearman_lo"] > 0.1
    assert boot["spearman_lo"] < boot["spearman"] < boot["spearman_hi"]
    assert boot["interval"] == "bootstrap over cells (200) of the seed mean"
    plain = seed_summary(table, [1.0], bootstrap=0).iloc[0]
    assert plain["spearman_lo"] == plain["spearman_hi"] == plain["spearman"] and plain["interval"] == "t over seeds"
