"""Activation/output-family proxies (PROXY_SPEC §4, §5.2, §6) on tiny hand-checkable networks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from nasprox.core import PROXIES, InputSpec, ProxyContext, ProxyUndefined
from nasprox.proxies.epsilon import epsilon_from_outputs, weight_pair
from nasprox.proxies.linear_regions import count_linear_regions
from nasprox.proxies.meco import meco_values
from nasprox.proxies.ntk_cond import ntk_condition
from nasprox.proxies.swap import swap_value


def make_ctx(model_fn, inputs, *, seed=0, options=None, space="", kind="image"):
    torch.manual_seed(3)
    model = model_fn()
    state = {k: v.clone() for k, v in model.state_dict().items()}

    def build():
        fresh = model_fn()
        fresh.load_state_dict(state)
        return fresh

    gen = torch.Generator().manual_seed(99)

    def next_batch():
        return torch.randn(inputs.shape, generator=gen), torch.zeros(inputs.shape[0], dtype=torch.long)

    return ProxyContext(
        model=model,
        build_model=build,
        inputs=inputs,
        targets=torch.zeros(inputs.shape[0], dtype=torch.long),
        input_spec=InputSpec(kind, tuple(inputs.shape[1:]), 10),
        loss_fn=nn.functional.cross_entropy,
        next_batch=next_batch,
        device=torch.device("cpu"),
        seed=seed,
        space=space,
        options=options or {},
    )


def run(name, ctx):
    return PROXIES.get(name).fn(ctx)


def _identity_linear(n_in, n_out):
    lin = nn.Linear(n_in, n_out, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.eye(n_out, n_in))
    return lin


# -- NASWOT (§4.1) -----------------------------------------------------------------------------------
class ReLULinear(nn.Module):
    """A composite op whose type name contains "ReLU" (like NB201's ReLUConvBN)."""

    def __init__(self):
        super().__init__()
        self.relu = nn.ReLU()
        self.linear = nn.Linear(2, 1)

    def forward(self, x):
        return self.linear(self.relu(x))


class WithDeadBranch(nn.Module):
    def __init__(self, body):
        super().__init__()
        self.body = body
        self.dead = nn.Sequential(nn.Linear(2, 2), nn.ReLU())

    def forward(self, x):
        self.dead(x)  # computed but never reaches the output: no backward, not counted
        return self.body(x)


NASWOT_X = torch.tensor([[1.0, -1.0], [1.0, 1.0]])  # codes (1, 0) and (1, 1): N_A = 2, Hamming 1


def test_naswot_single_relu_by_hand():
    # K = [[2, 1], [1, 2]] -> det 3
    ctx = make_ctx(lambda: nn.Sequential(_identity_linear(2, 2), nn.ReLU(), nn.Linear(2, 1)), NASWOT_X)
    assert run("naswot", ctx) == pytest.approx(math.log(3.0), rel=1e-12)


def test_naswot_relu_named_composite_double_counts():
    # ReLULinear and its inner nn.ReLU both see the same input: K = 2 [[2, 1], [1, 2]] -> det 12
    ctx = make_ctx(lambda: nn.Sequential(_identity_linear(2, 2), ReLULinear()), NASWOT_X)
    assert run("naswot", ctx) == pytest.approx(math.log(12.0), rel=1e-12)


def test_naswot_counts_only_backpropagating_modules():
    ctx = make_ctx(lambda: WithDeadBranch(nn.Sequential(_identity_linear(2, 2), nn.ReLU(), nn.Linear(2, 1))), NASWOT_X)
    assert run("naswot", ctx) == pytest.approx(math.log(3.0), rel=1e-12)


# -- SWAP / reg_swap / #LR (§4.3-4.5) ----------------------------------------------------------------
def _conv_pm():
    conv = nn.Conv2d(1, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
    return nn.Sequential(conv, nn.ReLU())


def test_swap_and_linear_regions_by_hand():
    # channels x and -x on 1x2 images; ReLU signs per neuron (c0p0, c0p1, c1p0, c1p1) across samples
    distinct = torch.tensor([[1.0, -1.0], [1.0, 2.0]]).view(2, 1, 1, 2)  # (1,1) (0,1) (0,0) (1,0): 4 unique
    repeated = torch.tensor([[1.0, -1.0], [2.0, -3.0]]).view(2, 1, 1, 2)  # (1,1) (0,0) (0,0) (1,1): 2 unique
    model = _conv_pm()
    assert swap_value(model, distinct) == 4
    assert swap_value(model, repeated) == 2
    assert count_linear_regions(model, distinct) == 2  # the two samples' patterns differ
    assert count_linear_regions(model, repeated) == 1  # same pattern: one region


def test_swap_ignores_relu_on_2d_inputs():
    model = nn.Sequential(_conv_pm(), nn.Flatten(), nn.Linear(4, 3), nn.ReLU())
    x = torch.tensor([[1.0, -1.0], [1.0, 2.0]]).view(2, 1, 1, 2)
    assert swap_value(model, x) == 4  # only the conv ReLU (4-D input) is hooked


def _small_cnn():
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 10),
    )


