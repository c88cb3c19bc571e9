"""VKDNW: the Fisher of a linear classifier in closed form, the covariance factor, the fast Jacobian;
VKDNW_single's (ℵ, entropy) order, the Table 1 input, the shared spectrum and the VKDNW_agg recipe."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as sps
from torch import nn

from nasprox.api import score_model
from nasprox.core import PROXIES
from nasprox.predict.ensemble import RECIPES, build_ensembles
from nasprox.proxies import vkdnw as vkdnw_module
from nasprox.proxies.vkdnw import (
    QUANTILE_LEVELS,
    multinomial_factor,
    parameter_tensors,
    single_score,
    spectrum_entropy,
    subset_jacobian,
    subset_jacobian_func,
    vkdnw_value,
)
from nasprox.spaces.nats.nats_tss import nats_order


def smoothed_probs(z: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    a = float(np.float16(alpha))
    e = np.exp(z - z.max())
    return e / e.sum() * float(np.float16(1 - a)) + float(np.float16(a / len(z)))


def cholesky_with_zero_last(cov: np.ndarray) -> np.ndarray:
    """The lower Cholesky factor of a PSD matrix of rank K-1 (leading block positive definite): unique."""
    k = cov.shape[0]
    out = np.zeros_like(cov)
    out[: k - 1, : k - 1] = np.linalg.cholesky(cov[: k - 1, : k - 1])
    out[k - 1, : k - 1] = np.linalg.solve(out[: k - 1, : k - 1], cov[: k - 1, k - 1])
    return out


def test_the_factor_is_the_cholesky_factor_of_the_smoothed_multinomial_covariance():
    z = torch.randn(5, 6) * 2
    lower = multinomial_factor(z).double().numpy()
    for b in range(5):
        p = smoothed_probs(z[b].double().numpy())
        cov = np.diag(p) - np.outer(p, p)
        # alpha in float16 makes p sum to 1 + 1.8e-4, so q_K = 0 is forced and only the last diagonal
        # element of L L^T misses the covariance; every other element matches
        off = ~np.eye(6, dtype=bool)
        off[:5, :5] = True
        np.testing.assert_allclose((lower[b] @ lower[b].T)[off], cov[off], atol=1e-6)
        np.testing.assert_allclose(lower[b], cholesky_with_zero_last(cov), atol=1e-5)


def test_entropy_of_equal_and_of_spread_spectra():
    assert spectrum_entropy(torch.eye(20), QUANTILE_LEVELS["0.1-0.9"]) == pytest.approx(math.log(9), rel=1e-6)
    # one nonzero eigenvalue among 20: every decile is 0 -> t = 0 -> entropy 0
    assert spectrum_entropy(torch.diag(torch.tensor([5.0] + [0.0] * 19)), QUANTILE_LEVELS["0.1-0.9"]) == 0.0


def test_vkdnw_of_a_linear_classifier_in_closed_form():
    # z = W x: dz/dvec(W) = I_K (x) x^T; F = mean_b (L_b J_b)^T (L_b J_b); entropy of its normalised deciles
    torch.manual_seed(0)
    k, d, b = 4, 3, 7
    model = nn.Linear(d, k, bias=False)
    x = torch.randn(b, d)
    got = vkdnw_value(model, x, tensors=1, per_tensor=k * d)  # every element of W, row-major
    w = model.weight.detach().double().numpy()
    xs = x.double().numpy()
    fisher = np.zeros((k * d, k * d))
    for i in range(b):
        jac = np.kron(np.eye(k), xs[i][None, :])  # K x (K d), row-major vec(W)
        p = smoothed_probs(w @ xs[i])
        lj = cholesky_with_zero_last(np.diag(p) - np.outer(p, p)) @ jac
        fisher += lj.T @ lj / b
    lam = np.linalg.eigvalsh(fisher)
    q = np.quantile(lam, np.arange(1, 10) / 10)  # linear interpolation, as torch.quantile
    t = q / (np.abs(q).sum() + 1e-10)
    want = float(-(t * np.log(t + 1e-10)).sum())
    assert got == pytest.approx(want, rel=1e-4)


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=True), nn.BatchNorm2d(4), nn.ReLU())
        self.body = nn.Sequential(
            nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, bias=False), nn.BatchNorm2d(6), nn.ReLU()
        )
        self.classifier = nn.Linear(6, 5)

    def forward(self, x):
        return self.classifier(self.body(self.stem(x)).mean(dim=(2, 3)))


@pytest.mark.parametrize("per_tensor", [1, 3])
def test_the_hook_jacobian_equals_jacrev_inside_vmap(per_tensor):
    torch.manual_seed(1)
    model = Small().eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):  # non-trivial affine and running statistics
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_()
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
    x = torch.randn(5, 3, 8, 8)
    fast = subset_jacobian(model, x, 128, per_tensor)
    exact = subset_jacobian_func(model, x, 128, per_tensor)
    assert fast.shape == exact.shape == (5, 5, 9 * per_tensor)  # 9 parameter tensors
    torch.testing.assert_close(fast, exact, rtol=1e-5, atol=1e-5)
    assert all(p.requires_grad for p in model.parameters())  # restored


def test_unsupported_layers_fall_back_to_the_exact_jacobian():
    model = nn.Sequential(nn.Conv2d(3, 2, 1), nn.GroupNorm(1, 2), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)).eval()
    x = torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(subset_jacobian(model, x, 128, 1), subset_jacobian_func(model, x, 128, 1))


def test_metadata_and_options_follow_the_authors():
    for name in ("vkdnw", "vkdnw_single"):
        spec = PROXIES.get(name)
        assert spec.default_batch_size == 64 and spec.cost == "per-sample" and spec.higher_is_better
        assert spec.option("tensors").default == 128 and spec.option("per_tensor").default == 1
        assert spec.option("quantiles").default == "0.1-0.9"
        assert spec.option("init").default == "kaiming_norm_fanin"
        # Table 1: tss_general_.py (779a3a8) runs vkdnw with trainloader=None, i.e. torch.randn input
        assert spec.option("input").default == "gaussian" and not spec.needs_real_data
    assert PROXIES.get("vkdnw").version == "2"  # 1 scored the real batch by default


def test_score_is_deterministic_for_a_seed():
    x = torch.randn(6, 3, 8, 8)
    a = score_model(Small(), x, proxies=["vkdnw"], num_classes=5, seed=3)["vkdnw"]
    b = score_model(Small(), x, proxies=["vkdnw"], num_classes=5, seed=3)["vkdnw"]
    assert a == b and 0.0 < a <= math.log(9) + 1e-9


def test_the_default_input_is_seeded_gaussian_noise_of_the_batch_shape():
    x, other = torch.randn(6, 3, 8, 8), torch.rand(6, 3, 8, 8) * 5
    real = {"vkdnw": {"input": "real"}}
    gauss = score_model(Small(), x, proxies=["vkdnw"], num_classes=5, seed=3)["vkdnw"]
    # the batch's values do not reach the score, only its shape; the draws follow the seed
    assert score_model(Small(), other, proxies=["vkdnw"], num_classes=5, seed=3)["vkdnw"] == gauss
    explicit = {"vkdnw": {"input": "gaussian"}}
    assert score_model(Small(), x, proxies=["vkdnw"], num_classes=5, seed=3, proxy_options=explicit)["vkdnw"] == gauss
    assert score_model(Small(), x, proxies=["vkdnw"], num_classes=5, seed=4)["vkdnw"] != gauss
    on_x = score_model(Small(), x, proxies=["vkdnw"], num_classes=5, seed=3, proxy_options=real)["vkdnw"]
    on_other = score_model(Small(), other, proxies=["vkdnw"], num_classes=5, seed=3, proxy_options=real)["vkdnw"]
    assert on_x != gauss and on_x != on_other


# -- VKDNW_single: lexicographic (ℵ, entropy) ----------------------------------------------------------------
def f32(v: float) -> float:
    return float(np.float32(v))


def next_f32(v: float) -> float:
    return float(np.nextafter(np.float32(v), np.float32(np.inf)))


@pytest.mark.parametrize("levels", [9, 11])
def test_vkdnw_single_orders_exactly_as_the_aleph_entropy_tuple(levels):
    top = f32(math.log(levels))
    pairs = [
        (21, 0.0),
        (21, f32(1e-5)),
        (21, next_f32(1e-5)),  # adjacent float32 entropies stay apart
        (21, top),
        (21, next_f32(top)),  # float32 round-off just above log(n)
        (20, top),  # a smaller ℵ loses whatever its entropy
        (66, -1e-10),  # the lower end of -sum t log(t + 1e-10)
        (66, 0.0),
        (66, f32(0.5)),
        (66, next_f32(0.5)),
        (66, f32(0.5)),  # an exact tie stays a tie
        (65, f32(2.0)),
        (1023, f32(2.1)),
        (1023, next_f32(2.1)),
        (1022, top),
        (156, f32(0.7487954)),
        (111, f32(1.5)),
        (111, f32(0.25)),
    ]
    encoded = [single_score(a, h, levels) for a, h in pairs]
    # the reference: df[['vkdnw_dim', 'vkdnw_entropy']].apply(tuple, axis=1).rank(method='dense')
    want = pd.Series(pairs).rank(method="dense").to_numpy()
    got = pd.Series(encoded).rank(method="dense").to_numpy()
    np.testing.assert_array_equal(got, want)
    assert all(math.floor(v) == a for v, (a, h) in zip(encoded, pairs) if h >= 0)
    assert math.isnan(single_score(21, math.nan, levels))


def test_aleph_counts_every_parameter_tensor():
    # Small: stem conv weight + bias, BN γ + β, body conv weight (no bias), BN γ + β, linear weight + bias
    assert parameter_tensors(Small()) == 2 + 2 + 1 + 2 + 2
    assert parameter_tensors(nn.Sequential(nn.ReLU(), nn.AvgPool2d(2))) == 0


def test_aleph_of_nats_cells_counted_by_hand():
    from nasprox.core import SPACES

    space = SPACES.get("nats-tss")()
    # stem conv + BN γ, β: 3; each of the 2 ResNet blocks: conv_a (conv, γ, β) 3 + conv_b 3 + downsample conv 1;
    # head BN γ, β + linear weight, bias: 4 -> 21; every conv op of the cell (ReLUConvBN: conv, γ, β), repeated
    # in the 15 cells: 45. Pooling, skip and none edges have no parameters.
    for index, convs in ((0, 2), (11, 3), (13714, 5)):
        arch = space.arch(index)
        assert arch.key.count("conv") == convs
        assert parameter_tensors(space.build(arch, "cifar10")) == 21 + 45 * convs


def test_vkdnw_single_is_aleph_plus_the_scaled_entropy():
    x = torch.randn(6, 3, 8, 8)
    got = score_model(Small(), x, proxies=["vkdnw", "vkdnw_single"], num_classes=5, seed=3)
    assert got["vkdnw_single"] == single_score(9, got["vkdnw"], 9)
    assert math.floor(got["vkdnw_single"]) == 9


# -- one spectrum for both proxies ----------------------------------------------------------------------------
def count_spectra(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = vkdnw_module.fisher_spectrum
    monkeypatch.setattr(vkdnw_module, "fisher_spectrum", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


def test_vkdnw_and_vkdnw_single_share_one_spectrum(monkeypatch):
    x = torch.randn(6, 3, 8, 8)
    alone = {
        name: score_model(Small(), x, proxies=[name], num_classes=5, seed=3)[name] for name in ("vkdnw", "vkdnw_single")
    }
    calls = count_spectra(monkeypatch)
    together = score_model(Small(), x, proxies=["vkdnw", "vkdnw_single"], num_classes=5, seed=3)
    assert together == alone and len(calls) == 1
    # the quantile levels are applied to the shared spectrum; another input is another spectrum
    calls.clear()
    opts = {"vkdnw_single": {"quantiles": "0-1"}}
    score_model(Small(), x, proxies=["vkdnw", "vkdnw_single"], num_classes=5, seed=3, proxy_options=opts)
    assert len(calls) == 1
    calls.clear()
    opts = {"vkdnw_single": {"input": "real"}}
    score_model(Small(), x, proxies=["vkdnw", "vkdnw_single"], num_classes=5, seed=3, proxy_options=opts)
    assert len(calls) == 2


def test_the_engine_shares_the_spectrum_and_scores_as_separate_runs(monkeypatch):
    from nasprox.engine import RunConfig, Scorer

    def run(proxies):
        scorer = Scorer(RunConfig(space="nats-tss", dataset="cifar10", proxies=proxies, synthetic=True, batch_size=4))
        rows = scorer.score_arch(scorer.space.arch(44))  # one conv1x1: the cheapest Fisher with a conv in the cell
        return {r.proxy: r.score for r in rows}

    alone = {**run(["vkdnw"]), **run(["vkdnw_single"])}
    calls = count_spectra(monkeypatch)
    together = run(["vkdnw_single", "vkdnw"])
    assert together == alone and len(calls) == 1
    assert math.floor(together["vkdnw_single"]) == 21 + 45 * 1


def _recipe_csv(tmp_path, scores: dict, n: int):
    """A result CSV of the first ``n`` NATS-TSS cells with ``scores`` (proxy -> n values), for a recipe."""
    rows = [
        {"space": "nats-tss", "arch_index": i, "arch": key, "dataset": "cifar10", "proxy": proxy, "proxy_version": "1",
         "seed": 0, "data_config": "x", "score": float(scores[proxy][i]), "status": "ok", "error": "", "seconds": 0.1,
         "peak_mem_mb": 1.0, "batch_size": 64, "device": "cpu", "gt_test_acc": 80.0 + i, "gt_valid_acc": "",
         "gt_params": "", "gt_flops": ""}
        for proxy in scores
        for i, key in enumerate(nats_order()[:n])
    ]  # fmt: skip
    path = tmp_path / "r.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_vkdnw_agg_recipe_is_a_log_rank_sum_of_its_members(tmp_path):
    rng = np.random.default_rng(2)
    n = 10
    members = RECIPES["vkdnw_agg"].members
    scores = {proxy: [float(rng.normal()) for _ in range(n)] for proxy in members}
    path = _recipe_csv(tmp_path, scores, n)
    res = build_ensembles([path], proxies=None, methods=[], recipe_name="vkdnw_agg")
    out = res.rows[res.rows["proxy"] == "ensemble:vkdnw_agg"]
    want = sum(np.log(sps.rankdata(scores[m]) / n) for m in members)
    got = out.assign(i=out["arch_index"].astype(int)).sort_values("i")["score"].astype(float).to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_vkdnw_agg_ranks_as_the_authors_get_scores(tmp_path):
    # ondratybl/VKDNW@2b67433^ NB201/tss_utils.py get_scores: vkdnw_comb_rank = log(dense rank of the tuple
    # (vkdnw_dim, vkdnw_entropy)) + log rank(expressivity) + log rank(trainability) + log rank(flops)
    # + log rank(jacov), pandas' average ranks. Our recipe ranks vkdnw_single (the tuple as one number) with
    # average ranks and divides every rank by n: the same order whenever no two cells tie on the tuple.
    assert RECIPES["vkdnw_agg"].members == (
        "vkdnw_single",
        "jacob_cov",
        "az_expressivity",
        "az_trainability",
        "az_complexity",
    )
    rng = np.random.default_rng(5)
    n = 12
    dims = rng.choice([21, 66, 111, 156], size=n)  # ℵ ties, entropies distinct
    entropy = rng.uniform(0.0, math.log(9), size=n)
    flops = rng.choice([10.0, 20.0, 30.0], size=n)  # FLOPs tie a lot in NATS-TSS
    other = {k: rng.normal(size=n) for k in ("expressivity", "trainability", "jacov")}
    df = pd.DataFrame({"vkdnw_dim": dims, "vkdnw_entropy": entropy, "flops": flops, **other})
    vkdnw_rank = df[["vkdnw_dim", "vkdnw_entropy"]].apply(tuple, axis=1).rank(method="dense").astype(int).apply(np.log)
    want = (
        vkdnw_rank
        + df["expressivity"].rank().apply(np.log)
        + df["trainability"].rank().apply(np.log)
        + df["flops"].rank().apply(np.log)
        + df["jacov"].rank().apply(np.log)
    ).to_numpy()
    scores = {
        "vkdnw_single": [single_score(int(a), float(h), 9) for a, h in zip(dims, entropy)],
        "jacob_cov": other["jacov"],
        "az_expressivity": other["expressivity"],
        "az_trainability": other["trainability"],
        "az_complexity": flops,
    }
    path = _recipe_csv(tmp_path, scores, n)
    res = build_ensembles([path], proxies=None, methods=[], recipe_name="vkdnw_agg")
    out = res.rows[res.rows["proxy"] == "ensemble:vkdnw_agg"]
    got = out.assign(i=out["arch_index"].astype(int)).sort_values("i")["score"].astype(float).to_numpy()
    np.testing.assert_allclose(got, want - 5 * math.log(n), rtol=1e-12, atol=1e-12)  # rank / n: a constant shift
