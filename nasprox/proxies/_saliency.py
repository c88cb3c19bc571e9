"""Per-weight saliencies and the loss-gradient set-up shared by snip, synflow, grad_norm, plain, the
SSNR family and T-CET (PROXY_SPEC §2, §7).

The saliency functions return ``[(layer, tensor), ...]`` over the foresight layer set (Conv2d/Linear
in registration order, §1.6), so callers can sum (foresight ``sum_arr``), take per-layer statistics
(SSNR) or align layers by module identity (T-CET, §7.2).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
from torch import nn

from nasprox.core import ProxyContext, ProxyUndefined
from nasprox.proxies._common import WeightLayer, logits_of, remove_bn, weight_layers

LayerValues = list[tuple[nn.Module, torch.Tensor]]


def require_weight_layers(model: nn.Module) -> list[WeightLayer]:
    layers = weight_layers(model)
    if not layers:
        raise ProxyUndefined("the network has no Conv2d/Linear layer (PROXY_SPEC §1.6 layer set is empty)")
    return layers


def forward(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Forward pass; a train-mode BatchNorm that cannot form batch statistics makes the proxy undefined."""
    try:
        return logits_of(model(inputs))
    except ValueError as exc:  # "Expected more than 1 value per channel when training"
        if "value per channel" in str(exc):
            raise ProxyUndefined(f"train-mode BatchNorm cannot run on this batch: {exc}") from None
        raise


def loss_backward(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn) -> torch.Tensor:
    """zero_grad, forward, loss (the space's loss, CE mean for classification, §1.8), backward."""
    model.zero_grad(set_to_none=True)
    loss = loss_fn(forward(model, inputs), targets)
    loss.backward()
    return loss.detach()


def _rng_states(device: torch.device) -> list[torch.Tensor]:
    states = [torch.get_rng_state()]
    if device.type == "cuda":
        states.append(torch.cuda.get_rng_state(device))
    return states


LOSS_GRADS = "loss_weight_grads"


class RandomDraws:
    """Whether a pass drew from the random generators (dropout), told by their states before and after it. A value
    computed by a pass that drew nothing depends on the network and the batch alone, so ``ctx.memo`` may keep it for
    every proxy of the architecture that would compute the same (one rule for each shared pass)."""

    def __init__(self, device: torch.device) -> None:
        self._device = device
        self._before = _rng_states(device)

    def none_drawn(self) -> bool:
        return all(torch.equal(a, b) for a, b in zip(self._before, _rng_states(self._device), strict=True))


def _parameter_sums(model: nn.Module) -> bytes:
    with torch.no_grad():
        sums = [p.detach().double().sum() for p in model.parameters()]
    return torch.stack(sums).cpu().numpy().tobytes() if sums else b""


def shared_pass_key(what: str, ctx: ProxyContext, model: nn.Module) -> tuple:
    """The ``ctx.memo`` key of a pass shared between proxies: what it computes, the batch size (which names the
    batch) and the parameter sums, which tell a network a proxy changed first from a fresh one."""
    return (what, int(ctx.inputs.shape[0]), _parameter_sums(model))


@contextlib.contextmanager
def sharing_loss_grads(ctx: ProxyContext, layers: list[WeightLayer]) -> Iterator[None]:
    """Around a pass that ends in ``loss_backward``'s backward on the context's own (fresh) network: keeps the
    layers' weight gradients in ``ctx.memo`` for snip, grad_norm, plain and the SNIP-SSNR proxies, when the
    pass drew nothing from the random generators (no dropout): then they depend on the network and the batch
    alone, and equal what each of those proxies would compute by itself. fisher's pass (hooks that only read)
    keeps them too."""
    key = shared_pass_key(LOSS_GRADS, ctx, ctx.model)
    draws = RandomDraws(ctx.device)
    yield
    if draws.none_drawn():
        ctx.memo[key] = [None if layer.weight.grad is None else layer.weight.grad.detach().clone() for layer in layers]


