"""T-CET: Σ_l (S_n^l / σ^l) · log|det K_l| (PROXY_SPEC §7.2), with synflow or snip saliency.

The Lnwot terms (§4.2: eval mode, BN kept, conv/linear outputs) are computed first on ``ctx.model``;
the saliency (§7.1) then runs on the same model object, and the two per-layer lists are aligned by
module identity — not zipped by position as in the third-party code, whose hook execution order
can differ from registration order. Layers with a saliency but no kernel (never called) contribute
0; Conv1d kernels have no saliency term and are left out. A module called several times contributes
the sum of its calls' log-dets. Options: ``ddof`` (default 1, see ssnr), ``log`` (default false:
log of the SNR term, the third-party "log" mode).
"""

from __future__ import annotations

from nasprox.core import ProxyContext, ProxyOption, proxy
from nasprox.proxies._saliency import log_or_zero
from nasprox.proxies.lnwot import layer_logdets
from nasprox.proxies.ssnr import DDOF_OPTION, layer_terms

TCET_OPTIONS = (
    DDOF_OPTION,
    ProxyOption("log", bool, False, "use log of each layer's SNR term (the third-party 'log' mode; PROXY_SPEC §7.2)"),
)


def tcet(ctx: ProxyContext, kind: str) -> float:
    use_log = bool(ctx.opt("log"))
    logdets = layer_logdets(ctx)  # before the saliency pass mutates the model (BN removal, |θ|)
    total = 0.0
    for layer, snr in layer_terms(ctx, kind):
        if layer in logdets:
            total += (log_or_zero(snr) if use_log else snr) * logdets[layer]
    return float(total)


@proxy(
    "tcet_synflow",
    "T-CET with synflow saliency: layer-wise SNR x layer-wise NASWOT log-det (T-CET paper)",
    version="1",
    higher_is_better=True,
    needs_labels=False,
    needs_gradients=True,
    needs_real_data=True,
    bn="removed",
    cost="backward",
    options=TCET_OPTIONS,
)
def tcet_synflow(ctx: ProxyContext) -> float:
    return tcet(ctx, "synflow")


@proxy(
    "tcet_snip",
    "T-CET with SNIP saliency: layer-wise SNR x layer-wise NASWOT log-det (T-CET paper)",
    version="1",
    higher_is_better=True,
    needs_labels=True,
    needs_gradients=True,
    needs_real_data=True,
    bn="kept",
    cost="backward",
    options=TCET_OPTIONS,
)
def tcet_snip(ctx: ProxyContext) -> float:
    return tcet(ctx, "snip")
