"""Engine + storage: resume, torn lines, schema checks, failure rows, determinism, SIGKILL safety."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
# registers the toy space and proxies in this process; not via os.environ, which every later test's
# subprocesses would inherit (they cannot import toy_plugin without this folder on PYTHONPATH)
import toy_plugin  # noqa: E402,F401
from conftest import plugin_env  # noqa: E402

from nasprox.core import NasproxError  # noqa: E402
from nasprox.engine import RunConfig, Scorer, select_archs  # noqa: E402
from nasprox.storage.csv_store import ResultWriter, header_for, written_keys  # noqa: E402

TESTS = Path(__file__).parent


def run_cli(*args, env_extra=None, **kw):
    env = plugin_env("toy_plugin", **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "nasprox", *args], capture_output=True, text=True, env=env, **kw)


def read_rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_scorer_records_statuses_and_ground_truth():
    scorer = Scorer(
        RunConfig(space="toy", dataset="cifar10", proxies=["toy_width", "toy_flaky"], synthetic=True, device="cpu")
    )
    recs = [r for arch in select_archs(scorer.space, archs="0:4") for r in scorer.score_arch(arch)]
    flaky = {r.arch: (r.status, r.error) for r in recs if r.proxy == "toy_flaky"}
    assert flaky["w4"] == ("error", "RuntimeError: boom")
    assert flaky["w1"][0] == "nonfinite"
    assert flaky["w2"] == ("undefined", "no such thing for this net")
    assert flaky["w3"][0] == "ok"
    width = [r for r in recs if r.proxy == "toy_width"]
    assert [r.score for r in width] == [1.0, 2.0, 3.0, 4.0]
    assert width[2].ground_truth["test_acc"] == 52.0


def test_same_seed_bit_identical_and_seed_changes_scores():
    def scores(seed):
        s = Scorer(
            RunConfig(space="toy", dataset="cifar10", proxies=["toy_mean"], synthetic=True, device="cpu", seed=seed)
        )
        return [r.score for a in select_archs(s.space, archs="0:5") for r in s.score_arch(a)]

    assert scores(3) == scores(3)
    assert scores(3) != scores(4)


def test_selection_errors_and_shards():
    sp = Scorer(RunConfig(space="toy", dataset="cifar10", proxies=["toy_width"], synthetic=True)).space
    with pytest.raises(NasproxError, match="out of bounds"):
        select_archs(sp, archs="0:41")
    with pytest.raises(NasproxError, match="only one of"):
        select_archs(sp, archs="0:3", sample=3)
    shards = [select_archs(sp, sample=20, seed=1, shard=f"{i}/3") for i in range(3)]
    merged = sorted(a.index for s in shards for a in s)
    assert merged == sorted(a.index for a in select_archs(sp, sample=20, seed=1))
    assert len(set(merged)) == 20


def test_writer_resumes_and_cuts_only_torn_line(tmp_path):
    out = tmp_path / "r.csv"
    header = header_for(["test_acc"])
    scorer = Scorer(RunConfig(space="toy", dataset="cifar10", proxies=["toy_width"], synthetic=True))
    with ResultWriter(out, header) as w:
        for recs in scorer.run(select_archs(scorer.space, archs="0:3")):
            for r in recs:
                w.write(r)
    good = out.read_bytes()
    out.write_bytes(good + b"toy,3,w4,cifar10,toy_wi")  # what a SIGKILL mid-write could leave
    torn = out.read_bytes()
    assert len(written_keys(out)) == 3 and out.read_bytes() == torn  # the read-only reader cuts nothing
    assert written_keys(tmp_path / "absent.csv") == set()
    w2 = ResultWriter(out, header)
    w2.close()
    assert out.read_bytes() == good
    assert len(w2.done) == 3
    with pytest.raises(NasproxError, match="another schema"):
        ResultWriter(out, header_for(["other"]))


def test_cli_score_resume_no_duplicates(tmp_path):
    out = tmp_path / "toy.csv"
    args = [
        "score",
        "--space",
        "toy",
        "--proxy",
        "toy_width,toy_mean",
        "--synthetic",
        "--archs",
        "0:6",
        "--out",
        str(out),
        "--no-progress",
    ]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    assert "archs/s" in first.stderr
    again = run_cli(*[a if a != "0:6" else "0:10" for a in args])
    assert again.returncode == 0, again.stderr
    rows = read_rows(out)
    keys = [(r["arch"], r["proxy"]) for r in rows]
    assert len(keys) == len(set(keys)) == 20
    prov = Path(str(out) + ".provenance.json")
    assert prov.exists() and "hostname" not in prov.read_text().lower()
    assert "peak RSS" in json.loads(prov.read_text())["runs"][-1]["peak_memory"]  # what peak_mem_mb means
    before = (out.read_bytes(), prov.read_bytes())
    idle = run_cli(*[a if a != "0:6" else "0:10" for a in args])  # nothing left: nothing changes
    assert idle.returncode == 0 and "nothing to score" in idle.stderr, idle.stderr
    assert (out.read_bytes(), prov.read_bytes()) == before


def test_cli_sigkill_then_resume_loses_nothing(tmp_path):
    out = tmp_path / "k.csv"
    args = [
        "score",
        "--space",
        "toy",
        "--proxy",
        "toy_width",
        "--synthetic",
        "--archs",
        "0:40",
        "--out",
        str(out),
        "--no-progress",
    ]
    env = plugin_env("toy_plugin", TOY_SLEEP="0.05")
    proc = subprocess.Popen(
        [sys.executable, "-m", "nasprox", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 60
    while time.time() < deadline and (not out.exists() or len(out.read_bytes().splitlines()) < 6):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = read_rows(out)
    assert 5 <= len(partial) < 40
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    rows = read_rows(out)
    assert sorted(int(r["arch_index"]) for r in rows) == list(range(40))
    assert rows[: len(partial)] == partial  # rows written before the kill are untouched


def _children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}/stat").exists() else "X"
    return state not in ("Z", "X")  # a zombie waits only for its reaper


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc and ps (Linux) to find the worker processes")
def test_workers_end_when_their_parent_is_killed(tmp_path):
    """SIGKILL of `score --workers 2` (a cluster job's end) must not leave workers waiting forever."""
    out = tmp_path / "w.csv"
    args = ["score", "--space", "toy", "--proxy", "toy_width", "--synthetic", "--archs", "0:40", "--workers", "2"]
    env = plugin_env("toy_plugin", TOY_SLEEP="0.05")
    proc = subprocess.Popen(
        [sys.executable, "-m", "nasprox", *args, "--out", str(out), "--no-progress"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline and (not out.exists() or len(out.read_bytes().splitlines()) < 4):
        time.sleep(0.05)
    workers = [c for c in _children_of(proc.pid) if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text()]
    assert len(workers) == 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 30
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.2)
    assert not any(_alive(w) for w in workers)


@pytest.mark.parametrize(
    "args, message",
    [
        (["score", "--space", "nope", "--proxy", "toy_width", "--synthetic"], "unknown space"),
        (["score", "--space", "toy", "--proxy", "toy_widht", "--synthetic"], "did you mean"),
        (["score", "--space", "toy", "--proxy", "toy_width", "--synthetic", "--archs", "0:99"], "out of bounds"),
        (["score", "--space", "toy", "--proxy", "toy_mean", "--data-root", "/no/such/dir"], "does not exist"),
        (["score", "--space", "toy", "--proxy", "toy_mean"], "need input data"),
        (["score", "--space", "toy", "--proxy", "toy_width", "--synthetic", "--dataset", "mnist"], "no dataset"),
        (["score", "--space", "toy", "--proxy", "toy_width", "--synthetic", "--shard", "3/2"], "--shard"),
        (["score", "--space", "toy", "--proxy", "toy_width", "--synthetic", "--device", "tpu"], "device"),
    ],
)
def test_cli_bad_input_one_line_exit_2(tmp_path, args, message):
    res = run_cli(*args, "--out", str(tmp_path / "x.csv"), cwd=tmp_path)
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip() and "warning" not in ln]
    assert len(lines) == 1 and message in lines[0], res.stderr
    assert "Traceback" not in res.stderr


def test_cli_unwritable_output_and_foreign_csv(tmp_path):
    foreign = tmp_path / "foreign.csv"
    foreign.write_text("a,b\n1,2\n")
    res = run_cli("score", "--space", "toy", "--proxy", "toy_width", "--synthetic", "--out", str(foreign))
    assert res.returncode == 2 and "another schema" in res.stderr
    assert foreign.read_text() == "a,b\n1,2\n"  # never damaged
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = run_cli(
        "score", "--space", "toy", "--proxy", "toy_width", "--synthetic", "--out", str(blocker / "sub" / "o.csv")
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr


def test_synthetic_warning_names_only_the_proxies_that_read_images():
    from nasprox.engine.pipeline import Selection, plan

    def warnings(proxies):
        config = RunConfig(space="nats-tss", dataset="cifar10", proxies=proxies, synthetic=True, device="cpu")
        return [w for w in plan(config, Selection(archs="0")).warnings if "--synthetic" in w]

    assert warnings(["params", "synflow"]) == []  # data-free: the Gaussian batch only gives the input shape
    (line,) = warnings(["params", "snip"])
    assert "for snip;" in line and "params" not in line


def test_cpu_peak_memory_is_each_proxy_calls_own_peak():
    from nasprox.engine.device import MemoryMeter

    if "each proxy call" not in MemoryMeter.scope(torch.device("cpu")):
        pytest.skip("this system cannot reset the process's peak-RSS mark (/proc/self/clear_refs)")
    scorer = Scorer(RunConfig(space="toy", dataset="cifar10", proxies=["toy_alloc", "toy_width"], synthetic=True))
    first, then = next(iter(scorer.run(select_archs(scorer.space, archs="0"))))
    assert (first.proxy, then.proxy) == ("toy_alloc", "toy_width")
    # a lifetime high-water mark would give toy_width toy_alloc's peak; per call it is 256 MiB lower
    assert first.peak_mem_mb - then.peak_mem_mb > 200
