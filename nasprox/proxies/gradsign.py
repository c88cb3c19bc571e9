"""gradsign (``grad_conflict``): Σ_p |Σ_i sign(g_{i,p})| over Conv2d/Linear weights (PROXY_SPEC §2.8).

g_i is the gradient of sample i's loss, from its own zero_grad/forward/backward at batch size 1
(train-mode BN on one sample's statistics). A parameter whose sign sum is NaN is ignored
(``np.nansum``). The *sum* over parameters, not the mean used by some ports.
"""

from __future__ import annotations

import torch

from nasprox.core import ProxyContext, proxy
from nasprox.proxies._saliency import loss_backward, require_weight_layers, weight_grad


@proxy(
    "gradsign",
    "GradSign: agreement of per-sample gradient signs, summed over Conv/Linear weights (Zhang & Jia 2022)",
    version="1",
    higher_is_better=True,
    needs_labels=True,
    needs_gradients=True,
    needs_real_data=True,
    bn="kept",
    cost="per-sample",
    aliases=("grad_conflict",),
)
def gradsign(ctx: ProxyContext) -> float:
    model = ctx.model.train()
    layers = require_weight_layers(model)
    sign_sum: list[torch.Tensor] = [
        torch.zeros(layer.weight.shape, dtype=torch.float64, device=layer.weight.device) for layer in layers
    ]
    for i in range(ctx.inputs.shape[0]):
        loss_backward(model, ctx.inputs[i : i + 1], ctx.targets[i : i + 1], ctx.loss_fn)
        for acc, layer in zip(sign_sum, layers):
            acc += torch.sign(weight_grad(layer).detach()).double()
    total = torch.zeros((), dtype=torch.float64)
    for acc in sign_sum:
        total += torch.nansum(acc.abs()).cpu()
    return float(total)
