"""Golden values for the gradient/saliency proxies on hand-computable networks (PROXY_SPEC §2, §3, §7, §8).

Conventions used in the derivations below:
* "L" is one Linear(2, 2, bias=False) with W = I. For a sample x with label y, the logits are z = x,
  p = softmax(z), δ = p − e_y and ∂L/∂W = δ xᵀ (cross-entropy, mean over the batch).
  For x = (1, 2), y = 0: p = (1 − q, q) with q = σ(1) = 0.7310586, so δ = (−q, q).
* "M" is Linear(3, 2) -> ReLU -> Linear(2, 1), no biases, W1 = [[1,−2,3],[−4,5,−6]], W2 = [[0.5,−1]].
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nasprox.core import PROXIES, InputSpec, NasproxError, ProxyContext, ProxyUndefined

Q = 1.0 / (1.0 + math.exp(-1.0))  # σ(1)
K = 1e-5  # jacob_cov / epe_nas offset


# -- helpers ------------------------------------------------------------------------------------
def make_ctx(
    factory, inputs, targets, *, batches=(), kind="image", num_classes=2, loss_fn=F.cross_entropy, options=None, seed=0
) -> ProxyContext:
    extra = list(batches)

    def next_batch():
        if not extra:
            raise AssertionError("the proxy asked for more batches than the test provides")
        return extra.pop(0)

    spec = InputSpec(kind=kind, shape=tuple(inputs.shape[1:]), num_classes=num_classes)
    return ProxyContext(
        model=factory(),
        build_model=factory,
        inputs=inputs,
        targets=targets,
        input_spec=spec,
        loss_fn=loss_fn,
        next_batch=next_batch,
        device=torch.device("cpu"),
        seed=seed,
        options=options or {},
    )


def run(name, *args, **kwargs) -> float:
    return PROXIES.get(name).fn(make_ctx(*args, **kwargs))


def net_l():
    layer = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(2))
    return nn.Sequential(layer)


def net_m(relu=True):
    first, second = nn.Linear(3, 2, bias=False), nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]]))
        second.weight.copy_(torch.tensor([[0.5, -1.0]]))
    return nn.Sequential(first, nn.ReLU(), second) if relu else nn.Sequential(first, second)


X1, Y1 = torch.tensor([[1.0, 2.0]]), torch.tensor([0])
X2, Y2 = torch.tensor([[0.5, -0.5]]), torch.tensor([1])  # z0 − z1 = 1 again: p = (q, 1 − q)
# three samples for net M whose layer codes are hand-chosen (see test_lnwot_and_tcet)
XM = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 3.0, 2.2]])
YM = torch.zeros(3, dtype=torch.long)


def small_cnn():
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False, groups=2),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )


def cnn_batch(n=6, seed=3):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 8, 8, generator=gen), torch.randint(0, 10, (n,), generator=gen)


# -- gradient saliencies on net L (one sample x = (1, 2), y = 0) --------------------------------
def test_snip_grad_norm_plain_l2_by_hand():
    # ∂L/∂W = δ xᵀ = [[−q, −2q], [q, 2q]]; W ⊙ g = diag(−q, 2q)
    # snip = q + 2q = 3q; plain = −q + 2q = q; grad_norm = ‖δ‖‖x‖ = q√2·√5 = q√10; l2_norm = ‖I‖ = √2
    assert run("snip", net_l, X1, Y1) == pytest.approx(3 * Q, rel=1e-6)
    assert run("plain", net_l, X1, Y1) == pytest.approx(Q, rel=1e-6)
    assert run("grad_norm", net_l, X1, Y1) == pytest.approx(Q * math.sqrt(10), rel=1e-6)
    assert run("l2_norm", net_l, X1, Y1) == pytest.approx(math.sqrt(2), rel=1e-6)


def test_snip_equals_explicit_autograd_on_cnn():
    # independent route: torch.autograd.grad of the CE loss w.r.t. every Conv/Linear weight
    x, y = cnn_batch()
    model = small_cnn()
    weights = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    grads = torch.autograd.grad(F.cross_entropy(model(x), y), weights)
    expected = sum(float((w.detach() * g).abs().sum()) for w, g in zip(weights, grads))
    assert run("snip", small_cnn, x, y, num_classes=10) == pytest.approx(expected, rel=1e-5)


def test_grasp_by_hand():
    # For one sample the CE Hessian w.r.t. W is H = (diag p − p pᵀ) ⊗ x xᵀ, so
    # Hg = (A δ) ⊗ x ‖x‖² with A = q(1−q)[[1,−1],[−1,1]], A δ = q(1−q)(−2q, 2q), ‖x‖² = 5.
    # grasp = −Σ W ⊙ Hg = −(1·(−2q²(1−q))·1·5 + 1·(2q²(1−q))·2·5) = −10 q²(1−q)
    assert run("grasp", net_l, X1, Y1) == pytest.approx(-10 * Q * Q * (1 - Q), rel=1e-5)
    # temperature T divides the logits: with T = 2 the answer differs (option is honoured)
    assert run("grasp", net_l, X1, Y1, options={"temperature": 2.0}) != pytest.approx(-10 * Q * Q * (1 - Q), rel=1e-3)


def two_pass_grasp(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """The reference's grasp (foresight): a first pass for g, a second with a graph, z = <g, grad>, Hg."""
    model.train()
    weights = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    first = torch.autograd.grad(F.cross_entropy(model(x), y), weights)
    second = torch.autograd.grad(F.cross_entropy(model(x), y), weights, create_graph=True)
    sum((g.detach() * h).sum() for g, h in zip(first, second)).backward()
    return float(sum((-w.detach() * w.grad).double().sum() for w in weights))


