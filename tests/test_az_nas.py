"""AZ-NAS components: hand-derived values on tiny networks, shared work, and the ``az_nas`` recipe."""

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
from nasprox.proxies import az_nas
from nasprox.proxies.az_nas import cell_features, expressivity_of, trainability_pair
from nasprox.spaces.nats.nats_tss import nats_order

AZ = ("az_expressivity", "az_progressivity", "az_trainability")


def entropy(p):
    p = np.asarray(p, dtype=float)
    return float(-(p * np.log(p + 1e-8)).sum())


def test_expressivity_is_the_entropy_of_the_normalised_channel_variances():
    # 4 positions, 2 uncorrelated centred channels with variances 1 and a^2: p = (1, a^2) / (1 + a^2)
    c0 = torch.tensor([1.0, -1.0, 1.0, -1.0])
    c1 = torch.tensor([1.0, 1.0, -1.0, -1.0])
    for a in (1.0, 2.0, 0.5):
        feat = torch.stack([c0, a * c1]).view(1, 2, 2, 2)  # B=1, C=2, H=W=2
        p = np.array([1.0, a * a]) / (1 + a * a)
        assert expressivity_of(feat) == pytest.approx(entropy(p), abs=1e-6)
    # a mean shift changes nothing (the covariance is centred); one dead channel gives entropy 0
    assert expressivity_of(torch.stack([c0 + 5, c1]).view(1, 2, 2, 2)) == pytest.approx(math.log(2), abs=1e-6)
    assert expressivity_of(torch.stack([c0, 0 * c1]).view(1, 2, 2, 2)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("scale", [3.0, 2.0, 0.25])  # 1.0 is the identity: -inf (next tests)
def test_trainability_of_a_scaled_single_channel_map_is_minus_s_minus_one_over_s_plus_two(scale):
    # f_out = s * f_in, one channel: g_in = s * g_out, M = s * mean(g^2) = s exactly (Rademacher g^2 = 1)
    f_in = torch.randn(3, 1, 4, 4, requires_grad=True)
    f_out = scale * f_in
    got = trainability_pair(f_in, f_out, torch.Generator().manual_seed(0))
    assert got == pytest.approx(-scale - 1 / (scale + 1e-6) + 2, rel=1e-6, abs=1e-6)


def test_trainability_of_a_strided_map_pixel_unshuffles_the_input_gradient():
    # f_out = s * f_in[::2, ::2]: after pixel_unshuffle(2) only channel 0 of g_in is nonzero (= s g_out), sigma = s
    f_in = torch.randn(2, 1, 4, 4, requires_grad=True)
    f_out = 3.0 * f_in[:, :, ::2, ::2]
    got = trainability_pair(f_in, f_out, torch.Generator().manual_seed(1))
    assert got == pytest.approx(-3.0 - 1 / 3.000001 + 2, rel=1e-6)


def test_an_identity_block_scores_minus_infinity():
    f_in = torch.randn(2, 3, 4, 4, requires_grad=True)
    f_out = f_in + 0.0  # equal values: the reference's torch.all(g_in == g_out)
    assert trainability_pair(f_in, f_out, torch.Generator().manual_seed(0)) == -math.inf


class Staged(nn.Module):
    """stem + cells + head, like TinyNetwork; cell i scales its input by scales[i] (1x1 conv, no BN)."""

    def __init__(self, scales, identity_at=None):
        super().__init__()
        self.stem = nn.Conv2d(1, 1, 1, bias=False)
        self.cells = nn.ModuleList(
            nn.Identity() if i == identity_at else nn.Conv2d(1, 1, 1, bias=False) for i in range(len(scales))
        )
        self.classifier = nn.Linear(1, 2)
        with torch.no_grad():
            self.stem.weight.fill_(1.0)
            for cell, s in zip(self.cells, scales):
                if isinstance(cell, nn.Conv2d):
                    cell.weight.fill_(s)

    def forward(self, x):
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        return self.classifier(x.mean(dim=(2, 3)))


def test_components_of_a_linear_staged_network_by_hand():
    # single channel: every expressivity term is 0 (one eigenvalue, p = 1), so progressivity 0; trainability
    # is the mean of -s - 1/(s + 1e-6) + 2 over the cells' scales
    scales = [2.0, 0.5, 4.0]  # (a scale of exactly 1 would be an identity cell: -inf)
    model = Staged(scales)
    feats = cell_features(model, torch.randn(2, 1, 3, 3))
    assert len(feats) == 4
    opts = {name: {"init": "none"} for name in AZ}
    got = score_model(model, torch.randn(4, 1, 3, 3), proxies=list(AZ), num_classes=2, proxy_options=opts)
    assert got["az_expressivity"] == pytest.approx(0.0, abs=1e-6)
    assert got["az_progressivity"] == pytest.approx(0.0, abs=1e-6)
    want = np.mean([-s - 1 / (s + 1e-6) + 2 for s in scales])
    assert got["az_trainability"] == pytest.approx(want, rel=1e-5)
    with_identity = score_model(
        Staged(scales, identity_at=1),
        torch.randn(4, 1, 3, 3),
        proxies=["az_trainability"],
        num_classes=2,
        proxy_options=opts,
    )
    assert with_identity["az_trainability"] == -math.inf


def test_the_three_components_share_one_forward_and_backward(monkeypatch):
    calls = []
    real = az_nas.cell_features
    monkeypatch.setattr(az_nas, "cell_features", lambda m, x: calls.append(1) or real(m, x))
    score_model(Staged([2.0, 0.5]), torch.randn(4, 1, 3, 3), proxies=list(AZ), num_classes=2)
    assert len(calls) == 1


def test_metadata_follows_the_authors():
    for name in AZ:
        spec = PROXIES.get(name)
        assert spec.default_batch_size == 64 and not spec.needs_labels and spec.needs_gradients
        assert not spec.needs_real_data and spec.bn == "reinit" and spec.higher_is_better
        assert spec.option("input").default == "gaussian"
        assert spec.option("init").default == "kaiming_norm_fanin"
    assert PROXIES.get("az_complexity").leaves_model_unchanged


def test_complexity_is_the_flops_count_on_a_nats_cell():
    from nasprox.core import SPACES

    space = SPACES.get("nats-tss")()
    model = space.build(space.arch(13714), "cifar10")
    got = score_model(model, torch.randn(2, 3, 32, 32), proxies=["az_complexity", "flops"], num_classes=10)
    assert got["az_complexity"] == got["flops"]
    assert got["az_complexity"] == pytest.approx(153.27, abs=0.01)  # the API's FLOP=153.27 M for this cell


# -- the az_nas recipe against the notebook's aggregation ---------------------------------------------------
def _rows(values: dict[str, list[float]], n: int):
    rows = []
    keys = nats_order()[:n]
    for proxy, scores in values.items():
        for i, (key, v) in enumerate(zip(keys, scores)):
            ok = math.isfinite(v)
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
                    "score": v,
                    "status": "ok" if ok else "nonfinite",
                    "error": "" if ok else f"score is {v}",
                    "seconds": 0.1,
                    "peak_mem_mb": 1.0,
                    "batch_size": 64,
                    "device": "cpu",
                    "gt_test_acc": 90.0 + i,
                    "gt_valid_acc": "",
                    "gt_params": "",
                    "gt_flops": "",
                }
            )
    return rows


