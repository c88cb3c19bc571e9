"""A researcher's own proxy beside every baseline: --plugin FILE, `nasprox.plugins` entry points, NASPROX_PLUGINS;
provenance and resume keys of plug-in proxies; one-line errors for broken plug-ins; `nasprox check-plugin`."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import shared_file
from typer.testing import CliRunner

from nasprox.cli import app
from nasprox.core import PROXIES, SPACES, plugins

HERE = Path(__file__).parent
FIXTURES = HERE / "plugins"
REPO = HERE.parent
runner = CliRunner()
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def _isolated_registries():
    """What a test's plug-ins register is taken out again, so registry-wide tests elsewhere never see them."""
    PROXIES.names(), SPACES.names()
    proxies, spaces, loaded = PROXIES.registered(), SPACES.registered(), dict(plugins._LOADED)
    yield
    for registry, before in ((PROXIES, proxies), (SPACES, spaces)):
        for name in registry.registered() - before:
            registry.unregister(name)
    plugins._LOADED.clear()
    plugins._LOADED.update(loaded)


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (extra.pop("PYTHONPATH", ""), os.environ.get("PYTHONPATH", "")) if p)
    env = {k: v for k, v in os.environ.items() if k != "NASPROX_PLUGINS"}
    return {**env, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", **extra}


def nasprox(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nasprox", *args], capture_output=True, text=True, cwd=cwd, env=_env(**env), timeout=300
    )


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("nasprox: error: plug-in "), stderr
    return lines[0]


# -- --plugin FILE: scores beside the baselines, provenance, resume key ----------------------------------------
def test_a_plugin_file_scores_beside_a_baseline_its_sha_in_version_and_provenance(tmp_path):
    plugin = tmp_path / "my_proxy.py"
    shutil.copy(FIXTURES / "good_proxy.py", plugin)
    out = tmp_path / "run.csv"
    args = ("score", "--plugin", str(plugin), "--space", "nats-tss", "--proxy", "plug_grad_abs,params")
    args += ("--archs", "0:2", "--synthetic", "--batch-size", "4", "--out", str(out), "--no-progress")
    res = nasprox(*args)
    assert res.returncode == 0, res.stderr
    sha = hashlib.sha256(plugin.read_bytes()).hexdigest()
    first = rows(out)
    assert {(r["proxy"], r["proxy_version"], r["status"]) for r in first} == {
        ("plug_grad_abs", f"1+sha256.{sha[:12]}", "ok"),
        ("params", "1", "ok"),
    }
    run = json.loads(Path(f"{out}.provenance.json").read_text())["runs"][-1]
    assert run["plugins"] == [
        {
            "kind": "file",
            "source": str(plugin.resolve()),
            "module": run["plugins"][0]["module"],
            "sha256": sha,
            "proxies": ["plug_grad_abs"],
        }
    ]
    assert run["config"]["plugins"] == [str(plugin.resolve())]

    # editing the plug-in makes its finished rows another result (scored again, on 2 worker processes that load
    # the file themselves); the baseline's rows stay done
    plugin.write_text(plugin.read_text() + "\n# tuned\n")
    res = nasprox(*args, "--workers", "2")
    assert res.returncode == 0, res.stderr
    new_sha = hashlib.sha256(plugin.read_bytes()).hexdigest()
    added = rows(out)[len(first) :]
    assert [(r["proxy"], r["proxy_version"], r["status"]) for r in added] == [
        ("plug_grad_abs", f"1+sha256.{new_sha[:12]}", "ok")
    ] * 2


def test_every_command_that_resolves_proxies_or_spaces_takes_plugin():
    commands = ["score", "reproduce", "correlate", "report", "proxies", "spaces", "search", "pareto", "predict"]
    commands += ["ensemble", "merge", "select-init", "layersize", "unique-cells"]
    for command in commands:
        res = runner.invoke(app, [command, "--help"], terminal_width=200)
        assert "--plugin" in res.output, command


def test_proxies_lists_a_plugin_proxy_in_process():
    res = runner.invoke(app, ["proxies", "--plugin", str(FIXTURES / "good_proxy.py")])
    assert res.exit_code == 0, res.output
    assert "plug_grad_abs" in res.output and "plug_grad_abs" in PROXIES


# -- broken plug-ins: one line naming the file and line, exit 2 ------------------------------------------------
def _syntax_error(tmp_path: Path) -> Path:
    path = tmp_path / "syntax_error.py"
    path.write_text('"""A syntax error on line 4."""\n\n\ndef broken(:\n    return 1\n')
    return path


def _unknown_field(tmp_path: Path) -> Path:
    path = tmp_path / "unknown_field.py"
    path.write_text(
        "from nasprox.core import proxy\n\n\n"
        '@proxy("plug_costs", "typo in a field", costs="free")\n'
        "def plug_costs(ctx):\n    return 1.0\n"
    )
    return path


@pytest.mark.parametrize(
    "make,line,fragments",
    [
        (_syntax_error, 4, ["SyntaxError"]),
        (lambda tmp: FIXTURES / "raises_at_import.py", 5, ["RuntimeError: cannot find my_weights.pt"]),
        (
            lambda tmp: FIXTURES / "bad_cost.py",
            6,
            ["plug_bad_cost", "cost='cheap'", "allowed values: 'free', 'forward', 'backward'"],
        ),
        (_unknown_field, 4, ["unknown metadata field 'costs'", "did you mean 'cost'"]),
    ],
    ids=["syntax", "raises", "bad-cost", "unknown-field"],
)
def test_a_broken_plugin_is_one_line_with_file_and_line(make, line, fragments, tmp_path):
    path = make(tmp_path)
    res = runner.invoke(app, ["proxies", "--plugin", str(path)])
    assert res.exit_code == 2, res.output
    error = one_line_error(res.stderr)
    assert f"{path}:{line}:" in error
    for fragment in fragments:
        assert fragment in error
    assert not {"plug_bad_cost", "plug_costs"} & PROXIES.registered()  # nothing half-loaded stays


def test_a_broken_plugin_exits_2_through_the_real_entry_point():
    path = FIXTURES / "bad_cost.py"
    res = nasprox("score", "--plugin", str(path), "--space", "nats-tss", "--proxy", "params", "--synthetic")
    assert res.returncode == 2
    assert f"{path}:6: ValueError: proxy plug_bad_cost: cost='cheap' is not allowed" in one_line_error(res.stderr)


# -- entry points ----------------------------------------------------------------------------------------------
def _install_by_hand(package: Path, site: Path) -> None:
    """What `pip install --target site tests/plugin_pkg` leaves for importlib.metadata, without a build: the
    package plus a dist-info with METADATA and entry_points.txt as its pyproject.toml declares them."""
    declared = (package / "pyproject.toml").read_text()
    assert 'name = "nasprox-ep-demo"' in declared and 'version = "0.3.1"' in declared
    assert '[project.entry-points."nasprox.plugins"]\nwidths = "nasprox_ep_demo.proxies"' in declared
    shutil.copytree(package / "nasprox_ep_demo", site / "nasprox_ep_demo")
    info = site / "nasprox_ep_demo-0.3.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nasprox-ep-demo\nVersion: 0.3.1\n")
    (info / "entry_points.txt").write_text("[nasprox.plugins]\nwidths = nasprox_ep_demo.proxies\n")


