"""`nasprox reproduce`: protocols load and expand into nested runs; a toy protocol runs and reports."""

import csv
import subprocess
import sys

import pytest
import yaml

from nasprox.core import PROXIES
from nasprox.engine.protocol import load_protocols, protocol_runs
from nasprox.engine.runner import make_space
from nasprox.engine.selection import select_archs

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


def test_list_shows_every_protocol_with_batches_and_population():
    res = _cli("reproduce", "--list")
    assert res.returncode == 0, res.stderr
    for pid in REQUIRED:
        assert f"{pid}:" in res.stdout
    assert "near@64" in res.stdout and "naswot@128" in res.stdout and "all 15,625 NATS-TSS cells" in res.stdout


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
        "8",
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
    assert count == {"params": 8, "flops": 8, "synflow": 4}
    synflow_archs = {r["arch"] for r in rows if r["proxy"] == "synflow"}
    assert synflow_archs < {r["arch"] for r in rows if r["proxy"] == "params"}
    with open(out / "report" / "published_vs_ours.csv", newline="") as fh:
        cells = list(csv.DictReader(fh))
    params_rho = [c for c in cells if c["proxy"] == "params" and c["metric"] == "spearman" and c["table"] == "Table 1"]
    assert len(params_rho) == 1 and params_rho[0]["n_used"] == "8"
    assert params_rho[0]["verdict"] in ("agrees", "differs") and params_rho[0]["ci_lo"] != ""
    assert "comparable cells agree" in (out / "report" / "published_vs_ours_summary.md").read_text()
    again = _cli(*args)  # resumes: nothing left to score
    assert again.returncode == 0 and "wrote 0 rows" in again.stderr


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