def test_grasp_reuses_the_graph_pass_gradient_bit_for_bit():
    # train-mode BN and no dropout: one pass's gradient serves as g, and the value is the reference's exactly
    x, y = cnn_batch()
    assert run("grasp", small_cnn, x, y, num_classes=10) == two_pass_grasp(small_cnn(), x, y)


def small_cnn_with_dropout():
    return nn.Sequential(*list(small_cnn())[:-1], nn.Dropout(0.5), nn.Linear(16, 10))


def test_grasp_with_dropout_keeps_two_passes_with_their_own_masks():
    # small_cnn seeds the global generator as it builds, so each network below starts the same draws
    x, y = cnn_batch()
    value = run("grasp", small_cnn_with_dropout, x, y, num_classes=10)
    assert value == two_pass_grasp(small_cnn_with_dropout(), x, y)
    # one pass reused as g (one mask for both) would give another value: the branch is needed
    model = small_cnn_with_dropout().train()
    weights = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    second = torch.autograd.grad(F.cross_entropy(model(x), y), weights, create_graph=True)
    sum((g.detach() * g).sum() for g in second).backward()
    assert value != pytest.approx(float(sum((-w.detach() * w.grad).double().sum() for w in weights)), rel=1e-3)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (scripts/gpu_check.sh runs it)")
def test_cuda_grasp_tells_a_dropout_forward_by_the_device_generator():
    # on CUDA a dropout mask draws from the device's generator, not the CPU's: the one-pass path must see it.
    # small_cnn seeds every generator (CPU and CUDA) as it builds, so both sides start the same draws
    from dataclasses import replace

    x, y = (t.cuda() for t in cnn_batch())
    for factory in (small_cnn_with_dropout, small_cnn):
        ctx = replace(make_ctx(lambda f=factory: f().cuda(), x, y, num_classes=10), device=torch.device("cuda"))
        value = PROXIES.get("grasp").fn(ctx)
        assert value == pytest.approx(two_pass_grasp(factory().cuda(), x, y), rel=1e-5), factory.__name__


def test_fisher_fan_in_weighting_by_hand():
    # z = W x = (1, 2), ∂L/∂z = δ = (−q, q); per channel g = z ⊙ δ = (−q, 2q)
    # F_c = ½ g_c² = (q²/2, 2q²); each channel weighted by fan-in 2: fisher = 2 (q²/2 + 2q²) = 5q²
    # (a plain Σ F_c would give 2.5 q²)
    assert run("fisher", net_l, X1, Y1) == pytest.approx(5 * Q * Q, rel=1e-6)


