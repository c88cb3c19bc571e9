"""NASWOT: log|det K| of the binary activation-code kernel (Mellor et al. 2021; PROXY_SPEC §4.1).

BayesWatch protocol: hook the *input* of every module whose type name contains "ReLU" — so a
composite ``ReLUConvBN`` op counts in addition to its inner ``nn.ReLU`` (the double count is kept
on purpose). Each call adds c cᵀ + (1−c)(1−c)ᵀ to K (B × B, float64), with c = 1[input > 0]
flattened per sample. Only modules that take part in back-propagation count: the reference sets a
flag with a backward hook during a Jacobian pass (backward of Σ outputs) and builds K in a second
forward. Here one train-mode forward records the codes and the backward of Σ outputs marks which
modules' outputs received a gradient; with train-mode BN (batch statistics) and no dropout the
reference's second forward reproduces the first, so the kernel is the same.
Score = slogdet's log|det K| (sign ignored); a singular K gives −inf, as in the reference.

Batch: the run's fixed batch (reference default 128, no augmentation). No labels.
"""

from __future__ import annotations

import numpy as np
import torch

from nasprox.core import ProxyContext, ProxyUndefined, proxy
from nasprox.proxies._activations import relu_name_modules
from nasprox.proxies._common import forward_hooks, logits_of

EXACT_FLOAT32_COUNT = 2**24  # integer counts below this are exact in a float32 matmul


def hamming_kernel(codes: torch.Tensor) -> torch.Tensor:
    """c cᵀ + (1−c)(1−c)ᵀ = N_A − Hamming distance, for 0/1 codes of shape B × D (float64 result)."""
    dtype = torch.float32 if codes.shape[1] < EXACT_FLOAT32_COUNT else torch.float64
    c = codes.to(dtype)
    ones = c.sum(dim=1, keepdim=True)
    # (1−c)(1−c)ᵀ = D − r 1ᵀ − 1 rᵀ + c cᵀ, so one matmul suffices
    kernel = 2.0 * (c @ c.T) - ones - ones.T + codes.shape[1]
    return kernel.double()


def naswot_kernel(model: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """The accumulated B × B kernel over all back-propagating ReLU-named module calls."""
    modules = relu_name_modules(model)
    if not modules:
        raise ProxyUndefined("the network has no module whose type name contains 'ReLU'")
    calls: list[tuple[torch.nn.Module, torch.Tensor]] = []
    visited: set[int] = set()

    def on_forward(module, module_inputs, output):
        if not module_inputs or not isinstance(module_inputs[0], torch.Tensor):
            return
        x = module_inputs[0].detach()
        calls.append((module, (x > 0).reshape(x.shape[0], -1)))
        out = logits_of(output)
        if isinstance(out, torch.Tensor) and out.requires_grad:
            key = id(module)
            out.register_hook(lambda grad: visited.add(key))

    with forward_hooks(modules, on_forward), torch.enable_grad():
        output = logits_of(model(inputs))
        output.backward(torch.ones_like(output))
    model.zero_grad(set_to_none=True)
    counted = [codes for module, codes in calls if id(module) in visited]
    if not counted:
        raise ProxyUndefined("no ReLU-named module of the network takes part in back-propagation")
    kernel = torch.zeros(inputs.shape[0], inputs.shape[0], dtype=torch.float64, device=inputs.device)
    for codes in counted:
        kernel += hamming_kernel(codes)
    return kernel


def logdet_abs(kernel: torch.Tensor) -> float:
    _sign, logabsdet = np.linalg.slogdet(kernel.cpu().numpy())
    return float(logabsdet)


@proxy(
    "naswot",
    "NASWOT: log|det| of the Hamming kernel of binary ReLU-input codes over a batch (Mellor et al. 2021)",
    version="1",
    higher_is_better=True,
    needs_labels=False,
    needs_gradients=True,
    needs_real_data=True,
    bn="kept",
    cost="backward",
    aliases=("nwot", "hook_logdet"),
    default_batch_size=128,
)
def naswot(ctx: ProxyContext) -> float:
    if ctx.inputs.shape[0] < 2:
        raise ProxyUndefined("naswot needs a batch of at least 2 samples")
    model = ctx.model.train()
    return logdet_abs(naswot_kernel(model, ctx.inputs))
