"""snip: Σ |θ ⊙ ∂L/∂θ| over Conv2d/Linear weights (PROXY_SPEC §2.2).

BN kept, train mode, the space's loss on the fixed batch. Biases and BN parameters are excluded.
"""

from __future__ import annotations

from nasprox.core import ProxyContext, proxy
from nasprox.proxies._saliency import snip_saliency, sum_values


@proxy(
    "snip",
    "Connection sensitivity: sum of |weight x gradient| over Conv/Linear weights (Lee et al. 2019; Abdelfattah et al. 2021)",
    version="1",
    higher_is_better=True,
    needs_labels=True,
    needs_gradients=True,
    needs_real_data=True,
    bn="kept",
    cost="backward",
)
def snip(ctx: ProxyContext) -> float:
    return sum_values(snip_saliency(ctx))
