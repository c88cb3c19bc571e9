"""Inputs a new user will hit that used to change a score or a table silently (issue: "tried as a new user
would, again"): each is now converted with a note, refused in one line, or handled as the README says,
checked through the real CLI (or the API) with the files already written byte-identical where refused."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from conftest import nasprox_cli as _cli
from conftest import shared_file
from conftest import snapshot as _snapshot

pytestmark = pytest.mark.expensive  # collected first (tests/conftest.py)

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
OTHER = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"


def _score(out, *extra):
    return _cli("score", "--space", "nats-tss", "--no-progress", "--out", out, *extra)


def _scores(path) -> list[float]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return [float(r["score"]) for r in csv.DictReader(fh)]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """The same 16 real-looking images stored four ways: uint8 NHWC, float 0..1, channels first, float 0..255."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, 16)
    np.savez(folder / "uint8.npz", x=x, y=y)
    np.savez(folder / "float01.npz", x=x.astype(np.float32) / 255.0, y=y)
    np.savez(folder / "nchw.npz", x=x.transpose(0, 3, 1, 2), y=y)
    np.savez(folder / "float255.npz", x=x.astype(np.float64), y=y)
    return folder


def test_npz_layouts_and_value_ranges_are_converted_with_a_note(images, tmp_path):
    """float32 images in [0, 1] were divided by 255 again (snip 1.26 instead of 6.63); channels-first arrays and
    other dtypes are read as the same pixels, each with one note line, and give identical scores."""
    reference = tmp_path / "uint8.csv"
    res = _score(reference, "--proxy", "snip", "--archs", "0:2", "--data-root", images / "uint8.npz", "--batch-size", 8)
    assert res.returncode == 0, res.stderr
    assert "warning" not in res.stderr
    notes = {"float01": "float32 in 0..1; scaled by 255", "nchw": "channels-first", "float255": "float64 in 0..255"}
    for name, note in notes.items():
        out = tmp_path / f"{name}.csv"
        res = _score(out, "--proxy", "snip", "--archs", "0:2", "--data-root", images / f"{name}.npz", "--batch-size", 8)
        assert res.returncode == 0, res.stderr
        assert sum(note in line for line in res.stderr.splitlines()) == 1, res.stderr
        assert _scores(out) == _scores(reference), name


def test_identical_duplicate_ground_truth_lines_pass(tmp_path):
    gt = tmp_path / "gt.csv"
    gt.write_text(f"arch,cifar10_test_acc\n{ARCH},93.66\n{OTHER},85.86\n{ARCH},93.66\n")
    out = tmp_path / "r.csv"
    res = _score(
        out, "--proxy", "params", "--synthetic", "--arch-list", _arch_list(tmp_path, ARCH), "--ground-truth", gt
    )
    assert res.returncode == 0, res.stderr
    with open(out, newline="") as fh:
        assert [r["gt_test_acc"] for r in csv.DictReader(fh)] == ["93.66"]


def _arch_list(folder: Path, *archs: str) -> Path:
    path = folder / "archs.txt"
    path.write_text("".join(f"{a}\n" for a in archs))
    return path


def test_arch_list_duplicates_are_dropped_up_front_with_a_count(tmp_path):
    out = tmp_path / "r.csv"
    res = _score(out, "--proxy", "params", "--synthetic", "--arch-list", _arch_list(tmp_path, ARCH, OTHER, ARCH))
    assert res.returncode == 0, res.stderr
    assert "1 repeated architecture(s) in the selection dropped; 2 distinct ones scored" in res.stderr
    assert "wrote 2 rows (0 not ok) for 2 architectures" in res.stderr
    assert len(_scores(out)) == 2


def test_resume_reads_a_csv_saved_with_a_byte_order_mark(tmp_path):
    out = tmp_path / "r.csv"
    assert _score(out, "--proxy", "params", "--synthetic", "--archs", "0:2").returncode == 0
    out.write_bytes(b"\xef\xbb\xbf" + out.read_bytes())  # what a spreadsheet's "CSV UTF-8" save adds
    res = _score(out, "--proxy", "params", "--synthetic", "--archs", "0:3")
    assert res.returncode == 0, res.stderr
    assert "2 rows already there, 1 of 3 architectures to go" in res.stderr
    assert len(_scores(out)) == 3