def test_swap_proxy_bounds_samples_and_reg_factor():
    x = torch.randn(20, 3, 6, 6, generator=torch.Generator().manual_seed(5))
    opts = {"samples": "4", "repetitions": "3"}
    value = run("swap", make_ctx(_small_cnn, x, options=opts))
    d = 2 * 4 * 6 * 6
    assert 1 <= value <= min(d, 2**4)
    # parameters: conv 3*4*9+4, bn 8, conv 4*4*9+4, linear 4*10+10 = 112+8+148+50 = 318 -> 0.318 k
    mu, sigma = 0.218, 0.01  # factor exp(-(0.1)^2 / 0.01) = exp(-1)
    reg = run("reg_swap", make_ctx(_small_cnn, x, options={**opts, "mu": str(mu), "sigma": str(sigma)}))
    assert reg == pytest.approx(value * math.exp(-1.0), rel=1e-9)
    assert run("reg_swap", make_ctx(_small_cnn, x, options=opts)) == value  # no mu/sigma: factor 1


# -- NTK condition number (§4.6) ---------------------------------------------------------------------
@pytest.mark.parametrize("batched", [True, False])
def test_ntk_condition_of_linear_model_is_cond_of_gram(batched):
    # f_k(x) = W_k·x: per-sample gradient of Σ_k f_k w.r.t. W is 1 ⊗ x, so Θ = K · X Xᵀ (bias excluded)
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # X Xᵀ = diag(1, 4): κ = 4
    assert ntk_condition(nn.Linear(2, 3), x, batched=batched) == pytest.approx(4.0, rel=1e-6)
    x3 = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [1.0, 0.0, 1.0]])
    gram_eigs = np.linalg.eigvalsh((x3 @ x3.T).numpy().astype(np.float64))  # (1, 1, 4)
    assert ntk_condition(nn.Linear(3, 2), x3, batched=batched) == pytest.approx(gram_eigs[-1] / gram_eigs[0], rel=1e-5)


