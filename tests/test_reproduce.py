"""`nasprox reproduce`: protocols load and expand into nested runs; a toy protocol runs and reports."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nasprox.core import PROXIES, NasproxError
from nasprox.engine.protocol import load_protocols, protocol_runs
from nasprox.engine.runner import make_space
from nasprox.engine.selection import select_archs

pytestmark = pytest.mark.expensive  # collected first (tests/conftest.py)

REQUIRED = {
    "near-table1",
    "near-table2",
    "near-table3",
    "near-table9",
    "near-table12",
    "tcet-table2",
    "epsilon-table1",
    "epsilon-table2",
}


def _cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "nasprox", *args], capture_output=True, text=True, timeout=timeout)


def test_shipped_protocols_cover_the_required_tables(tmp_path):
    protocols = load_protocols()
    assert REQUIRED <= set(protocols)
    for proto in protocols.values():
        assert proto.datasets and proto.proxies and proto.population_label
        for px in proto.proxies:
            assert px.name in PROXIES and px.effective_batch() >= 1
        for ds in proto.datasets:
            assert ds.dataset in make_space(ds.space).datasets, (proto.id, ds)
        runs = protocol_runs(proto, 1000, tmp_path)
        assert {
            p.name for r in runs for p in r.proxies if (r.space, r.dataset) == (runs[0].space, runs[0].dataset)
        } == {p.name for p in proto.proxies}


@pytest.mark.parametrize("value", ["", "   ", 3, ["a"]])
def test_a_protocol_caveat_must_be_text(tmp_path, value):
    from nasprox.engine.protocol import load_protocol

    doc = {
        "version": 1,
        "id": "toy",
        "paper": "toy",
        "tables": ["Table 1"],
        "runs": [{"space": "nats-tss", "datasets": {"cifar10": {}}}],
        "proxies": {"reg_swap": {"not_comparable": value}},
    }
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(NasproxError, match="reg_swap.not_comparable must be a non-empty text"):
        load_protocol(path)
    doc["proxies"]["reg_swap"]["not_comparable"] = "an option\n  the paper set is unknown"
    path.write_text(yaml.safe_dump(doc))
    (plan,) = load_protocol(path).proxies
    assert plan.not_comparable == "an option the paper set is unknown"


def test_slow_proxies_score_a_subset_of_the_same_sample(tmp_path):
    proto = load_protocols()["near-table1"]
    runs = protocol_runs(proto, 1000, tmp_path, datasets=["cifar10", "cifar100"])
    sizes = {(r.dataset, p.name): r.n_archs for r in runs for p in r.proxies}
    assert sizes[("cifar10", "near")] == 1000 and sizes[("cifar10", "grasp")] == 200
    assert sizes[("cifar100", "near")] == 500 and sizes[("cifar100", "zen")] == 200
    space = make_space("nats-tss")
    full = {a.index for a in select_archs(space, sample=1000, seed=0)}
    for k in (200, 500):
        part = {a.index for a in select_archs(space, sample=1000, seed=0, subset=k)}
        assert len(part) == k and part < full


def test_subset_caps_every_run_of_a_nested_protocol_step(tmp_path):
    proto = load_protocols()["near-table2"]
    runs = protocol_runs(proto, 500, tmp_path, subset=200)
    assert {r.n_archs for r in runs} == {200} and {r.dataset for r in runs} == {"cifar10", "cifar100", "ImageNet16-120"}
    capped = protocol_runs(proto, 500, tmp_path, subset=100)
    assert {r.n_archs for r in capped} == {100}
    for bad in ((None, 200), (500, 600), (500, 0)):
        with pytest.raises(NasproxError, match="--subset"):
            protocol_runs(proto, bad[0], tmp_path, subset=bad[1])


def test_slow_cells_replaces_only_the_protocol_caps(tmp_path):
    proto = load_protocols()["near-table2"]
    capped = {p.name for p in proto.proxies if p.max_archs is not None}
    assert capped >= {"grasp", "zen", "swap", "reg_swap"}
    for slow, expected in ((500, 500), (300, 300), (900, 500)):  # never beyond the sample
        runs = protocol_runs(proto, 500, tmp_path, datasets=["cifar10"], slow_cells=slow)
        by_proxy = {p.name: r.n_archs for r in runs for p in r.proxies}
        assert {by_proxy[name] for name in capped} == {expected}
        assert {n for name, n in by_proxy.items() if name not in capped} == {500}  # uncapped proxies as before
    nested = protocol_runs(proto, 500, tmp_path, datasets=["cifar10"], subset=100, slow_cells=500)
    assert {r.n_archs for r in nested} == {100}  # --subset still caps everything
    with pytest.raises(NasproxError, match="--slow-cells"):
        protocol_runs(proto, 500, tmp_path, slow_cells=0)


def test_list_shows_every_protocol_with_batches_and_population():
    res = _cli("reproduce", "--list")
    assert res.returncode == 0, res.stderr
    for pid in REQUIRED:
        assert f"{pid}:" in res.stdout
    assert "near@64" in res.stdout and "naswot@128" in res.stdout and "all 15,625 NATS-TSS cells" in res.stdout
    assert "not comparable: reg_swap: mu, sigma unknown" in res.stdout


def test_unknown_protocol_is_one_line_exit_2():
    res = _cli("reproduce", "near-tabel1")
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "did you mean 'near-table1'" in res.stderr


def test_toy_protocol_runs_resumes_and_reports(tmp_path, shared):
    truth = shared("nb201/nb201_test_acc_200ep.csv")
    folder = tmp_path / "protocols"
    folder.mkdir()
    (folder / "toy.yaml").write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "id": "toy",
                "paper": "near",
                "tables": ["Table 1"],
                "title": "toy",
                "target": "test_acc",
                "population": {"size": 15625, "label": "all 15,625 NATS-TSS cells"},
                "runs": [{"space": "nats-tss", "datasets": {"cifar10": {}}}],
                "proxies": {"params": {}, "flops": {}, "synflow": {"max_archs": 4}},
            }
        )
    )
    out = tmp_path / "out"
    args = [
        "reproduce",
        "toy",
        "--protocol-dir",
        str(folder),
        "--sample",
        "30",
        "--ground-truth",
        str(truth),
        "--out",
        str(out),
        "--no-progress",
        "--bootstrap",
        "100",
    ]
    res = _cli(*args)
    assert res.returncode == 0, res.stderr
    with open(out / "nats-tss_cifar10.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    count = {p: sum(r["proxy"] == p for r in rows) for p in ("params", "flops", "synflow")}
    assert count == {"params": 30, "flops": 30, "synflow": 4}
    synflow_archs = {r["arch"] for r in rows if r["proxy"] == "synflow"}
    assert synflow_archs < {r["arch"] for r in rows if r["proxy"] == "params"}
    with open(out / "report" / "toy" / "published_vs_ours.csv", newline="") as fh:
        cells = list(csv.DictReader(fh))
    params_rho = [c for c in cells if c["proxy"] == "params" and c["metric"] == "spearman" and c["table"] == "Table 1"]
    assert len(params_rho) == 1 and params_rho[0]["n_used"] == "30"
    assert params_rho[0]["verdict"] in ("agrees", "differs") and params_rho[0]["ci_lo"] != ""
    assert "comparable cells agree" in (out / "report" / "toy" / "published_vs_ours_summary.md").read_text()
    assert not (out / "report" / "toy" / "report.html").exists()
    assert list(
        (out / "report" / "toy" / "figures").glob("*.png")
    )  # figures by default (--no-plots: tables only, below)
    again = _cli(*args, "--html")  # resumes: nothing left to score; the report also as one page
    assert again.returncode == 0 and "nothing to score" in again.stderr
    page = (out / "report" / "toy" / "report.html").read_text()
    assert '<section id="published">' in page and "nats-tss_cifar10.csv" in page


def test_arch_list_replaces_the_sample_and_stand_in_names_the_target(tmp_path):
    specs = ["0111.0001.0001.0000:31", "010.001.000:1", "011.001.000:3", "0110.0001.0001.0000:m3"]
    arch_list = tmp_path / "cells.txt"
    arch_list.write_text("# four NB101 cells\n" + "\n".join(specs) + "\n")
    truth = tmp_path / "truth.csv"
    truth.write_text("arch,dataset,valid_acc\n" + "".join(f"{s},cifar10,{90 + i}\n" for i, s in enumerate(specs)))
    folder = tmp_path / "protocols"
    folder.mkdir()
    (folder / "toy101.yaml").write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "id": "toy101",
                "paper": "near",
                "tables": ["Table 3"],
                "title": "toy",
                "target": "test_acc",
                "population": {"size": 423624, "label": "NAS-Bench-101"},
                "runs": [{"space": "nb101", "datasets": {"cifar10": {}}}],
                "proxies": {"params": {}, "flops": {"max_archs": 2}},
            }
        )
    )
    out = tmp_path / "out"
    common = ["reproduce", "toy101", "--protocol-dir", str(folder), "--out", str(out), "--no-progress", "--no-plots"]
    res = _cli(
        *common,
        "--arch-list",
        f"nb101={arch_list}",
        "--ground-truth",
        f"nb101={truth}",
        "--synthetic",
        "--stand-in",
        "test_acc=valid_acc",
        "--bootstrap",
        "100",
    )
    assert res.returncode == 0, res.stderr
    with open(out / "nb101_cifar10.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_proxy = {p: [r for r in rows if r["proxy"] == p] for p in ("params", "flops")}
    space = make_space("nb101")
    keys = [space.parse(s).key for s in specs]
    assert sorted(r["arch"] for r in by_proxy["params"]) == sorted(keys)
    assert sorted(r["arch"] for r in by_proxy["flops"]) == sorted(keys[:2])  # the first K lines of the list
    assert {r["gt_valid_acc"] for r in rows} == {"90.0", "91.0", "92.0", "93.0"}
    with open(out / "report" / "toy101" / "correlations.csv", newline="") as fh:
        assert {r["target"] for r in csv.DictReader(fh)} == {"valid_acc"}
    bad = _cli(*common, "--arch-list", f"nb101={arch_list}", "--synthetic", "--stand-in", "test_acc")
    assert bad.returncode == 2 and "TARGET=OTHER" in bad.stderr and bad.stderr.count("\n") == 1


def test_tables_scoring_one_proxy_at_two_batch_sizes_each_get_their_own_rows(tmp_path):
    """NEAR Table 3 scores NB101 snip at batch 64, epsilon Table 2 at 256, into one shared CSV: neither the
    protocol reports nor `nasprox report --split-settings` may mix them, and each published cell names its batch."""
    specs = ["0111.0001.0001.0000:31", "010.001.000:1", "011.001.000:3"]
    arch_list = tmp_path / "cells.txt"
    arch_list.write_text("\n".join(specs) + "\n")
    truth = tmp_path / "truth.csv"
    truth.write_text("arch,dataset,test_acc\n" + "".join(f"{s},cifar10,{90 + i}\n" for i, s in enumerate(specs)))
    folder = tmp_path / "protocols"
    folder.mkdir()
    for pid, paper, table, batch in (("toy-near", "near", "Table 3", 4), ("toy-eps", "epsilon", "Table 2", 8)):
        doc = {
            "version": 1,
            "id": pid,
            "paper": paper,
            "tables": [table],
            "target": "test_acc",
            "runs": [{"space": "nb101", "datasets": {"cifar10": {}}}],
            "proxies": {"snip": {"batch_size": batch}},
        }
        (folder / f"{pid}.yaml").write_text(yaml.safe_dump(doc))
    out = tmp_path / "out"
    common = ["--protocol-dir", str(folder), "--out", str(out), "--no-progress", "--synthetic", "--bootstrap", "100"]
    common.append("--no-plots")  # tables only: the figures are checked in test_toy_protocol_runs_resumes_and_reports
    inputs = ["--arch-list", f"nb101={arch_list}", "--ground-truth", f"nb101={truth}"]
    res = _cli("reproduce", "toy-eps", *inputs, *common)
    assert res.returncode == 0, res.stderr
    with open(out / "report" / "toy-eps" / "published_vs_ours.csv", newline="") as fh:
        near_cells = [r for r in csv.DictReader(fh) if r["table"] == "Table 3"]
    assert near_cells and all(r["verdict"] == "not comparable" and "protocol uses 4" in r["reason"] for r in near_cells)
    assert not list((out / "report" / "toy-eps").rglob("*.png"))
    for pid in ("toy-near", "toy-eps"):  # the second report after both runs
        res = _cli("reproduce", pid, *inputs, *common)
        assert res.returncode == 0, res.stderr
    with open(out / "nb101_cifar10.csv", newline="") as fh:
        assert sorted(int(r["batch_size"]) for r in csv.DictReader(fh)) == [4, 4, 4, 8, 8, 8]

    def snip_columns(report_dir, table):
        with open(report_dir / "published_vs_ours.csv", newline="") as fh:
            return {r["proxy"] for r in csv.DictReader(fh) if r["table"] == table}

    assert snip_columns(out / "report" / "toy-near", "Table 3") == {"snip@batch=4"}
    assert snip_columns(out / "report" / "toy-eps", "Table 2") == {"snip@batch=8"}
    csv_file = str(out / "nb101_cifar10.csv")
    mixed = _cli("report", csv_file, "--out", str(tmp_path / "r1"), "--no-plots")
    assert mixed.returncode == 2 and "different settings" in mixed.stderr
    apart = _cli("report", csv_file, "--out", str(tmp_path / "r2"), "--no-plots", "--split-settings")
    assert apart.returncode == 0, apart.stderr
    with open(tmp_path / "r2" / "correlations.csv", newline="") as fh:
        assert {r["proxy"] for r in csv.DictReader(fh)} == {"snip@batch=4", "snip@batch=8"}


def test_sss_ground_truth_csv_params_are_in_millions_like_the_archive(shared):
    from pathlib import Path

    csv_space = make_space("nats-sss")
    csv_space.configure(ground_truth=shared("nats_sss/sss_test_acc_90ep.csv"))
    archive = make_space("nats-sss")
    archive.configure(benchmark=Path(shared("nats_format_samples/NATS-sss-v1_0-50262-simple")))
    for index in (0, 11, 284):
        a, b = (
            csv_space.ground_truth(csv_space.arch(index), "cifar10"),
            archive.ground_truth(archive.arch(index), "cifar10"),
        )
        assert a["params"] == pytest.approx(b["params"]) and a["test_acc"] == pytest.approx(b["test_acc"])


def _tss_cifar10_protocol(tmp_path, protocol_id: str, proxies: dict) -> Path:
    """A protocol folder holding one NEAR Table 1 protocol with one NATS-TSS CIFAR-10 run."""
    folder = tmp_path / "protocols"
    folder.mkdir()
    doc = {
        "version": 1,
        "id": protocol_id,
        "paper": "near",
        "tables": ["Table 1"],
        "runs": [{"space": "nats-tss", "datasets": {"cifar10": {}}}],
        "proxies": proxies,
    }
    (folder / f"{protocol_id}.yaml").write_text(yaml.safe_dump(doc))
    return folder


def test_dry_run_counts_the_rows_left_and_scores_nothing(tmp_path):
    folder = _tss_cifar10_protocol(tmp_path, "toy-dry", {"params": {}, "flops": {"max_archs": 3}})
    out = tmp_path / "out"
    common = ["reproduce", "toy-dry", "--protocol-dir", str(folder), "--out", str(out), "--synthetic", "--no-progress"]
    first = _cli(*common, "--sample", "6", "--subset", "2", "--no-report")  # params and flops on 2 cells
    assert first.returncode == 0, first.stderr
    before = (out / "nats-tss_cifar10.csv").read_bytes()
    dry = _cli(*common, "--sample", "6", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert "6 cells" in lines[0] and "params 4" in lines[0]  # the 6-cell run: 4 cells left
    assert "3 cells" in lines[1] and "flops 1" in lines[1]  # flops on the first 3: 1 left
    assert lines[-1].startswith("rows to score per proxy above; total ~") and "--workers 1" in lines[-1]
    assert (out / "nats-tss_cifar10.csv").read_bytes() == before and not (out / "report").exists()


def test_dry_run_says_unknown_rather_than_zero_when_nothing_is_measured(tmp_path):
    # l2_norm was never timed: configs/costs.yaml has no nats-tss/l2_norm
    folder = _tss_cifar10_protocol(tmp_path, "toy-unmeasured", {"l2_norm": {}})
    common = ["reproduce", "toy-unmeasured", "--protocol-dir", str(folder), "--out", str(tmp_path / "out")]
    dry = _cli(*common, "--synthetic", "--sample", "4", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    first = dry.stdout.splitlines()[0]
    assert first.endswith("(unmeasured l2_norm@batch=64)") and "core-hours" not in first
    assert dry.stdout.splitlines()[-1].endswith("CPU time unknown: no measured s/arch for nats-tss/l2_norm@batch=64")


def test_retry_failed_counts_and_rescores_failed_rows_of_a_protocol(tmp_path):
    folder = _tss_cifar10_protocol(tmp_path, "toy-retry", {"params": {}})
    out = tmp_path / "out"
    common = [
        "reproduce",
        "toy-retry",
        "--protocol-dir",
        str(folder),
        "--out",
        str(out),
        "--synthetic",
        "--no-progress",
    ]
    assert _cli(*common, "--sample", "3", "--no-report").returncode == 0
    csv_file = out / "nats-tss_cifar10.csv"
    with open(csv_file, newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows[1].update(status="error", score="nan", error="worker died (exit code -9)")  # as a killed worker leaves it
    with open(csv_file, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    plain = _cli(*common, "--sample", "3", "--dry-run").stdout.splitlines()[0]
    assert ": nothing (" in plain and plain.endswith("; 1 failed rows kept (--retry-failed scores them again)")
    assert "params 1" in _cli(*common, "--sample", "3", "--dry-run", "--retry-failed").stdout.splitlines()[0]
    res = _cli(*common, "--sample", "3", "--no-report", "--retry-failed")
    assert res.returncode == 0, res.stderr
    assert "retrying 1 failed rows" in res.stderr and "wrote 1 rows (0 not ok)" in res.stderr
    with open(csv_file, newline="") as fh:
        after = list(csv.DictReader(fh))
    assert len(after) == 3 and {r["status"] for r in after} == {"ok"}
    assert after[-1]["arch"] == rows[1]["arch"]  # the failed row was taken out and scored again at the end