def test_az_nas_recipe_is_the_notebook_rank_aggregation_with_minus_inf_ranked_lowest(tmp_path):
    rng = np.random.default_rng(0)
    n = 12
    vals = {name: list(rng.normal(size=n)) for name in RECIPES["az_nas"].members}
    vals["az_complexity"] = [float(v) for v in rng.integers(0, 4, size=n)]  # FLOPs tie a lot
    vals["az_trainability"][3] = vals["az_trainability"][7] = -math.inf  # identity cells
    vals["az_expressivity"][5] = -math.inf  # a NaN component
    path = tmp_path / "r.csv"
    pd.DataFrame(_rows(vals, n)).to_csv(path, index=False)
    res = build_ensembles([path], proxies=None, methods=[], recipe_name="az_nas")
    out = res.rows[res.rows["proxy"] == "ensemble:az_nas"]
    assert len(out) == n and set(out["status"]) == {"ok"}
    # the notebook: rank_agg = sum over FLOPs and the components of np.log(stats.rankdata(x) / l)
    want = sum(np.log(sps.rankdata(vals[k]) / n) for k in RECIPES["az_nas"].members)
    got = out.assign(i=out["arch_index"].astype(int)).sort_values("i")["score"].astype(float).to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # a plain log-rank ensemble of the same members leaves the -inf archs out instead
    plain = build_ensembles([path], proxies=list(RECIPES["az_nas"].members), methods=["log-rank"])
    assert (plain.rows["status"] == "undefined").sum() == 3


def test_a_recipe_fixes_its_members_and_method(tmp_path):
    path = tmp_path / "r.csv"
    pd.DataFrame(_rows({k: [1.0, 2.0, 3.0] for k in RECIPES["az_nas"].members}, 3)).to_csv(path, index=False)
    from nasprox.core import NasproxError

    with pytest.raises(NasproxError, match="fixes its members"):
        build_ensembles([path], proxies=["az_expressivity"], methods=[], recipe_name="az_nas")
    with pytest.raises(NasproxError, match="fixes its method"):
        build_ensembles([path], proxies=None, methods=["rank-mean"], recipe_name="az_nas")
    with pytest.raises(NasproxError, match="unknown ensemble recipe"):
        build_ensembles([path], proxies=None, methods=[], recipe_name="az")


def test_every_recipe_names_registered_proxies_a_known_method_and_its_source():
    from nasprox.core import PROXIES
    from nasprox.predict.aggregate import METHODS

    for recipe in RECIPES.values():
        assert recipe.members and len(set(recipe.members)) == len(recipe.members), recipe.name
        assert all(PROXIES.get(m).higher_is_better is not None for m in recipe.members), recipe.name  # ranked by it
        assert recipe.method in METHODS and recipe.source, recipe.name