def test_fisher_conv_uses_spatial_sum_and_fan_in():
    # Conv2d(1, 1, 1, bias=False) with weight 1 on a 1×1×1×2 input (a, b): z = (a, b); loss = Σ z
    # (custom loss) so ∂L/∂z = 1; g = Σ_spatial z·1 = a + b; F = ½ (a+b)²; fan-in 1.
    def factory():
        conv = nn.Conv2d(1, 1, 1, bias=False)
        with torch.no_grad():
            conv.weight.fill_(1.0)
        return nn.Sequential(conv, nn.Flatten())

    x = torch.tensor([[[[1.5, 2.0]]]])
    value = run("fisher", factory, x, torch.zeros(1), loss_fn=lambda out, _t: out.sum())
    assert value == pytest.approx(0.5 * 3.5**2, rel=1e-6)


# -- synflow and SSNR on net M ------------------------------------------------------------------
def test_synflow_two_layer_linear_by_hand():
    # |W| everywhere, ones input: R = Σ_j |W2_j| Σ_k |W1_jk| = 0.5·6 + 1·15 = 18 (ReLU is the identity on
    # positive values). Per weight |θ ∂R/∂θ|: W1_jk -> |W1_jk||W2_j| (sums to R), W2_j -> |W2_j| Σ_k|W1_jk|
    # (sums to R), so synflow = 2R = 36.
    assert run("synflow", net_m, XM, YM, num_classes=1) == pytest.approx(36.0, rel=1e-12)


def test_synflow_removes_bn_but_synflow_bn_keeps_it():
    # BN removed: an MLP with BatchNorm1d scores like the BN-free net. BN kept: train-mode BatchNorm1d
    # cannot normalise a batch of one, so synflow_bn is undefined for this network.
    def with_bn():
        base = net_m()
        return nn.Sequential(base[0], nn.BatchNorm1d(2), base[1], base[2])

    assert run("synflow", with_bn, XM, YM, num_classes=1) == pytest.approx(36.0, rel=1e-12)
    with pytest.raises(ProxyUndefined):
        run("synflow_bn", with_bn, XM, YM, num_classes=1)


def test_synflow_runs_in_float64_without_overflow():
    # 40 Linear(4,4) layers with all weights 10 -> R = 4·40^... huge: (4·10)^40·… overflows float32 (3e38)
    def deep():
        layers = [nn.Linear(4, 4, bias=False) for _ in range(40)]
        for layer in layers:
            nn.init.constant_(layer.weight, 10.0)
        return nn.Sequential(*layers)

    # R = 4·40^40 = 4.8e64 and every layer's saliency sums to R, so synflow = 40 R
    value = run("synflow", deep, torch.zeros(2, 4), torch.zeros(2, dtype=torch.long), num_classes=4)
    assert value == pytest.approx(40 * 4 * 40.0**40, rel=1e-9)


def test_ssnr_with_known_layer_std():
    # synflow saliencies of net M: W1 -> [0.5, 1, 1.5, 4, 5, 6] (sum 18, unbiased std √5.3),
    # W2 -> [3, 15] (sum 18, unbiased std √72). SSNR = 18/√5.3 + 18/√72 = 7.81869 + 2.12132.
    t1, t2 = 18 / math.sqrt(5.3), 18 / math.sqrt(72.0)
    assert run("synflow_snr", net_m, XM, YM, num_classes=1) == pytest.approx(t1 + t2, rel=1e-9)
    assert run("synflow_snr_log", net_m, XM, YM, num_classes=1) == pytest.approx(math.log(t1) + math.log(t2), rel=1e-9)
    # population std (ddof 0): √(26.5/6) and 6
    expected_pop = 18 / math.sqrt(26.5 / 6) + 18 / 6.0
    assert run("synflow_snr", net_m, XM, YM, num_classes=1, options={"ddof": 0}) == pytest.approx(
        expected_pop, rel=1e-9
    )
    with pytest.raises(NasproxError):
        run("synflow_snr", net_m, XM, YM, num_classes=1, options={"ddof": 3})