def test_ntk_proxy_is_negative_kappa_and_batched_matches_loop():
    x = torch.randn(6, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    fast = run("ntk_cond", make_ctx(_small_cnn, x))
    slow = run("ntk_cond", make_ctx(_small_cnn, x, options={"batched": "false"}))
    assert fast < 0 and fast == pytest.approx(slow, rel=1e-3)


def test_te_nas_is_regions_minus_kappa():
    x = torch.randn(6, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    te = run("te_nas", make_ctx(_small_cnn, x))
    regions = run("linear_regions", make_ctx(_small_cnn, x))
    kappa = -run("ntk_cond", make_ctx(_small_cnn, x))
    assert te == pytest.approx(regions - kappa, rel=1e-9)


# -- Zen (§6.1) --------------------------------------------------------------------------------------
def test_zen_one_repeat_by_hand():
    """Conv(1→1, 1x1) → BN → GAP → Linear; f = BN output; Zen = log Δ + log √running_var."""

    def model_fn():
        return nn.Sequential(
            nn.Conv2d(1, 1, 1, bias=False), nn.BatchNorm2d(1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1, 2)
        )

    x_shape = (4, 1, 2, 2)
    ctx = make_ctx(model_fn, torch.zeros(x_shape), seed=11, options={"repetitions": "1", "alpha": "0.01"})
    value = run("zen", ctx)
    # the same draws in the same order: conv weight, linear weight, x, ε
    gen = torch.Generator().manual_seed(11)
    w = torch.randn(1, 1, 1, 1, generator=gen).item()
    torch.randn(2, 1, generator=gen)
    x = torch.randn(x_shape, generator=gen).double()
    eps = torch.randn(x_shape, generator=gen).double()
    z1, z2 = w * x, w * (x + 0.01 * eps)

    def bn(z):
        return (z - z.mean()) / torch.sqrt(z.var(unbiased=False) + 1e-5)

    delta = (bn(z1) - bn(z2)).abs().reshape(4, -1).sum(1).mean().item()
    running_var = 0.9 * (0.9 * 1.0 + 0.1 * z1.var().item()) + 0.1 * z2.var().item()
    assert value == pytest.approx(math.log(delta) + math.log(math.sqrt(running_var)), rel=1e-4)


def test_zen_undefined_for_tokens():
    ctx = make_ctx(
        lambda: nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 10)), torch.zeros(2, 5, dtype=torch.long), kind="tokens"
    )
    with pytest.raises(ProxyUndefined):
        run("zen", ctx)


# -- MeCo (§5.2) -------------------------------------------------------------------------------------
def _meco_input(*rows):
    return torch.tensor(rows, dtype=torch.float32).view(1, len(rows), 1, -1)


def test_meco_known_correlation():
    # channels (1,2,3) and (1,3,2): r = 1/2, λ_min = 1 − 1/2; hooked twice (root Sequential + Identity)
    x = _meco_input([1, 2, 3], [1, 3, 2])
    assert sum(meco_values(nn.Sequential(nn.Identity()), x)) == pytest.approx(1.0, abs=1e-12)
    # a constant channel gives NaN correlations -> 0 -> λ_min = 0
    x = _meco_input([1, 2, 3], [1, 3, 2], [5, 5, 5])
    assert sum(meco_values(nn.Sequential(nn.Identity()), x)) == pytest.approx(0.0, abs=1e-12)


def test_meco_flat_outputs_contribute_zero():
    # Identity (4-D) adds 1/2; Flatten's (1, 6) output and the root's have one observation per row -> 0
    x = _meco_input([1, 2, 3], [1, 3, 2])
    values = meco_values(nn.Sequential(nn.Identity(), nn.Flatten()), x)
    assert len(values) == 3 and sum(values) == pytest.approx(0.5, abs=1e-12)
    ctx = make_ctx(lambda: nn.Sequential(nn.Identity(), nn.Flatten()), torch.cat([x, x * 2]))
    assert run("meco", ctx) == pytest.approx(0.5, abs=1e-12)  # only the first image is used


def test_meco_opt_with_eight_channels_equals_meco_and_needs_eight():
    x = torch.randn(2, 8, 3, 3, generator=torch.Generator().manual_seed(0))

    def model_fn():
        return nn.Sequential(nn.Identity())

    assert run("meco_opt", make_ctx(model_fn, x)) == pytest.approx(run("meco", make_ctx(model_fn, x)), rel=1e-9)
    with pytest.raises(ProxyUndefined):
        run("meco_opt", make_ctx(model_fn, x[:, :4]))


