"""NEAR MLP layer-size estimation (PROXY_SPEC §5.1) and the `nasprox layersize` command."""

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from nasprox.cli import app
from nasprox.proxies.near import estimate_layer_size, hooked_modules
from nasprox.search.layersize import (
    estimate_mlp_sizes,
    fit_power_law,
    model_seed,
    power_law,
    sample_order,
    size_from_fit,
)
from nasprox.search.mlp import build_mlp, load_features

CIFAR = "inputs/cifar10_test_1000_from_jpg.npz"


def test_fit_recovers_a_known_power_law_and_the_hand_derived_size():
    # r(s) = 0.2 + 0.8 s^-0.5 passes through the (1, 1) anchor; s* = 0.005^(1/(-1.5)) = 200^(2/3)
    sizes = [4, 8, 16, 32, 64, 128]
    alpha, beta, gamma = fit_power_law(sizes, power_law(np.asarray(sizes, float), 0.2, 0.8, -0.5))
    assert (alpha, beta, gamma) == pytest.approx((0.2, 0.8, -0.5), abs=1e-6)
    assert size_from_fit(gamma, 0.005) == pytest.approx(200 ** (2 / 3), rel=1e-6)  # 34.20


def test_size_from_fit_rejects_a_non_flattening_fit():
    from nasprox.core import NasproxError

    with pytest.raises(NasproxError):
        size_from_fit(1.2)


def test_mlp_hooked_layout_puts_hidden_layer_l_at_indices_2l_and_2l_plus_1():
    model = build_mlp(12, [7, 5], 3, "silu")
    hooked = hooked_modules(model)
    assert [type(m).__name__ for m in hooked] == ["Linear", "SiLU", "Linear", "SiLU", "Linear"]
    assert (hooked[2].in_features, hooked[2].out_features) == (7, 5) and hooked[1] is model[1]


def test_greedy_first_layer_matches_the_near_reference_helper_on_real_images(shared):
    """Layer 1 of our greedy sizing equals nasprox.proxies.near.estimate_layer_size fed the same
    models and samples (an independent implementation of the fit and of the score/size step)."""
    x, _, _ = load_features(shared(CIFAR), limit=200)
    sizes = [8, 16, 32, 64, 128]
    ours = estimate_mlp_sizes(x, 10, 1, sizes, activation="tanh", repetitions=1, seed=3)[0]
    models = []
    for s in sizes:
        torch.manual_seed(model_seed(3, 0, s, 0))
        models.append(build_mlp(x.shape[1], [s], 10, "tanh"))
    samples = [x[i : i + 1] for i in sample_order(3, 0, len(x))]
    reference = estimate_layer_size(models, sizes, samples, layer_index=1, threshold=0.005, repetitions=1)
    assert ours.estimate == pytest.approx(reference, rel=1e-6)
    assert ours.chosen == round(reference)
    # erank of an n x n matrix is at most n, and the post-tanh layer of real images is far from rank 1
    assert all(1.0 < score <= s + 1e-9 for score, s in zip(ours.scores, sizes))


def test_cli_sizes_two_layers_on_real_images_and_writes_the_plot(shared, tmp_path):
    png = tmp_path / "fit.png"
    result = CliRunner().invoke(
        app,
        [
            "layersize",
            "--data",
            str(shared(CIFAR)),
            "--output-size",
            "10",
            "--hidden-layers",
            "2",
            "--sizes",
            "8,16,32,64",
            "--repetitions",
            "1",
            "--limit",
            "150",
            "--plot",
            str(png),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "chosen sizes:" in result.output
    chosen = [int(v) for v in result.output.split("chosen sizes: ")[1].split(" ")[0].split(",")]
    assert len(chosen) == 2 and all(c >= 1 for c in chosen)
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--sizes", "16"], "at least two distinct"),
        (["--sizes", "8,x"], "comma-separated integers"),
        (["--input-size", "5"], "--input-size 5"),
        (["--activation", "swish"], "unknown activation"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(shared, args, message):
    result = CliRunner().invoke(
        app, ["layersize", "--data", str(shared(CIFAR)), "--output-size", "10", "--limit", "50", *args]
    )
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_cli_missing_data_file_is_exit_2(tmp_path):
    result = CliRunner().invoke(app, ["layersize", "--data", str(tmp_path / "no.csv"), "--output-size", "1"])
    assert result.exit_code == 2 and "does not exist" in result.output
