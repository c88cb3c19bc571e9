"""VKDNW: the Fisher of a linear classifier in closed form, the covariance factor, the fast Jacobian."""

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
from nasprox.proxies.vkdnw import (
    QUANTILE_LEVELS,
    multinomial_factor,
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
    spec = PROXIES.get("vkdnw")
    assert spec.default_batch_size == 64 and spec.cost == "per-sample" and spec.higher_is_better
    assert spec.option("tensors").default == 128 and spec.option("per_tensor").default == 1
    assert spec.option("quantiles").default == "0.1-0.9"


def test_score_is_deterministic_for_a_seed():
    x = torch.randn(6, 3, 8, 8)
    a = score_model(Small(), x, proxies=["vkdnw"], num_classes=5, seed=3)["vkdnw"]
    b = score_model(Small(), x, proxies=["vkdnw"], num_classes=5, seed=3)["vkdnw"]
    assert a == b and 0.0 < a <= math.log(9) + 1e-9


def test_vkdnw_agg_recipe_is_a_log_rank_sum_of_its_members(tmp_path):
    rng = np.random.default_rng(2)
    n = 10
    members = RECIPES["vkdnw_agg"].members
    rows = []
    for proxy in members:
        for i, key in enumerate(nats_order()[:n]):
            rows.append(
                {
                    "space": "nats-tss",
                    "arch_index": i,
                    "arch": key,
                    "dataset": "cifar10",
                    "proxy": proxy,
                    "proxy_version": "1",
                    "seed": 0,
                    "data_config": "x",
                    "score": float(rng.normal()),
                    "status": "ok",
                    "error": "",
                    "seconds": 0.1,
                    "peak_mem_mb": 1.0,
                    "batch_size": 64,
                    "device": "cpu",
                    "gt_test_acc": 80.0 + i,
                    "gt_valid_acc": "",
                    "gt_params": "",
                    "gt_flops": "",
                }
            )
    frame = pd.DataFrame(rows)
    path = tmp_path / "r.csv"
    frame.to_csv(path, index=False)
    res = build_ensembles([path], proxies=None, methods=[], recipe_name="vkdnw_agg")
    out = res.rows[res.rows["proxy"] == "ensemble:vkdnw_agg"]
    want = sum(np.log(sps.rankdata(frame[frame["proxy"] == m]["score"].to_numpy()) / n) for m in members)
    got = out.assign(i=out["arch_index"].astype(int)).sort_values("i")["score"].astype(float).to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12)