# -- epsilon (§6.2) ----------------------------------------------------------------------------------
def test_epsilon_min_max_and_nan_rules_by_hand():
    # v1 = (0, 1, 2) -> (NaN, .5, 1); v2 = (0, 2, 1) -> (NaN, 1, .5); δ = .5, μ = .75
    assert epsilon_from_outputs(np.array([0.0, 1, 2]), np.array([0.0, 2, 1])) == pytest.approx(2 / 3)
    assert math.isnan(epsilon_from_outputs(np.array([3.0, 3, 3]), np.array([0.0, 2, 1])))  # constant output
    assert math.isnan(epsilon_from_outputs(np.array([0.0, np.inf, 1]), np.array([0.0, 2, 1])))


def test_epsilon_weights_per_space():
    x = torch.zeros(2, 2)
    assert weight_pair(make_ctx(lambda: nn.Linear(2, 2), x, space="nb101")) == (1e-4, 10.0)
    assert weight_pair(make_ctx(lambda: nn.Linear(2, 2), x, space="nats-tss")) == (1e-7, 1.0)
    assert weight_pair(make_ctx(lambda: nn.Linear(2, 2), x, space="nats-sss", options={"w2": "0.5"})) == (1e-7, 0.5)


def test_epsilon_positively_homogeneous_net_is_zero_and_tanh_is_not():
    x = torch.tensor([[1.0, 2.0], [-1.0, 0.5], [3.0, -2.0]])

    def relu_net():
        return nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))

    # constant weights, zero bias: the output is w^2 · g(x), and min-max removes the scale
    assert run("epsilon", make_ctx(relu_net, x, space="nats-tss")) == pytest.approx(0.0, abs=1e-6)

    def tanh_net():
        return nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2))

    assert run("epsilon", make_ctx(tanh_net, x, space="nats-tss", options={"w1": "0.1", "w2": "1"})) > 0.01


# -- undefined cases and determinism -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["naswot", "swap", "reg_swap", "linear_regions", "te_nas"])
def test_relu_proxies_undefined_on_tanh_net(name):
    def tanh_cnn():
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 4 * 4, 10))

    ctx = make_ctx(tanh_cnn, torch.randn(4, 3, 6, 6), options={"repetitions": "1"})
    with pytest.raises(ProxyUndefined):
        run(name, ctx)


FAST = {
    "near": {"repetitions": "2"},
    "swap": {"repetitions": "2", "samples": "4"},
    "reg_swap": {"repetitions": "2", "samples": "4", "mu": "0.3", "sigma": "1"},
    "zen": {"repetitions": "2"},
}


@pytest.mark.parametrize(
    "name",
    [
        "near",
        "naswot",
        "swap",
        "reg_swap",
        "linear_regions",
        "ntk_cond",
        "te_nas",
        "zen",
        "meco",
        "meco_opt",
        "epsilon",
    ],
)
def test_deterministic_for_a_seed(name):
    x = torch.randn(8, 3, 6, 6, generator=torch.Generator().manual_seed(2))

    def model_fn():
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(8, 10),
        )

    first = run(name, make_ctx(model_fn, x, seed=4, options=FAST.get(name), space="nats-tss"))
    ctx = make_ctx(model_fn, x, seed=4, options=FAST.get(name), space="nats-tss")
    torch.manual_seed(12345)  # the global RNG states must not matter
    np.random.seed(12345)
    second = run(name, ctx)
    assert math.isfinite(first)
    assert first == second