def test_a_second_writer_of_one_output_is_refused_at_once(tmp_path):
    """Two processes on one --out wrote every row twice; now the second is refused, naming the first's pid,
    and the file and its sidecar are left byte-identical. The lock goes with the writer (a clean close)."""
    from nasprox.storage.csv_store import ResultWriter, header_for, lock_path

    out = tmp_path / "r.csv"
    assert _score(out, "--proxy", "params", "--synthetic", "--archs", "0:2").returncode == 0
    before = _snapshot(tmp_path)
    with ResultWriter(out, header_for(["test_acc", "valid_acc", "params", "flops"])):  # this process writes it
        assert lock_path(out).is_file()
        res = _score(out, "--proxy", "params", "--synthetic", "--archs", "0:4")
        during = {name: data for name, data in _snapshot(tmp_path).items() if not name.endswith(".lock")}
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and f"is being written by another nasprox process (pid {os.getpid()})" in lines[0], lines
    assert during == before
    assert not lock_path(out).exists()
    assert _score(out, "--proxy", "params", "--synthetic", "--archs", "0:4").returncode == 0  # free again


def test_a_stale_lock_file_of_a_killed_writer_locks_nothing(tmp_path):
    from nasprox.storage.csv_store import lock_path

    out = tmp_path / "r.csv"
    lock_path(out).write_text("12345\n")  # left by a writer killed with SIGKILL: the OS released its lock
    res = _score(out, "--proxy", "params", "--synthetic", "--archs", "0:2")
    assert res.returncode == 0, res.stderr
    assert not lock_path(out).exists()