def test_snip_snr_by_hand_and_single_element_layer():
    # net L, x = (1, 2): snip saliency [q, 0, 0, 2q]; sum 3q, unbiased std q·√(2.75/3) -> 3/√(2.75/3)
    assert run("snip_snr", net_l, X1, Y1) == pytest.approx(3 / math.sqrt(2.75 / 3), rel=1e-6)

    # a 1×1 layer has an undefined (NaN) unbiased std: the layer contributes S_n alone.
    def tiny():
        layer = nn.Linear(1, 1, bias=False)
        nn.init.constant_(layer.weight, 2.0)
        return nn.Sequential(layer)

    # synflow: R = |w|·1 = 2, saliency |w ∂R/∂w| = 2
    assert run("synflow_snr", tiny, torch.ones(1, 1), torch.zeros(1), num_classes=1) == pytest.approx(2.0)


# -- lnwot and T-CET on net M -------------------------------------------------------------------
def test_lnwot_and_tcet():
    # Layer-1 outputs W1 x: (1,−4), (−2,5), (0.6,1.8) -> codes 10, 01, 11; agreements give
    # K1 = [[2,0,1],[0,2,1],[1,1,2]], det 4. Layer-2 outputs 4.5, −6, −1.5 -> codes 1, 0, 0;
    # K2 = [[1,0,0],[0,1,1],[0,1,1]] is singular -> 0 by the det = 0 rule. Lnwot = log 4.
    assert run("lnwot", net_m, XM, YM, num_classes=1) == pytest.approx(math.log(4), rel=1e-12)
    # T-CET(synflow) = Σ_l SNR_l · logdet_l = 7.81869·log 4 + 2.12132·0 (layers aligned by identity)
    t1 = 18 / math.sqrt(5.3)
    assert run("tcet_synflow", net_m, XM, YM, num_classes=1) == pytest.approx(t1 * math.log(4), rel=1e-9)
    assert run("tcet_synflow", net_m, XM, YM, num_classes=1, options={"log": True}) == pytest.approx(
        math.log(t1) * math.log(4), rel=1e-9
    )


def test_tcet_snip_by_hand():
    # net L, batch of 3: x = (1,2) y=0, (1,−1) y=0, (−1,−1) y=1; eval-mode outputs are x itself
    # -> codes 11, 10, 00; K = [[2,1,0],[1,2,1],[0,1,2]], det 4. SNIP saliency of the batch-mean loss:
    # g = mean_i δ_i x_iᵀ; W ⊙ g keeps the diagonal: (g00, g11).
    x = torch.tensor([[1.0, 2.0], [1.0, -1.0], [-1.0, -1.0]])
    y = torch.tensor([0, 0, 1])
    p = torch.softmax(x.double(), dim=1)
    delta = p - F.one_hot(y, 2).double()
    g = delta.T @ x.double() / 3
    sal = torch.tensor([abs(g[0, 0]), 0.0, 0.0, abs(g[1, 1])], dtype=torch.float64)
    snr = float(sal.sum() / sal.std())
    assert run("lnwot", net_l, x, y) == pytest.approx(math.log(4), rel=1e-12)
    assert run("tcet_snip", net_l, x, y) == pytest.approx(snr * math.log(4), rel=1e-6)
    # duplicated samples make every kernel singular: lnwot and T-CET are 0, not -inf
    dup = torch.tensor([[1.0, 2.0], [1.0, 2.0]])
    assert run("lnwot", net_l, dup, torch.tensor([0, 1])) == 0.0


# -- Jacobian family ----------------------------------------------------------------------------
def sum_relu():
    # f(x) = Σ_k ReLU(x_k) through a Linear(3,1) of ones: J_i = 1[x_i > 0]
    layer = nn.Linear(3, 1, bias=False)
    nn.init.constant_(layer.weight, 1.0)
    return nn.Sequential(nn.ReLU(), layer)


def test_jacob_cov_by_hand():
    # J1 = (1,1,0), J2 = (1,0,1): Pearson correlation −0.5 -> eigenvalues 0.5 and 1.5
    # score = −Σ [log(λ+k) + 1/(λ+k)]
    x = torch.tensor([[1.0, 1.0, -1.0], [1.0, -1.0, 1.0]])
    expected = -sum(math.log(v + K) + 1 / (v + K) for v in (0.5, 1.5))
    assert run("jacob_cov", sum_relu, x, torch.zeros(2, dtype=torch.long), num_classes=1) == pytest.approx(
        expected, rel=1e-9
    )
    # a linear net has identical Jacobian rows: correlation all ones, eigenvalues 0 and 2
    expected_linear = -(math.log(K) + 1 / K + math.log(2 + K) + 1 / (2 + K))
    assert run("jacov", lambda: net_m(relu=False), XM[:2], YM[:2], num_classes=1) == pytest.approx(
        expected_linear, rel=1e-6
    )


