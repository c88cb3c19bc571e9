"""SSNR family: Σ_l S_n^l / σ^l of a per-weight saliency (PROXY_SPEC §7.1).

S_n^l = Σ of the layer's saliencies, σ^l their std within the layer (Conv2d/Linear weights, §1.6).
Saliency: synflow (§2.5: BN removed, |θ|, float64, ones input) or snip (§2.2: BN kept, loss, real
batch). σ = 0 or NaN gives S_n^l alone (third-party rule). The ``_log`` variants sum
log(S_n^l / σ^l), with log of a non-positive term = 0.

Choice (UNRESOLVED in the spec): σ uses the *unbiased* std by default (the available
implementation's ``torch.std``); ``--proxy-opt <name>.ddof=0`` gives the paper's population std.
"""

from __future__ import annotations

from nasprox.core import NasproxError, ProxyContext, ProxyOption, proxy
from nasprox.proxies._saliency import layer_snr, log_or_zero, saliency_for

DDOF_OPTION = ProxyOption(
    "ddof",
    int,
    1,
    "std of the saliencies within a layer: 1 = unbiased (the available "
    "implementation), 0 = population (the paper) [UNRESOLVED, PROXY_SPEC §7.1]",
    choices=(0, 1),
)


def layer_terms(ctx: ProxyContext, kind: str, model=None) -> list[tuple[object, float]]:
    """[(layer module, S_n/σ)] in registration order."""
    ddof = int(ctx.opt("ddof"))
    if ddof not in (0, 1):
        raise NasproxError(f"ddof must be 0 (population std) or 1 (unbiased std), got {ddof}")
    return [(layer, layer_snr(sal, ddof)) for layer, sal in saliency_for(ctx, kind, model=model)]


def ssnr(ctx: ProxyContext, kind: str, log: bool) -> float:
    terms = [t for _, t in layer_terms(ctx, kind)]
    return float(sum(log_or_zero(t) for t in terms) if log else sum(terms))


_SYN = dict(
    version="1",
    higher_is_better=True,
    needs_labels=False,
    needs_gradients=True,
    needs_real_data=False,
    bn="removed",
    cost="backward",
    default_batch_size=1,
    options=(DDOF_OPTION,),
)  # all-ones input, batch 1
_SNIP = dict(
    version="1",
    higher_is_better=True,
    needs_labels=True,
    needs_gradients=True,
    needs_real_data=True,
    bn="kept",
    cost="backward",
    options=(DDOF_OPTION,),
)


@proxy("synflow_snr", "Synflow saliency signal-to-noise ratio summed over layers (T-CET paper)", **_SYN)
def synflow_snr(ctx: ProxyContext) -> float:
    return ssnr(ctx, "synflow", log=False)


@proxy("synflow_snr_log", "Sum over layers of log of the synflow saliency SNR (T-CET paper)", **_SYN)
def synflow_snr_log(ctx: ProxyContext) -> float:
    return ssnr(ctx, "synflow", log=True)


@proxy("snip_snr", "SNIP saliency signal-to-noise ratio summed over layers (T-CET paper)", **_SNIP)
def snip_snr(ctx: ProxyContext) -> float:
    return ssnr(ctx, "snip", log=False)


@proxy("snip_snr_log", "Sum over layers of log of the SNIP saliency SNR (T-CET paper)", **_SNIP)
def snip_snr_log(ctx: ProxyContext) -> float:
    return ssnr(ctx, "snip", log=True)
