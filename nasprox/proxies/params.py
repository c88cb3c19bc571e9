"""params: number of parameters in millions (PROXY_SPEC §8.1, xautodl ``count_parameters_in_MB``).

All parameters (BN affine included, shared tensors once), divided by 1e6 as in the NATS/NB201
tables and NASLib (newer xautodl releases divide by 2**20; the benchmark files use 1e6).
Auxiliary heads are excluded like xautodl: parameters whose name contains "auxiliary".
"""

from __future__ import annotations

from nasprox.core import ProxyContext, proxy


def count_parameters(model) -> int:
    return sum(p.numel() for name, p in model.named_parameters() if "auxiliary" not in name)


@proxy(
    "params",
    "Number of parameters in millions (baseline)",
    version="1",
    higher_is_better=True,
    needs_labels=False,
    needs_gradients=False,
    needs_real_data=False,
    bn="n/a",
    cost="free",
    leaves_model_unchanged=True,
)
def params(ctx: ProxyContext) -> float:
    return count_parameters(ctx.model) / 1e6