def test_jacob_cov_nan_and_undefined():
    # a sample whose inputs are all negative has a zero Jacobian row: correlations are NaN -> score NaN
    x = torch.tensor([[1.0, 1.0, -1.0], [-1.0, -1.0, -1.0]])
    assert math.isnan(run("jacob_cov", sum_relu, x, torch.zeros(2, dtype=torch.long), num_classes=1))
    with pytest.raises(ProxyUndefined):
        run("jacob_cov", sum_relu, x[:1], torch.zeros(1, dtype=torch.long), num_classes=1)


def test_epe_nas_by_hand():
    # class 0: J = (1,1,0), (1,0,1) -> C = [[1,−.5],[−.5,1]], s0 = 2 log(1+k) + 2 log(.5+k);
    # class 1: one sample -> corrcoef = 1, s1 = log(1+k). Output width 1 ≤ 100: score = |s0| + |s1|.
    x = torch.tensor([[1.0, 1.0, -1.0], [1.0, -1.0, 1.0], [1.0, 1.0, 1.0]])
    y = torch.tensor([0, 0, 1])
    s0, s1 = 2 * math.log(1 + K) + 2 * math.log(0.5 + K), math.log(1 + K)
    assert run("epe_nas", sum_relu, x, y, num_classes=1) == pytest.approx(abs(s0) + abs(s1), rel=1e-9)


def test_epe_nas_wide_output_branch():
    # output width > 100: s_c /= n_c, single-sample classes skipped, score = Σ_c Σ_c' |s_c − s_c'| / #classes.
    # class 0: rows with correlation −0.5 -> s0/2 = log(1+k) + log(.5+k); class 5: identical rows, C = ones
    # -> s5/2 = 2 log(1+k); class 9 has one sample and is skipped. Score = 2|s0/2 − s5/2| / 2.
    from nasprox.proxies.epe_nas import class_scores

    jac = np.array([[1, 1, 0], [1, 0, 1], [1, 2, 3], [1, 2, 3], [0, 1, 0]], dtype=float)
    labels = np.array([0, 0, 5, 5, 9])
    a, b = math.log(1 + K) + math.log(0.5 + K), 2 * math.log(1 + K)
    assert class_scores(jac, labels, 120) == pytest.approx(abs(a - b), rel=1e-9)


# -- per-sample and multi-batch proxies ---------------------------------------------------------
def test_gradsign_two_samples_by_hand():
    # g1 = δ1 x1ᵀ = [[−q,−2q],[q,2q]] (signs [[−,−],[+,+]]);
    # x2 = (.5,−.5), y = 1: p = (q, 1−q), δ2 = (q, −q), g2 = ½[[q,−q],[−q,q]] (signs [[+,−],[−,+]]).
    # Σ_i sign = [[0,−2],[0,2]] -> Σ |·| = 4
    x, y = torch.cat([X1, X2]), torch.cat([Y1, Y2])
    assert run("gradsign", net_l, x, y) == 4.0
    assert run("grad_conflict", net_l, x, y) == 4.0


def test_zico_two_batches_by_hand():
    # batch 1 gives g1 = [[−q,−2q],[q,2q]], batch 2 gives g2 = ½[[q,−q],[−q,q]] (as in gradsign).
    # Per element μ/σ = (|g1|+|g2|)/|g1−g2| = 1.5/1.5, 2.5/1.5, 1.5/1.5, 2.5/1.5 -> ZiCo = log(16/3), q-free
    assert run("zico", net_l, X1, Y1, batches=[(X2, Y2)]) == pytest.approx(math.log(16 / 3), rel=1e-9)
    # the official loop without zero_grad stores g1 and g1 + g2 = [[−.5q,−2.5q],[.5q,2.5q]]:
    # μ/σ = (|g1|+|g1+g2|)/|g2| = 1.5/.5, 4.5/.5, 1.5/.5, 4.5/.5 = 3, 9, 3, 9 -> log 24
    assert run("zico", net_l, X1, Y1, batches=[(X2, Y2)], options={"accumulate": True}) == pytest.approx(
        math.log(24), rel=1e-9
    )
    with pytest.raises(NasproxError):
        run("zico", net_l, X1, Y1, options={"num_batches": 1})


