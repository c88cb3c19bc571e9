"""grad_norm: Σ over Conv2d/Linear layers of ‖∂L/∂W_l‖₂ (PROXY_SPEC §2.1).

Per-layer L2 norms *summed over layers*, not the global gradient norm. BN kept, train mode, the
space's loss (cross-entropy mean) on the fixed batch with true labels.
"""

from __future__ import annotations

from nasprox.core import ProxyContext, proxy
from nasprox.proxies._saliency import layers_with_loss_grads, sum_values, weight_grad


@proxy(
    "grad_norm",
    "Sum over Conv/Linear layers of the L2 norm of the weight gradient (Abdelfattah et al. 2021)",
    version="1",
    higher_is_better=True,
    needs_labels=True,
    needs_gradients=True,
    needs_real_data=True,
    bn="kept",
    cost="backward",
)
def grad_norm(ctx: ProxyContext) -> float:
    # a layer the loss never reached has no gradient and contributes 0
    reached = [layer for layer in layers_with_loss_grads(ctx) if layer.weight.grad is not None]
    return sum_values([(layer, weight_grad(layer).detach().norm()) for layer in reached])
