"""ZiCo: Σ_l log Σ_{i: σ_i ≠ 0} μ_i / σ_i over Conv2d/Linear weights (PROXY_SPEC §2.9).

For each of ``zico.num_batches`` (default 2; old name ``batches``) batches — the fixed batch, then ``ctx.next_batch()`` —
zero_grad, forward, the space's loss, backward, and store each layer's weight gradient.
μ_i = mean over batches of |g_{b,i}|, σ_i = population std (ddof 0) of the signed g_{b,i};
layers whose sum is 0 are skipped. Train mode, BN kept, true labels. Float64 statistics.

Option ``zico.accumulate`` (default false) reproduces the official ``getzico`` loop literally: it
never calls zero_grad between batches, so batch b stores g_1 + … + g_b. The spec (§2.9) describes
per-batch gradients, which is the default.
"""

from __future__ import annotations

import math

import torch

from nasprox.core import NasproxError, ProxyContext, ProxyOption, proxy
from nasprox.proxies._saliency import forward, require_weight_layers, weight_grad


def zico_from_gradients(per_layer: list[torch.Tensor]) -> float:
    """per_layer[l]: (batches × numel) float64 gradients of layer l."""
    total = 0.0
    for grads in per_layer:
        sigma = grads.std(dim=0, correction=0)
        mean_abs = grads.abs().mean(dim=0)
        nonzero = sigma != 0
        layer_sum = float((mean_abs[nonzero] / sigma[nonzero]).sum())
        if layer_sum != 0:
            total += math.log(layer_sum) if layer_sum > 0 else float("nan")
    return total


@proxy(
    "zico",
    "ZiCo: log of summed inverse coefficient of variation of weight gradients over batches (Li et al. 2023)",
    version="1",
    higher_is_better=True,
    needs_labels=True,
    needs_gradients=True,
    needs_real_data=True,
    bn="kept",
    cost="backward",
    options=(
        ProxyOption(
            "num_batches",
            int,
            2,
            "batches whose gradients give the per-weight mean and std: the fixed "
            "batch, then the seeded stream; >= 2 (PROXY_SPEC §2.9)",
            minimum=2,
            aliases=("batches",),
        ),
        ProxyOption(
            "accumulate",
            bool,
            False,
            "never zero_grad between batches, as the official getzico loop "
            "(batch b stores g_1 + ... + g_b); default: per-batch gradients as in PROXY_SPEC §2.9",
        ),
    ),
)
def zico(ctx: ProxyContext) -> float:
    batches = int(ctx.opt("num_batches"))
    if batches < 2:
        raise NasproxError(f"zico.num_batches must be at least 2 (a std over batches), got {batches}")
    accumulate = bool(ctx.opt("accumulate"))
    model = ctx.model.train()
    layers = require_weight_layers(model)
    stored: list[list[torch.Tensor]] = [[] for _ in layers]
    model.zero_grad(set_to_none=True)
    for b in range(batches):
        inputs, targets = (ctx.inputs, ctx.targets) if b == 0 else ctx.next_batch()
        if not accumulate:
            model.zero_grad(set_to_none=True)
        ctx.loss_fn(forward(model, inputs), targets).backward()
        for store, layer in zip(stored, layers):
            store.append(weight_grad(layer).detach().reshape(-1).double().cpu())
    return zico_from_gradients([torch.stack(s) for s in stored])
