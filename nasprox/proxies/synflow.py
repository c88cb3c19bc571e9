"""synflow and synflow_bn (PROXY_SPEC §2.5).

synflow: BN removed (forward -> identity), every state-dict entry made |·|, float64, an all-ones
input of batch 1, R = Σ outputs, score = Σ |θ ⊙ ∂R/∂θ| over Conv2d/Linear weights.
synflow_bn: the same with BN kept (train-mode BN on a constant input; a different metric).

Choices: the NASLib log transform (§1.10) is not applied — it is a consumer-side rescaling that
leaves rankings unchanged. Token models get token id 1 at every position (see
``_saliency.synflow_input``) because a ones-valued float tensor cannot enter an embedding.
"""

from __future__ import annotations

from nasprox.core import ProxyContext, proxy
from nasprox.proxies._saliency import sum_values, synflow_saliency

_SYNFLOW = dict(
    version="1",
    higher_is_better=True,
    needs_labels=False,
    needs_gradients=True,
    needs_real_data=False,
    cost="backward",
    default_batch_size=1,  # the all-ones input has batch 1
)  # the members differ only in BN handling


@proxy(
    "synflow",
    "Synaptic flow: sum of |weight x dR/dweight| with |weights|, no BN, all-ones input, float64 (Tanaka et al. 2020)",
    bn="removed",
    **_SYNFLOW,
)
def synflow(ctx: ProxyContext) -> float:
    return sum_values(synflow_saliency(ctx, keep_bn=False))


@proxy(
    "synflow_bn",
    "Synflow with BatchNorm kept (train-mode batch statistics on the all-ones input)",
    bn="kept",
    **_SYNFLOW,
)
def synflow_bn(ctx: ProxyContext) -> float:
    return sum_values(synflow_saliency(ctx, keep_bn=True))
