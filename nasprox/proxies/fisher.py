"""fisher: Σ_l Σ_c F_{l,c} · numel(W_l[c]) with F_{l,c} = |½ mean_n (Σ_{spatial} z ⊙ ∂L/∂z)²| (PROXY_SPEC §2.4).

z is the output of every Conv2d/Linear (the pre-BN activation); ∂L/∂z is taken with a tensor hook
on that output (any mechanism delivering exactly ∂L/∂z is allowed by the spec). Each channel value
is weighted by the channel's fan-in (the reference broadcasts it to ``weight.shape[1:]``).
BN kept, train mode, the space's loss on the fixed batch.

Choices beyond the reference: a layer called several times contributes one term per call,
accumulated like the reference's data chunks (the reference would keep only the last activation);
for a Linear applied to (N, ..., F) inputs the channel is the last dimension and the middle
dimensions are summed like spatial positions (the reference only handles (N, F)).
"""

from __future__ import annotations

import torch
from torch import nn

from nasprox.core import ProxyContext, proxy
from nasprox.proxies._common import forward_hooks
from nasprox.proxies._saliency import forward, require_weight_layers, sharing_loss_grads


def _channel_products(layer: nn.Module, act: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """g_{n,c}: z·∂L/∂z summed over every dimension except sample n and channel c."""
    prod = act * grad
    if isinstance(layer, nn.Linear):
        prod = prod.movedim(-1, 1)  # channel last -> channel at dim 1
    if prod.dim() > 2:
        prod = prod.sum(dim=tuple(range(2, prod.dim())))
    return prod


@proxy(
    "fisher",
    "Fisher information of Conv/Linear output channels, weighted by fan-in (Turner et al. 2020; Abdelfattah et al. 2021)",
    version="1",
    higher_is_better=True,
    needs_labels=True,
    needs_gradients=True,
    needs_real_data=True,
    bn="kept",
    cost="backward",
    scored_first=True,  # its backward also serves snip, grad_norm, plain (ProxyContext.memo); theirs cannot serve it
)
def fisher(ctx: ProxyContext) -> float:
    model = ctx.model.train()
    layers = require_weight_layers(model)
    per_layer: dict[nn.Module, torch.Tensor] = {}

    def on_forward(layer, _inputs, output):
        if not (isinstance(output, torch.Tensor) and output.requires_grad):
            return
        act = output.detach().clone()  # later in-place ops must not alter the stored z

        def on_grad(grad, layer=layer, act=act):
            per_channel = _channel_products(layer, act, grad.detach()).pow(2).mean(0).mul(0.5)
            per_layer[layer] = per_layer[layer] + per_channel if layer in per_layer else per_channel

        output.register_hook(on_grad)

    model.zero_grad(set_to_none=True)
    # the hooks only read: the weight gradients are those of snip's and grad_norm's backward, kept for them
    with sharing_loss_grads(ctx, layers), forward_hooks(layers, on_forward):
        loss = ctx.loss_fn(forward(model, ctx.inputs), ctx.targets)
        loss.backward()

    total = torch.zeros((), dtype=torch.float64)
    for layer in layers:
        if layer in per_layer:
            fan_in = layer.weight[0].numel()
            total += per_layer[layer].detach().abs().double().sum().cpu() * fan_in
    return float(total)
