"""jacob_cov (NASLib ``jacov``; NASWOT v1): eigen-score of the input-Jacobian correlation (PROXY_SPEC §3.1).

J = ∂(Σ logits)/∂x per sample (train-mode BN kept, so samples interact through batch statistics),
Σ = np.corrcoef(J) between samples, λ = np.linalg.eig(Σ) in float64,
score = −Σ_i [log(λ_i + k) + 1/(λ_i + k)] with k = 1e-5.

A tiny negative eigenvalue (λ < −k) gives NaN, returned as NaN (correlations omit NaN, §1); a
Jacobian with a constant row (NaN correlations) also gives NaN, as in NASLib. Complex eigenvalues
from round-off keep their real part. Token models: a Jacobian with respect to discrete token ids does
not exist, so the proxy is undefined there.
"""

from __future__ import annotations

import numpy as np
import torch

from nasprox.core import ProxyContext, ProxyUndefined, proxy
from nasprox.proxies._saliency import RandomDraws, forward, shared_pass_key

EIG_OFFSET = 1e-5


def input_jacobian(ctx: ProxyContext) -> tuple[np.ndarray, int]:
    """(B × prod(input shape)) float64 gradient of Σ outputs w.r.t. the inputs (read-only), and the output width.

    Computed once per architecture and batch on the context's fresh network and kept in ``ctx.memo``, so
    jacob_cov and epe_nas of one run share one backward; kept only when the pass drew nothing from the random
    generators (no dropout), so that the shared value is the one each would compute by itself."""
    if ctx.input_spec.kind == "tokens" or not ctx.inputs.is_floating_point():
        raise ProxyUndefined("needs the gradient w.r.t. continuous inputs; token ids are discrete")
    model = ctx.model.train()
    key = shared_pass_key("input_jacobian", ctx, model)
    kept = ctx.memo.get(key)
    if kept is not None:
        return kept
    draws = RandomDraws(ctx.device)
    model.zero_grad(set_to_none=True)
    x = ctx.inputs.detach().clone().requires_grad_(True)
    y = forward(model, x)
    y.backward(torch.ones_like(y))
    if x.grad is None:
        raise ProxyUndefined("the network output does not depend on its input")
    jacobian = x.grad.detach().reshape(x.shape[0], -1).double().cpu().numpy()
    jacobian.setflags(write=False)
    result = (jacobian, int(y.shape[-1]))
    if draws.none_drawn():
        ctx.memo[key] = result
    return result


def eigen_score(jacobian: np.ndarray) -> float:
    if jacobian.shape[0] < 2:
        raise ProxyUndefined("jacob_cov needs a batch of at least 2 samples")
    with np.errstate(all="ignore"):
        corr = np.corrcoef(jacobian)
        if not np.all(np.isfinite(corr)):
            return float("nan")
        eigenvalues = np.linalg.eig(corr)[0]
        eigenvalues = np.real(eigenvalues)
        return float(-np.sum(np.log(eigenvalues + EIG_OFFSET) + 1.0 / (eigenvalues + EIG_OFFSET)))


@proxy(
    "jacob_cov",
    "Eigen-score of the correlation between per-sample input Jacobians (Mellor et al. 2020 v1; NASLib jacov)",
    version="1",
    higher_is_better=True,
    needs_labels=False,
    needs_gradients=True,
    needs_real_data=True,
    bn="kept",
    cost="backward",
    aliases=("jacov",),
)
def jacob_cov(ctx: ProxyContext) -> float:
    jacobian, _ = input_jacobian(ctx)
    return eigen_score(jacobian)