# -- params and flops ---------------------------------------------------------------------------
def test_params_and_flops_by_formula():
    # 3×8×8 input. conv1 3->8 k3 p1 bias: 64 positions × (9·3·8) + 8·64 bias = 13824 + 512 = 14336 MACs;
    # conv2 8->16 k3 s2 groups 2, no bias: 16 positions × 9·8·16/2 = 9216; Linear 16->10: 160 + 10.
    # Pooling, BN and ReLU are not counted. Total 23722 MACs.
    # params: conv1 216 + 8, BN1 16, conv2 576, BN2 32, Linear 170 -> 1018.
    x, y = cnn_batch()
    assert run("flops", small_cnn, x, y, num_classes=10) == pytest.approx(23722 / 1e6, rel=1e-12)
    assert run("params", small_cnn, x, y, num_classes=10) == pytest.approx(1018 / 1e6, rel=1e-12)


@pytest.mark.parametrize(
    "layer",
    [
        lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, bias=False),
        lambda: nn.ConvTranspose2d(4, 6, (3, 2), stride=(2, 1), groups=2, bias=False),
        lambda: nn.ConvTranspose1d(4, 6, 3, stride=2, bias=False),
    ],
)
def test_flops_counts_transposed_convs_like_torch_flop_counter(layer):
    # torch's own FlopCounterMode counts 2 FLOPs per MAC of the transposed convolution (bias not counted)
    from torch.utils.flop_counter import FlopCounterMode

    from nasprox.proxies.flops import count_macs

    module = layer()
    x = torch.rand(1, 4, 5) if isinstance(module, nn.ConvTranspose1d) else torch.rand(1, 4, 5, 5)
    with FlopCounterMode(display=False) as counter:
        module(x)
    macs, unsupported = count_macs(module, x)
    assert not unsupported and macs == counter.get_total_flops() / 2
    biased = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1)  # + C_out per output position
    assert count_macs(biased, torch.rand(1, 4, 5, 5))[0] == 25 * 9 * 4 * 6 + 6 * 100


def test_flops_reports_unsupported_layers():
    class WithLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(4, 4, batch_first=True)
            self.head = nn.Linear(4, 3)

        def forward(self, x):
            return self.head(self.rnn(x)[0])

    x = torch.randn(2, 5, 4)
    with pytest.raises(ProxyUndefined, match="LSTM"):
        run("flops", WithLSTM, x, torch.zeros(2), num_classes=3)
    # non-strict: only the Linear head counts, 5 positions × (4·3 + 3) = 75 MACs per sample
    assert run("flops", WithLSTM, x, torch.zeros(2), num_classes=3, options={"strict": False}) == pytest.approx(
        75 / 1e6
    )


# -- token models -------------------------------------------------------------------------------
def token_lm():
    torch.manual_seed(2)
    return nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 10))


def lm_loss(out, targets):
    return F.cross_entropy(out.reshape(-1, out.shape[-1]), targets.reshape(-1))


def test_token_models():
    tokens = torch.tensor([[1, 2, 3], [4, 5, 6]])
    targets = torch.tensor([[2, 3, 4], [5, 6, 7]])
    kw = dict(kind="tokens", num_classes=10, loss_fn=lm_loss)
    # synflow feeds token id 1 everywhere: R = Σ_positions Σ_v Σ_d |W_vd| |E_1d| = 3 Σ_d |E_1d| colsum_d,
    # and the Linear's saliency sums to R (embeddings are not in the Conv/Linear layer set)
    model = token_lm()
    emb, lin = model[0].weight.detach().double().abs(), model[1].weight.detach().double().abs()
    r = 3 * float((emb[1] * lin.sum(0)).sum())
    assert run("synflow", token_lm, tokens, targets, **kw) == pytest.approx(r, rel=1e-9)
    for name in ("snip", "grad_norm", "fisher", "gradsign", "lnwot", "tcet_snip"):
        assert math.isfinite(run(name, token_lm, tokens, targets, **kw))
    for name in ("jacob_cov", "epe_nas"):
        with pytest.raises(ProxyUndefined):
            run(name, token_lm, tokens, targets, **kw)
    # flops: 3 positions × (4·10 + 10) per sequence; the embedding lookup counts zero
    assert run("flops", token_lm, tokens, targets, **kw) == pytest.approx(150 / 1e6)


