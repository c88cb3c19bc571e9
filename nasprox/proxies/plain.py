"""plain: Σ θ ⊙ ∂L/∂θ (signed) over Conv2d/Linear weights (PROXY_SPEC §2.6). Reported raw."""

from __future__ import annotations

from nasprox.core import ProxyContext, proxy
from nasprox.proxies._saliency import layers_with_loss_grads, sum_values, weight_grad


@proxy(
    "plain",
    "Signed sum of weight x gradient over Conv/Linear weights (Abdelfattah et al. 2021); raw, no direction",
    version="1",
    higher_is_better=None,
    needs_labels=True,
    needs_gradients=True,
    needs_real_data=True,
    bn="kept",
    cost="backward",
)
def plain(ctx: ProxyContext) -> float:
    layers = layers_with_loss_grads(ctx)
    return sum_values([(layer, layer.weight.detach() * weight_grad(layer)) for layer in layers])