@pytest.mark.parametrize("shape", [(500, 16), (40, 130), (9, 62), (300, 5)])
def test_packed_unique_rows_matches_torch_unique(shape):
    from nasprox.proxies._activations import count_unique_rows

    gen = torch.Generator().manual_seed(shape[0])
    m = (torch.rand(shape, generator=gen) > 0.7).float()
    m = torch.cat([m, m[: shape[0] // 3]])  # guaranteed duplicates
    assert count_unique_rows(m) == torch.unique(m, dim=0).shape[0]


@pytest.mark.parametrize("shape", [(16, 3000), (5, 40), (70, 50)])
def test_packed_unique_columns_matches_torch_unique(shape):
    from nasprox.proxies._activations import count_unique_columns

    gen = torch.Generator().manual_seed(shape[1])
    m = (torch.rand(shape, generator=gen) > 0.5).float()
    m = torch.cat([m, m[:, : shape[1] // 4]], dim=1)
    assert count_unique_columns(m) == torch.unique(m.T, dim=0).shape[0]


@pytest.mark.parametrize("n_samples", [1, 5, 16, 21, 24])
def test_swap_column_codes_match_the_sign_matrix(n_samples, one_thread):
    """The integer-code path swap uses for <= 24 samples (histogram up to 20, sort above) counts exactly what
    the B x D sign matrix does, on a NATS-TSS cell under SWAP's Gaussian re-init."""
    from nasprox.core import SPACES
    from nasprox.proxies._activations import (
        count_distinct_codes,
        count_unique_columns,
        gaussian_reinit,
        relu_column_codes_4d,
        relu_patterns_4d,
    )

    space = SPACES.get("nats-tss")()
    model = space.build(space.arch(1234), "cifar10").train()
    x = torch.randn(n_samples, 3, 32, 32, generator=torch.Generator().manual_seed(n_samples))
    gaussian_reinit(model, torch.Generator().manual_seed(0))
    patterns = relu_patterns_4d(model, x)
    codes = relu_column_codes_4d(model, x)
    expected = (((patterns > 0).to(torch.int64)) << torch.arange(n_samples).unsqueeze(1)).sum(dim=0)
    assert torch.equal(codes, expected)  # the very integers, column for column
    assert count_distinct_codes(codes, n_samples) == count_unique_columns(patterns) == swap_value(model, x)


def test_swap_above_the_code_limit_uses_the_sign_matrix():
    from nasprox.proxies._activations import MAX_CODE_SAMPLES, relu_column_codes_4d

    model = _conv_pm()
    x = torch.randn(MAX_CODE_SAMPLES + 1, 1, 1, 2, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="at most"):
        relu_column_codes_4d(model, x)
    assert 1 <= swap_value(model, x) <= 4  # four units, the sign-matrix path


def test_reg_swap_beside_swap_reuses_its_forwards_and_scores_as_alone(monkeypatch, one_thread):
    import nasprox.proxies.swap as swap_module
    from nasprox.engine import RunConfig, Scorer, parse_proxy_options, select_archs

    forwards = []
    counting = swap_module.swap_value
    monkeypatch.setattr(swap_module, "swap_value", lambda model, x: forwards.append(1) or counting(model, x))

    def scores(proxies: list[str], options: list[str]) -> dict:
        config = RunConfig(
            space="nats-tss",
            dataset="cifar10",
            proxies=proxies,
            synthetic=True,
            device="cpu",
            proxy_options=parse_proxy_options(options, proxies),
        )
        scorer = Scorer(config)
        return {
            (r.arch, r.proxy): r.score for recs in scorer.run(select_archs(scorer.space, archs="0:3")) for r in recs
        }

    same = ["swap.repetitions=2", "swap.samples=8", "reg_swap.repetitions=2", "reg_swap.samples=8"]
    forwards.clear()
    together = scores(["swap", "reg_swap"], same)
    assert len(forwards) == 3 * 2  # one set of forwards per architecture, not two
    forwards.clear()
    alone = {**scores(["swap"], same[:2]), **scores(["reg_swap"], same[2:])}
    assert len(forwards) == 2 * 3 * 2 and together == alone
    # other options: nothing is shared, and each still scores as alone
    other = [*same[:2], "reg_swap.repetitions=3", "reg_swap.samples=4"]
    forwards.clear()
    apart = scores(["swap", "reg_swap"], other)
    assert len(forwards) == 3 * (2 + 3) and apart == {**scores(["swap"], other[:2]), **scores(["reg_swap"], other[2:])}
