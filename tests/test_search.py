"""Search strategies with proxy warm-up/move on the NB201 oracle, and `nasprox search`.

Proxy values are NASLib's synflow scores (NAS-Bench-Suite-Zero, 491 NB201 archs) and the oracle is
the NATS-TSS 200-epoch CIFAR-10 test accuracy; the effects checked are measured, not built in.
"""

import ast
import io
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nasprox.cli import app
from nasprox.core import SPACES
from nasprox.engine.runner import make_space
from nasprox.search.strategies import SearchProblem, run_strategy
from nasprox.spaces.nats._nb201_codec import naslib_to_arch_string

TSS = make_space("nats-tss")


def nb201_neighbours(key):
    """The space's declared neighbourhood, as arch strings."""
    return [TSS.key(i) for i in TSS.neighbours(TSS.index_of(key))]


GT = "nb201/nb201_test_acc_200ep.csv"
ZC = "naslib_suite_zero/zc_nasbench201.json"


@pytest.fixture(scope="module")
def gt_table():
    from conftest import shared_file

    return pd.read_csv(shared_file(GT))


@pytest.fixture(scope="module")
def synflow(gt_table):
    from conftest import shared_file

    zc = json.loads(shared_file(ZC).read_text())["nasbench201"]["cifar10"]
    keys = [naslib_to_arch_string(ast.literal_eval(t)) for t in zc]
    index = {k: i for i, k in enumerate(gt_table["ArchitectureString"])}
    return pd.DataFrame(
        {
            "arch": keys,
            "arch_index": [index[k] for k in keys],
            "score": [zc[t]["synflow"] for t in zc],
            "test_acc": gt_table["CIFAR10TestAccuracy200Epochs"].to_numpy()[[index[k] for k in keys]],
        }
    )


def _problem(frame, with_proxy=True):
    keys = frame["arch"].tolist()
    position = {k: i for i, k in enumerate(keys)}
    return SearchProblem(
        keys,
        frame["test_acc"].to_numpy(),
        frame["score"].to_numpy().__getitem__ if with_proxy else None,
        lambda p, rng: [position[k] for k in nb201_neighbours(keys[p]) if k in position],
    )


def test_nb201_neighbours_are_the_24_one_edge_edits_and_all_exist(gt_table):
    key = gt_table["ArchitectureString"][123]
    neighbours = nb201_neighbours(key)
    assert len(set(neighbours)) == 24 and key not in neighbours
    assert set(neighbours) <= set(gt_table["ArchitectureString"])
    for other in neighbours:
        assert sum(a != b for a, b in zip(key.split("|"), other.split("|"))) == 1


def test_proxy_warmup_beats_random_search_early(synflow):
    problem = _problem(synflow)
    seeds = range(100)
    plain = run_strategy(problem, "random", 50, seeds)
    warm = run_strategy(problem, "random+warmup", 50, seeds, warmup_pool=50)
    evo_warm = run_strategy(problem, "evolution+warmup", 50, seeds, warmup_pool=50, population=10, sample=3)
    for k in (5, 10):
        assert warm[:, k - 1].mean() > plain[:, k - 1].mean() + 0.2  # measured gap ~0.5-0.9 points
        assert evo_warm[:, k - 1].mean() > plain[:, k - 1].mean() + 0.2
    assert (np.diff(warm, axis=1) >= 0).all()  # best-so-far curves never drop
    assert warm.max() <= synflow["test_acc"].max()


def test_evolution_beats_random_search_on_the_full_space(gt_table):
    keys = gt_table["ArchitectureString"].tolist()
    acc = gt_table["CIFAR10TestAccuracy200Epochs"].to_numpy()
    position = {k: i for i, k in enumerate(keys)}
    problem = SearchProblem(keys, acc, None, lambda p, rng: [position[k] for k in nb201_neighbours(keys[p])])
    random_runs = run_strategy(problem, "random", 200, range(30))
    evolution_runs = run_strategy(problem, "evolution", 200, range(30))
    # aging evolution exploits the one-edit neighbourhood (measured 94.36 vs 93.94 at 200 archs)
    assert evolution_runs[:, -1].mean() > random_runs[:, -1].mean() + 0.2
    assert random_runs[:, -1].max() <= acc.max()