# -- undefined, determinism ---------------------------------------------------------------------
def test_no_weight_layer_is_undefined():
    for name in ("snip", "grad_norm", "synflow", "fisher", "grasp", "gradsign", "zico", "l2_norm", "synflow_snr"):
        with pytest.raises(ProxyUndefined):
            run(name, lambda: nn.Sequential(nn.Flatten()), X1, Y1)


OWNED = [
    "grad_norm",
    "snip",
    "grasp",
    "fisher",
    "synflow",
    "synflow_bn",
    "plain",
    "l2_norm",
    "jacob_cov",
    "epe_nas",
    "gradsign",
    "zico",
    "params",
    "flops",
    "synflow_snr",
    "snip_snr",
    "synflow_snr_log",
    "snip_snr_log",
    "lnwot",
    "tcet_synflow",
    "tcet_snip",
]


@pytest.mark.parametrize("name", OWNED)
def test_deterministic_on_cpu(name):
    x, y = cnn_batch()
    second = cnn_batch(seed=4)
    values = [run(name, small_cnn, x, y, batches=[second], num_classes=10) for _ in range(2)]
    assert math.isfinite(values[0])
    assert values[0] == values[1]  # bit-identical


def test_metadata():
    for name in OWNED:
        spec = PROXIES.get(name)
        assert spec.description and spec.version
    assert PROXIES.get("plain").higher_is_better is None and PROXIES.get("l2_norm").higher_is_better is None
    assert PROXIES.get("synflow").bn == "removed" and PROXIES.get("synflow_bn").bn == "kept"
    assert not PROXIES.get("synflow").needs_real_data and PROXIES.get("snip").needs_labels
    assert PROXIES.get("gradsign").cost == "per-sample" and PROXIES.get("grasp").cost == "second-order"


# -- one backward shared by snip, grad_norm, plain and snip_snr (ProxyContext.memo) ------------------
def _count_backwards(monkeypatch) -> list:
    import nasprox.proxies._saliency as saliency

    calls: list = []
    original = saliency.loss_backward
    monkeypatch.setattr(saliency, "loss_backward", lambda *a: calls.append(1) or original(*a))
    return calls


def test_loss_gradient_proxies_of_one_architecture_share_one_backward(monkeypatch, one_thread):
    from nasprox.engine import RunConfig, Scorer, select_archs

    backwards = _count_backwards(monkeypatch)
    names = ["snip", "grad_norm", "plain", "snip_snr"]

    def scores(proxies: list[str]) -> dict:
        scorer = Scorer(RunConfig(space="nats-tss", dataset="cifar10", proxies=proxies, synthetic=True, device="cpu"))
        return {
            (r.arch, r.proxy): r.score for recs in scorer.run(select_archs(scorer.space, archs="0:3")) for r in recs
        }

    together = scores(names)
    assert len(backwards) == 3  # one per architecture, not four
    backwards.clear()
    alone = {key: value for name in names for key, value in scores([name]).items()}
    assert len(backwards) == 3 * 4 and together == alone


def test_fisher_scores_first_and_its_backward_serves_snip_and_grad_norm(monkeypatch, one_thread):
    """fisher's hooks only read, so its weight gradients are the loss backward's: listed after them, fisher
    still runs first and snip and grad_norm need no backward of their own; every score equals its own run's."""
    from nasprox.engine import RunConfig, Scorer, select_archs

    assert PROXIES.get("fisher").scored_first
    backwards = _count_backwards(monkeypatch)
    names = ["snip", "grad_norm", "fisher"]

    def scores(proxies: list[str]) -> tuple[dict, list[str]]:
        scorer = Scorer(RunConfig(space="nats-tss", dataset="cifar10", proxies=proxies, synthetic=True, device="cpu"))
        records = [r for recs in scorer.run(select_archs(scorer.space, archs="0:3")) for r in recs]
        return {(r.arch, r.proxy): r.score for r in records}, [r.proxy for r in records]

    together, row_order = scores(names)
    assert len(backwards) == 0 and row_order == names * 3  # rows keep the run's order
    alone = {key: value for name in names for key, value in scores([name])[0].items()}
    assert len(backwards) == 3 * 2 and together == alone


