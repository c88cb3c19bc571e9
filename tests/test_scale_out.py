"""Shards + merge, worker processes with a per-arch timeout, worker crashes, and the Ray backend."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import plugin_env

pytestmark = pytest.mark.expensive  # collected first (tests/conftest.py)

TESTS = Path(__file__).parent
TIMING = {"seconds", "peak_mem_mb"}


def run_cli(*args, cwd=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "nasprox", *args],
        capture_output=True,
        text=True,
        env=plugin_env("toy_plugin"),
        cwd=cwd,
        timeout=timeout,
    )


def rows(path, drop=TIMING):
    with open(path, newline="") as fh:
        return sorted(tuple((k, v) for k, v in r.items() if k not in drop) for r in csv.DictReader(fh))


BASE = [
    "score",
    "--space",
    "toy",
    "--proxy",
    "toy_width,toy_mean",
    "--synthetic",
    "--sample",
    "12",
    "--seed",
    "5",
    "--no-progress",
]


def test_shards_merge_equal_unsharded_run(tmp_path):
    full = tmp_path / "full.csv"
    assert run_cli(*BASE, "--out", str(full)).returncode == 0
    parts = []
    for i in range(3):
        part = tmp_path / f"part{i}.csv"
        res = run_cli(*BASE, "--shard", f"{i}/3", "--out", str(part))
        assert res.returncode == 0, res.stderr
        parts.append(str(part))
    merged = tmp_path / "merged.csv"
    res = run_cli("merge", *parts, "--out", str(merged))
    assert res.returncode == 0, res.stderr
    assert "none duplicated, 0 missing" in res.stderr
    assert rows(merged) == rows(full)  # identical across shard counts, timing columns aside

    res = run_cli("merge", *parts[:2], "--out", str(tmp_path / "m2.csv"))
    assert res.returncode == 2 and "shards 2/3 are missing" in res.stderr
    res = run_cli("merge", parts[0], parts[0], parts[1], parts[2], "--out", str(tmp_path / "m3.csv"))
    assert res.returncode == 2 and "duplicate row" in res.stderr
    assert not (tmp_path / "m3.csv").exists()


def test_same_command_twice_gives_identical_csv(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert run_cli(*BASE, "--out", str(a)).returncode == 0
    assert run_cli(*BASE, "--out", str(b)).returncode == 0
    assert rows(a) == rows(b)


def test_timeout_per_arch_isolates_a_hung_model(tmp_path):
    out = tmp_path / "t.csv"
    res = run_cli(
        "score",
        "--space",
        "toy",
        "--proxy",
        "toy_hang",
        "--synthetic",
        "--archs",
        "0:5",
        "--timeout-per-arch",
        "3",
        "--no-progress",
        "--out",
        str(out),
        timeout=240,
    )
    assert res.returncode == 0, res.stderr
    got = {r["arch"]: (r["status"], r["score"]) for r in csv.DictReader(open(out))}
    assert got["w3"][0] == "timeout"
    assert {k: v for k, v in got.items() if k != "w3"} == {f"w{i}": ("ok", f"{float(i)!r}") for i in (1, 2, 4, 5)}


def test_cpu_workers_match_in_process(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert run_cli(*BASE, "--out", str(a)).returncode == 0
    res = run_cli(*BASE, "--workers", "2", "--out", str(b))
    assert res.returncode == 0, res.stderr
    assert rows(a) == rows(b, drop=TIMING)


def test_ray_backend_local_cluster(tmp_path):
    pytest.importorskip("ray")
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert run_cli(*BASE, "--out", str(a)).returncode == 0
    res = run_cli(*BASE, "--backend", "ray", "--workers", "2", "--out", str(b), timeout=300)
    assert res.returncode == 0, res.stderr
    assert rows(a) == rows(b)
    import json

    prov = json.loads(Path(str(b) + ".provenance.json").read_text())
    workers = prov["runs"][-1]["workers"]
    assert workers and all("torch" in w and "pid" in w for w in workers)


def test_conflicting_flags(tmp_path):
    res = run_cli(*BASE, "--ray-address", "auto", "--out", str(tmp_path / "x.csv"))
    assert res.returncode == 2 and "--backend ray" in res.stderr
    res = run_cli(*BASE, "--devices", "all", "--out", str(tmp_path / "y.csv"))
    assert res.returncode == 2 and "no CUDA GPU" in res.stderr


def test_cpu_workers_use_the_runs_thread_count(monkeypatch):
    """Every worker gets RunConfig.threads (never all cores: oversubscription made NEAR 10x slower)."""
    from nasprox.engine import RunConfig, Scorer, parallel

    started = []
    monkeypatch.setattr(parallel, "_Worker", lambda ctx, config, threads: started.append((config.device, threads)))
    for threads in (1, 3):
        scorer = Scorer(
            RunConfig(
                space="nats-tss", dataset="cifar10", proxies=["params"], synthetic=True, device="auto", threads=threads
            )
        )
        parallel.WorkerPool(scorer, ["auto", "auto"])._start("auto")
    assert started == [("auto", 1), ("auto", 3)]
