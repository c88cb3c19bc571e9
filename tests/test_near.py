"""NEAR (PROXY_SPEC §5.1): effective rank by hand, the reference's regression values (§8.3), the proxy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nasprox.core import PROXIES, InputSpec, ProxyContext
from nasprox.proxies.near import effective_rank, estimate_layer_size, hooked_modules, near_layer_scores, near_score


# -- effective rank -------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 5, 10])
def test_effective_rank_identity_is_n(n):
    assert effective_rank(torch.eye(n)) == pytest.approx(n, rel=1e-6)


def test_effective_rank_rank_one_is_one():
    u = torch.tensor([[1.0], [2.0], [-3.0]])
    v = torch.tensor([[0.5, -1.0, 4.0, 2.0]])
    assert effective_rank(u @ v) == pytest.approx(1.0, abs=1e-5)


def test_effective_rank_diag_by_hand():
    # singular values 3 and 1 -> p = (3/4, 1/4); H = -(3/4 ln 3/4 + 1/4 ln 1/4)
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert effective_rank(torch.diag(torch.tensor([3.0, -1.0]))) == pytest.approx(math.exp(h), rel=1e-6)


def test_effective_rank_circulant_closed_form():
    # Roy & Vetterli closed form used by the reference's own tests: erank = exp(2 h(|rho|))
    rho = 0.3
    a = torch.tensor([[1, rho, rho**2, rho], [rho, 1, rho, rho**2], [rho**2, rho, 1, rho], [rho, rho**2, rho, 1]])
    q = (1 + rho) / 2
    h = -(q * math.log(q) + (1 - q) * math.log(1 - q))
    assert effective_rank(a) == pytest.approx(math.exp(2 * h), rel=1e-5)


def test_effective_rank_degenerate_is_zero():
    assert effective_rank(torch.zeros(3, 3)) == 0.0
    assert effective_rank(torch.tensor([[float("nan"), 1.0], [0.0, 1.0]])) == 0.0


# -- the reference's regression values (PROXY_SPEC §8.3) --------------------------------------------
def _reference_loader():
    np.random.seed(42)
    torch.manual_seed(42)
    x = torch.rand(200, 3, 10, 10)
    y = torch.rand(200, 5)
    return DataLoader(TensorDataset(x, y), batch_size=1, shuffle=True)


def test_reference_near_score():
    loader = _reference_loader()
    model = nn.Sequential(
        nn.Conv2d(3, 3, 5),
        nn.Flatten(),
        nn.SiLU(),
        nn.Linear(108, 50),
        nn.SiLU(),
        nn.Linear(50, 25),
        nn.SiLU(),
        nn.Linear(25, 5),
    )
    assert near_score(model, loader, repetitions=5) == pytest.approx(132.1655230906162, rel=1e-6)


def test_reference_estimate_layer_size():
    loader = _reference_loader()
    sizes = [10 * 2**i for i in range(9)]
    models = [
        nn.Sequential(
            nn.Conv2d(3, 3, 5), nn.Flatten(), nn.Tanh(), nn.Linear(108, s), nn.Tanh(), nn.Linear(s, 5), nn.Tanh()
        )
        for s in sizes
    ]
    assert isinstance(hooked_modules(models[0])[4], nn.Linear)  # index 4 = Linear(s, 5)
    assert estimate_layer_size(models, sizes, loader, 4) == pytest.approx(24.280967850662, rel=1e-4)


# -- the row-gathering rule ---------------------------------------------------------------------------
def test_rows_mlp_batch_one_takes_first_samples():
    """Batch 1, 2-D outputs: the matrix is the first C samples' outputs (start 0, no RNG draw)."""
    lin = nn.Linear(4, 3, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [1.0, 1.0, 0, 0]]))
    xs = [
        torch.tensor([[1.0, 0, 0, 0]]),
        torch.tensor([[0, 1.0, 0, 0]]),
        torch.tensor([[1.0, 1.0, 0, 0]]),
        torch.tensor([[5.0, 5.0, 5.0, 5.0]]),
    ]
    # rows (1,0,1), (0,1,1), (1,1,2): MᵀM has eigenvectors (1,1,2) -> 9 and (1,-1,0) -> 1, so σ = (3, 1, 0)
    (score,) = near_layer_scores(nn.Sequential(lin), xs, rng=np.random.default_rng(0))
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert score == pytest.approx(math.exp(h), rel=1e-5)


