"""l2_norm: Σ over Conv2d/Linear layers of ‖W_l‖₂ at initialisation (PROXY_SPEC §2.7). Reported raw.

No data and no forward pass; BN is irrelevant.
"""

from __future__ import annotations

import torch

from nasprox.core import ProxyContext, proxy
from nasprox.proxies._saliency import require_weight_layers


@proxy(
    "l2_norm",
    "Sum over Conv/Linear layers of the L2 norm of the initial weights (Abdelfattah et al. 2021); raw",
    version="1",
    higher_is_better=None,
    needs_labels=False,
    needs_gradients=False,
    needs_real_data=False,
    bn="n/a",
    cost="free",
)
def l2_norm(ctx: ProxyContext) -> float:
    total = torch.zeros((), dtype=torch.float64)
    with torch.no_grad():
        for layer in require_weight_layers(ctx.model):
            total += layer.weight.double().norm().cpu()
    return float(total)