def test_the_three_ways_in_one_run_entry_point_file_and_env_var(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    _install_by_hand(HERE / "plugin_pkg", site)
    out = tmp_path / "ep.csv"
    res = nasprox("proxies", PYTHONPATH=str(site))
    assert res.returncode == 0 and "ep_width" in res.stdout, res.stderr
    plugin = FIXTURES / "good_proxy.py"
    res = nasprox(
        "score", "--space", "toy", "--proxy", "ep_width,plug_grad_abs,toy_width", "--archs", "0", "--synthetic",
        "--plugin", str(plugin), "--out", str(out), "--no-progress",
        PYTHONPATH=os.pathsep.join([str(site), str(HERE)]), NASPROX_PLUGINS="toy_plugin",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    sha = hashlib.sha256(plugin.read_bytes()).hexdigest()
    assert (
        [(r["proxy"], r["proxy_version"], r["status"]) for r in rows(out)]
        == [
            ("ep_width", "2+nasprox-ep-demo-0.3.1", "ok"),  # the package's name and version
            ("plug_grad_abs", f"1+sha256.{sha[:12]}", "ok"),  # the file's content
            ("toy_width", "1", "ok"),  # NASPROX_PLUGINS: as declared
        ]
    )
    found = {p["kind"]: p for p in json.loads(Path(f"{out}.provenance.json").read_text())["runs"][-1]["plugins"]}
    entry = found["entry-point"]
    assert (entry["package"], entry["package_version"], entry["proxies"]) == ("nasprox-ep-demo", "0.3.1", ["ep_width"])
    assert entry["source"] == "widths = nasprox_ep_demo.proxies"
    assert (found["file"]["source"], found["file"]["sha256"]) == (str(plugin.resolve()), sha)
    assert found["module"]["source"] == "toy_plugin" and found["module"]["spaces"] == ["toy"]
    assert found["module"]["sha256"] == hashlib.sha256((HERE / "toy_plugin.py").read_bytes()).hexdigest()


# -- check-plugin ----------------------------------------------------------------------------------------------
def check(*args: str):
    return runner.invoke(app, ["check-plugin", *args, "--archs", "1", "--batch-size", "4"])


def test_check_plugin_passes_a_good_plugin():
    res = check(str(FIXTURES / "good_proxy.py"))
    assert res.exit_code == 0, res.output
    assert "PASS  plug_grad_abs    scores" in res.output
    assert (
        "PASS  plug_grad_abs    follows_batch            all 4 handed samples fed at batch 4; all 2 handed samples "
        "fed at batch 2" in res.output
    )


@pytest.mark.parametrize(
    "fixture,failing",
    [
        ("mutates_model.py", "leaves_model_unchanged   nats-tss arch 0: AssertionError: network changed: tensor"),
        ("silent_nan.py", "scores                   nats-tss arch 0: returned nan silently"),
        ("own_batch.py", "follows_batch            at batch 4 only 0 of the 4 samples it was handed reach the network"),
    ],
)
def test_check_plugin_fails_a_broken_contract(fixture, failing):
    res = check(str(FIXTURES / fixture))
    assert res.exit_code == 1, res.output
    fails = [ln for ln in res.output.splitlines() if ln.startswith("FAIL")]
    assert len(fails) == 1 and failing in fails[0], res.output


def test_check_plugin_on_a_file_that_does_not_load_exits_2(tmp_path):
    res = check(str(FIXTURES / "raises_at_import.py"))
    assert res.exit_code == 2 and "raises_at_import.py:5: RuntimeError" in one_line_error(res.stderr)
    res = check(str(tmp_path / "absent.py"))
    assert res.exit_code == 2 and "no such file" in res.stderr


@pytest.mark.parametrize("name", ["naswot", "snip", "zico", "tcet_synflow", "meco"])
def test_builtin_proxies_feed_the_network_the_batch_they_are_handed(name):
    # at their declared batch (meco: 1) and half of it, capped to keep it fast; tcet_synflow also feeds a
    # data-free all-ones input, zico splits the batch: both allowed
    from nasprox.engine.contract import Scorer, _config, batch_problems, make_space

    size = min(Scorer(_config("nats-tss", "cifar10", [name])).batch_size_for(PROXIES.get(name)), 8)
    problems, note = batch_problems(name, "nats-tss", "cifar10", make_space("nats-tss").arch(0), size)
    assert not problems and note.startswith(f"all {size} handed samples fed"), (problems, note)


def test_a_proxy_scoring_a_slice_of_its_batch_fails_follows_batch(monkeypatch):
    from nasprox.engine.contract import batch_problems, make_space

    problems, _ = batch_problems("meco", "nats-tss", "cifar10", make_space("nats-tss").arch(0), 4)  # first sample only
    assert problems == [
        "at batch 4 only 1 of the 4 samples it was handed reach the network (1 samples fed); "
        "score ctx.inputs (and ctx.next_batch())"
    ]


# -- score --like: the user's rows join a committed reproduction --------------------------------------------------
COMMITTED = REPO / "results" / "reproduction" / "nats-tss_cifar10.csv"


@pytest.fixture
def cut_reproduction(tmp_path, shared):
    """The committed NATS-TSS CIFAR-10 reproduction cut to its first 3 snip rows, with its provenance sidecar."""
    shared("inputs/cifar10_test_1000_from_jpg.npz")
    if not COMMITTED.is_file():
        pytest.skip(f"{COMMITTED} is absent")
    with open(COMMITTED, newline="") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        kept = []
        for row in reader:
            if row["proxy"] == "snip":
                kept.append(row)
            if len(kept) == 3:
                break
    cut = tmp_path / "cut.csv"
    with open(cut, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
    shutil.copy(f"{COMMITTED}.provenance.json", f"{cut}.provenance.json")
    return cut, kept


def test_like_reproduces_the_committed_data_config(cut_reproduction, tmp_path):
    cut, committed = cut_reproduction
    out = tmp_path / "mine.csv"
    res = nasprox(
        "score", "--like", str(cut), "--plugin", str(FIXTURES / "good_proxy.py"), "--proxy", "plug_grad_abs,snip",
        "--out", str(out), "--no-progress", cwd=REPO,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    mine = rows(out)
    # the architectures, seed, dataset and the data config (data source, batch 64, layout, threads) of the CSV
    assert [r["arch_index"] for r in mine] == [r["arch_index"] for r in committed for _ in range(2)]
    assert {(r["space"], r["dataset"], r["seed"], r["data_config"], r["batch_size"]) for r in mine} == {
        ("nats-tss", "cifar10", "0", committed[0]["data_config"], "64")
    }
    assert all(r["status"] == "ok" and r["gt_test_acc"] for r in mine)  # the recorded ground truth too
    for new, old in zip([r for r in mine if r["proxy"] == "snip"], committed):
        assert float(new["score"]) == pytest.approx(float(old["score"]), rel=1e-5)  # the baseline itself, again


def test_like_keeps_the_data_config_from_another_path_and_refuses_other_data(cut_reproduction, tmp_path):
    import numpy as np

    cut, committed = cut_reproduction
    data = tmp_path / "c10.npz"
    shutil.copy(shared_file("inputs/cifar10_test_1000_from_jpg.npz"), data)
    args = ("score", "--like", str(cut), "--proxy", "synflow", "--archs", committed[0]["arch_index"])
    res = nasprox(*args, "--data-root", str(data), "--out", str(tmp_path / "a.csv"), "--no-progress", cwd=REPO)
    assert res.returncode == 0, res.stderr
    ((row,),) = [rows(tmp_path / "a.csv")]
    with open(COMMITTED, newline="") as fh:
        synflow = next(r for r in csv.DictReader(fh) if r["proxy"] == "synflow")
    assert row["data_config"] == synflow["data_config"]  # same file (sha256), another path: same data config

    arrays = dict(np.load(data))
    arrays["x"][0, 0, 0, 0] ^= 1  # one bit of one pixel
    np.savez(tmp_path / "other.npz", **arrays)
    res = nasprox(*args, "--data-root", str(tmp_path / "other.npz"), "--out", str(tmp_path / "b.csv"), cwd=REPO)
    assert res.returncode == 2 and not (tmp_path / "b.csv").exists()
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith(f"nasprox: error: --data-root {tmp_path / 'other.npz'}: sha256:") and "differs from" in line

    res = nasprox(*args, "--seed", "1", "--out", str(tmp_path / "c.csv"), cwd=REPO)
    assert res.returncode == 2 and "fixes --seed" in res.stderr


def test_check_plugin_checks_a_plugin_space_and_scores_its_proxy_there(monkeypatch):
    res = runner.invoke(app, ["check-plugin", str(FIXTURES / "tiny_space.py")])
    assert res.exit_code == 0, res.output
    assert "PASS  plug_tiny        space" in res.output
    assert "PASS  plug_tiny_act    follows_batch            all 4 handed samples fed at batch 4" in res.output
    monkeypatch.setenv("TINY_LOGITS", "7")  # the same plug-in, now building a head of the wrong width
    res = runner.invoke(app, ["check-plugin", str(FIXTURES / "tiny_space.py")])
    assert res.exit_code == 1
    assert "FAIL  plug_tiny        space                    forward gives shape (2, 7), declared (2, 10)" in res.output