def test_each_architecture_is_trained_once():
    acc = np.arange(30, dtype=float)
    problem = SearchProblem([str(i) for i in range(30)], acc, None, lambda p, rng: [(p + 1) % 30, (p + 2) % 30])
    curve = run_strategy(problem, "evolution", 30, [0], population=5, sample=2)[0]
    assert curve[-1] == 29 and curve[29] == 29  # 30 distinct archs trained exhaust the domain
    assert run_strategy(problem, "random", 30, [1])[0][29] == 29


def _need_nats():
    if "nats-tss" not in SPACES:
        pytest.skip("the nats-tss space is not registered in this checkout")


def _scores_csv(synflow, path):
    rows = synflow.assign(
        space="nats-tss",
        dataset="cifar10",
        proxy="synflow",
        status="ok",
        proxy_version="1",
        seed=0,
        data_config="naslib",
    )
    rows[
        ["space", "arch_index", "arch", "dataset", "proxy", "proxy_version", "seed", "data_config", "score", "status"]
    ].to_csv(path, index=False)
    return path


def test_cli_search_with_a_scores_csv_and_the_space_oracle(synflow, tmp_path, shared):
    _need_nats()
    scores = _scores_csv(synflow, tmp_path / "synflow.csv")
    png = tmp_path / "curves.png"
    result = CliRunner().invoke(
        app,
        [
            "search",
            "--space",
            "nats-tss",
            "--dataset",
            "cifar10",
            "--scores",
            str(scores),
            "--proxy",
            "synflow",
            "--ground-truth",
            str(shared(GT)),
            "--seeds",
            "40",
            "--budget",
            "50",
            "--warmup-pool",
            "50",
            "--population",
            "10",
            "--sample-size",
            "3",
            "--checkpoints",
            "10,25,50",
            "--format",
            "csv",
            "--plot",
            str(png),
        ],
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.stdout)).set_index("strategy")
    assert len(table) == 6
    assert table.loc["random+warmup", "acc@10"] > table.loc["random", "acc@10"]
    assert table.loc["evolution+warmup", "acc@10"] > table.loc["evolution", "acc@10"]
    assert (table["acc@50"] <= synflow["test_acc"].max() + 1e-9).all()
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_cli_unknown_strategy_is_one_line_exit_2(synflow, tmp_path, shared):
    _need_nats()
    result = CliRunner().invoke(
        app,
        [
            "search",
            "--space",
            "nats-tss",
            "--scores",
            str(_scores_csv(synflow, tmp_path / "s.csv")),
            "--ground-truth",
            str(shared(GT)),
            "--strategy",
            "hillclimb",
        ],
    )
    assert result.exit_code == 2 and "unknown strategy" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cli_warmup_without_a_proxy_is_exit_2(shared):
    _need_nats()
    result = CliRunner().invoke(
        app,
        [
            "search",
            "--space",
            "nats-tss",
            "--ground-truth",
            str(shared(GT)),
            "--strategy",
            "random+warmup",
            "--budget",
            "5",
            "--seeds",
            "1",
        ],
    )
    assert result.exit_code == 2 and "needs a proxy" in result.output


def test_cli_unknown_proxy_in_scores_is_exit_2(synflow, tmp_path, shared):
    _need_nats()
    result = CliRunner().invoke(
        app,
        [
            "search",
            "--space",
            "nats-tss",
            "--scores",
            str(_scores_csv(synflow, tmp_path / "s.csv")),
            "--proxy",
            "snip",
            "--ground-truth",
            str(shared(GT)),
        ],
    )
    assert result.exit_code == 2 and "not in" in result.output
