"""Cost estimates of `nasprox reproduce --list`: s/arch measured per (space, proxy), never borrowed across spaces."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from nasprox.cli import app
from nasprox.core import NasproxError
from nasprox.engine import protocol as protocol_mod
from nasprox.engine.protocol import (
    EngineCosts,
    estimated_seconds,
    load_protocol,
    measured_seconds_per_arch,
    pending_seconds,
)

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "measure_costs.py"
HEADER = "space,arch_index,arch,dataset,proxy,proxy_version,seed,data_config,score,status,error,seconds,peak_mem_mb,batch_size,device\n"


def _row(space, proxy, seconds, status="ok", version="1", batch=64, device="cpu", dataset="cifar10"):
    return f"{space},0,a,{dataset},{proxy},{version},0,x,1.0,{status},,{seconds},1.0,{batch},{device}\n"


def _costs(tmp_path, cpu, gpu=None, version=3):
    path = tmp_path / "costs.yaml"
    path.write_text(
        yaml.safe_dump({"version": version, "cpu_seconds_per_arch": cpu, "gpu_seconds_per_arch": gpu or {}})
    )
    return path


def _protocol(tmp_path, runs, proxies):
    path = tmp_path / "toy.yaml"
    path.write_text(
        yaml.safe_dump(
            {"version": 1, "id": "toy", "paper": "near", "tables": ["Table 1"], "runs": runs, "proxies": proxies}
        )
    )
    return load_protocol(path)


def test_script_writes_medians_rows_and_batches_per_space_and_proxy(tmp_path):
    tss = tmp_path / "nats-tss_cifar10.csv"
    tss.write_text(
        HEADER
        + _row("nats-tss", "near", 9.0)
        + _row("nats-tss", "near", 11.0, dataset="cifar100")
        + _row("nats-tss", "near", 500.0, status="nonfinite")
        + _row("nats-tss", "synflow", 0.5, batch=1)
        + _row("nats-tss", "synflow", 0.7, batch=64)
        + _row("nats-tss", "near", 0.01, device="cuda:0")
        + "nats-tss,0,a,cifar10,near,1,0,x,1.0,ok,,99"  # still being appended: left out
    )
    micro = tmp_path / "transnas-micro_jigsaw.csv"
    micro.write_text(HEADER + _row("transnas-micro", "near", 600.0, dataset="jigsaw"))
    naslib = tmp_path / "naslib.csv"
    naslib.write_text(HEADER + _row("nats-tss", "zen", "", version="naslib", batch="", device=""))
    report = tmp_path / "correlations.csv"
    report.write_text("space,dataset,proxy,kendall\nnats-tss,cifar10,near,0.5\n")
    out = tmp_path / "costs.yaml"
    res = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out), str(tss), str(micro), str(naslib), str(report)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert f"skipping {report}" in res.stderr and f"skipping {naslib}" in res.stderr
    text = out.read_text()
    assert text.startswith("# Written by scripts/measure_costs.py; do not edit by hand.\n")
    doc = yaml.safe_load(text)
    assert doc["version"] == 3 and str(naslib) not in doc["source"]
    # one median per batch: synflow at 1 and at 64 are two measurements, never pooled
    assert doc["cpu_seconds_per_arch"] == {
        "nats-tss": {"near@batch=64": 10.0, "synflow@batch=1": 0.5, "synflow@batch=64": 0.7},
        "transnas-micro": {"near@batch=64": 600.0},
    }
    assert doc["cpu_rows"] == {
        "nats-tss": {"near@batch=64": 2, "synflow@batch=1": 1, "synflow@batch=64": 1},
        "transnas-micro": {"near@batch=64": 1},
    }
    assert doc["gpu_seconds_per_arch"] == {"nats-tss": {"near@batch=64": 0.01}} and "gpu_note" not in doc
    costs = measured_seconds_per_arch(out)
    assert costs["cpu"]["transnas-micro"]["near@batch=64"] == 600.0
    assert costs["gpu_rows"] == {"nats-tss": {"near@batch=64": 1}}


def test_arch_list_gives_the_build_timing_archs_a_space_cannot_build_from_its_rows(tmp_path):
    results = tmp_path / "nb.csv"
    results.write_text(HEADER + _row("nats-tss", "params", 0.001))  # arch key "a": nothing to build from
    out = tmp_path / "costs.yaml"
    base = [sys.executable, str(SCRIPT), "--out", str(out), "--build-archs", "1", str(results)]
    res = subprocess.run(base, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "no build/copy timing for nats-tss" in res.stderr and "cpu_build_archs" not in yaml.safe_load(
        out.read_text()
    )
    archs = tmp_path / "archs.txt"
    archs.write_text("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|\n" * 2)
    res = subprocess.run([*base, "--arch-list", f"nats-tss={archs}"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    doc = yaml.safe_load(out.read_text())
    assert doc["cpu_build_archs"] == {"nats-tss": 1} and doc["cpu_build_seconds_per_arch"]["nats-tss"] > 0
    res = subprocess.run([*base, "--arch-list", str(archs)], capture_output=True, text=True)
    assert res.returncode == 2 and "--arch-list takes SPACE=FILE" in res.stderr


def test_estimate_uses_each_space_s_per_arch_and_names_what_is_missing(tmp_path):
    proto = _protocol(
        tmp_path,
        [
            {"space": "nats-tss", "datasets": {"cifar10": {}, "cifar100": {"max_archs": 50}}},
            {"space": "transnas-micro", "datasets": {"jigsaw": {}}},
        ],
        {"near": {}, "params": {"max_archs": 10}},
    )
    tss_only = {"nats-tss": {"near": 10.0, "params": 1.0}, "transnas-micro": {"params": 2.0}}
    est = estimated_seconds(proto, tss_only, 100)
    assert est.seconds is None and est.unmeasured == ("transnas-micro/near@batch=64",) and est.unsized == ()
    assert est.why_unknown() == "no measured s/arch for transnas-micro/near@batch=64"
    both = {"nats-tss": {"near": 10.0, "params": 1.0}, "transnas-micro": {"near": 600.0, "params": 2.0}}
    est = estimated_seconds(proto, both, 100)
    # tss: near 100 + 50 cells, params 10 + 10; micro: near 100, params 10
    assert est.seconds == pytest.approx(150 * 10.0 + 20 * 1.0 + 100 * 600.0 + 10 * 2.0) and est.unmeasured == ()
    # without a sample every run scores the whole space, as the runs do (sizes from the registry)
    whole = estimated_seconds(proto, both, None)
    assert whole.seconds == pytest.approx(2 * 15625 * (10.0 + 1.0) + 4096 * (600.0 + 2.0))
    # a sample larger than the space counts the space
    capped = estimated_seconds(proto, both, 10**6)
    assert capped.seconds == pytest.approx(15625 * 10.0 + 50 * 10.0 + 20 * 1.0 + 4096 * 600.0 + 10 * 2.0)


def test_script_times_building_and_copying_the_networks_of_each_space(tmp_path):
    tss = tmp_path / "nats-tss_cifar10.csv"
    keys = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"] * 2
    keys.append("|none~0|+|skip_connect~0|none~1|+|skip_connect~0|none~1|none~2|")
    tss.write_text(HEADER + "".join(_row("nats-tss", "params", 0.001).replace(",a,", f",{k},") for k in keys))
    micro = tmp_path / "transnas-micro_jigsaw.csv"  # 'a' is no TransNAS architecture: named, left out
    micro.write_text(HEADER + _row("transnas-micro", "near", 600.0, dataset="jigsaw"))
    out = tmp_path / "costs.yaml"
    res = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out), "--build-archs", "2", str(tss), str(micro)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert "no build/copy timing for transnas-micro" in res.stderr
    doc = yaml.safe_load(out.read_text())
    assert doc["cpu_build_archs"] == {"nats-tss": 1}  # two distinct networks, the first one warms up
    assert set(doc["cpu_build_seconds_per_arch"]) == set(doc["cpu_copy_seconds_per_arch"]) == {"nats-tss"}
    assert doc["cpu_build_seconds_per_arch"]["nats-tss"] > 0 and doc["cpu_copy_seconds_per_arch"]["nats-tss"] > 0
    engine = measured_seconds_per_arch(out)["cpu_engine"]
    assert engine.build == doc["cpu_build_seconds_per_arch"] and engine.copy == doc["cpu_copy_seconds_per_arch"]
    assert measured_seconds_per_arch(_costs(tmp_path, {}))["cpu_engine"] is None  # an older file times no build


def test_estimate_counts_one_build_per_cell_and_a_copy_for_each_changing_proxy_but_the_last(tmp_path):
    proto = _protocol(
        tmp_path,
        [{"space": "nats-tss", "datasets": {"cifar10": {}}}],
        {"params": {}, "flops": {}, "synflow": {}, "snip": {"max_archs": 10}},
    )
    costs = {"nats-tss": {"params": 0.0, "flops": 0.0, "synflow": 0.0, "snip": 0.0}}
    engine = EngineCosts(build={"nats-tss": 1.0}, copy={"nats-tss": 5.0})
    # 100 cells: params, flops, synflow (shared network, nothing to copy); 10 cells: snip alone (no copy)
    est = estimated_seconds(proto, costs, 100, engine=engine)
    assert est.seconds == pytest.approx(100 * 1.0 + 10 * 1.0)
    assert engine.seconds("nats-tss", ["synflow", "snip", "params"]) == 1.0 + 5.0  # synflow copies, snip owns
    est = estimated_seconds(proto, costs, 100, engine=EngineCosts(build={}, copy={}))
    assert est.seconds is None and est.unmeasured == ("nats-tss (network build)",)
    rows, batches = {"synflow": 4, "snip": 4, "params": 0}, {"synflow": 1, "snip": 64, "params": 64}
    seconds, missing = pending_seconds("nats-tss", rows, batches, costs, engine, 4)
    assert seconds == pytest.approx(4 * (1.0 + 5.0)) and missing == []


def test_a_space_that_cannot_be_enumerated_is_unknown_without_a_sample(tmp_path):
    proto = _protocol(tmp_path, [{"space": "nb101", "datasets": {"cifar10": {}}}], {"near": {}})
    costs = {"nb101": {"near": 83.0}}
    assert estimated_seconds(proto, costs, 1000).seconds == pytest.approx(83_000.0)
    est = estimated_seconds(proto, costs, None)  # no benchmark file: len(nb101) is unknown
    assert est.seconds is None and est.unsized == ("nb101",) and "size of nb101 unknown" in est.why_unknown()
    assert estimated_seconds(proto, costs, None, {"nb101": 423624}).seconds == pytest.approx(423624 * 83.0)
    est = estimated_seconds(proto, {}, None, {})
    assert est.why_unknown().startswith("no measured s/arch for nb101/near@batch=64; size of nb101 unknown")


def test_costs_file_of_another_version_is_a_one_line_error(tmp_path):
    old = tmp_path / "costs.yaml"
    old.write_text("version: 1\ncpu_seconds_per_arch: {near: 9.1}\n")
    with pytest.raises(NasproxError) as err:
        measured_seconds_per_arch(old)
    message = str(err.value)
    assert "\n" not in message and str(old) in message and "scripts/measure_costs.py" in message
    assert measured_seconds_per_arch(tmp_path / "absent.yaml")["cpu"] == {}


def test_list_prints_the_estimate_or_the_missing_pairs(tmp_path, monkeypatch):
    costs = _costs(tmp_path, {"nats-tss": {"near": 36.0, "params": 0.0, "flops": 0.0}})
    monkeypatch.setattr(protocol_mod, "default_costs_file", lambda: costs)
    folder = tmp_path / "protocols"
    folder.mkdir()
    for pid, space, dataset in (("tss", "nats-tss", "cifar10"), ("micro", "transnas-micro", "jigsaw")):
        (folder / f"{pid}.yaml").write_text(
            yaml.safe_dump(
                {
                    "version": 1,
                    "id": pid,
                    "paper": "near",
                    "tables": ["Table 9"],
                    "runs": [{"space": space, "datasets": {dataset: {}}}],
                    "proxies": {"near": {}, "params": {}, "flops": {}},
                },
                sort_keys=False,
            )
        )
    res = CliRunner().invoke(app, ["reproduce", "--list", "--protocol-dir", str(folder), "--sample", "100"])
    assert res.exit_code == 0, res.output
    assert "cost: ~1.0 CPU core-hours for --sample 100;" in res.output  # 100 cells x 36 s
    assert (
        "cost: CPU cost unknown: no measured s/arch for transnas-micro/near@batch=64, "
        "transnas-micro/params@batch=64, transnas-micro/flops@batch=64;" in res.output
    )
    _costs(tmp_path, {"near": 9.1}, version=1)
    res = CliRunner().invoke(app, ["reproduce", "--list", "--protocol-dir", str(folder)])
    assert res.exit_code == 2 and "version 1 is not supported" in res.output


def test_a_proxy_measured_at_another_batch_is_named_not_scaled(tmp_path):
    from nasprox.engine.protocol import seconds_at_batch

    nb101 = {"snip@batch=64": 0.8, "params@batch=64": 0.001, "near": 43.0}
    assert seconds_at_batch(nb101, "snip", 64) == 0.8
    assert seconds_at_batch(nb101, "snip", 256) is None  # ~5x the batch-64 time on NB101: not guessed from it
    assert seconds_at_batch(nb101, "params", 256) == 0.001  # a count: the batch does not matter
    assert seconds_at_batch(nb101, "near", 1) == 43.0  # a plain entry names no batch and stands for all
    proto = _protocol(
        tmp_path, [{"space": "nb101", "datasets": {"cifar10": {}}}], {"snip": {"batch_size": 256}, "params": {}}
    )
    est = estimated_seconds(proto, {"nb101": nb101}, 100)
    assert est.seconds is None and est.unmeasured == ("nb101/snip@batch=256",)
    est = estimated_seconds(proto, {"nb101": {**nb101, "snip@batch=256": 16.0}}, 100)
    assert est.seconds == pytest.approx(100 * 16.0 + 100 * 0.001)
    seconds, missing = pending_seconds("nb101", {"snip": 5, "params": 5}, {"snip": 256, "params": 64}, {"nb101": nb101})
    assert seconds == pytest.approx(5 * 0.001) and missing == ["snip@batch=256"]