@pytest.mark.parametrize(
    "stop, workers",
    [("ctrl-c", 1), ("sigterm to the job", 2)],  # a scheduler's SIGTERM reaches every process of the job
)
def test_ctrl_c_says_what_was_kept_and_how_to_resume(tmp_path, stop, workers):
    out = tmp_path / "r.csv"
    cmd = [sys.executable, "-m", "nasprox", "score", "--space", "nats-tss", "--proxy", "params", "--synthetic"]
    cmd += ["--archs", "0:2000", "--out", str(out), "--workers", str(workers)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while (not out.is_file() or out.read_text().count("\n") < 4) and time.monotonic() < deadline:
        time.sleep(0.1)
    if stop == "ctrl-c":
        proc.send_signal(signal.SIGINT)
    else:
        os.killpg(proc.pid, signal.SIGTERM)  # the parent and its workers, as a job's end sends it
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    last = err.strip().splitlines()[-1]
    assert last.startswith("nasprox: interrupted: ") and "run the same command again to resume" in last, err
    assert "Traceback" not in err
    kept = len(_scores(out))
    assert f"{kept} rows written to {out} in this run are kept" in last
    from nasprox.storage.csv_store import lock_path
    from nasprox.storage.provenance import read_provenance

    assert not lock_path(out).exists()
    assert read_provenance(out)[-1]["status"] == "interrupted"
    with open(out, newline="") as fh:
        assert {r["status"] for r in csv.DictReader(fh)} == {"ok"}  # no worker died mid-row


def _failed_copy(source: Path, out: Path, proxy: str) -> Path:
    with open(source, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row.update(proxy=proxy, status="error", score="nan", error="RuntimeError: boom")
    with open(out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """params on 4 NATS-TSS cells with ground truth, and the same rows as another proxy whose every row failed."""
    folder = tmp_path_factory.mktemp("scored")
    out = folder / "ok.csv"
    res = _score(
        out,
        "--proxy",
        "params",
        "--synthetic",
        "--archs",
        "0:4",
        "--ground-truth",
        shared_file("nb201/nb201_test_acc_200ep.csv"),
    )
    assert res.returncode == 0, res.stderr
    _failed_copy(out, folder / "failed.csv", "synflow")
    return folder


def test_correlate_and_report_warn_about_a_proxy_with_no_ok_row(scored, tmp_path):
    expected = "nats-tss/cifar10: synflow has no ok row (4 error); most common error (4x): RuntimeError: boom"
    res = _cli("correlate", scored / "ok.csv", scored / "failed.csv")
    assert res.returncode == 0, res.stderr
    assert expected in res.stderr
    res = _cli("report", scored / "ok.csv", scored / "failed.csv", "--out", tmp_path / "rep", "--bootstrap", "0")
    assert res.returncode == 0, res.stderr
    assert expected in res.stderr
    figures = sorted(p.name for p in (tmp_path / "rep" / "figures").glob("*.png"))
    assert figures == ["scatter_nats-tss_cifar10_params.png", "top_curve_nats-tss_cifar10.png"]


def test_correlate_drops_repeated_rows_with_a_warning_and_refuses_conflicting_ones(scored, tmp_path):
    single = _cli("correlate", scored / "ok.csv", "--format", "csv")
    double = _cli("correlate", scored / "ok.csv", scored / "ok.csv", "--format", "csv")
    assert double.returncode == 0, double.stderr
    assert double.stdout == single.stdout
    assert "dropped 4 row(s) repeating a result key already read (same score; params 4)" in double.stderr
    clash = _cli("correlate", scored / "ok.csv", _failed_copy(scored / "ok.csv", tmp_path / "f.csv", "params"))
    assert clash.returncode == 2
    assert "one result key twice with different scores: params on nats-tss/cifar10" in clash.stderr


def test_progress_without_a_terminal_is_plain_lines_with_rate_and_eta(tmp_path):
    res = _cli(
        "score",
        "--space",
        "nats-tss",
        "--proxy",
        "params",
        "--synthetic",
        "--archs",
        "0:20",
        "--out",
        tmp_path / "r.csv",
    )
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("scoring: ")]
    assert lines[0].startswith("scoring: 1/20 architectures (5%)") and lines[-1].startswith("scoring: 20/20")
    assert all("archs/s" in ln and "ETA" in ln for ln in lines)
    assert len(lines) <= 12  # every tenth of the run (and every 30 s), not one per architecture


def test_progress_lines_come_every_tenth_or_every_interval():
    from nasprox.api import _ProgressLines

    said: list[str] = []
    now = [0.0]
    progress = _ProgressLines(100, said.append, every_s=30.0, clock=lambda: now[0])
    for _ in range(9):  # 1 s per architecture: the first, then the tenth
        now[0] += 1.0
        progress()
    assert [ln.split(" architectures")[0] for ln in said] == ["scoring: 1/100"]
    now[0] += 40.0  # a slow architecture: a line after 30 s even before the next tenth
    progress()
    assert said[-1].startswith("scoring: 10/100 architectures (10%)") and "ETA" in said[-1]
    now[0] += 45.0
    progress()
    assert said[-1].startswith("scoring: 11/100") and "elapsed 0:01:34" in said[-1]


def test_score_model_names_the_expected_input_shape():
    import torch
    from torch import nn

    import nasprox
    from nasprox.core import NasproxError

    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    with pytest.raises(NasproxError) as err:
        nasprox.score_model(net, torch.randn(4, 32, 32, 3), proxies=["params"])  # NHWC instead of NCHW
    message = str(err.value)
    assert "\n" not in message
    assert "does not take inputs of shape (4, 32, 32, 3); its first layer expects (N, 3, H, W)" in message


def test_score_model_reads_the_class_count_from_the_logits_element():
    import torch
    from torch import nn

    import nasprox
    from nasprox.api import _input_spec

    class LogitsAndFeatures(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 32))
            self.head = nn.Linear(32, 7)

        def forward(self, x):
            features = self.features(x)
            return self.head(features), features

    net = LogitsAndFeatures()
    with mock.patch("nasprox.api._input_spec", wraps=_input_spec) as spec:
        nasprox.score_model(net, torch.randn(8, 3, 8, 8), proxies=["params"])
    assert spec.call_args.args[1] == 7  # not 32, the width of the features element


def test_main_gives_a_callers_own_sigterm_handler_back():
    """The CLI's SIGTERM handler lives as long as the command: a program calling ``main`` keeps its own."""
    from nasprox.cli import main

    def mine(signum, frame):
        return None

    before = signal.signal(signal.SIGTERM, mine)
    try:
        with pytest.raises(SystemExit) as stop:
            main(["spaces"])
        assert stop.value.code == 0 and signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, before)