def test_jacob_cov_and_epe_nas_share_one_input_jacobian(monkeypatch, one_thread):
    """Both read the gradient of the summed outputs w.r.t. the inputs: one forward and backward per architecture
    serves both, and each score equals its own run's."""
    import nasprox.proxies.jacob_cov as jacob_cov_module
    from nasprox.engine import RunConfig, Scorer, select_archs

    forwards: list = []
    original = jacob_cov_module.forward
    monkeypatch.setattr(jacob_cov_module, "forward", lambda *a: forwards.append(1) or original(*a))

    def scores(proxies: list[str]) -> dict:
        scorer = Scorer(RunConfig(space="nats-tss", dataset="cifar10", proxies=proxies, synthetic=True, device="cpu"))
        return {
            (r.arch, r.proxy): r.score for recs in scorer.run(select_archs(scorer.space, archs="0:3")) for r in recs
        }

    together = scores(["jacob_cov", "epe_nas"])
    assert len(forwards) == 3 and all(math.isfinite(v) for v in together.values())
    forwards.clear()
    alone = {**scores(["jacob_cov"]), **scores(["epe_nas"])}
    assert len(forwards) == 3 * 2 and together == alone


def _shared_pair(
    factory, monkeypatch, share: bool = True, names: tuple[str, str] = ("snip", "grad_norm")
) -> tuple[int, float, float]:
    """Two proxies (snip then grad_norm) on two fresh copies with one memo (or one each): (backwards, scores)."""
    backwards = _count_backwards(monkeypatch)
    torch.manual_seed(0)
    inputs, targets = torch.randn(8, 4), torch.tensor([0, 1] * 4)
    memo: dict = {}
    values = []
    for name in names:
        ctx = make_ctx(factory, inputs, targets)
        ctx.memo = memo if share else {}
        torch.manual_seed(5)  # the engine seeds every proxy alike here, so only sharing could make them differ
        values.append(PROXIES.get(name).fn(ctx))
    return len(backwards), values[0], values[1]


def test_a_random_forward_is_not_shared_and_a_changed_network_is_not_served(monkeypatch):
    def plain_net():
        torch.manual_seed(1)
        return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))

    def dropout_net():
        torch.manual_seed(1)
        return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Dropout(0.5), nn.Linear(6, 2))

    shared = _shared_pair(plain_net, monkeypatch)
    assert shared[0] == 1 and shared[1:] == _shared_pair(plain_net, monkeypatch, share=False)[1:]
    with_dropout = _shared_pair(dropout_net, monkeypatch)
    assert with_dropout[0] == 2  # dropout drew random numbers: nothing kept, each proxy draws its own masks
    assert with_dropout == (2, *_shared_pair(dropout_net, monkeypatch, share=False)[1:])
    fisher_first = ("fisher", "snip")  # fisher's pass is not a loss_backward call: it serves snip or not at all
    assert _shared_pair(plain_net, monkeypatch, names=fisher_first) == (
        0,
        *_shared_pair(plain_net, monkeypatch, False, fisher_first)[1:],
    )
    assert _shared_pair(dropout_net, monkeypatch, names=fisher_first) == (
        1,
        *_shared_pair(dropout_net, monkeypatch, False, fisher_first)[1:],
    )
    inputs, targets = torch.randn(8, 4), torch.tensor([0, 1] * 4)
    # a network changed before the call (different parameters) is not given the fresh one's gradients
    from nasprox.proxies._saliency import layers_with_loss_grads

    backwards = _count_backwards(monkeypatch)
    memo: dict = {}
    first = make_ctx(plain_net, inputs, targets)
    first.memo = memo
    layers_with_loss_grads(first)
    changed = make_ctx(plain_net, inputs, targets)
    changed.memo = memo
    with torch.no_grad():
        changed.model[0].weight.mul_(2.0)
    layers_with_loss_grads(changed)
    assert len(backwards) == 2 and not torch.equal(first.model[0].weight.grad, changed.model[0].weight.grad)
