"""lnwot: layer-wise NASWOT, Σ_l log|det K_l| (PROXY_SPEC §4.2, third-party reading).

Hooks the output of every Conv2d, Conv1d and Linear; each call's output, flattened per sample and
binarised (> 0), gives K = c cᵀ + (1−c)(1−c)ᵀ (B × B, built in float64, exact for integer counts).
The per-call value is slogdet's log|det|, set to 0 when det = 0. Eval mode (BN running statistics),
no_grad, one forward of the fixed batch, BN kept. No labels.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from nasprox.core import ProxyContext, ProxyUndefined, proxy
from nasprox.proxies._common import FORWARD_REAL_DATA, forward_hooks, logits_of

KERNEL_LAYER_TYPES = (nn.Conv2d, nn.Conv1d, nn.Linear)


def safe_logdet(kernel: np.ndarray) -> float:
    sign, logabsdet = np.linalg.slogdet(kernel)
    return 0.0 if sign == 0 else float(logabsdet)


def layer_logdets(ctx: ProxyContext, model: nn.Module | None = None) -> dict[nn.Module, float]:
    """{module: Σ over its calls of log|det K|} for every hooked module that ran."""
    model = ctx.model if model is None else model
    layers = [m for m in model.modules() if isinstance(m, KERNEL_LAYER_TYPES)]
    if not layers:
        raise ProxyUndefined("the network has no Conv2d/Conv1d/Linear layer to build kernels from")
    if ctx.inputs.shape[0] < 2:
        raise ProxyUndefined("lnwot needs a batch of at least 2 samples")
    logdets: dict[nn.Module, float] = {}

    def on_forward(module, _inputs, output):
        out = logits_of(output)
        codes = (out.detach().reshape(out.shape[0], -1) > 0).double()
        kernel = codes @ codes.T + (1.0 - codes) @ (1.0 - codes).T
        logdets[module] = logdets.get(module, 0.0) + safe_logdet(kernel.cpu().numpy())

    was_training = model.training
    model.eval()
    try:
        with forward_hooks(layers, on_forward), torch.no_grad():
            model(ctx.inputs)
    finally:
        model.train(was_training)
    return logdets


@proxy(
    "lnwot",
    "Layer-wise NASWOT: sum over Conv/Linear outputs of log|det| of the binary-code kernel (T-CET paper)",
    **FORWARD_REAL_DATA,
)
def lnwot(ctx: ProxyContext) -> float:
    return float(sum(layer_logdets(ctx).values()))