def test_rows_conv_block_is_contiguous_pixels_of_one_sample():
    """4-D output (N, C, H, W) is read as (N, W, H, C); C contiguous rows from offset W*u."""
    conv = nn.Conv2d(1, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[1.0]]], [[[-1.0]]]]))
    x = torch.arange(2 * 1 * 3 * 3, dtype=torch.float32).reshape(2, 1, 3, 3)
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    (score,) = near_layer_scores(nn.Sequential(conv), [x], rng=rng_a)
    # R = 2*3*3 = 18 rows, W_last = 3 -> k = 5, u in {0..4}; rows [3u, 3u + 2)
    u = int(rng_b.integers(0, 5))
    rows = conv(x).detach().permute(0, 3, 2, 1).reshape(-1, 2)[3 * u : 3 * u + 2]
    assert score == pytest.approx(effective_rank(rows), rel=1e-6)


# -- the registered proxy ---------------------------------------------------------------------------
def _ctx(model_fn, seed=0, reps="4"):
    gen = torch.Generator().manual_seed(123)

    def next_batch():
        return torch.randn(8, 3, 8, 8, generator=gen), torch.zeros(8, dtype=torch.long)

    torch.manual_seed(1)
    model = model_fn()
    base = {k: v.clone() for k, v in model.state_dict().items()}

    def build():
        m = model_fn()
        m.load_state_dict(base)
        return m

    x, y = next_batch()
    return ProxyContext(
        model=model,
        build_model=build,
        inputs=x,
        targets=y,
        input_spec=InputSpec("image", (3, 8, 8), 10),
        loss_fn=nn.functional.cross_entropy,
        next_batch=next_batch,
        device=torch.device("cpu"),
        seed=seed,
        options={"repetitions": reps},
    )


def _cnn():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 20),
        nn.ReLU(),
        nn.Linear(20, 10),
    )


def test_near_proxy_deterministic_and_feeds_batches():
    fn = PROXIES.get("near").fn
    a = fn(_ctx(_cnn))
    b = fn(_ctx(_cnn))
    assert a == b  # bit-identical on CPU
    # 6 hooked modules (conv, bn, relu, linear, relu, linear); Linear(8, 20) needs 20 rows > batch 8, so further batches must be fed
    ctx = _ctx(_cnn)
    scores = near_layer_scores(
        ctx.model, [ctx.inputs, ctx.next_batch()[0], ctx.next_batch()[0]], rng=np.random.default_rng(0)
    )
    assert len(scores) == 6 and all(s is not None and s > 0 for s in scores)
    assert a > 0 and math.isfinite(a)


def test_near_proxy_one_repetition_equals_layer_sum():
    ctx = _ctx(_cnn, reps="1")
    expected_model = ctx.build_model()
    value = PROXIES.get("near").fn(ctx)
    gen = torch.Generator().manual_seed(123)
    batches = [torch.randn(8, 3, 8, 8, generator=gen) for _ in range(3)]
    rng = np.random.default_rng([0, 51])
    expected = sum(s for s in near_layer_scores(expected_model, batches, rng=rng) if s is not None)
    assert value == pytest.approx(expected, rel=1e-12)


def test_batched_svd_path_equals_one_svd_per_layer():
    """The proxy batches all SVDs of all repetitions; the result must equal layer-by-layer ranks."""
    import copy

    import numpy as np
    import torch
    from torch import nn

    from nasprox.core import InputSpec, ProxyContext
    from nasprox.proxies import near

    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )
    x = torch.randn(12, 3, 8, 8)
    ref_model = copy.deepcopy(model)
    ctx = ProxyContext(
        model=model,
        build_model=lambda: copy.deepcopy(ref_model),
        inputs=x,
        targets=torch.zeros(12),
        input_spec=InputSpec("image", (3, 8, 8), 10),
        loss_fn=None,
        next_batch=lambda: (x, None),
        device=torch.device("cpu"),
        seed=7,
        options={"repetitions": 4},
    )
    batched = near.near(ctx)

    rng = np.random.default_rng([7, 51])
    totals = []
    for rep in range(4):
        mats = near.near_layer_matrices(ref_model, [x], rng=rng)
        totals.append(sum(near.effective_rank(m) for m in mats if m is not None))
        if rep < 3:
            with near._seeded_torch(7 * 1_000_003 + rep, torch.device("cpu")):
                near.reset_parameters(ref_model)
    assert batched == float(np.mean(totals))
