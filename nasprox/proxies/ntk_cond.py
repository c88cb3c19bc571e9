"""NTK condition number κ = λ_max / λ_min of the empirical NTK (TE-NAS; PROXY_SPEC §4.6).

Train mode, one batch, default init. Forward the batch; for each sample i the gradient of the
*sum of sample i's logits* (through the whole-batch graph, so train-mode BN couples samples, as in
the reference) with respect to every parameter whose name contains "weight" (conv, linear and BN γ;
not biases or BN β) and that receives a gradient; Θ = G Gᵀ (B × B); eigenvalues by the symmetric
solver in float32 as the reference; κ = λ_max / λ_min, NaN → 100000; a round-off λ_min ≤ 0 is kept.
The proxy value is −κ (lower κ is better), so higher is better.

Per-sample gradients are computed in one vectorised backward (``is_grads_batched``) and fall back
to the reference's loop of B backward passes if an op does not support it; both give the same Θ up
to float round-off (``ntk_cond.batched=false``: always the loop). ``ntk_cond.samples`` (old name
``batch``; default 0 = the run's fixed batch; TE-NAS used 72 on NB201, the survey CLI 1024 —
[UNRESOLVED §10.6]) takes the first n samples, continued from the stream.
"""

from __future__ import annotations

import math

import torch

from nasprox.core import NasproxError, ProxyContext, ProxyOption, ProxyUndefined, proxy
from nasprox.proxies._activations import take_samples
from nasprox.proxies._common import logits_of

NAN_CONDITION = 100000.0  # the reference's np.nan_to_num(..., nan=100000.0)


def _weight_params(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p for name, p in model.named_parameters() if "weight" in name and p.requires_grad]


def per_sample_gradients(model: torch.nn.Module, inputs: torch.Tensor, batched: bool = True) -> torch.Tensor:
    """G (B × P): row i = gradient of Σ logits of sample i w.r.t. the "weight" parameters."""
    params = _weight_params(model)
    if not params:
        raise ProxyUndefined("the network has no trainable parameter named 'weight'")
    with torch.enable_grad():
        logits = logits_of(model(inputs))
        per_sample = logits.reshape(logits.shape[0], -1).sum(dim=1)
        n = per_sample.shape[0]
        if batched:
            try:
                grads = torch.autograd.grad(
                    per_sample,
                    params,
                    grad_outputs=torch.eye(n, device=per_sample.device, dtype=per_sample.dtype),
                    is_grads_batched=True,
                    allow_unused=True,
                    retain_graph=True,
                )
                used = [g.reshape(n, -1) for g in grads if g is not None]
                if not used:
                    raise ProxyUndefined("no 'weight' parameter receives a gradient from the logits")
                return torch.cat(used, dim=1)
            except ProxyUndefined:
                raise
            except RuntimeError:
                pass  # an op without a batching rule: use the reference loop
        rows = []
        for i in range(n):
            grads = torch.autograd.grad(per_sample[i], params, allow_unused=True, retain_graph=i + 1 < n)
            used = [g.reshape(-1) for g in grads if g is not None]
            if not used:
                raise ProxyUndefined("no 'weight' parameter receives a gradient from the logits")
            rows.append(torch.cat(used))
        return torch.stack(rows)


def ntk_condition(model: torch.nn.Module, inputs: torch.Tensor, batched: bool = True) -> float:
    grads = per_sample_gradients(model.train(), inputs, batched=batched).detach()
    ntk = grads @ grads.T
    eigenvalues = torch.linalg.eigvalsh(ntk.float())
    kappa = (eigenvalues[-1] / eigenvalues[0]).item()
    return NAN_CONDITION if math.isnan(kappa) else kappa


NTK_SAMPLES_HELP = (
    "NTK over the first n samples (continued from the seeded stream); 0 = the whole fixed batch "
    "(TE-NAS used 72 on NB201, the survey CLI 1024) [UNRESOLVED, PROXY_SPEC §4.6, §10.6]"
)
BATCHED_OPTION = ProxyOption(
    "batched",
    bool,
    True,
    "per-sample gradients in one vectorised backward (falls back to "
    "the loop if an op cannot); false: the reference's loop of B backward passes (same "
    "values up to round-off)",
)


def ntk_inputs(ctx: ProxyContext, samples: int) -> torch.Tensor:
    """The first ``samples`` samples (0: the fixed batch), at least 2."""
    batch = int(samples)
    if batch < 0:
        raise NasproxError(f"NTK batch must be >= 0, got {batch}")
    inputs = take_samples(ctx, batch) if batch else ctx.inputs
    if inputs.shape[0] < 2:
        raise ProxyUndefined("the NTK condition number needs at least 2 samples")
    return inputs


@proxy(
    "ntk_cond",
    "Negative condition number of the empirical NTK over a batch (TE-NAS); higher (smaller kappa) is better",
    version="1",
    higher_is_better=True,
    needs_labels=False,
    needs_gradients=True,
    needs_real_data=True,
    bn="kept",
    cost="per-sample",
    aliases=("ntk",),
    options=(ProxyOption("samples", int, 0, NTK_SAMPLES_HELP, minimum=0, aliases=("batch",)), BATCHED_OPTION),
)
def ntk_cond(ctx: ProxyContext) -> float:
    batched = bool(ctx.opt("batched"))
    return -ntk_condition(ctx.model, ntk_inputs(ctx, ctx.opt("samples")), batched=batched)
