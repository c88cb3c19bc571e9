"""Activation x initialisation selection with NEAR (NEAR Tables 7-8) and `nasprox select-init`."""

import io

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import integrate
from typer.testing import CliRunner

from nasprox.cli import app
from nasprox.proxies.near import hooked_modules, near_score
from nasprox.search.initgrid import GridSpec, _seed, score_grid
from nasprox.search.mlp import STANH_SCALE, apply_init, build_mlp, load_features

CIFAR = "inputs/cifar10_test_1000_from_jpg.npz"


def test_stanh_scale_is_the_unit_variance_factor_for_gaussian_inputs():
    second_moment = integrate.quad(
        lambda z: np.tanh(z) ** 2 * np.exp(-z * z / 2) / np.sqrt(2 * np.pi), -np.inf, np.inf
    )[0]
    assert STANH_SCALE == pytest.approx(1 / np.sqrt(second_moment), rel=5e-4)  # 1.59223 vs 1.59254


def test_init_schemes_have_their_documented_ranges():
    torch.manual_seed(0)
    model = build_mlp(400, [300], 10, "stanh")
    apply_init(model, "stanh")
    w = model[0].weight.detach()
    bound = np.sqrt(3 / 400)
    assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.95 * bound
    assert float(w.var()) == pytest.approx(1 / 400, rel=0.03) and float(model[0].bias.detach().abs().max()) == 0
    apply_init(model, "uniform")
    assert 0.95 < float(model[0].weight.detach().abs().max()) <= 1.0 and float(model[0].bias.detach().abs().max()) > 0.9
    apply_init(model, "xavier_uniform")
    assert float(model[0].weight.detach().abs().max()) <= np.sqrt(6 / (400 + 300))


def test_near_hooks_the_stanh_activation():
    assert len(hooked_modules(build_mlp(10, [6, 4], 2, "stanh"))) == 5


def test_grid_near_matches_the_reference_near_score_on_real_images(shared):
    """Each cell's mean NEAR equals near_score (the §5.1 reference path) on the same networks and samples."""
    x, y, _ = load_features(shared(CIFAR), limit=120)
    spec = GridSpec("mlp", (x.shape[1],), 10, (32, 32))
    table = score_grid(
        spec, x, y, activations=("relu", "stanh"), inits=("kaiming_uniform", "stanh"), repetitions=2, seed=4
    )
    assert sorted(table["rank"]) == [1, 2, 3, 4] and (table["near_std"] >= 0).all()
    row = table[(table.activation == "stanh") & (table.init == "kaiming_uniform")].iloc[0]
    values = []
    for rep in range(2):
        seed = _seed(4, "stanh", "kaiming_uniform", rep)
        torch.manual_seed(seed)
        model = apply_init(spec.build("stanh"), "kaiming_uniform")
        order = np.random.default_rng(seed).permutation(len(x))
        values.append(
            near_score(model, [x[i : i + 1] for i in order], repetitions=1, rng=np.random.default_rng([seed, 51]))
        )
    assert row.near_mean == pytest.approx(np.mean(values), rel=1e-9)
    assert row.near_std == pytest.approx(np.std(values), rel=1e-6, abs=1e-9)
    # 2 hidden layers of 32 + classifier of 10: five matrices, each erank <= its width
    assert 5 < row.near_mean <= 32 * 4 + 10


def test_cli_cnn_grid_with_a_second_proxy_as_csv(shared):
    result = CliRunner().invoke(
        app,
        [
            "select-init",
            "--data",
            str(shared(CIFAR)),
            "--model",
            "cnn",
            "--activation",
            "relu,tanh",
            "--init",
            "kaiming_uniform,uniform",
            "--repetitions",
            "2",
            "--limit",
            "64",
            "--proxy",
            "grad_norm",
            "--format",
            "csv",
        ],
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.output))
    assert len(table) == 4 and set(table.activation) == {"relu", "tanh"}
    assert list(table["rank"]) == sorted(table["rank"])
    assert np.isfinite(table["grad_norm_mean"]).all() and (table["grad_norm_mean"] > 0).all()
    assert table["near_mean"].is_monotonic_decreasing


@pytest.mark.parametrize(
    "args, message",
    [
        (["--init", "orthogonal"], "unknown initialisation"),
        (["--activation", "swish"], "unknown activation"),
        (["--hidden", "a,b"], "comma-separated integers"),
        (["--proxy", "nosuchproxy"], "unknown proxy"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(shared, args, message):
    result = CliRunner().invoke(
        app, ["select-init", "--data", str(shared(CIFAR)), "--limit", "80", "--repetitions", "1", *args]
    )
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