def layers_with_loss_grads(ctx: ProxyContext, model: nn.Module | None = None) -> list[WeightLayer]:
    """The §1.6 layer set of the train-mode model, after ``loss_backward`` on the fixed batch.

    The BN-kept, space-loss set-up of snip, grad_norm and plain (§2.1, §2.2, §2.6). On the context's own
    network the weight gradients are computed once per architecture and batch size and kept in ``ctx.memo``
    (``sharing_loss_grads``): snip, grad_norm, plain and the SNIP-SSNR proxies of one run then share one
    backward, or reuse fisher's.
    """
    if model is not None:
        model.train()
        layers = require_weight_layers(model)
        loss_backward(model, ctx.inputs, ctx.targets, ctx.loss_fn)
        return layers
    model = ctx.model.train()
    layers = require_weight_layers(model)
    kept = ctx.memo.get(shared_pass_key(LOSS_GRADS, ctx, model))
    if kept is not None:
        for layer, grad in zip(layers, kept):
            layer.weight.grad = None if grad is None else grad.clone()
        return layers
    with sharing_loss_grads(ctx, layers):
        loss_backward(model, ctx.inputs, ctx.targets, ctx.loss_fn)
    return layers


def weight_grad(layer: WeightLayer) -> torch.Tensor:
    """The layer's weight gradient; a layer the loss never reached counts as zeros (foresight)."""
    grad = layer.weight.grad
    return torch.zeros_like(layer.weight) if grad is None else grad


def snip_saliency(ctx: ProxyContext, model: nn.Module | None = None) -> LayerValues:
    """|θ ⊙ ∂L/∂θ| on the BN-kept, train-mode model and the fixed batch (§2.2).

    The reference computes |∂L/∂m| for a multiplicative all-ones mask m; that equals |W ⊙ ∂L/∂W|.
    """
    layers = layers_with_loss_grads(ctx, model)
    return [(layer, (layer.weight.detach() * weight_grad(layer)).abs()) for layer in layers]


def synflow_input(ctx: ProxyContext, dtype=torch.float64) -> torch.Tensor:
    """All-ones input of batch 1 with the data's per-sample shape (§2.5 step 4).

    Token models cannot take a ones-valued float tensor; they get token id 1 at every position, so
    the first layer sees |E[1]| — a positive constant vector, the analogue of the ones image.
    """
    shape = (1, *ctx.inputs.shape[1:])
    if ctx.input_spec.kind == "tokens" or not ctx.inputs.is_floating_point():
        return torch.ones(shape, dtype=torch.long, device=ctx.inputs.device)
    return torch.ones(shape, dtype=dtype, device=ctx.inputs.device)


@torch.no_grad()
def _abs_state(model: nn.Module) -> None:
    # every state-dict entry (weights, biases, BN statistics) is made non-negative (§2.5 step 2);
    # the signs are not restored because the proxy owns this copy.
    for value in model.state_dict().values():
        if value.is_floating_point() or value.is_complex():
            value.abs_()


def synflow_saliency(ctx: ProxyContext, *, keep_bn: bool = False, model: nn.Module | None = None) -> LayerValues:
    """|θ ⊙ ∂R/∂θ|, R = Σ f_|θ|(𝟙), in float64 (§2.5). ``keep_bn`` gives synflow_bn."""
    model = ctx.model if model is None else model
    model.train()
    if not keep_bn:
        remove_bn(model)
    layers = require_weight_layers(model)
    model.double()
    _abs_state(model)
    model.zero_grad(set_to_none=True)
    output = forward(model, synflow_input(ctx))
    if not output.is_floating_point():
        raise ProxyUndefined("synflow needs a floating-point network output")
    output.sum().backward()
    return [(layer, (layer.weight.detach() * weight_grad(layer)).abs()) for layer in layers]


def sum_values(values: LayerValues) -> float:
    """foresight ``sum_arr`` in float64."""
    total = torch.zeros((), dtype=torch.float64)
    for _, t in values:
        total += t.detach().double().sum().cpu()
    return float(total)


def layer_snr(saliency: torch.Tensor, ddof: int = 1) -> float:
    """S_n / σ of one layer (§7.1); σ = 0 or NaN (e.g. one element with ddof=1) gives S_n alone."""
    flat = saliency.detach().double().reshape(-1)
    total = float(flat.sum())
    if flat.numel() - ddof <= 0:
        return total
    sigma = float(flat.std(correction=ddof))
    if sigma == 0.0 or math.isnan(sigma):
        return total
    return total / sigma


def log_or_zero(value: float) -> float:
    """Third-party SSNR/T-CET log rule: log of a non-positive value is 0 (§7.1)."""
    return math.log(value) if value > 0 else 0.0


def saliency_for(ctx: ProxyContext, kind: str, model: nn.Module | None = None) -> LayerValues:
    if kind == "synflow":
        return synflow_saliency(ctx, model=model)
    if kind == "snip":
        return snip_saliency(ctx, model=model)
    raise ValueError(f"unknown saliency {kind!r}")
