"""Issue 7 faults not covered elsewhere: CUDA OOM back-off (simulated on CPU), NaN/inf/raising
proxies in a CLI run, and bad input files (truncated real benchmark files, another schema,
conflicting flags, unwritable outputs): one-line error, exit 2, existing results untouched.

Already tested elsewhere: SIGKILL + resume and torn lines (test_engine_storage), per-arch timeout,
worker crash, shards, determinism (test_scale_out), loader-level damage (test_space_*).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.expensive  # collected first (tests/conftest.py)

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))

import fault_plugin  # noqa: E402  (registers the fault_* proxies in this process)
import toy_plugin  # noqa: E402,F401  (the toy space)
from conftest import plugin_env, shared_file  # noqa: E402

from nasprox.core import SPACES  # noqa: E402
from nasprox.engine import RunConfig, Scorer, select_archs  # noqa: E402
from nasprox.storage.csv_store import header_for  # noqa: E402

TIMING = {"seconds", "peak_mem_mb"}
CIFAR = "inputs/cifar10_test_1000_from_jpg.npz"
TSS_DIR = "nats_format_samples/NATS-tss-v1_0-3ffb9-simple"


def run_cli(*args, tmp_path, timeout=240, env_extra=None):
    env = plugin_env("toy_plugin,fault_plugin", NASPROX_CACHE_DIR=str(tmp_path / "cache"), **(env_extra or {}))
    return subprocess.run(
        [sys.executable, "-m", "nasprox", *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=timeout
    )


def read_rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# -- CUDA OOM back-off ---------------------------------------------------------------------------
def _scorer(proxies, batch_size=64):
    return Scorer(
        RunConfig(space="toy", dataset="cifar10", proxies=proxies, synthetic=True, device="cpu", batch_size=batch_size)
    )


def test_oom_halves_the_batch_and_records_the_batch_used(monkeypatch):
    monkeypatch.setenv("FAULT_OOM_ABOVE", "8")
    fault_plugin.BATCHES_SEEN.clear()
    scorer = _scorer(["fault_oom"])
    (rec,) = scorer.score_arch(scorer.space.arch(4))
    assert (rec.status, rec.error, rec.batch_size, rec.score) == ("ok", "", 8, 8.0)
    assert [b for _, b in fault_plugin.BATCHES_SEEN] == [64, 32, 16, 8]
    # the resume key keeps the configured batch: a resumed run does not redo a backed-off row
    assert rec.key == scorer.key(scorer.space.arch(4), "fault_oom")

    fault_plugin.BATCHES_SEEN.clear()
    scorer = _scorer(["fault_oom"], batch_size=12)  # not a power of two: 12 -> 6
    (rec,) = scorer.score_arch(scorer.space.arch(0))
    assert (rec.status, rec.batch_size, rec.score) == ("ok", 6, 6.0)
    assert [b for _, b in fault_plugin.BATCHES_SEEN] == [12, 6]


def test_oom_at_the_smallest_batch_is_an_oom_row_and_the_run_goes_on():
    scorer = _scorer(["fault_oom_w3", "toy_width"], batch_size=16)
    recs = [r for recs in scorer.run(select_archs(scorer.space, archs="0:5")) for r in recs]
    got = {(r.arch, r.proxy): r for r in recs}
    assert len(recs) == 10
    bad = got["w3", "fault_oom_w3"]
    assert bad.status == "oom" and bad.batch_size == 1 and "out of memory" in bad.error
    assert bad.score != bad.score  # NaN
    assert got["w3", "toy_width"].status == "ok"  # the other proxy of the same arch still ran
    for w in (1, 2, 4, 5):
        rec = got[f"w{w}", "fault_oom_w3"]
        assert (rec.status, rec.score, rec.batch_size) == ("ok", float(w), 16)


def test_cli_run_with_oom_nan_inf_and_raising_proxies(tmp_path):
    out = tmp_path / "faults.csv"
    args = [
        "score",
        "--space",
        "toy",
        "--proxy",
        "toy_width,fault_oom,fault_oom_w3,fault_bad_value",
        "--synthetic",
        "--archs",
        "0:6",
        "--batch-size",
        "32",
        "--no-progress",
        "--out",
        str(out),
    ]
    res = run_cli(*args, tmp_path=tmp_path, env_extra={"FAULT_OOM_ABOVE": "4"})
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr and "(4 not ok)" in res.stderr
    rows = read_rows(out)
    assert len(rows) == 24
    got = {(r["arch"], r["proxy"]): r for r in rows}
    for w in range(1, 7):
        oom = got[f"w{w}", "fault_oom"]
        assert (oom["status"], oom["batch_size"], oom["score"], oom["error"]) == ("ok", "4", "4.0", "")
        assert got[f"w{w}", "toy_width"]["status"] == "ok"
    w3 = got["w3", "fault_oom_w3"]
    assert (w3["status"], w3["batch_size"], w3["score"]) == ("oom", "1", "nan")
    assert (got["w2", "fault_bad_value"]["status"], got["w2", "fault_bad_value"]["score"]) == ("nonfinite", "nan")
    assert got["w2", "fault_bad_value"]["error"] == "score is nan"
    assert (got["w3", "fault_bad_value"]["status"], got["w3", "fault_bad_value"]["error"]) == (
        "nonfinite",
        "score is -inf",
    )
    w4 = got["w4", "fault_bad_value"]
    assert (w4["status"], w4["score"], w4["error"]) == ("error", "nan", "ValueError: matrix is singular")
    assert {got[f"w{w}", "fault_bad_value"]["status"] for w in (1, 5, 6)} == {"ok"}
    not_ok = sorted((a, p) for (a, p), r in got.items() if r["status"] != "ok")
    assert not_ok == [
        ("w2", "fault_bad_value"),
        ("w3", "fault_bad_value"),
        ("w3", "fault_oom_w3"),
        ("w4", "fault_bad_value"),
    ]
    # resuming keeps failure rows as done (no retry storm, no duplicates) and the file unchanged
    before = out.read_bytes()
    again = run_cli(*args, tmp_path=tmp_path, env_extra={"FAULT_OOM_ABOVE": "4"})
    assert again.returncode == 0, again.stderr
    assert "nothing to score" in again.stderr and out.read_bytes() == before


def test_oom_back_off_in_isolated_workers_matches_in_process(tmp_path):
    common = [
        "score",
        "--space",
        "toy",
        "--proxy",
        "fault_oom,fault_oom_w3",
        "--synthetic",
        "--archs",
        "0:4",
        "--batch-size",
        "16",
        "--no-progress",
    ]
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert run_cli(*common, "--out", str(a), tmp_path=tmp_path).returncode == 0
    res = run_cli(*common, "--timeout-per-arch", "120", "--out", str(b), tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    strip = lambda rows: sorted(tuple((k, v) for k, v in r.items() if k not in TIMING) for r in rows)  # noqa: E731
    assert strip(read_rows(a)) == strip(read_rows(b))
    assert {r["batch_size"] for r in read_rows(b) if r["proxy"] == "fault_oom"} == {"8"}


def test_a_worker_killed_by_sigkill_is_an_error_row_that_names_the_likely_oom_killer(tmp_path):
    out = tmp_path / "killed.csv"
    args = ["score", "--space", "toy", "--proxy", "fault_sigkill", "--synthetic", "--archs", "0:3", "--no-progress"]
    res = run_cli(*args, "--timeout-per-arch", "120", "--out", str(out), tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    rows = {r["arch_index"]: r for r in read_rows(out)}
    assert rows["1"]["status"] == "error" and rows["2"]["status"] == "ok"  # a fresh worker scored the next cell
    assert "SIGKILL" in rows["1"]["error"] and "out-of-memory killer" in rows["1"]["error"]
    # one worker: nothing crowded it out, so the advice is not fewer workers
    assert (
        "SIGKILL while scored alone" in rows["1"]["error"] and "(more memory, or a smaller batch)" in rows["1"]["error"]
    )
    # arch 0 finished before its worker was killed on arch 1: its result was sent, and the blame is arch 1's alone
    assert rows["0"]["status"] == "ok"


def test_an_architecture_killed_beside_other_workers_is_scored_again_alone(tmp_path):
    args = ["score", "--space", "toy", "--synthetic", "--archs", "0:5", "--workers", "2", "--no-progress"]
    # killed once among two workers, fine alone: every row is ok, the killed one scored last
    once = tmp_path / "once.csv"
    env = {"FAULT_SIGKILL_MARK": str(tmp_path / "killed-once")}
    res = run_cli(*args, "--proxy", "fault_sigkill_once", "--out", str(once), tmp_path=tmp_path, env_extra=env)
    assert res.returncode == 0, res.stderr
    rows = read_rows(once)
    assert (tmp_path / "killed-once").exists() and {r["status"] for r in rows} == {"ok"} and len(rows) == 5
    assert (
        "while scoring w2; the run continues with 1 worker, and that architecture is scored again alone" in res.stderr
    )
    assert rows[-1]["arch_index"] == "1"
    # killed alone as well: an error row that says so, the other cells ok; of three workers, the killed one is
    # not replaced
    always = tmp_path / "always.csv"
    res = run_cli(*args, "--workers", "3", "--proxy", "fault_sigkill", "--out", str(always), tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    rows = {r["arch_index"]: r for r in read_rows(always)}
    assert len(rows) == 5 and [i for i, r in rows.items() if r["status"] != "ok"] == ["1"]
    assert "SIGKILL, also when scored alone" in rows["1"]["error"]
    assert "the run continues with 2 workers" in res.stderr


def test_retry_failed_scores_the_failed_rows_of_the_selection_again_and_keeps_them_on_record(tmp_path):
    out = tmp_path / "retry.csv"
    common = ["score", "--space", "toy", "--proxy", "toy_width,fault_flaky,fault_bad_value", "--synthetic"]
    first = run_cli(*common, "--archs", "0:4", "--no-progress", "--out", str(out), tmp_path=tmp_path,
                    env_extra={"FAULT_FLAKY_FAIL": "1"})  # fmt: skip
    assert first.returncode == 0, first.stderr
    status = {(r["arch"], r["proxy"]): r["status"] for r in read_rows(out)}
    assert status["w2", "fault_flaky"] == "error" and status["w4", "fault_bad_value"] == "error"
    assert status["w2", "fault_bad_value"] == "nonfinite"
    lines = out.read_bytes().splitlines(keepends=True)
    flaky_line = next(line for line in lines if line.startswith(b"toy,1,w2,") and b",fault_flaky," in line)
    # a plain resume keeps failed rows as done, and says so
    again = run_cli(*common, "--archs", "0:3", "--no-progress", "--out", str(out), tmp_path=tmp_path)
    assert "nothing to score" in again.stderr and "1 rows of this selection failed before" in again.stderr
    res = run_cli(*common, "--archs", "0:3", "--retry-failed", "--no-progress", "--out", str(out), tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "retrying 1 failed rows" in res.stderr and "(error 1)" in res.stderr
    rows = read_rows(out)
    got = {(r["arch"], r["proxy"]): r for r in rows}
    assert len(got) == len(rows) == 12  # the failed row was replaced, not duplicated
    assert (got["w2", "fault_flaky"]["status"], got["w2", "fault_flaky"]["score"]) == ("ok", "2.0")
    # w4 is outside this selection: its error stays; nonfinite is the proxy's answer: it stays too
    assert got["w4", "fault_bad_value"]["status"] == "error" and got["w2", "fault_bad_value"]["status"] == "nonfinite"
    # every other row keeps its bytes, in its place; the new row is appended
    kept = [line for line in lines if line != flaky_line]
    assert out.read_bytes().splitlines(keepends=True)[: len(kept)] == kept
    runs = json.loads(Path(str(out) + ".provenance.json").read_text())["runs"]
    assert runs[-1]["retried_rows"] == [
        {"arch": "w2", "proxy": "fault_flaky", "status": "error", "error": "RuntimeError: transient failure"}
    ]
    assert not list(tmp_path.glob("*.tmp"))


def test_failed_keys_are_what_a_retry_scores_and_drop_failed_appends_to_the_new_file(tmp_path):
    from nasprox.storage.csv_store import ResultWriter, failed_keys, written_keys

    out = tmp_path / "r.csv"
    scorer = _scorer(["toy_width", "fault_bad_value"])
    recs = [r for arch_recs in scorer.run(select_archs(scorer.space, archs="0:4")) for r in arch_recs]
    with ResultWriter(out, header_for([])) as writer:
        for rec in recs:
            writer.write(rec)
    failed = {r.key for r in recs if r.status == "error"}  # fault_bad_value raises on width 4
    assert len(failed) == 1 and failed_keys(out) == failed and failed < written_keys(out)
    with ResultWriter(out, header_for([])) as writer:
        assert writer.failed == failed
        assert writer.drop_failed(set()) == []  # outside the given keys: nothing is taken out
        assert [row["status"] for row in writer.drop_failed(failed)] == ["error"]
        assert failed.isdisjoint(writer.done) and not writer.failed and writer.rows_before == 7
        assert failed_keys(out) == set() and len(written_keys(out)) == 7
        writer.write(next(r for r in recs if r.key in failed))  # the descriptor follows the replaced file
    assert failed_keys(out) == failed and len(written_keys(out)) == 8


# -- bad input: one line, exit 2, nothing written is damaged ---------------------------------------
def _existing_results(path: Path, space: str, dataset: str, arch: str = "prior-arch") -> bytes:
    """A results file of the right schema (as a previous run would have left it)."""
    header = header_for(SPACES.get(space).gt_fields)
    values = {
        "space": space,
        "arch_index": "-1",
        "arch": arch,
        "dataset": dataset,
        "proxy": "params",
        "proxy_version": "1",
        "seed": "0",
        "data_config": "0123456789",
        "score": "0.5",
        "status": "ok",
        "error": "",
        "seconds": "0.001",
        "peak_mem_mb": "1.0",
        "batch_size": "64",
        "device": "cpu",
    }
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerow([values.get(c, "") for c in header])
    return path.read_bytes()


def assert_one_line_error(res, fragment: str):
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr, res.stderr
    errors = [ln for ln in res.stderr.splitlines() if "error" in ln.lower()]
    assert len(errors) == 1 and errors[0].startswith("nasprox: error: "), res.stderr
    assert res.stderr.rstrip().splitlines()[-1] == errors[0]  # the error is the last thing said
    assert fragment in errors[0], res.stderr


def _truncate(path: Path, keep: float | int):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep) if isinstance(keep, float) else keep])


def _nats_copy(tmp_path) -> Path:
    copy = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    shutil.copytree(shared_file(TSS_DIR), copy)
    for f in copy.iterdir():
        f.chmod(0o644)
    copy.chmod(0o755)
    return copy


def _nb101_tfrecord(tmp_path) -> Path:
    from test_space_nb101 import _benchmark_records, _frame  # the tests' own tfrecord writer

    path = tmp_path / "nasbench_only108.tfrecord"
    path.write_bytes(b"".join(_frame(r) for r in _benchmark_records()))
    return path


def _case_nats_meta(tmp_path):
    copy = _nats_copy(tmp_path)
    _truncate(copy / "meta.pickle.pbz2", 0.5)
    return "nats-tss", ["--benchmark", str(copy), "--archs", "0"], "cannot read"


def _case_nats_record(tmp_path):
    copy = _nats_copy(tmp_path)
    _truncate(copy / "000011.pickle.pbz2", 0.5)  # read lazily, mid-run, when arch 11 is scored
    return "nats-tss", ["--benchmark", str(copy), "--archs", "11"], "000011.pickle.pbz2"


def _case_nb201_csv(tmp_path):
    gt = tmp_path / "nb201_test_acc_200ep.csv"
    gt.write_bytes(shared_file("nb201/nb201_test_acc_200ep.csv").read_bytes()[:300_000])  # cut mid-row
    return "nats-tss", ["--ground-truth", str(gt), "--archs", "0"], "cells, the header has"


def _case_transnas_csv(tmp_path):
    gt = tmp_path / "tnb101_micro_valmetric_zen.csv"
    gt.write_bytes(shared_file("transnas/tnb101_micro_valmetric_zen.csv").read_bytes()[:20_000])  # cut mid-row
    return (
        "transnas-micro",
        ["--dataset", "room_layout", "--ground-truth", str(gt), "--archs", "0"],
        "cells, the header has",
    )


def _case_nb101_tfrecord(tmp_path):
    path = _nb101_tfrecord(tmp_path)
    _truncate(path, path.stat().st_size - 10)
    return "nb101", ["--benchmark", str(path)], "truncated record"


def _case_nb101_cache(tmp_path):
    path = _nb101_tfrecord(tmp_path)
    env = {**os.environ, "NASPROX_CACHE_DIR": str(tmp_path / "cache0")}
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; "
            "from nasprox.spaces.nb101._nb101_cache import load_benchmark; load_benchmark(Path(sys.argv[1]))",
            str(path),
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    (cache,) = (tmp_path / "cache0").glob("nb101-*.npz")
    _truncate(cache, 0.5)  # a cache file cut short (disk full, copied while written)
    return "nb101", ["--benchmark", str(cache)], "cannot read NB101 cache"


def _case_nlp_zip(tmp_path):
    logs = tmp_path / "logs.zip"
    logs.write_bytes(shared_file("nasbench_nlp/train_logs_wikitext-2_logs.zip").read_bytes()[:400_000])
    return "nb-nlp", ["--dataset", "wikitext-2", "--benchmark", str(logs), "--archs", "0"], "not a readable zip"


def _case_nlp_log(tmp_path):
    src = zipfile.ZipFile(shared_file("nasbench_nlp/train_logs_wikitext-2_logs.zip"))
    logs = tmp_path / "logs.zip"
    with zipfile.ZipFile(logs, "w") as dst:
        for i, name in enumerate(src.namelist()[:4]):
            data = src.read(name)
            dst.writestr(name, data[: len(data) // 2] if i == 1 else data)  # one truncated log inside
    return "nb-nlp", ["--dataset", "wikitext-2", "--benchmark", str(logs), "--archs", "0"], "invalid JSON"


def _case_input_npz(tmp_path):
    npz = tmp_path / "cifar.npz"
    npz.write_bytes(shared_file(CIFAR).read_bytes()[:500_000])
    return "nats-tss", ["--data-root", str(npz), "--archs", "0", "--proxy", "naswot"], "cannot read images"


@pytest.mark.parametrize(
    "case",
    [
        _case_nats_meta,
        _case_nats_record,
        _case_nb201_csv,
        _case_transnas_csv,
        _case_nb101_tfrecord,
        _case_nb101_cache,
        _case_nlp_zip,
        _case_nlp_log,
        _case_input_npz,
    ],
    ids=lambda c: c.__name__[6:],
)
def test_truncated_benchmark_and_input_files(tmp_path, case):
    space, args, fragment = case(tmp_path)
    dataset = args[args.index("--dataset") + 1] if "--dataset" in args else "cifar10"
    out = tmp_path / "results.csv"
    before = _existing_results(out, space, dataset)
    if "--proxy" not in args:
        args = [*args, "--proxy", "params", "--synthetic"]
    res = run_cli("score", "--space", space, *args, "--no-progress", "--out", str(out), tmp_path=tmp_path)
    assert_one_line_error(res, fragment)
    assert out.read_bytes() == before


TOY = ["score", "--space", "toy", "--proxy", "toy_width", "--no-progress"]


def test_csv_of_another_schema_version_is_refused_untouched(tmp_path):
    out = tmp_path / "old.csv"
    current = _existing_results(out, "toy", "cifar10")
    header, row = current.decode().splitlines()
    cols, vals = header.split(","), row.split(",")
    drop = cols.index("batch_size")  # what a CSV from before the batch_size column looks like
    old = (
        ",".join(c for i, c in enumerate(cols) if i != drop)
        + "\n"
        + ",".join(v for i, v in enumerate(vals) if i != drop)
        + "\n"
    ).encode()
    out.write_bytes(old + b"toy,-1,w9,cifar10,toy_wi")  # even with a torn last line: nothing is cut
    res = run_cli(*TOY, "--synthetic", "--out", str(out), tmp_path=tmp_path)
    assert_one_line_error(res, "another schema")
    assert "batch_size" in res.stderr
    assert out.read_bytes() == old + b"toy,-1,w9,cifar10,toy_wi"
    assert not Path(str(out) + ".provenance.json").exists()


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--synthetic", "--data-root", "."], "exclude each other"),
        (["--synthetic", "--archs", "0:3", "--sample", "3"], "only one of"),
        (["--synthetic", "--backend", "local", "--ray-address", "auto"], "--backend ray"),
        (["--synthetic", "--timeout-per-arch", "0"], "--timeout-per-arch"),
    ],
)
def test_conflicting_flags_leave_results_untouched(tmp_path, flags, fragment):
    out = tmp_path / "r.csv"
    before = _existing_results(out, "toy", "cifar10")
    res = run_cli(*TOY, *flags, "--out", str(out), tmp_path=tmp_path)
    assert_one_line_error(res, fragment)
    assert out.read_bytes() == before


def test_output_path_is_a_directory_or_under_a_file(tmp_path):
    (tmp_path / "adir").mkdir()
    res = run_cli(*TOY, "--synthetic", "--out", str(tmp_path / "adir"), tmp_path=tmp_path)
    assert_one_line_error(res, "adir")
    blocker = tmp_path / "results.csv"
    before = _existing_results(blocker, "toy", "cifar10")
    res = run_cli(*TOY, "--synthetic", "--out", str(blocker / "sub.csv"), tmp_path=tmp_path)
    assert_one_line_error(res, "cannot create output folder")
    assert blocker.read_bytes() == before


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_output_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    out = ro / "r.csv"
    before = _existing_results(out, "toy", "cifar10")
    ro.chmod(0o555)
    out.chmod(0o444)
    try:
        res = run_cli(*TOY, "--synthetic", "--out", str(out), tmp_path=tmp_path)
        assert_one_line_error(res, str(out))
        res = run_cli(*TOY, "--synthetic", "--out", str(ro / "new.csv"), tmp_path=tmp_path)
        assert_one_line_error(res, "new.csv")
    finally:
        ro.chmod(0o755)
    assert out.read_bytes() == before and not (ro / "new.csv").exists()
