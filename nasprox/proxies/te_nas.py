"""TE-NAS as a per-architecture proxy (PROXY_SPEC §4.7).

TE-NAS combines the NTK condition number κ (§4.6, lower is better) and the number of linear regions
#LR (§4.5, higher is better). The spec's benchmark convention, rank(−κ) + rank(#LR) across all
architectures, needs every architecture at once; a per-architecture proxy cannot form it. This proxy
returns Zen-NAS's standalone raw sum, **te_nas = #LR − κ**, computed on the same network and fixed
batch as the ``linear_regions`` and ``ntk_cond`` proxies (options ``te_nas.samples``/``te_nas.input``
as for linear_regions, ``te_nas.ntk_samples`` (old name ``batch``) and ``te_nas.batched`` as ntk_cond's
``samples`` and ``batched``). For the rank-sum form, score
``linear_regions`` and ``ntk_cond`` and add their across-architecture ranks at analysis time.
No re-init (TE-NAS's init flag is a no-op, §4.7); one batch (TE-NAS averaged κ over 3 batches).
"""

from __future__ import annotations

from nasprox.core import ProxyContext, ProxyOption, proxy
from nasprox.proxies.linear_regions import REGION_OPTIONS, count_linear_regions, region_inputs
from nasprox.proxies.ntk_cond import BATCHED_OPTION, NTK_SAMPLES_HELP, ntk_condition, ntk_inputs


@proxy(
    "te_nas",
    "TE-NAS raw sum (Zen-NAS form): number of linear regions minus the NTK condition number",
    version="1",
    higher_is_better=True,
    needs_labels=False,
    needs_gradients=True,
    needs_real_data=True,
    bn="kept",
    cost="per-sample",
    options=(
        *REGION_OPTIONS,
        ProxyOption("ntk_samples", int, 0, NTK_SAMPLES_HELP, minimum=0, aliases=("batch",)),
        BATCHED_OPTION,
    ),
)
def te_nas(ctx: ProxyContext) -> float:
    model = ctx.model.train()
    regions = count_linear_regions(model, region_inputs(ctx))  # forward only: weights unchanged
    kappa = ntk_condition(model, ntk_inputs(ctx, ctx.opt("ntk_samples")), batched=bool(ctx.opt("batched")))
    return float(regions) - kappa
